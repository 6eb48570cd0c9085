// The xmtf-train executable: --help, exit codes, manifest stage settings, SIGTERM handling.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>

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
