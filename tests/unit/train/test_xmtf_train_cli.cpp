// The xmtf-train executable: --help, exit codes, manifest stage settings, SIGTERM handling, data
// parallelism under mpiexec.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ckpt/safetensors.hpp"
#include "ckpt/training_checkpoint.hpp"
#include "core/fs.hpp"
#include "core/text.hpp"

using namespace xmtf;

namespace {

const std::string kBin = std::string(XMTF_BIN_DIR) + "/xmtf-train";
const fs::path kData = fs::path(XMTF_TEST_DATA_DIR) / "bloom";

int run(const std::string& command) {
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("xmtf_train_cli_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string base_args(const fs::path& dir) {
  return " --model-config " + shell_quote((kData / "tiny-bloom.config.json").string()) +
         " --data sw:1:" + shell_quote((kData / "mtf" / "sw.jsonl").string()) +
         " --seq-len 256 --checkpoint-dir " + shell_quote(dir.string());
}

}  // namespace

TEST(XmtfTrainCli, HelpAndExitCodes) {
  EXPECT_EQ(run(kBin + " --help"), 0);
  EXPECT_EQ(run(kBin + " --no-such-option"), 2);
  const fs::path dir = fresh_dir("codes");
  EXPECT_EQ(run(kBin + " --model-config /nonexistent.json --data a:1:/nonexistent.jsonl --checkpoint-dir " + dir.string()), 1);
  EXPECT_EQ(run(kBin + base_args(dir) + " --global-batch 3 --micro-batch 2"), 1);
  fs::remove_all(dir);
}

TEST(XmtfTrainCli, ReadsTheManifestStageAndTheCommandLineWins) {
  const fs::path dir = fresh_dir("manifest");
  std::ofstream(dir / "m.toml") << "[stages.train]\nafter = [\"tokenize\"]\nntasks = 1\n"
                                << "[stages.train.options]\nsteps = 50\nlr = 1e-3\ntp = 1\n"
                                << "global_batch = 2\nmicro_batch = 1\nnorm_target_loss = false\nprefix_lm = true\n"
                                << "data = [\"sw:1:" << (kData / "mtf" / "sw.jsonl").string() << "\"]\n";
  const std::string args = " --manifest " + (dir / "m.toml").string() + " --model-config " +
                           (kData / "tiny-bloom.config.json").string() + " --seq-len 256 --checkpoint-dir " +
                           (dir / "ckpt").string();
  EXPECT_EQ(run(kBin + args + " --steps 2"), 0);
  const auto latest = ckpt::latest_checkpoint(dir / "ckpt");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->filename(), "step-00000002");
  std::ofstream(dir / "bad.toml") << "[stages.train]\nlearning_rat = 1\n";
  EXPECT_EQ(run(kBin + " --manifest " + (dir / "bad.toml").string() + " --model-config x --checkpoint-dir y"), 2);
  // The scheduler's flag style: a bare flag for true.
  EXPECT_EQ(run(kBin + base_args(dir / "ckpt2") + " --steps 1 --prefix-lm --no-append-eos --tp 1"), 0);
  EXPECT_EQ(run(kBin + base_args(dir / "ckpt3") + " --steps 1 --tp 2"), 1);
  fs::remove_all(dir);
}

TEST(XmtfTrainCli, SigtermSavesACheckpointAndExitsCleanly) {
  const fs::path dir = fresh_dir("sigterm");
  // SIGTERM once the first step is logged (the handler is installed by then), at most 60 s.
  const std::string metrics = shell_quote((dir / "ckpt" / "metrics.jsonl").string());
  const std::string command = "(" + kBin + base_args(dir / "ckpt") +
                              " --steps 100000 --global-batch 1 & pid=$!; for i in $(seq 600); do [ -s " +
                              metrics + " ] && break; sleep 0.1; done; kill -TERM $pid; wait $pid)";
  EXPECT_EQ(run(command), 0);
  const auto latest = ckpt::latest_checkpoint(dir / "ckpt");
  ASSERT_TRUE(latest.has_value());
  EXPECT_NE(latest->filename(), "step-00100000");
  // A rerun resumes from there (here: told to stop right away by the kill switch).
  std::ofstream(dir / "STOP") << "";
  EXPECT_EQ(run(kBin + base_args(dir / "ckpt") + " --steps 100000 --global-batch 1 --kill-switch-path " +
                (dir / "STOP").string()), 0);
  EXPECT_EQ(ckpt::latest_checkpoint(dir / "ckpt")->filename(), latest->filename());
  fs::remove_all(dir);
}

