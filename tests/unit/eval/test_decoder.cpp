// The KV-cache forward (BloomDecoder) against the plain forward of the engine and against the
// PyTorch golden of xmtf-score: a prefix run once and continued in pieces, shared by several
// rows, gives the logits of one full forward; BloomChoiceScorer gives torch's summed scores.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "eval/score.hpp"
#include "eval/scorer.hpp"

namespace xmtf::eval {
namespace {

const fs::path kModel = fs::path(XMTF_TEST_DATA_DIR) / "eval" / "tiny-bloom-50261";

models::BloomModel random_model(std::int64_t n_head) {
  models::BloomConfig config;
  config.vocab_size = 97;
  config.hidden_size = 24;
  config.n_layer = 3;
  config.n_head = n_head;
  models::BloomModel model(config);
  model.init_random(5);
  // Larger weights than HF's init, so attention is far from uniform and any misplaced key shows.
  for (float& p : model.params()) p *= 8.0f;
  return model;
}

// Logits of every position of one sequence from BloomModel::forward.
std::vector<float> full_logits(const models::BloomModel& model, const std::vector<std::int32_t>& ids) {
  models::Batch batch;
  batch.batch_size = 1;
  batch.seq_len = static_cast<std::int64_t>(ids.size());
  batch.input_ids = ids;
  batch.target_ids.assign(ids.size(), 0);
  batch.loss_weights.assign(ids.size(), 1.0f);
  auto activations = model.make_activations();
  model.forward(batch, *activations);
  return std::vector<float>(activations->logits.begin(), activations->logits.end());
}

std::vector<std::int32_t> random_ids(std::size_t n, std::uint32_t seed, std::int32_t vocab) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<std::int32_t> id(0, vocab - 1);
  std::vector<std::int32_t> ids(n);
  for (auto& x : ids) x = id(generator);
  return ids;
}

void expect_close(const float* a, const float* b, std::int64_t n, const std::string& what) {
  for (std::int64_t i = 0; i < n; ++i) ASSERT_NEAR(a[i], b[i], 2e-4f * std::max(1.0f, std::abs(b[i]))) << what << " at " << i;
}

TEST(BloomDecoder, PrefixAndPiecesGiveTheFullForwardLogits) {
  for (std::int64_t heads : {1, 3, 6}) {  // ALiBi slopes for non-powers of two too
    auto model = random_model(heads);
    const std::int64_t vocab = model.config().vocab_size;
    BloomDecoder decoder(model);
    const auto prefix = random_ids(7, 1, static_cast<std::int32_t>(vocab));
    const std::vector<std::vector<std::int32_t>> continuations = {random_ids(5, 2, 97), random_ids(1, 3, 97), random_ids(9, 4, 97)};
    KvCache prefix_cache;
    std::vector<float> logits;
    std::vector<std::int64_t> wanted(prefix.size());
    for (std::size_t i = 0; i < wanted.size(); ++i) wanted[i] = static_cast<std::int64_t>(i);
    std::vector<DecodeRow> rows{{nullptr, &prefix_cache, prefix}};
    decoder.extend(rows, wanted, logits);
    auto expected_prefix = full_logits(model, prefix);
    expect_close(logits.data(), expected_prefix.data(), static_cast<std::int64_t>(expected_prefix.size()), "prefix");

    // Three rows continue the shared prefix, in two steps of uneven sizes, packed together.
    std::vector<KvCache> own(continuations.size());
    std::vector<std::vector<float>> got(continuations.size());
    for (int step = 0; step < 2; ++step) {
      rows.clear();
      wanted.clear();
      std::vector<std::pair<std::size_t, std::size_t>> ranges;
      std::int64_t position = 0;
      for (std::size_t r = 0; r < continuations.size(); ++r) {
        const std::size_t half = continuations[r].size() / 2;
        const std::size_t begin = step == 0 ? 0 : half, end = step == 0 ? half : continuations[r].size();
        rows.push_back({&prefix_cache, &own[r], std::span(continuations[r]).subspan(begin, end - begin)});
        for (std::size_t t = begin; t < end; ++t) wanted.push_back(position++);
        ranges.emplace_back(begin, end);
      }
      decoder.extend(rows, wanted, logits);
      std::size_t row_start = 0;
      for (std::size_t r = 0; r < continuations.size(); ++r) {
        const std::size_t count = ranges[r].second - ranges[r].first;
        got[r].insert(got[r].end(), logits.begin() + static_cast<std::ptrdiff_t>(row_start * vocab),
                      logits.begin() + static_cast<std::ptrdiff_t>((row_start + count) * vocab));
        row_start += count;
      }
    }
    EXPECT_EQ(prefix_cache.length, 7);
    for (std::size_t r = 0; r < continuations.size(); ++r) {
      std::vector<std::int32_t> whole = prefix;
      whole.insert(whole.end(), continuations[r].begin(), continuations[r].end());
      auto expected = full_logits(model, whole);
      EXPECT_EQ(own[r].length, static_cast<std::int64_t>(continuations[r].size()));
      expect_close(got[r].data(), expected.data() + prefix.size() * vocab, static_cast<std::int64_t>(got[r].size()),
                   "heads " + std::to_string(heads) + " row " + std::to_string(r));
    }
  }
}

TEST(BloomDecoder, RejectsIdsOutsideTheVocabularyAndBadPositions) {
  auto model = random_model(2);
  BloomDecoder decoder(model);
  KvCache cache;
  std::vector<float> logits;
  std::vector<std::int32_t> bad{1, 97};
  std::vector<DecodeRow> rows{{nullptr, &cache, bad}};
  EXPECT_THROW(decoder.extend(rows, {}, logits), Error);
  std::vector<std::int32_t> good{1, 2};
  rows = {{nullptr, &cache, good}};
  std::vector<std::int64_t> wanted{2};
  EXPECT_THROW(decoder.extend(rows, wanted, logits), Error);
}

// The golden of xmtf-score: each sample alone through the plain-torch BLOOM.
TEST(BloomChoiceScorer, MatchesTorchScoresOfXmtfScoreGolden) {
  auto model = load_model(kModel);
  BloomChoiceScorer scorer(*model);
  std::ifstream in(fs::path(XMTF_TEST_DATA_DIR) / "eval" / "golden.jsonl");
  std::vector<ChoiceExample> examples;
  std::vector<double> expected;
  std::string line;
  while (std::getline(in, line)) {
    auto row = nlohmann::json::parse(line);
    // Two choices per example: the golden target, and the same target again (identical sums).
    ChoiceExample example{row["input_ids"].get<std::vector<std::int32_t>>(), {}};
    example.choices.push_back(row["target_ids"].get<std::vector<std::int32_t>>());
    example.choices.push_back(example.choices[0]);
    examples.push_back(example);
    expected.push_back(row["logprob_sum"].get<double>());
  }
  ASSERT_EQ(examples.size(), 16u);
  for (std::size_t batch : {1, 5, 16}) {
    for (std::size_t begin = 0; begin < examples.size(); begin += batch) {
      const std::size_t count = std::min(batch, examples.size() - begin);
      auto sums = scorer.score(std::span(examples).subspan(begin, count));
      for (std::size_t i = 0; i < count; ++i) {
        const double want = expected[begin + i];
        EXPECT_NEAR(sums[i][0], want, 1e-5 * std::max(1.0, std::abs(want))) << "example " << begin + i << " batch " << batch;
        EXPECT_EQ(sums[i][0], sums[i][1]);
      }
    }
  }
}

TEST(BloomTokenGenerator, StepsGiveTheFullForwardLogitsOfEachRow) {
  auto model = random_model(4);
  const std::int64_t vocab = model.config().vocab_size;
  BloomTokenGenerator generator(model);
  std::vector<std::vector<std::int32_t>> prompts = {random_ids(4, 8, 97), random_ids(6, 9, 97)};
  std::vector<int> prompt_of_row = {0, 1, 1};
  std::vector<float> logits;
  generator.start(prompts, prompt_of_row, logits);
  std::vector<std::vector<std::int32_t>> seqs = {prompts[0], prompts[1], prompts[1]};
  for (std::size_t r = 0; r < seqs.size(); ++r) {
    auto expected = full_logits(model, seqs[r]);
    expect_close(logits.data() + r * vocab, expected.data() + (seqs[r].size() - 1) * vocab, vocab, "start");
  }
  // Rows 0 and 2 take three steps, row 1 stops after one.
  std::vector<int> live = {0, 1, 2};
  for (int step = 0; step < 3; ++step) {
    std::vector<std::int32_t> next;
    for (int r : live) next.push_back(static_cast<std::int32_t>((r * 31 + step * 7) % vocab));
    generator.step(live, next, logits);
    for (std::size_t i = 0; i < live.size(); ++i) {
      auto& seq = seqs[static_cast<std::size_t>(live[i])];
      seq.push_back(next[i]);
      auto expected = full_logits(model, seq);
      expect_close(logits.data() + i * vocab, expected.data() + (seq.size() - 1) * vocab, vocab, "step");
    }
    if (step == 0) live = {0, 2};
  }
}

}  // namespace
}  // namespace xmtf::eval

namespace xmtf::eval {
namespace {

TEST(LogSoftmax, FastExpAndNormaliserMatchTheLibraryInDouble) {
  double worst = 0.0;
  for (float x = -90.0f; x <= 0.0f; x += 0.0137f) {
    const double want = std::exp(static_cast<double>(x));
    if (want < 1e-37) continue;  // denormal range: flushed
    worst = std::max(worst, std::abs(exp_nonpositive(x) - want) / want);
  }
  EXPECT_LT(worst, 3e-7);
  EXPECT_EQ(exp_nonpositive(0.0f), 1.0f);
  EXPECT_EQ(exp_nonpositive(-200.0f), exp_nonpositive(-87.0f));
  std::mt19937 generator(3);
  std::normal_distribution<float> normal(0.0f, 6.0f);
  std::vector<float> z(50261);
  for (float& v : z) v = normal(generator);
  double max_z = *std::max_element(z.begin(), z.end()), sum = 0.0;
  for (float v : z) sum += std::exp(static_cast<double>(v) - max_z);
  EXPECT_NEAR(log_normaliser(z.data(), static_cast<std::int64_t>(z.size())), max_z + std::log(sum), 1e-6);
}

}  // namespace
}  // namespace xmtf::eval
