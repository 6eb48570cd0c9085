// Decoding: the token choice (greedy, temperature, top-p) against its definition, the stopping
// rules, per-row random streams (a completion does not depend on its batch), and greedy
// generation with the KV cache against a greedy loop over the engine's full forward.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numeric>

#include "core/error.hpp"
#include "eval/generate.hpp"
#include "eval/score.hpp"
#include "eval_test_util.hpp"
#include "tok/tokenizer.hpp"

namespace xmtf::eval {
namespace {

TEST(ChooseToken, GreedyTakesTheFirstMaximum) {
  RowRandom random(1);
  std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(choose_token(logits, 0.0, 0.95, random), 1);
  EXPECT_EQ(choose_token(logits, -1.0, 1.0, random), 1);
}

TEST(ChooseToken, SamplesFollowSoftmaxOverTemperatureWithinTheNucleus) {
  // p ~ exp(l / T): with T = 0.5, probabilities 0.636, 0.234, 0.086, 0.032, 0.012.
  const std::vector<float> logits = {2.0f, 1.5f, 1.0f, 0.5f, 0.0f};
  const double temperature = 0.5;
  std::vector<double> p(logits.size());
  double total = 0;
  for (std::size_t i = 0; i < p.size(); ++i) total += p[i] = std::exp(logits[i] / temperature);
  for (double& x : p) x /= total;
  for (double top_p : {1.0, 0.95, 0.8, 0.5}) {
    // The nucleus: tokens while the mass before them is below top_p.
    std::size_t kept = 0;
    double mass = 0;
    while (kept < p.size() && mass < top_p) mass += p[kept++];
    RowRandom random(7);
    std::map<int, int> counts;
    const int draws = 200000;
    for (int i = 0; i < draws; ++i) ++counts[choose_token(logits, temperature, top_p, random)];
    for (std::size_t i = 0; i < p.size(); ++i) {
      const double expected = i < kept ? p[i] / mass : 0.0;
      const double got = static_cast<double>(counts[static_cast<int>(i)]) / draws;
      EXPECT_NEAR(got, expected, 4 * std::sqrt(expected * (1 - expected) / draws) + 1e-9) << "top_p " << top_p << " token " << i;
    }
  }
}

TEST(ChooseToken, TheNucleusOfALargeFlatVocabularyIsExact) {
  // 5000 equal tokens: top-p 0.5 keeps exactly the 2500 lowest ids (ties go to the lower id).
  std::vector<float> logits(5000, 1.0f);
  RowRandom random(3);
  int highest = 0;
  for (int i = 0; i < 4000; ++i) highest = std::max(highest, choose_token(logits, 1.0, 0.5, random));
  EXPECT_LE(highest, 2499);  // never one of the 2500 outside the nucleus
  EXPECT_GE(highest, 2450);
}

TEST(RowRandom, StreamsAreFixedPerSeed) {
  RowRandom a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next();
    EXPECT_EQ(x, b.next());
    EXPECT_NE(x, c.next());
  }
  RowRandom u(5);
  for (int i = 0; i < 1000; ++i) {
    const double v = u.uniform();
    EXPECT_GE(v, 0.0);
    EXPECT_LT(v, 1.0);
  }
  EXPECT_NE(mix_seed({0, 1, 2, 3}), mix_seed({0, 1, 3, 2}));
  EXPECT_EQ(mix_seed({0, 1, 2, 3}), mix_seed({0, 1, 2, 3}));
}

// A model whose next-token logits are a fixed function of the row's last token, for the loop's rules.
class CountingModel : public TokenGenerator {
 public:
  std::int64_t vocab_size() const override { return 50261; }
  void start(std::span<const std::vector<std::int32_t>> prompts, std::span<const int> prompt_of_row,
             std::vector<float>& logits) override {
    last_.clear();
    for (int p : prompt_of_row) last_.push_back(prompts[static_cast<std::size_t>(p)].back());
    fill(logits, last_);
  }
  void step(std::span<const int> rows, std::span<const std::int32_t> tokens, std::vector<float>& logits) override {
    std::vector<std::int32_t> last;
    for (std::size_t i = 0; i < rows.size(); ++i) last.push_back(last_[static_cast<std::size_t>(rows[i])] = tokens[i]);
    fill(logits, last);
    ++steps;
  }
  int steps = 0;