// Issue 18 item 8: out-of-domain hyper-parameters are bad usage (exit 2), refused before
// anything runs; they used to train to a NaN checkpoint and exit 0.
TEST(XmtfTrainCli, HyperParametersOutsideTheirDomainAreBadUsage) {
  const fs::path dir = fresh_dir("domain");
  for (const char* bad : {"--lr nan", "--lr inf", "--lr -1", "--adam-beta1 1.0", "--steps -1", "--valid-fraction 1.5",
                          "--adam-eps 0"}) {
    EXPECT_EQ(run(kBin + base_args(dir / "ckpt") + " " + bad), 2) << bad;
  }
  EXPECT_FALSE(fs::exists(dir / "ckpt"));
  // A negative layer_norm_epsilon in the config: refused naming the key.
  write_file_atomic(dir / "config.json", std::string(read_file(kData / "tiny-bloom.config.json"))
                                             .replace(read_file(kData / "tiny-bloom.config.json").find("1e-05"), 5, "-1e-05"));
  const std::string log = (dir / "log.txt").string();
  EXPECT_EQ(run("(" + kBin + " --model-config " + (dir / "config.json").string() + " --data sw:1:" +
                (kData / "mtf" / "sw.jsonl").string() + " --checkpoint-dir " + (dir / "ckpt").string() + " 2>" + log + ")"), 1);
  EXPECT_NE(read_file(log).find("'layer_norm_epsilon' is -1e-05; it must be a positive number"), std::string::npos);
  fs::remove_all(dir);
}

// Issue 18 item 7: a stop signal while the data is still loading ends the process promptly; it
// used to wait for the whole load, then save a step-0 checkpoint.
TEST(XmtfTrainCli, SigtermWhileLoadingExitsPromptly) {
  const fs::path dir = fresh_dir("sigterm_loading");
  {
    const std::string lines = read_file(kData / "mtf" / "sw.jsonl");
    std::ofstream big(dir / "big.jsonl");
    for (int i = 0; i < 1000; ++i) big << lines;  // 80,000 samples: seconds to parse
  }
  const std::string log = (dir / "log.txt").string();
  const std::string command = "(" + kBin + " --model-config " + (kData / "tiny-bloom.config.json").string() +
                              " --data sw:1:" + (dir / "big.jsonl").string() + " --seq-len 256 --checkpoint-dir " +
                              (dir / "ckpt").string() + " 2>" + log + " & pid=$!; sleep 0.3; kill -TERM $pid; wait $pid)";
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(run(command), 128 + SIGTERM);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.5);
  EXPECT_NE(read_file(log).find("stop signal while loading"), std::string::npos) << read_file(log);
  EXPECT_FALSE(ckpt::latest_checkpoint(dir / "ckpt").has_value());
  fs::remove_all(dir);
}

TEST(XmtfTrainCli, BackendOption) {
  const fs::path dir = fresh_dir("backend");
  EXPECT_EQ(run(kBin + base_args(dir / "a") + " --steps 1 --backend reference"), 0);
  EXPECT_EQ(run(kBin + base_args(dir / "b") + " --steps 1 --backend tpu"), 2);
  fs::remove_all(dir);
}

// Data parallelism (issue 11 item 5): mpiexec -n 2 xmtf-train --dp 2.
namespace {

struct Output {
  int exit_code;
  std::string text;
};

Output run_capturing(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  std::string text;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) text.append(buffer, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
}

// One thread per rank, so that both layouts run the same kernels the same way.
const std::string kMpi = "OPENBLAS_NUM_THREADS=1 mpiexec -n 2 ";
const std::string kOne = "OPENBLAS_NUM_THREADS=1 ";

std::string dp_args(const fs::path& checkpoints, int steps) {
  return " --model-config " + (kData / "tiny-bloom.config.json").string() + " --data sw:0.6:" +
         (kData / "mtf" / "sw.jsonl").string() + " --data zh:0.4:" + (kData / "mtf" / "zh.jsonl").string() +
         " --seq-len 256 --micro-batch 1 --global-batch 4 --lr 3e-3 --weight-decay 0.1 --warmup-steps 1 --decay-style "
         "cosine --decay-steps 5 --save-interval 1 --steps " + std::to_string(steps) + " --checkpoint-dir " +
         checkpoints.string();
}

std::vector<double> losses_of(const fs::path& checkpoints) {
  std::vector<double> losses;
  std::ifstream in(checkpoints / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const auto record = nlohmann::json::parse(line);
    if (record.contains("loss")) losses.push_back(record["loss"].get<double>());
  }
  return losses;
}

// max |a - b| / max |b| over every weight of two step folders.
double weight_distance(const fs::path& a, const fs::path& b) {
  ckpt::SafetensorsFile x(a / "model.safetensors"), y(b / "model.safetensors");
  double worst = 0, scale = 0;
  for (const auto& [name, info] : y.tensors()) {
    const auto u = x.read_f32(name), v = y.read_f32(name);
    for (std::size_t i = 0; i < v.size(); ++i) {
      worst = std::max(worst, std::abs(static_cast<double>(u[i]) - v[i]));
      scale = std::max(scale, std::abs(static_cast<double>(v[i])));
    }
  }
  return worst / scale;
}

void expect_same_losses(const std::vector<double>& a, const std::vector<double>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6 * std::abs(b[i])) << "step " << i + 1;
}

}  // namespace

