// Checkpoints and exports that must not be trusted (issue 18 items 7-10, issue 19 items 11 and
// 13): hostile safetensors headers, non-finite weights, a checkpoint root without `latest`, an
// export killed half-way, temporaries a kill left behind.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "ckpt/hf_bloom.hpp"
#include "ckpt/safetensors.hpp"
#include "ckpt/temporaries.hpp"
#include "ckpt/training_checkpoint.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"

using namespace xmtf;
using namespace xmtf::ckpt;

namespace {

const fs::path kGolden = fs::path(XMTF_TEST_DATA_DIR) / "bloom" / "golden";

class HostileCheckpoints : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("xmtf_ckpt_hostile_{}_{}", ::getpid(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A safetensors file with this header and `data_bytes` zero bytes of data.
  fs::path write_raw(const std::string& header, std::size_t data_bytes) {
    std::string text = header;
    while ((8 + text.size()) % 8 != 0) text.push_back(' ');
    const std::uint64_t size = text.size();
    std::string bytes(reinterpret_cast<const char*>(&size), 8);
    bytes += text + std::string(data_bytes, '\0');
    write_file_atomic(dir_ / "x.safetensors", bytes);
    return dir_ / "x.safetensors";
  }

  std::string error_of(const std::function<void()>& action) {
    try {
      action();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }

  models::BloomModel tiny() {
    models::BloomModel model(models::load_bloom_config(kGolden / "tiny4h" / "config.json"));
    load_bloom_weights(kGolden / "tiny4h" / "model.safetensors", model);
    return model;
  }

  fs::path save_step(const models::BloomModel& model, std::int64_t step) {
    std::vector<float> m(model.params().size(), 0.0f), v(model.params().size(), 0.0f);
    auto params = model.params();
    TrainingState state{step, read_file(kGolden / "tiny4h" / "config.json"), "{}"};
    return save_training_checkpoint(dir_ / "ckpt", model.layout(), {&params, &m, &v}, state);
  }

  fs::path dir_;
};

}  // namespace

TEST_F(HostileCheckpoints, HeaderWithDuplicateNamesOrOverflowingShapesIsRefused) {
  const fs::path dup = write_raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8);
  EXPECT_NE(error_of([&] { SafetensorsFile file(dup); }).find("duplicate key \"a\""), std::string::npos);
  // 2^32 x 2^32 x 4 bytes wraps to 0 in 64 bits: it must not pass as a 0-byte tensor.
  const fs::path wrap = write_raw(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 8);
  EXPECT_NE(error_of([&] { SafetensorsFile file(wrap); }).find("tensor 'a'"), std::string::npos);
  const fs::path fractional = write_raw(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 8);
  EXPECT_NE(error_of([&] { SafetensorsFile file(fractional); }).find("shape must be an integer"), std::string::npos);
}

TEST_F(HostileCheckpoints, ShardIndexNamesOnlyFilesOfItsFolder) {
  fs::create_directories(dir_ / "model");
  write_file_atomic(dir_ / "model" / "model.safetensors.index.json", R"({"weight_map": {"a": "../x.safetensors"}})");
  write_raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  EXPECT_NE(error_of([&] { SafetensorsCollection c(dir_ / "model"); }).find("not a file name in this folder"), std::string::npos);
}

TEST_F(HostileCheckpoints, NonFiniteWeightsAreRefusedOnLoadAndNeverSaved) {
  models::BloomModel model = tiny();
  model.layout().view(model.params(), "h.1.mlp.dense_h_to_4h.bias")[3] = std::nanf("");
  const std::string saved = error_of([&] { save_step(model, 1); });
  EXPECT_NE(saved.find("'h.1.mlp.dense_h_to_4h.bias' holds nan at element 3: not saved"), std::string::npos) << saved;
  EXPECT_FALSE(latest_checkpoint(dir_ / "ckpt").has_value());
  export_bloom_hf(model, dir_ / "hf");  // an export is not a checkpoint; but loading it is refused
  models::BloomModel reloaded(model.config());
  const std::string loaded = error_of([&] { load_bloom_weights(dir_ / "hf", reloaded); });
  EXPECT_NE(loaded.find("tensor 'transformer.h.1.mlp.dense_h_to_4h.bias' holds nan at element 3"), std::string::npos) << loaded;
}

TEST_F(HostileCheckpoints, WithoutLatestTheNewestCompleteStepIsUsed) {
  const models::BloomModel model = tiny();
  save_step(model, 2);
  const fs::path step4 = save_step(model, 4);
  fs::remove(dir_ / "ckpt" / "latest");
  EXPECT_EQ(latest_checkpoint(dir_ / "ckpt")->filename(), "step-00000004");
  // The newest is incomplete (a byte flipped): the one before it.
  std::string bytes = read_file(step4 / "optimizer.safetensors");
  bytes[bytes.size() - 1] ^= 1;
  write_file_atomic(step4 / "optimizer.safetensors", bytes);
  EXPECT_EQ(latest_checkpoint(dir_ / "ckpt")->filename(), "step-00000002");
  // None complete: refused, never "no checkpoint" (which would restart from random weights).
  fs::remove(dir_ / "ckpt" / "step-00000002" / "state.json");
  const std::string message = error_of([&] { latest_checkpoint(dir_ / "ckpt"); });
  EXPECT_NE(message.find("no `latest` file and none of its 2 step folders is a complete checkpoint"), std::string::npos) << message;
  // An empty root has no checkpoint; a step-N.tmp folder is not a step folder.
  fs::create_directories(dir_ / "empty" / "step-00000001.tmp");
  EXPECT_FALSE(latest_checkpoint(dir_ / "empty").has_value());
}

TEST_F(HostileCheckpoints, ExportIsCompleteOrAbsentAndKeepsForeignFiles) {
  const models::BloomModel model = tiny();
  const fs::path hf = dir_ / "hf";
  // What a kill between the two files left with the old export: weights, no config.json.
  fs::create_directories(hf);
  write_file_atomic(hf / "model.safetensors", "partial");
  write_file_atomic(hf / "tokenizer.json", "{}");
  EXPECT_FALSE(hf_export_complete(hf));
  export_bloom_hf(model, hf);
  EXPECT_TRUE(hf_export_complete(hf));
  EXPECT_EQ(read_file(hf / "tokenizer.json"), "{}");
  models::BloomModel reloaded(model.config());
  load_bloom_weights(hf, reloaded);
  EXPECT_EQ(reloaded.params(), model.params());
  // Nothing else beside it: the staging folder was renamed, the previous export removed.
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) entries += entry.path().filename() != "ckpt";
  EXPECT_EQ(entries, 1);
}

