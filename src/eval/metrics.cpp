#include "eval/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/error.hpp"
#include "prompts/value.hpp"

namespace xmtf::eval {
namespace {

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  std::string out;
  std::size_t at = 0;
  for (std::size_t next; (next = text.find(from, at)) != std::string::npos; at = next + from.size()) {
    out.append(text, at, next - at);
    out.append(to);
  }
  out.append(text, at, std::string::npos);
  return out;
}

// The first rule of sacreBLEU's TokenizerRegexp: [\{-\~\[-\` -\&\(-\+\:-\@\/] gets spaces around.
bool is_13a_symbol(unsigned char c) {
  return (c >= 0x7B && c <= 0x7E) || (c >= 0x5B && c <= 0x60) || (c >= 0x20 && c <= 0x26) || (c >= 0x28 && c <= 0x2B) ||
         (c >= 0x3A && c <= 0x40) || c == 0x2F;
}

bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_period_or_comma(unsigned char c) { return c == '.' || c == ','; }

// re.sub for a pattern (A)(B) of two one-character classes, matches taken left to right without
// overlap, as Python scans. Working on UTF-8 bytes is equivalent here: every class is ASCII or
// the complement of one, and the bytes of a multi-byte character are never in an ASCII class.
template <class First, class Second, class Replace>
std::string substitute_pairs(const std::string& text, First first, Second second, Replace replace) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  for (std::size_t i = 0; i < text.size();) {
    const auto a = static_cast<unsigned char>(text[i]);
    if (i + 1 < text.size() && first(a) && second(static_cast<unsigned char>(text[i + 1]))) {
      replace(out, text[i], text[i + 1]);
      i += 2;
    } else {
      out += text[i++];
    }
  }
  return out;
}

std::vector<std::string> python_split(std::string_view text) { return prompts::py_split(text, nullptr, -1); }

std::string preprocess(const std::string& segment, const BleuOptions& options) {
  std::string text = prompts::py_strip(segment, false, true);  // sent.rstrip()
  if (options.lowercase) text = prompts::py_lower(text);
  switch (options.tokenize) {
    case BleuTokenize::none: return text;
    case BleuTokenize::v13a: return tokenize_13a(text);
    case BleuTokenize::characters: {
      std::string out;
      for (char32_t c : prompts::utf8_decode(text)) {
        if (!out.empty()) out += ' ';
        out += prompts::utf8_encode(std::u32string(1, c));
      }
      return out;
    }
  }
  return text;
}

using Ngrams = std::map<std::vector<std::string>, double>;

Ngrams ngrams_of(const std::vector<std::string>& tokens, int max_order) {
  Ngrams ngrams;
  for (int n = 1; n <= max_order; ++n)
    for (std::size_t i = 0; i + static_cast<std::size_t>(n) <= tokens.size(); ++i)
      ngrams[std::vector<std::string>(tokens.begin() + static_cast<std::ptrdiff_t>(i),
                                      tokens.begin() + static_cast<std::ptrdiff_t>(i) + n)] += 1;
  return ngrams;
}

// sacreBLEU's _get_closest_ref_len: the closest length, the shorter one on a tie.
std::int64_t closest_reference_length(std::int64_t hyp_len, const std::vector<std::int64_t>& ref_lens) {
  std::int64_t best_diff = -1, best = -1;
  for (std::int64_t len : ref_lens) {
    const std::int64_t diff = std::abs(hyp_len - len);
    if (best_diff == -1 || diff < best_diff) {
      best_diff = diff;
      best = len;
    } else if (diff == best_diff && len < best) {
      best = len;
    }
  }
  return best;
}

double fmeasure(double precision, double recall) {
  return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
}

std::vector<std::vector<std::size_t>> lcs_table(const std::vector<std::string>& ref, const std::vector<std::string>& can) {
  std::vector<std::vector<std::size_t>> table(ref.size() + 1, std::vector<std::size_t>(can.size() + 1, 0));
  for (std::size_t i = 1; i <= ref.size(); ++i)
    for (std::size_t j = 1; j <= can.size(); ++j)
      table[i][j] = ref[i - 1] == can[j - 1] ? table[i - 1][j - 1] + 1 : std::max(table[i - 1][j], table[i][j - 1]);
  return table;
}

