#pragma once
// Generation metrics written from their definitions, matching the reference implementations'
// published test cases (tests/unit/eval/test_metrics.cpp lists them):
//   - BLEU as sacreBLEU (mjpost/sacrebleu, metrics/bleu.py): corpus-level, 13a tokenisation by
//     default, exponential brevity penalty, smoothing none / floor / add-k / exp (default exp),
//     effective order, several references per segment (the closest length, ties to the shorter);
//   - ROUGE-N, ROUGE-L and ROUGE-Lsum as rouge-score (google-research/rouge, rouge_scorer.py)
//     without stemming (its default): lowercase, [^a-z0-9]+ -> space, precision / recall / F1;
//   - pass@k, the unbiased estimator of Chen et al. (2021): 1 - C(n - c, k) / C(n, k).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xmtf::eval {

enum class BleuTokenize { none, v13a, characters };
enum class BleuSmooth { none, floor, add_k, exp };

struct BleuOptions {
  BleuTokenize tokenize = BleuTokenize::v13a;
  BleuSmooth smooth = BleuSmooth::exp;
  std::optional<double> smooth_value;  // default: floor 0.1, add-k 1
  bool lowercase = false;
  bool effective_order = false;
  int max_ngram_order = 4;
};

struct BleuScore {
  double score = 0;  // 0..100
  std::vector<double> counts, totals, precisions;
  double brevity_penalty = 0;
  std::int64_t sys_len = 0, ref_len = 0;
};

// mteval-v13a tokenisation as sacreBLEU's Tokenizer13a.
std::string tokenize_13a(std::string_view line);

// BLEU from its sufficient statistics (sacreBLEU's BLEU.compute_bleu).
BleuScore compute_bleu(std::vector<double> correct, std::vector<double> total, std::int64_t sys_len, std::int64_t ref_len,
                       BleuSmooth smooth, std::optional<double> smooth_value, bool effective_order, int max_ngram_order = 4);

// references[s][i]: reference stream s for hypothesis i; empty strings are missing references
// (at least one per hypothesis). Throws xmtf::Error on mismatched lengths or no reference.
BleuScore corpus_bleu(const std::vector<std::string>& hypotheses, const std::vector<std::vector<std::string>>& references,
                      const BleuOptions& options = {});
BleuScore sentence_bleu(const std::string& hypothesis, const std::vector<std::string>& references, const BleuOptions& options);

struct RougeScore {
  double precision = 0, recall = 0, fmeasure = 0;
};

// rouge-score's tokenize.tokenize without a stemmer.
std::vector<std::string> rouge_tokenize(std::string_view text);
RougeScore rouge_n(std::string_view target, std::string_view prediction, int n);
RougeScore rouge_l(std::string_view target, std::string_view prediction);
// Summary-level LCS over newline-separated sentences (union LCS, no double counting).
RougeScore rouge_lsum(std::string_view target, std::string_view prediction);
// Indices into `reference` of one longest common subsequence (rouge-score's lcs_ind).
std::vector<std::size_t> lcs_indices(const std::vector<std::string>& reference, const std::vector<std::string>& candidate);

// n samples of which c passed: the probability that at least one of k drawn without
// replacement passes. Requires 0 <= c <= n and 1 <= k <= n.
double pass_at_k(std::int64_t n, std::int64_t c, std::int64_t k);

}  // namespace xmtf::eval
