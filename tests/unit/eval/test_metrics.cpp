// BLEU, ROUGE and pass@k against the published test cases of their reference implementations:
//   sacreBLEU  test/test_bleu.py and test/test_sentence_bleu.py (mjpost/sacrebleu v2.6.0), every
//              case except the two of the 'intl' tokenizer (not implemented);
//   rouge-score rouge/rouge_scorer_test.py (google-research/google-research), every case without
//              the Porter stemmer (not implemented; rouge-score's default is no stemming) and
//              the large-file / pyrouge multi-sentence files (not copied);
//   human-eval evaluation.py's estimator, against the binomial definition.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/text.hpp"
#include "eval/metrics.hpp"

namespace xmtf::eval {
namespace {

constexpr double kEpsilon = 1e-8;  // test_bleu.py's EPSILON

// sacrebleu.raw_corpus_bleu: floor smoothing with the given value, no tokenisation, effective order.
BleuOptions raw(std::optional<double> floor_value) {
  BleuOptions options;
  options.tokenize = BleuTokenize::none;
  options.smooth = BleuSmooth::floor;
  options.smooth_value = floor_value;
  options.effective_order = true;
  return options;
}

TEST(Bleu, SacrebleuRawCorpusCases) {
  struct Case {
    std::vector<std::string> hyps, refs;
    double expected;
  };
  // No match at all scores 0 since sacreBLEU 2.0 (#141; 1.x gave 0.0038).
  const std::vector<Case> cases = {{{"this is a test", "another test"}, {"ref1", "ref2"}, 0.0},
                                   {{"this is a test"}, {"this is a test"}, 1.0},
                                   {{"this is a fest"}, {"this is a test"}, 0.223606797749979},
                                   // test_case_effective_order
                                   {{"test"}, {"a test"}, 0.3678794411714425},
                                   {{"a test"}, {"a test"}, 1.0},
                                   {{"a little test"}, {"a test"}, 0.03218297948685433}};
  for (const Case& c : cases)
    EXPECT_NEAR(corpus_bleu(c.hyps, {c.refs}, raw(0.01)).score / 100, c.expected, kEpsilon) << c.hyps[0];
}

TEST(Bleu, SacrebleuCorpusCases) {
  const std::vector<std::string> hyps = {"The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."};
  const std::vector<std::vector<std::string>> refs = {
      {"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
      {"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."}};
  EXPECT_NEAR(corpus_bleu(hyps, refs).score, 48.530827, kEpsilon);  // the defaults
  EXPECT_NEAR(corpus_bleu({"", "", ""}, refs).score, 0.0, kEpsilon);  // empty hypotheses are kept
  BleuOptions none;
  none.tokenize = BleuTokenize::none;
  EXPECT_NEAR(corpus_bleu(hyps, refs, none).score, 49.1919566, kEpsilon);
  BleuOptions v13a;
  v13a.tokenize = BleuTokenize::v13a;
  EXPECT_NEAR(corpus_bleu(hyps, refs, v13a).score, 48.530827, kEpsilon);
  BleuOptions unsmoothed;
  unsmoothed.smooth = BleuSmooth::none;
  EXPECT_NEAR(corpus_bleu(hyps, refs, unsmoothed).score, 48.530827, kEpsilon);
}

TEST(Bleu, SacrebleuStatisticsScoringOffsetAndDegenerateCases) {
  const auto stats = corpus_bleu({"am I am a character sequence"}, {{"I am a symbol string sequence a a"}}, raw(0.01));
  EXPECT_EQ(stats.counts, (std::vector<double>{4, 2, 1, 0}));
  EXPECT_EQ(stats.totals, (std::vector<double>{6, 5, 4, 3}));
  EXPECT_NEAR(compute_bleu({9, 7, 5, 3}, {10, 8, 6, 4}, 11, 11, BleuSmooth::none, std::nullopt, false).score / 100, 0.8375922397,
              kEpsilon);
  // test_offset: floor 0 gives 0, the default floor (0.1) 0.1555722182.
  EXPECT_NEAR(corpus_bleu({"am I am a character sequence"}, {{"I am a symbol string sequence a a"}}, raw(0.0)).score / 100, 0.0,
              kEpsilon);
  EXPECT_NEAR(corpus_bleu({"am I am a character sequence"}, {{"I am a symbol string sequence a a"}}, raw(std::nullopt)).score / 100,
              0.1555722182, kEpsilon);
  struct Degenerate {
    std::vector<double> correct, total;
    std::int64_t sys_len, ref_len;
    double offset;
  };
  const std::vector<Degenerate> degenerate = {{{0, 0, 0, 0}, {4, 4, 2, 1}, 0, 1, 0.0},   {{0, 0, 0, 0}, {10, 11, 12, 0}, 14, 10, 0.0},
                                              {{0, 0, 0, 0}, {0, 0, 0, 0}, 0, 0, 0.0},   {{6, 5, 4, 0}, {6, 5, 4, 3}, 6, 6, 0.0},
                                              {{0, 0, 0, 0}, {0, 0, 0, 0}, 0, 0, 0.1},   {{0, 0, 0, 0}, {0, 0, 0, 0}, 1, 5, 0.01}};
  for (const auto& d : degenerate)
    EXPECT_EQ(compute_bleu(d.correct, d.total, d.sys_len, d.ref_len, BleuSmooth::floor, d.offset, false).score, 0.0);
}

TEST(Bleu, SacrebleuSentenceCases) {
  const std::string ref = "producţia de zahăr brut se exprimă în zahăr alb;";
  const std::string sys = "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;";
  struct Case {
    BleuSmooth smooth;
    std::optional<double> value;
    bool lowercase;
    BleuTokenize tokenize;
    double expected;
  };
  const std::vector<Case> cases = {
      {BleuSmooth::exp, std::nullopt, false, BleuTokenize::v13a, 8.493},
      {BleuSmooth::none, std::nullopt, false, BleuTokenize::v13a, 0.0},
      {BleuSmooth::floor, std::nullopt, false, BleuTokenize::v13a, 4.51688},
      {BleuSmooth::floor, 0.1, false, BleuTokenize::v13a, 4.51688},
      {BleuSmooth::floor, 0.5, false, BleuTokenize::v13a, 10.10},
      {BleuSmooth::add_k, std::nullopt, false, BleuTokenize::v13a, 14.882},
      {BleuSmooth::add_k, 1, false, BleuTokenize::v13a, 14.882},
      {BleuSmooth::add_k, 2, false, BleuTokenize::v13a, 21.389},
      {BleuSmooth::exp, std::nullopt, false, BleuTokenize::none, 7.347},
      {BleuSmooth::exp, std::nullopt, false, BleuTokenize::characters, 40.8759},
      {BleuSmooth::exp, std::nullopt, true, BleuTokenize::characters, 42.0267},
  };
  for (const Case& c : cases) {
    BleuOptions options;
    options.smooth = c.smooth;
    options.smooth_value = c.value;
    options.lowercase = c.lowercase;
    options.tokenize = c.tokenize;
    options.effective_order = true;
    EXPECT_NEAR(sentence_bleu(sys, {ref}, options).score, c.expected, 1e-3)
        << static_cast<int>(c.smooth) << " " << static_cast<int>(c.tokenize);
  }
  for (BleuSmooth smooth : {BleuSmooth::exp, BleuSmooth::none, BleuSmooth::floor, BleuSmooth::add_k}) {
    BleuOptions options;
    options.smooth = smooth;
    options.effective_order = true;
    EXPECT_EQ(sentence_bleu("this is a cat", {"okay thanks"}, options).score, 0.0);
  }
}

TEST(Bleu, Tokenize13aAsMteval) {
  EXPECT_EQ(tokenize_13a("It wasn't surprising."), "It wasn't surprising .");
  EXPECT_EQ(tokenize_13a("3.5, 1,000 and 10-20 (ok)!"), "3.5 , 1,000 and 10 - 20 ( ok ) !");
  EXPECT_EQ(tokenize_13a("a&amp;b &quot;q&quot; <skipped>x-\ny"), "a & b \" q \" xy");
  EXPECT_EQ(tokenize_13a("zahăr alb;"), "zahăr alb ;");
  EXPECT_THROW(corpus_bleu({"a"}, {{"a", "b"}}), Error);
  EXPECT_THROW(corpus_bleu({"a"}, {{""}}), Error);  // no reference for the segment
}

TEST(Rouge, RougeScoreCases) {
  auto r1 = rouge_n("testing one two", "testing", 1);
  EXPECT_NEAR(r1.precision, 1, 1e-12);
  EXPECT_NEAR(r1.recall, 1.0 / 3, 1e-12);
  EXPECT_NEAR(r1.fmeasure, 0.5, 1e-12);
  for (auto empty : {rouge_n("testing one two", "", 1), rouge_n("testing one two", "", 2), rouge_l("testing one two", ""),
                     rouge_lsum("testing one two", "")}) {
    EXPECT_EQ(empty.precision, 0);
    EXPECT_EQ(empty.recall, 0);
    EXPECT_EQ(empty.fmeasure, 0);
  }
  auto r2 = rouge_n("testing one two", "testing one", 2);
  EXPECT_NEAR(r2.precision, 1, 1e-12);
  EXPECT_NEAR(r2.recall, 0.5, 1e-12);
  EXPECT_NEAR(r2.fmeasure, 2.0 / 3, 1e-12);
  for (const char* prediction : {"testing one", "testing two"}) {  // consecutive and not
    auto l = rouge_l("testing one two", prediction);
    EXPECT_NEAR(l.precision, 1, 1e-12);
    EXPECT_NEAR(l.recall, 2.0 / 3, 1e-12);
    EXPECT_NEAR(l.fmeasure, 0.8, 1e-12);
  }
  auto multiple = rouge_n("testing one two", "testing one", 1);
  EXPECT_NEAR(multiple.recall, 2.0 / 3, 1e-12);
  EXPECT_NEAR(multiple.fmeasure, 0.8, 1e-12);
  EXPECT_THROW(rouge_n("a", "a", 0), Error);
}

TEST(Rouge, RougeScoreAgainstRouge155) {
  const fs::path dir = fs::path(XMTF_TEST_DATA_DIR) / "eval" / "rouge";
  const auto targets = split(read_file(dir / "target.txt"), '\n');
  const auto predictions = split(read_file(dir / "prediction.txt"), '\n');
  struct Expected {
    double recall, precision, fmeasure;
  };
  auto check = [](RougeScore got, Expected want, const char* what) {
    EXPECT_NEAR(got.recall, want.recall, 5e-6) << what;
    EXPECT_NEAR(got.precision, want.precision, 5e-6) << what;
    EXPECT_NEAR(got.fmeasure, want.fmeasure, 5e-6) << what;
  };
  check(rouge_n(targets[0], predictions[0], 1), {0.40741, 0.68750, 0.51163}, "rouge1 0");
  check(rouge_n(targets[1], predictions[1], 1), {0.40476, 0.65385, 0.50000}, "rouge1 1");
  check(rouge_n(targets[0], predictions[0], 2), {0.30769, 0.53333, 0.39024}, "rouge2 0");
  check(rouge_n(targets[1], predictions[1], 2), {0.29268, 0.48000, 0.36364}, "rouge2 1");
  check(rouge_l(targets[0], predictions[0]), {0.40741, 0.68750, 0.51163}, "rougeL 0");
  check(rouge_l(targets[1], predictions[1]), {0.40476, 0.65385, 0.50000}, "rougeL 1");
}

TEST(Rouge, LcsTablesUnionLcsAndRougeLsum) {
  auto words = [](std::initializer_list<int> ids) {
    std::vector<std::string> out;
    for (int id : ids) out.push_back(std::to_string(id));
    return out;
  };
  EXPECT_EQ(lcs_indices(words({1, 2, 3, 4, 5}), words({2, 5, 3, 4})), (std::vector<std::size_t>{1, 2, 3}));
  EXPECT_TRUE(lcs_indices(words({1, 2, 3, 4, 5}), words({8, 9})).empty());
  // testSummaryLevelLcs / testRougeLsum: recall 4/5, precision 4/10.
  auto lsum = rouge_lsum("w1 w2 w3 w4 w5", "w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5");
  EXPECT_NEAR(lsum.recall, 0.8, 1e-12);
  EXPECT_NEAR(lsum.precision, 0.4, 1e-12);
  EXPECT_NEAR(lsum.fmeasure, 0.5333, 1e-3);
  for (auto zero : {rouge_lsum("w1 w2 w3 w4 w5", ""), rouge_lsum("", "w1"), rouge_lsum("w1 w2 w3 w4 w5", "/")}) {
    EXPECT_EQ(zero.fmeasure, 0);
    EXPECT_EQ(zero.recall, 0);
    EXPECT_EQ(zero.precision, 0);
  }
  EXPECT_EQ(rouge_tokenize("Hello, World! It's 2022."), (std::vector<std::string>{"hello", "world", "it", "s", "2022"}));
}

// 1 - C(n - c, k) / C(n, k) by exact binomials (small n).
double pass_at_k_by_binomials(int n, int c, int k) {
  auto choose = [](int a, int b) {
    if (b < 0 || b > a) return 0.0;
    double value = 1;
    for (int i = 1; i <= b; ++i) value = value * (a - b + i) / i;
    return value;
  };
  return 1.0 - choose(n - c, k) / choose(n, k);
}

TEST(PassAtK, TheUnbiasedEstimator) {
  for (int n : {1, 5, 10, 20})
    for (int c = 0; c <= n; ++c)
      for (int k = 1; k <= n; ++k)
        EXPECT_NEAR(pass_at_k(n, c, k), pass_at_k_by_binomials(n, c, k), 1e-12) << n << " " << c << " " << k;
  EXPECT_DOUBLE_EQ(pass_at_k(6, 3, 1), 0.5);  // human-eval's example samples: 3 of 6 pass
  EXPECT_DOUBLE_EQ(pass_at_k(200, 0, 100), 0.0);
  EXPECT_DOUBLE_EQ(pass_at_k(200, 101, 100), 1.0);
  EXPECT_NEAR(pass_at_k(200, 10, 1), 0.05, 1e-15);
  EXPECT_THROW(pass_at_k(10, 11, 1), Error);
  EXPECT_THROW(pass_at_k(10, 1, 11), Error);
}

}  // namespace
}  // namespace xmtf::eval