 private:
  // After token t comes next_[t] (a chain), everything else far less likely.
  void fill(std::vector<float>& logits, const std::vector<std::int32_t>& last) const {
    logits.assign(last.size() * 50261, -30.0f);
    for (std::size_t r = 0; r < last.size(); ++r) logits[r * 50261 + static_cast<std::size_t>(next(last[r]))] = 10.0f;
  }
  static std::int32_t next(std::int32_t t) {
    switch (t) {
      case 40: return 41;  // "I" -> "J"
      case 41: return 42;  // "J" -> "K"
      case 42: return 198;  // "K" -> "\n"
      case 198: return 4299;  // "\n" -> "def"
      default: return 40;
    }
  }
  std::vector<std::int32_t> last_;
};

TEST(Generate, StopsAtStopSequencesEosAndTheTokenBudget) {
  auto tokenizer = tok::load_tokenizer(testing::kTokenizer);
  ASSERT_EQ(tokenizer->decode(std::vector<std::int32_t>{40, 41, 42, 198, 4299}), "IJK\ndef");
  CountingModel model;
  std::vector<std::vector<std::int32_t>> prompts = {{100}, {41}};
  std::vector<int> rows = {0, 1};
  std::vector<std::uint64_t> seeds = {1, 2};
  SamplingOptions options;
  options.stop = {"\ndef"};
  auto stopped = generate(model, *tokenizer, prompts, rows, seeds, options);
  EXPECT_EQ(stopped[0].text, "IJK");
  EXPECT_EQ(stopped[0].finish, Finish::stop);
  EXPECT_EQ(stopped[1].text, "K");  // the prompt's last token J leads to K
  options.stop.clear();
  options.max_new_tokens = 3;
  auto budget = generate(model, *tokenizer, prompts, rows, seeds, options);
  EXPECT_EQ(budget[0].tokens, (std::vector<std::int32_t>{40, 41, 42}));
  EXPECT_EQ(budget[0].finish, Finish::length);
  options.max_new_tokens = 50;
  options.eos_id = 198;
  auto eos = generate(model, *tokenizer, prompts, rows, seeds, options);
  EXPECT_EQ(eos[0].text, "IJK");
  EXPECT_EQ(eos[0].finish, Finish::eos);
  EXPECT_EQ(eos[1].tokens, (std::vector<std::int32_t>{42}));
  EXPECT_THROW(generate(model, *tokenizer, prompts, rows, std::vector<std::uint64_t>{1}, options), Error);
}

// Greedy continuation by recomputing the whole sequence with BloomModel::forward each step.
std::vector<std::int32_t> greedy_by_full_forward(const models::Model& model, std::vector<std::int32_t> ids, int n) {
  const std::int64_t vocab = model.config().vocab_size;
  std::vector<std::int32_t> out;
  for (int i = 0; i < n; ++i) {
    models::Batch batch;
    batch.batch_size = 1;
    batch.seq_len = static_cast<std::int64_t>(ids.size());
    batch.input_ids = ids;
    batch.target_ids.assign(ids.size(), 0);
    batch.loss_weights.assign(ids.size(), 1.0f);
    auto activations = model.make_activations();
    model.forward(batch, *activations);
    const float* last = activations->logits.data() + (ids.size() - 1) * vocab;
    const auto token = static_cast<std::int32_t>(std::max_element(last, last + vocab) - last);
    out.push_back(token);
    ids.push_back(token);
  }
  return out;
}

TEST(Generate, GreedyWithTheCacheEqualsTheFullForwardAndDoesNotDependOnTheBatch) {
  auto model = load_model(testing::kModel);
  auto tokenizer = tok::load_tokenizer(testing::kTokenizer);
  BloomTokenGenerator generator(*model);
  std::vector<std::vector<std::int32_t>> prompts = {tokenizer->encode("def add(a, b):\n    return"), tokenizer->encode("Hello")};
  SamplingOptions greedy;
  greedy.max_new_tokens = 12;
  std::vector<int> both = {0, 1, 0};
  std::vector<std::uint64_t> seeds = {1, 2, 3};
  auto batched = generate(generator, *tokenizer, prompts, both, seeds, greedy);
  for (int p : {0, 1}) {
    const auto expected = greedy_by_full_forward(*model, prompts[static_cast<std::size_t>(p)], 12);
    EXPECT_EQ(batched[static_cast<std::size_t>(p)].tokens, expected) << "prompt " << p;
  }
  EXPECT_EQ(batched[0].tokens, batched[2].tokens);
  // Sampling: a row's completion depends on its seed only.
  SamplingOptions sampled;
  sampled.temperature = 0.8;
  sampled.top_p = 0.95;
  sampled.max_new_tokens = 10;
  auto together = generate(generator, *tokenizer, prompts, both, seeds, sampled);
  std::vector<int> one = {0};
  auto alone = generate(generator, *tokenizer, std::span(prompts).first(1), one, std::vector<std::uint64_t>{3}, sampled);
  EXPECT_EQ(alone[0].tokens, together[2].tokens);
  EXPECT_NE(together[0].tokens, together[2].tokens);  // other seeds, other draws (the tiny model is nearly flat)
}

}  // namespace
}  // namespace xmtf::eval