std::vector<std::string> sentences_of(std::string_view text) {
  std::vector<std::string> sentences;
  std::size_t at = 0;
  while (at <= text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    if (end > at) sentences.emplace_back(text.substr(at, end - at));
    at = end + 1;
  }
  return sentences;
}

}  // namespace

std::string tokenize_13a(std::string_view input) {
  std::string line(input);
  line = replace_all(line, "<skipped>", "");
  line = replace_all(line, "-\n", "");
  line = replace_all(line, "\n", " ");
  line = replace_all(line, "&quot;", "\"");
  line = replace_all(line, "&amp;", "&");
  line = replace_all(line, "&lt;", "<");
  line = replace_all(line, "&gt;", ">");
  line = " " + line + " ";
  std::string spaced;
  for (char c : line) {
    if (is_13a_symbol(static_cast<unsigned char>(c))) {
      spaced += ' ';
      spaced += c;
      spaced += ' ';
    } else {
      spaced += c;
    }
  }
  auto not_digit = [](unsigned char c) { return !is_digit(c); };
  // Period and comma unless preceded by a digit, then unless followed by one; dash after a digit.
  spaced = substitute_pairs(spaced, not_digit, is_period_or_comma, [](std::string& out, char a, char b) {
    out += a;
    out += ' ';
    out += b;
    out += ' ';
  });
  spaced = substitute_pairs(spaced, is_period_or_comma, not_digit, [](std::string& out, char a, char b) {
    out += ' ';
    out += a;
    out += ' ';
    out += b;
  });
  spaced = substitute_pairs(spaced, is_digit, [](unsigned char c) { return c == '-'; }, [](std::string& out, char a, char b) {
    out += a;
    out += ' ';
    out += b;
    out += ' ';
  });
  std::string out;
  for (const std::string& word : python_split(spaced)) {
    if (!out.empty()) out += ' ';
    out += word;
  }
  return out;
}

BleuScore compute_bleu(std::vector<double> correct, std::vector<double> total, std::int64_t sys_len, std::int64_t ref_len,
                       BleuSmooth smooth, std::optional<double> smooth_value, bool effective_order, int max_ngram_order) {
  if (!smooth_value) smooth_value = smooth == BleuSmooth::floor ? 0.1 : 1.0;
  BleuScore result;
  result.sys_len = sys_len;
  result.ref_len = ref_len;
  result.brevity_penalty =
      sys_len < ref_len ? (sys_len > 0 ? std::exp(1.0 - static_cast<double>(ref_len) / static_cast<double>(sys_len)) : 0.0) : 1.0;
  result.precisions.assign(static_cast<std::size_t>(max_ngram_order), 0.0);
  result.counts = correct;
  result.totals = total;
  if (std::all_of(correct.begin(), correct.end(), [](double c) { return c == 0; })) return result;  // no match: 0
  double smooth_mteval = 1.0;
  int order = max_ngram_order;
  for (int n = 1; n <= max_ngram_order; ++n) {
    const auto i = static_cast<std::size_t>(n - 1);
    if (smooth == BleuSmooth::add_k && n > 1) {
      correct[i] += *smooth_value;
      total[i] += *smooth_value;
    }
    if (total[i] == 0) break;
    if (effective_order) order = n;
    if (correct[i] == 0) {
      if (smooth == BleuSmooth::exp) {
        smooth_mteval *= 2;
        result.precisions[i] = 100.0 / (smooth_mteval * total[i]);
      } else if (smooth == BleuSmooth::floor) {
        result.precisions[i] = 100.0 * *smooth_value / total[i];
      }
    } else {
      result.precisions[i] = 100.0 * correct[i] / total[i];
    }
  }
  result.counts = correct;
  result.totals = total;
  double log_sum = 0.0;
  for (int n = 0; n < order; ++n) {
    const double p = result.precisions[static_cast<std::size_t>(n)];
    log_sum += p == 0 ? -9999999999.0 : std::log(p);  // sacreBLEU's my_log
  }
  result.score = result.brevity_penalty * std::exp(log_sum / order);
  return result;
}