TEST(XmtfTrainDp, TwoRanksGiveTheLossesAndWeightsOfOne) {
  const fs::path dir = fresh_dir("dp_equal");
  ASSERT_EQ(run(kOne + kBin + dp_args(dir / "dp1", 5)), 0);
  const Output two = run_capturing(kMpi + kBin + dp_args(dir / "dp2", 5) + " --dp 2");
  ASSERT_EQ(two.exit_code, 0) << two.text;
  const auto one_losses = losses_of(dir / "dp1");
  ASSERT_EQ(one_losses.size(), 5u);
  expect_same_losses(losses_of(dir / "dp2"), one_losses);  // one metrics file, written by rank 0
  EXPECT_LT(weight_distance(dir / "dp2" / "step-00000005", dir / "dp1" / "step-00000005"), 1e-6);
  // Each rank computed half of every global batch: rank 1 logged its steps too.
  EXPECT_NE(two.text.find("r1/2"), std::string::npos);
  fs::remove_all(dir);
}

TEST(XmtfTrainDp, ACheckpointOfOneLayoutResumesInTheOther) {
  const fs::path dir = fresh_dir("dp_resume");
  ASSERT_EQ(run(kOne + kBin + dp_args(dir / "straight", 5)), 0);
  const auto straight = losses_of(dir / "straight");
  // 3 steps at dp 2, resumed to 5 at dp 1; and 3 steps at dp 1, resumed to 5 at dp 2.
  ASSERT_EQ(run(kMpi + kBin + dp_args(dir / "two_then_one", 3) + " --dp 2"), 0);
  ASSERT_EQ(run(kOne + kBin + dp_args(dir / "two_then_one", 5)), 0);
  ASSERT_EQ(run(kOne + kBin + dp_args(dir / "one_then_two", 3)), 0);
  ASSERT_EQ(run(kMpi + kBin + dp_args(dir / "one_then_two", 5) + " --dp 2"), 0);
  for (const char* run_name : {"two_then_one", "one_then_two"}) {
    SCOPED_TRACE(run_name);
    expect_same_losses(losses_of(dir / run_name), straight);
    EXPECT_LT(weight_distance(dir / run_name / "step-00000005", dir / "straight" / "step-00000005"), 1e-6);
  }
  fs::remove_all(dir);
}

TEST(XmtfTrainDp, BadLayoutsAreClearErrors) {
  const fs::path dir = fresh_dir("dp_errors");
  const Output three = run_capturing(kMpi + kBin + dp_args(dir / "a", 2) + " --dp 3");
  EXPECT_EQ(three.exit_code, 1);
  EXPECT_NE(three.text.find("process grid tp 1 x pp 1 x dp 3 needs 3 ranks, but 2 were started"), std::string::npos) << three.text;
  const Output alone = run_capturing(kOne + kBin + dp_args(dir / "b", 2) + " --dp 2");
  EXPECT_EQ(alone.exit_code, 1);
  EXPECT_NE(alone.text.find("start it with mpiexec -n 2, or srun"), std::string::npos) << alone.text;
  const Output uneven = run_capturing(kMpi + kBin + dp_args(dir / "c", 2) + " --dp 2 --global-batch 3");
  EXPECT_EQ(uneven.exit_code, 1);
  EXPECT_NE(uneven.text.find("--global-batch 3 is not a multiple of --dp 2 x --micro-batch 1"), std::string::npos) << uneven.text;
  EXPECT_FALSE(fs::exists(dir / "a" / "latest"));
  fs::remove_all(dir);
}

// A rank killed in the middle of a step: the survivor, waiting for its gradients, ends with a
// message naming it, also under a launcher that does not clean up (like srun without
// --kill-on-bad-exit); the last checkpoint stays the last good one.
TEST(XmtfTrainDp, ARankDyingMidStepEndsTheJobWithoutAHang) {
  const fs::path dir = fresh_dir("dp_death");
  const auto start = std::chrono::steady_clock::now();
  const Output died = run_capturing("XMTF_TRAIN_TEST_CRASH=1:3 OPENBLAS_NUM_THREADS=1 timeout 120 mpiexec -disable-auto-cleanup -n 2 " +
                                    kBin + dp_args(dir / "ckpt", 5) + " --dp 2");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(died.exit_code, 0);
  EXPECT_NE(died.exit_code, 124) << "hung until the timeout";
  EXPECT_LT(seconds, 60);
  EXPECT_NE(died.text.find("is gone while this rank waited in an all-reduce"), std::string::npos) << died.text;
  EXPECT_EQ(ckpt::latest_checkpoint(dir / "ckpt")->filename(), "step-00000002");
  fs::remove_all(dir);
}
