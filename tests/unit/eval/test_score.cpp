// Scores against the independent PyTorch reference (tests/reference/eval/make_score_golden.py):
// pre-tokenized and text lines, several batch sizes (padding must not change a score), input
// errors with file:line, model folders (HF folder, checkpoint root).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ckpt/training_checkpoint.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "eval/score.hpp"

namespace xmtf::eval {
namespace {

const fs::path kData = fs::path(XMTF_TEST_DATA_DIR) / "eval";
const fs::path kModel = kData / "tiny-bloom-50261";
const fs::path kTokenizer = fs::path(XMTF_TEST_DATA_DIR) / "tokenizers" / "bloomstyle_gpt2vocab.tokenizer.json";

std::vector<nlohmann::json> golden_of(const std::string& file) {
  std::ifstream in(kData / "golden.jsonl");
  std::vector<nlohmann::json> rows;
  std::string line;
  while (std::getline(in, line)) {
    auto row = nlohmann::json::parse(line);
    if (row["file"] == file) rows.push_back(row);
  }
  return rows;
}

std::vector<ScoreResult> score_all(const models::Model& model, const std::vector<ScoreSample>& samples,
                                   std::int64_t batch_size) {
  std::vector<ScoreResult> results;
  const auto activations = model.make_activations();
  for (std::size_t begin = 0; begin < samples.size(); begin += static_cast<std::size_t>(batch_size)) {
    std::size_t count = std::min(samples.size() - begin, static_cast<std::size_t>(batch_size));
    auto batch = score_batch(model, std::span(samples).subspan(begin, count), *activations);
    results.insert(results.end(), batch.begin(), batch.end());
  }
  return results;
}

void expect_golden(const std::vector<ScoreSample>& samples, const std::vector<ScoreResult>& results,
                   const std::vector<nlohmann::json>& golden) {
  ASSERT_EQ(samples.size(), golden.size());
  ASSERT_EQ(results.size(), golden.size());
  for (std::size_t i = 0; i < golden.size(); ++i) {
    const auto& g = golden[i];
    EXPECT_EQ(samples[i].line, g["line"].get<std::int64_t>());
    EXPECT_EQ(samples[i].input_ids, g["input_ids"].get<std::vector<std::int32_t>>()) << "line " << g["line"];
    EXPECT_EQ(samples[i].target_ids, g["target_ids"].get<std::vector<std::int32_t>>()) << "line " << g["line"];
    EXPECT_EQ(results[i].tokens, g["tokens"].get<std::int64_t>());
    double expected = g["logprob_sum"].get<double>();
    EXPECT_NEAR(results[i].logprob_sum, expected, 1e-5 * std::max(1.0, std::abs(expected))) << "line " << g["line"];
  }
}

TEST(Score, PreTokenizedMatchesTorchAtEveryBatchSize) {
  auto model = load_model(resolve_model_folder(kModel));
  auto samples = read_score_input(kData / "ids.jsonl", nullptr, nullptr, model->config().vocab_size);
  auto golden = golden_of("ids.jsonl");
  for (std::int64_t batch_size : {1, 2, 4, 100}) {
    SCOPED_TRACE(batch_size);
    expect_golden(samples, score_all(*model, samples, batch_size), golden);
  }
  EXPECT_EQ(samples[1].id_json, "\"sample-1\"");
  EXPECT_EQ(samples[2].id_json, "200");
  EXPECT_EQ(samples[0].id_json, "");
}

TEST(Score, TextLinesUseBloomzTargetPrefixAndMatchTorch) {
  auto model = load_model(kModel);
  auto tokenizer = tok::load_tokenizer(kTokenizer);
  h5::TokenizeOptions options;
  options.target_eos = false;
  h5::SampleEncoder encoder(*tokenizer, options, kTokenizer.string());
  EXPECT_EQ(encoder.target_prefix(), " ");
  auto samples = read_score_input(kData / "text.jsonl", tokenizer.get(), &encoder, model->config().vocab_size);
  expect_golden(samples, score_all(*model, samples, 3), golden_of("text.jsonl"));
}

TEST(Score, FormatsOneJsonLine) {
  ScoreSample sample;
  sample.line = 7;
  sample.id_json = "{\"a\":[1,2]}";
  EXPECT_EQ(format_result(sample, {-1.25, 3}), "{\"line\":7,\"id\":{\"a\":[1,2]},\"logprob_sum\":-1.25,\"tokens\":3}");
  sample.id_json.clear();
  EXPECT_EQ(format_result(sample, {0.0, 0}), "{\"line\":7,\"logprob_sum\":0,\"tokens\":0}");
}

TEST(Score, BatchesAreSpreadOverRanksIndependentlyOfTheirNumber) {
  EXPECT_EQ(batch_count(9, 4), 3);
  EXPECT_EQ(batch_count(0, 4), 0);
  EXPECT_EQ(batches_of_rank(5, 0, 2), (std::vector<std::int64_t>{0, 2, 4}));
  EXPECT_EQ(batches_of_rank(5, 1, 2), (std::vector<std::int64_t>{1, 3}));
  EXPECT_EQ(batches_of_rank(1, 1, 2), (std::vector<std::int64_t>{}));
}

class ScoreFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("xmtf_score_test_{}_{}", ::getpid(),
                                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string error_of(const std::string& content, tok::Tokenizer* tokenizer = nullptr,
                       h5::SampleEncoder* encoder = nullptr) {
    write_file_atomic(dir_ / "bad.jsonl", content);
    try {
      read_score_input(dir_ / "bad.jsonl", tokenizer, encoder, 100);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }
  fs::path dir_;
};

TEST_F(ScoreFiles, BadLinesNameFileAndLine) {
  std::string where = (dir_ / "bad.jsonl").string() + ":3: ";
  std::string ok = "{\"input_ids\": [1], \"target_ids\": [2]}\n\n";
  EXPECT_EQ(error_of(ok + "{nope\n").rfind(where + "invalid JSON", 0), 0u);
  EXPECT_EQ(error_of(ok + "[1, 2]\n").rfind(where + "expected a JSON object", 0), 0u);
  EXPECT_EQ(error_of(ok + "{\"input_ids\": [1], \"target_ids\": [100]}\n"),
            where + "\"target_ids\" holds id 100, outside the model's vocabulary [0, 100)");
  EXPECT_EQ(error_of(ok + "{\"input_ids\": [1], \"target_ids\": [\"a\"]}\n"), where + "\"target_ids\" holds a non-integer: \"a\"");
  EXPECT_EQ(error_of(ok + "{\"input_ids\": [], \"target_ids\": [1]}\n"),
            where + "empty inputs: the first target token would have no context");
  EXPECT_EQ(error_of(ok + "{\"inputs\": \"x\"}\n").rfind(where + "expected string fields", 0), 0u);
  EXPECT_EQ(error_of(ok + "{\"inputs\": \"x\", \"targets\": \"y\"}\n").rfind(where + "a text line needs a tokenizer", 0), 0u);
  auto tokenizer = tok::load_tokenizer(kTokenizer);
  h5::SampleEncoder encoder(*tokenizer, h5::TokenizeOptions{}, kTokenizer.string());
  EXPECT_NE(error_of(ok + "{\"inputs\": \"hello\", \"targets\": \"world\"}\n", tokenizer.get(), &encoder)
                .find(":3: the tokenizer gave id"),
            std::string::npos);
}

TEST_F(ScoreFiles, CheckpointRootResolvesToLatestStep) {
  auto model = load_model(kModel);
  ckpt::TrainingState state;
  state.step = 5;
  state.config_json = read_file(kModel / "config.json");
  state.trainer_json = "{}";
  std::vector<float> m(model->params().size(), 0.0f), v(model->params().size(), 0.0f);
  ckpt::save_training_checkpoint(dir_, model->layout(), {&model->params(), &m, &v}, state);
  fs::path folder = resolve_model_folder(dir_);
  EXPECT_EQ(folder.filename(), "step-00000005");
  auto reloaded = load_model(folder);
  EXPECT_EQ(reloaded->params(), model->params());
  EXPECT_THROW(resolve_model_folder(dir_ / "step-00000005" / "model.safetensors"), Error);
  fs::create_directories(dir_ / "empty");
  EXPECT_THROW(resolve_model_folder(dir_ / "empty"), Error);

  // One flipped byte in the weights: refused, naming the file, before anything is scored.
  fs::path weights = folder / "model.safetensors";
  std::string bytes = read_file(weights);
  bytes[bytes.size() - 3] ^= 0x01;
  write_file_atomic(weights, bytes);
  try {
    load_model(folder);
    FAIL() << "a corrupt checkpoint was loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(weights.string() + ": checksum mismatch"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace xmtf::eval

namespace xmtf::eval {
namespace {

// Issue 18 items 7-10 for scoring.
TEST_F(ScoreFiles, DuplicateKeysAreAnErrorNamingTheLine) {
  std::string ok = "{\"input_ids\": [1], \"target_ids\": [2]}\n";
  EXPECT_EQ(error_of(ok + "{\"input_ids\": [1], \"target_ids\": [2], \"target_ids\": [3]}\n"),
            (dir_ / "bad.jsonl").string() + ":2: duplicate key \"target_ids\" (a key may appear once per object)");
  EXPECT_NE(error_of(ok + "{\"input_ids\": [1], \"target_ids\": [2], \"id\": {\"a\": 1, \"a\": 2}}\n").find(":2: duplicate key \"a\""),
            std::string::npos);
}

TEST_F(ScoreFiles, ASampleWhoseActivationsExceedMemoryIsRefusedNamingItsLine) {
  auto model = load_model(kModel);
  std::string line = "{\"input_ids\": [1";
  for (int i = 0; i < 100000; ++i) line += ",1";
  write_file_atomic(dir_ / "long.jsonl", "{\"input_ids\": [1], \"target_ids\": [2]}\n" + line + "], \"target_ids\": [2]}\n");
  auto samples = read_score_input(dir_ / "long.jsonl", nullptr, nullptr, model->config().vocab_size);
  try {
    check_batches_fit_in_memory(*model, samples, 8, "long.jsonl");
    FAIL() << "not refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("long.jsonl:2: a sample of 100002 tokens: its batch of 2 needs"), std::string::npos) << e.what();
  }
  samples.pop_back();
  EXPECT_NO_THROW(check_batches_fit_in_memory(*model, samples, 8, "long.jsonl"));
}

TEST_F(ScoreFiles, NonFiniteScoresAreNeverFormatted) {
  ScoreSample sample;
  sample.line = 4;
  EXPECT_THROW(format_result(sample, {std::nan(""), 1}), Error);
  EXPECT_THROW(format_result(sample, {-INFINITY, 1}), Error);
}

TEST_F(ScoreFiles, ACheckpointRootWithoutLatestResolvesToTheNewestCompleteStep) {
  auto model = load_model(kModel);
  std::vector<float> m(model->params().size(), 0.0f), v(model->params().size(), 0.0f);
  for (std::int64_t step : {3, 7}) {
    ckpt::TrainingState state{step, read_file(kModel / "config.json"), "{}"};
    ckpt::save_training_checkpoint(dir_, model->layout(), {&model->params(), &m, &v}, state);
  }
  fs::remove(dir_ / "latest");
  EXPECT_EQ(resolve_model_folder(dir_).filename(), "step-00000007");
}

}  // namespace
}  // namespace xmtf::eval

namespace xmtf::eval {
namespace {

// Issue 11 item 4: the reference backend scores the golden fixtures as torch does, and as the
// cpu backend within 1e-5.
TEST(Score, TheReferenceBackendScoresLikeTorchAndTheCpuBackend) {
  auto cpu = load_model(kModel);
  auto reference = load_model(kModel, nn::reference_backend());
  auto samples = read_score_input(kData / "ids.jsonl", nullptr, nullptr, cpu->config().vocab_size);
  const auto on_reference = score_all(*reference, samples, 4);
  expect_golden(samples, on_reference, golden_of("ids.jsonl"));
  const auto on_cpu = score_all(*cpu, samples, 4);
  for (std::size_t i = 0; i < samples.size(); ++i)
    EXPECT_NEAR(on_reference[i].logprob_sum, on_cpu[i].logprob_sum, 1e-5 * std::max(1.0, std::abs(on_cpu[i].logprob_sum)));
}

}  // namespace
}  // namespace xmtf::eval
