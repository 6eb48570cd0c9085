// Bad settings and bad data stop a run clearly and early (issue 18 items 7-10, issue 19 items
// 11 and 13): hyper-parameters out of their domain, a NaN loss (never saved), ids outside the
// vocabulary found when a file is opened, a checkpoint folder without `latest`, the memory a
// micro-batch implies, a half-written export, temporaries of a killed run, two trainers at once.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ckpt/hf_bloom.hpp"
#include "ckpt/training_checkpoint.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "train/sample_source.hpp"
#include "train/trainer.hpp"

using namespace xmtf;
using namespace xmtf::train;

namespace {

const fs::path kData = fs::path(XMTF_TEST_DATA_DIR) / "bloom";

class TrainHardening : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("xmtf_train_hard_{}_{}", ::getpid(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  TrainSettings settings(std::int64_t steps, const std::string& data = "") const {
    TrainSettings s;
    s.model_config = kData / "tiny-bloom.config.json";
    s.data.push_back(parse_data_spec("sw:1:" + (data.empty() ? (kData / "mtf" / "sw.jsonl").string() : data)));
    s.seq_len = 256;
    s.global_batch = 2;
    s.steps = steps;
    s.lr = 3e-3;
    s.decay_steps = 6;
    s.decay_style = "cosine";
    s.checkpoint_dir = dir_ / "ckpt";
    s.save_interval = 2;
    return s;
  }

  std::string error_of(const TrainSettings& s) {
    try {
      run_training(s);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }

  // sw.jsonl with one more line appended.
  fs::path data_with_line(const std::string& line) {
    const fs::path path = dir_ / "data.jsonl";
    write_file_atomic(path, read_file(kData / "mtf" / "sw.jsonl") + line + "\n");
    return path;
  }

  fs::path dir_;
};

}  // namespace

TEST_F(TrainHardening, HyperParametersOutsideTheirDomainNameTheOption) {
  auto expect = [&](auto change, const std::string& needle) {
    TrainSettings s = settings(2);
    change(s);
    const std::string message = error_of(s);
    EXPECT_NE(message.find(needle), std::string::npos) << message;
  };
  expect([](TrainSettings& s) { s.lr = std::nan(""); }, "--lr nan: must be a finite number >= 0");
  expect([](TrainSettings& s) { s.lr = INFINITY; }, "--lr inf: must be a finite number >= 0");
  expect([](TrainSettings& s) { s.lr = -1; }, "--lr -1: must be a finite number >= 0");
  expect([](TrainSettings& s) { s.adam.beta1 = 1.0; }, "--adam-beta1 1: must be in [0, 1)");
  expect([](TrainSettings& s) { s.adam.beta2 = -0.1; }, "--adam-beta2 -0.1: must be in [0, 1)");
  expect([](TrainSettings& s) { s.adam.eps = 0; }, "--adam-eps 0: must be a finite number > 0");
  expect([](TrainSettings& s) { s.steps = -1; }, "--steps -1: must be at least 1");
  expect([](TrainSettings& s) { s.valid_fraction = 1.5; }, "--valid-fraction 1.5: must be in [0, 1)");
  expect([](TrainSettings& s) { s.min_lr = 1; }, "--min-lr 1: must be finite, >= 0 and <= --lr");
  expect([](TrainSettings& s) { s.clip_grad = std::nan(""); }, "--clip-grad nan");
  expect([](TrainSettings& s) { s.data[0].weight = std::nan(""); }, "a language's weight must be a finite number > 0");
  EXPECT_FALSE(fs::exists(dir_ / "ckpt"));  // refused before anything was written
}

TEST_F(TrainHardening, NonFiniteLossStopsTheRunAndKeepsTheLastGoodCheckpoint) {
  TrainSettings s = settings(6);
  s.lr = 1e30;  // finite and accepted, but the first update blows the weights up
  s.save_interval = 1;
  const std::string message = error_of(s);
  EXPECT_NE(message.find("is not finite; stopping without saving"), std::string::npos) << message;
  const auto latest = ckpt::latest_checkpoint(s.checkpoint_dir);
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->filename(), "step-00000001");  // step 2's loss was inf or nan: never saved
  // The kept checkpoint is loadable (all finite), and the metrics hold no NaN (nor null).
  models::BloomModel model(models::load_bloom_config(s.model_config));
  EXPECT_NO_THROW(ckpt::load_bloom_weights(*latest, model));
  const std::string metrics = read_file(s.checkpoint_dir / "metrics.jsonl");
  EXPECT_EQ(metrics.find("null"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("NaN"), std::string::npos) << metrics;
}

TEST_F(TrainHardening, OutOfVocabularyIdsAreFoundWhenTheFileIsOpened) {
  // The bad sample is the last of 81: one step of 2 rows would never draw it.
  const fs::path data = data_with_line(R"({"input_ids": [5, 6], "target_ids": [260]})");
  const std::string message = error_of(settings(1, data.string()));
  EXPECT_NE(message.find(data.string() + ":81: \"target_ids\" holds id 260, outside the model's vocabulary [0, 260)"),
            std::string::npos) << message;
}

TEST_F(TrainHardening, FractionalIdsAndDuplicateKeysInSamplesAreErrors) {
  const fs::path fractional = data_with_line(R"({"input_ids": [5, 4.5], "target_ids": [6]})");
  EXPECT_NE(error_of(settings(1, fractional.string())).find(":81: \"input_ids\" holds 4.5, not an integer token id"),
            std::string::npos);
  const fs::path duplicate = data_with_line(R"({"input_ids": [5], "target_ids": [6], "input_ids": [7]})");
  EXPECT_NE(error_of(settings(1, duplicate.string())).find(":81: duplicate key \"input_ids\""), std::string::npos);
}

TEST_F(TrainHardening, WithoutLatestTheRunResumesFromTheNewestCompleteStep) {
  TrainSettings straight = settings(6);
  straight.checkpoint_dir = dir_ / "straight";
  const TrainResult full = run_training(straight);
  TrainSettings first = settings(4);
  ASSERT_EQ(run_training(first).losses.size(), 4u);
  fs::remove(first.checkpoint_dir / "latest");  // lost; step-2 and step-4 remain
  const TrainResult resumed = run_training(settings(6));
  ASSERT_EQ(resumed.losses.size(), 2u);  // steps 5 and 6, not 6 steps from random weights
  EXPECT_EQ(resumed.losses[0], full.losses[4]);
  EXPECT_EQ(resumed.losses[1], full.losses[5]);
}

TEST_F(TrainHardening, MicroBatchActivationsBeyondMemoryAreRefusedUpFront) {
  TrainSettings s = settings(1);
  s.seq_len = 100000;
  s.micro_batch = 8;
  s.global_batch = 8;
  const std::string message = error_of(s);
  EXPECT_NE(message.find("--seq-len 100000 --micro-batch 8: the activations of one micro-batch take"), std::string::npos) << message;
  EXPECT_NE(message.find("of memory here; lower --micro-batch or --seq-len"), std::string::npos) << message;
}

TEST_F(TrainHardening, AnExportMissingAFileIsRedoneByTheRerun) {
  TrainSettings s = settings(2);
  s.export_dir = dir_ / "hf";
  run_training(s);
  ASSERT_TRUE(ckpt::hf_export_complete(s.export_dir));
  const std::string weights = read_file(s.export_dir / "model.safetensors");
  // A kill between the export's two files (as the trainer wrote them before): weights only.
  fs::remove(s.export_dir / "config.json");
  const TrainResult rerun = run_training(s);
  EXPECT_TRUE(rerun.losses.empty());  // already trained
  EXPECT_TRUE(ckpt::hf_export_complete(s.export_dir));
  EXPECT_EQ(read_file(s.export_dir / "model.safetensors"), weights);
}

TEST_F(TrainHardening, TemporariesOfAKilledRunAreRemovedAtStart) {
  TrainSettings s = settings(2);
  s.export_dir = dir_ / "hf";
  fs::create_directories(s.checkpoint_dir / "step-00000002.tmp");
  write_file_atomic(s.checkpoint_dir / "step-00000002.tmp" / "model.safetensors.tmp.4242.0", "x");
  write_file_atomic(s.checkpoint_dir / "latest.tmp.4242.1", "x");
  write_file_atomic(s.checkpoint_dir / "metrics.jsonl.tmp.4242.2", "x");
  fs::create_directories(dir_ / "hf.tmp.4242.3");
  write_file_atomic(dir_ / "hf.tmp.4242.3" / "model.safetensors", "x");
  run_training(s);
  EXPECT_FALSE(fs::exists(s.checkpoint_dir / "step-00000002.tmp"));
  EXPECT_FALSE(fs::exists(s.checkpoint_dir / "latest.tmp.4242.1"));
  EXPECT_FALSE(fs::exists(s.checkpoint_dir / "metrics.jsonl.tmp.4242.2"));
  EXPECT_FALSE(fs::exists(dir_ / "hf.tmp.4242.3"));
  EXPECT_TRUE(ckpt::hf_export_complete(s.export_dir));
}

TEST_F(TrainHardening, ASecondTrainerOnTheSameCheckpointFolderIsRefused) {
  TrainSettings s = settings(1);
  fs::create_directories(s.checkpoint_dir);
  const int fd = ::open((s.checkpoint_dir / ".lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);  // as a running trainer holds it
  const std::string message = error_of(s);
  EXPECT_NE(message.find("another xmtf-train"), std::string::npos) << message;
  ::close(fd);
  EXPECT_EQ(run_training(s).losses.size(), 1u);
}