BleuScore corpus_bleu(const std::vector<std::string>& hypotheses, const std::vector<std::vector<std::string>>& references,
                      const BleuOptions& options) {
  if (references.empty()) fail("BLEU: no reference stream");
  for (const auto& stream : references)
    if (stream.size() != hypotheses.size())
      fail("BLEU: {} hypotheses but a reference stream of {} segments", hypotheses.size(), stream.size());
  const auto orders = static_cast<std::size_t>(options.max_ngram_order);
  std::vector<double> correct(orders, 0.0), total(orders, 0.0);
  std::int64_t sys_len = 0, ref_len = 0;
  for (std::size_t i = 0; i < hypotheses.size(); ++i) {
    Ngrams reference_ngrams;
    std::vector<std::int64_t> ref_lens;
    for (const auto& stream : references) {
      if (stream[i].empty()) continue;
      const auto tokens = python_split(preprocess(stream[i], options));
      ref_lens.push_back(static_cast<std::int64_t>(tokens.size()));
      for (const auto& [ngram, count] : ngrams_of(tokens, options.max_ngram_order))
        reference_ngrams[ngram] = std::max(reference_ngrams[ngram], count);
    }
    if (ref_lens.empty()) fail("BLEU: segment {} has no reference", i + 1);
    const auto tokens = python_split(preprocess(hypotheses[i], options));
    const auto hyp_len = static_cast<std::int64_t>(tokens.size());
    sys_len += hyp_len;
    ref_len += closest_reference_length(hyp_len, ref_lens);
    for (const auto& [ngram, count] : ngrams_of(tokens, options.max_ngram_order)) {
      const std::size_t n = ngram.size() - 1;
      total[n] += count;
      auto found = reference_ngrams.find(ngram);
      if (found != reference_ngrams.end()) correct[n] += std::min(count, found->second);
    }
  }
  return compute_bleu(correct, total, sys_len, ref_len, options.smooth, options.smooth_value, options.effective_order,
                      options.max_ngram_order);
}

BleuScore sentence_bleu(const std::string& hypothesis, const std::vector<std::string>& references, const BleuOptions& options) {
  std::vector<std::vector<std::string>> streams;
  for (const std::string& reference : references) streams.push_back({reference});
  return corpus_bleu({hypothesis}, streams, options);
}