TEST_F(HostileCheckpoints, TemporariesOfAKilledRunAreRecognisedAndRemoved) {
  EXPECT_TRUE(is_temporary_name("latest.tmp.1234.0"));
  EXPECT_TRUE(is_temporary_name("step-00000004.tmp"));
  EXPECT_TRUE(is_temporary_name("hf-model.tmp.77.3"));
  EXPECT_FALSE(is_temporary_name("step-00000004"));
  EXPECT_FALSE(is_temporary_name("model.safetensors"));
  const fs::path root = dir_ / "ckpt";
  fs::create_directories(root / "step-00000004.tmp");
  fs::create_directories(root / "step-00000002");
  write_file_atomic(root / "latest.tmp.99999.0", "x");
  write_file_atomic(root / "metrics.jsonl", "{}\n");
  const auto removed = remove_temporaries(root);
  EXPECT_EQ(removed.size(), 2u);
  EXPECT_TRUE(fs::exists(root / "step-00000002"));
  EXPECT_TRUE(fs::exists(root / "metrics.jsonl"));
  // An export's: only its own beside it (a sibling export's temporaries are left alone).
  fs::create_directories(dir_ / "hf.tmp.5.1");
  fs::create_directories(dir_ / "hf2.tmp.5.2");
  fs::create_directories(dir_ / "hf");
  write_file_atomic(dir_ / "hf" / "model.safetensors.tmp.5.3", "x");
  EXPECT_EQ(remove_export_temporaries(dir_ / "hf").size(), 2u);
  EXPECT_TRUE(fs::exists(dir_ / "hf2.tmp.5.2"));
}
