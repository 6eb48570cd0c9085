// Tokenized HDF5 shards (src/h5) as training data: the same samples as the JSONL source, and a
// training run on them identical to one on the JSONL copy.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "h5/shard_writer.hpp"
#include "train/sample_source.hpp"
#include "train/trainer.hpp"

using namespace xmtf;
using namespace xmtf::train;

namespace {

const fs::path kData = fs::path(XMTF_TEST_DATA_DIR) / "bloom";

fs::path write_shard_copy(const fs::path& jsonl, const fs::path& h5_path) {
  const auto source = open_jsonl_tokenized(jsonl, 260);
  h5::ShardInfo info;
  info.tokenizer_name = "bytes";
  info.language = "sw";
  h5::TokenizedShardWriter writer(h5_path, info, 1024);
  Sample sample;
  for (std::int64_t i = 0; i < source->n_samples(); ++i) {
    source->read(i, sample);
    writer.append(sample.inputs, sample.targets);
  }
  writer.commit();
  return h5_path;
}

}  // namespace

TEST(H5Source, TrainingOnTokenizedShardsEqualsTrainingOnTheSameSamples) {
  const fs::path dir = fs::temp_directory_path() / ("xmtf_train_h5_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path shard = write_shard_copy(kData / "mtf" / "sw.jsonl", dir / "part-00000.bytes.h5");
  const auto from_h5 = open_sample_file(shard, 260);
  const auto from_jsonl = open_sample_file(kData / "mtf" / "sw.jsonl", 260);
  ASSERT_EQ(from_h5->n_samples(), from_jsonl->n_samples());
  Sample a, b;
  for (std::int64_t i = 0; i < from_h5->n_samples(); ++i) {
    from_h5->read(i, a);
    from_jsonl->read(i, b);
    EXPECT_EQ(a.inputs, b.inputs);
    EXPECT_EQ(a.targets, b.targets);
  }
  auto settings = [&](const std::string& data, const fs::path& ckpt) {
    TrainSettings s;
    s.model_config = kData / "tiny-bloom.config.json";
    s.data.push_back(parse_data_spec(data));
    s.seq_len = 256;
    s.global_batch = 2;
    s.steps = 2;
    s.lr = 1e-3;
    s.checkpoint_dir = ckpt;
    return s;
  };
  const auto h5_run = run_training(settings("sw:1:" + (dir / "*.h5").string(), dir / "ckpt_h5"));
  const auto jsonl_run = run_training(settings("sw:1:" + (kData / "mtf" / "sw.jsonl").string(), dir / "ckpt_jsonl"));
  EXPECT_EQ(h5_run.losses, jsonl_run.losses);
  fs::remove_all(dir);
}

// Issue 18 item 9: an id outside the vocabulary failed only when its sample was drawn (maybe
// hours in); now when the shard is opened, naming the file and the sample.
TEST(H5Source, OutOfVocabularyIdsAreFoundWhenTheShardIsOpened) {
  const fs::path dir = fs::temp_directory_path() / ("xmtf_train_h5_oov_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  h5::ShardInfo info;
  info.tokenizer_name = "bytes";
  info.language = "sw";
  {
    h5::TokenizedShardWriter writer(dir / "part-00000.bytes.h5", info, 1024);
    const std::vector<std::int32_t> inputs{5, 6}, good{7}, bad{7, 300};
    writer.append(inputs, good);
    writer.append(inputs, bad);
    writer.commit();
  }
  try {
    open_sample_file(dir / "part-00000.bytes.h5", 260);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("part-00000.bytes.h5: sample 1 holds target id 300, outside the model's vocabulary [0, 260)"),
              std::string::npos) << e.what();
  }
  EXPECT_EQ(open_sample_file(dir / "part-00000.bytes.h5", 301)->n_samples(), 2);
  fs::remove_all(dir);
}