std::vector<std::string> rouge_tokenize(std::string_view text) {
  std::string lowered = prompts::py_lower(text);
  std::string cleaned;
  for (char c : lowered) cleaned += (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c : ' ';
  std::vector<std::string> tokens;
  std::string token;
  for (char c : cleaned + " ") {
    if (c == ' ') {
      if (!token.empty()) tokens.push_back(std::move(token));
      token.clear();
    } else {
      token += c;
    }
  }
  return tokens;
}

RougeScore rouge_n(std::string_view target, std::string_view prediction, int n) {
  if (n < 1) fail("ROUGE-N needs n >= 1, not {}", n);
  auto count = [n](const std::vector<std::string>& tokens) {
    std::map<std::vector<std::string>, std::int64_t> ngrams;
    for (std::size_t i = 0; i + static_cast<std::size_t>(n) <= tokens.size(); ++i)
      ++ngrams[std::vector<std::string>(tokens.begin() + static_cast<std::ptrdiff_t>(i),
                                        tokens.begin() + static_cast<std::ptrdiff_t>(i) + n)];
    return ngrams;
  };
  const auto target_ngrams = count(rouge_tokenize(target)), prediction_ngrams = count(rouge_tokenize(prediction));
  std::int64_t overlap = 0, target_total = 0, prediction_total = 0;
  for (const auto& [ngram, c] : target_ngrams) {
    target_total += c;
    auto found = prediction_ngrams.find(ngram);
    if (found != prediction_ngrams.end()) overlap += std::min(c, found->second);
  }
  for (const auto& [ngram, c] : prediction_ngrams) prediction_total += c;
  RougeScore score;
  score.precision = static_cast<double>(overlap) / static_cast<double>(std::max<std::int64_t>(prediction_total, 1));
  score.recall = static_cast<double>(overlap) / static_cast<double>(std::max<std::int64_t>(target_total, 1));
  score.fmeasure = fmeasure(score.precision, score.recall);
  return score;
}

RougeScore rouge_l(std::string_view target, std::string_view prediction) {
  const auto ref = rouge_tokenize(target), can = rouge_tokenize(prediction);
  if (ref.empty() || can.empty()) return {};
  const double lcs = static_cast<double>(lcs_table(ref, can)[ref.size()][can.size()]);
  RougeScore score;
  score.precision = lcs / static_cast<double>(can.size());
  score.recall = lcs / static_cast<double>(ref.size());
  score.fmeasure = fmeasure(score.precision, score.recall);
  return score;
}

std::vector<std::size_t> lcs_indices(const std::vector<std::string>& ref, const std::vector<std::string>& can) {
  const auto table = lcs_table(ref, can);
  std::vector<std::size_t> indices;
  std::size_t i = ref.size(), j = can.size();
  while (i > 0 && j > 0) {
    if (ref[i - 1] == can[j - 1]) {
      indices.push_back(i - 1);
      --i;
      --j;
    } else if (table[i][j - 1] > table[i - 1][j]) {
      --j;
    } else {
      --i;
    }
  }
  std::reverse(indices.begin(), indices.end());
  return indices;
}

RougeScore rouge_lsum(std::string_view target, std::string_view prediction) {
  std::vector<std::vector<std::string>> refs, cans;
  for (const auto& s : sentences_of(target)) refs.push_back(rouge_tokenize(s));
  for (const auto& s : sentences_of(prediction)) cans.push_back(rouge_tokenize(s));
  if (refs.empty() || cans.empty()) return {};
  std::size_t m = 0, n = 0;
  std::map<std::string, std::int64_t> ref_counts, can_counts;
  for (const auto& s : refs) {
    m += s.size();
    for (const auto& t : s) ++ref_counts[t];
  }
  for (const auto& s : cans) {
    n += s.size();
    for (const auto& t : s) ++can_counts[t];
  }
  if (m == 0 || n == 0) return {};
  std::int64_t hits = 0;
  for (const auto& ref : refs) {
    std::set<std::size_t> union_indices;
    for (const auto& can : cans)
      for (std::size_t index : lcs_indices(ref, can)) union_indices.insert(index);
    for (std::size_t index : union_indices) {  // each token counted at most as often as it occurs
      const std::string& token = ref[index];
      if (can_counts[token] > 0 && ref_counts[token] > 0) {
        ++hits;
        --can_counts[token];
        --ref_counts[token];
      }
    }
  }
  RougeScore score;
  score.recall = static_cast<double>(hits) / static_cast<double>(m);
  score.precision = static_cast<double>(hits) / static_cast<double>(n);
  score.fmeasure = fmeasure(score.precision, score.recall);
  return score;
}

double pass_at_k(std::int64_t n, std::int64_t c, std::int64_t k) {
  if (n < 1 || c < 0 || c > n || k < 1 || k > n) fail("pass@k: need 0 <= c <= n and 1 <= k <= n (n={}, c={}, k={})", n, c, k);
  if (n - c < k) return 1.0;
  // 1 - prod_{i=n-c+1}^{n} (1 - k / i): the ratio of binomials without overflow.
  double product = 1.0;
  for (std::int64_t i = n - c + 1; i <= n; ++i) product *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  return 1.0 - product;
}

}  // namespace xmtf::eval
