#include "eval/scorer.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.hpp"

namespace xmtf::eval {
float exp_nonpositive(float x) {
  // exp(x) = 2^n exp(r), n = round(x / ln 2), |r| <= ln(2) / 2 (Cody-Waite split of ln 2), exp(r)
  // by its degree-6 Taylor polynomial (error < 2e-8 on that interval). Branch-free, so loops over
  // it vectorise (std::exp does not without -ffast-math).
  x = std::max(x, -87.0f);  // below, exp(x) underflows float anyway
  // Round to nearest by the 1.5 * 2^23 trick (SSE2 has no vector round).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// One build for every x86-64 machine, wider vectors where the CPU has them (the loader picks).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define XMTF_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define XMTF_VECTOR_CLONES
#endif

XMTF_VECTOR_CLONES double log_normaliser(const float* z, std::int64_t vocab) {
  // 16 independent lanes for the max and the sums: without -ffast-math the compiler may not
  // reorder one float reduction, but it vectorises lane-wise ones. Each lane's partial sums go
  // to double every 256 elements, so rounding stays ~1e-7 relative.
  constexpr std::int64_t kLanes = 16;
  const std::int64_t whole = vocab / kLanes * kLanes;
  float lane_max[kLanes];
  std::fill(lane_max, lane_max + kLanes, -std::numeric_limits<float>::infinity());
  for (std::int64_t v = 0; v < whole; v += kLanes)
    for (std::int64_t k = 0; k < kLanes; ++k) lane_max[k] = lane_max[k] > z[v + k] ? lane_max[k] : z[v + k];
  float max_logit = *std::max_element(lane_max, lane_max + kLanes);
  for (std::int64_t v = whole; v < vocab; ++v) max_logit = std::max(max_logit, z[v]);
  double sum = 0.0;
  for (std::int64_t begin = 0; begin < whole; begin += 256 * kLanes) {
    const std::int64_t end = std::min(whole, begin + 256 * kLanes);
    float lane_sum[kLanes] = {};
    for (std::int64_t v = begin; v < end; v += kLanes)
      for (std::int64_t k = 0; k < kLanes; ++k) lane_sum[k] += exp_nonpositive(z[v + k] - max_logit);
    for (float partial : lane_sum) sum += partial;
  }
  for (std::int64_t v = whole; v < vocab; ++v) sum += exp_nonpositive(z[v] - max_logit);
  return static_cast<double>(max_logit) + std::log(sum);
}

XMTF_VECTOR_CLONES double softmax_weights(const float* z, std::int64_t n, float max_logit, float scale, float* out) {
  double sum = 0.0;
  for (std::int64_t begin = 0; begin < n; begin += 4096) {
    const std::int64_t end = std::min(n, begin + 4096);
    float block = 0.0f;
    for (std::int64_t v = begin; v < end; ++v) block += out[v] = exp_nonpositive((z[v] - max_logit) * scale);
    sum += block;
  }
  return sum;
}

void target_log_probs(std::span<const float> logits, std::int64_t vocab, std::span<const std::int32_t> targets,
                      std::span<double> out) {
  for (std::size_t r = 0; r < targets.size(); ++r) {
    const float* z = logits.data() + static_cast<std::int64_t>(r) * vocab;
    out[r] = static_cast<double>(z[targets[r]]) - log_normaliser(z, vocab);
  }
}

BloomChoiceScorer::BloomChoiceScorer(const models::Model& model, std::int64_t max_length)
    : decoder_(model), max_length_(max_length > 0 ? max_length : decoder_.config().seq_length) {}

std::vector<std::vector<double>> BloomChoiceScorer::score(std::span<const ChoiceExample> batch) {
  const std::int64_t vocab = vocab_size();
  std::vector<std::vector<double>> sums(batch.size());
  // 1. Every input once: its cache, and the logits after its last token (they predict the first
  //    token of every choice).
  input_caches_.resize(std::max(input_caches_.size(), batch.size()));
  std::vector<DecodeRow> rows;
  std::vector<std::int64_t> wanted;
  std::int64_t position = 0;
  for (std::size_t e = 0; e < batch.size(); ++e) {
    if (batch[e].input.empty()) fail("rank classification: an example with an empty input");
    input_caches_[e].clear();
    rows.push_back({nullptr, &input_caches_[e], batch[e].input});
    position += static_cast<std::int64_t>(batch[e].input.size());
    wanted.push_back(position - 1);
    sums[e].assign(batch[e].choices.size(), 0.0);
  }
  decoder_.extend(rows, wanted, logits_);
  for (std::size_t e = 0; e < batch.size(); ++e) {
    const float* z = logits_.data() + static_cast<std::int64_t>(e) * vocab;
    const double normaliser = log_normaliser(z, vocab);
    for (std::size_t c = 0; c < batch[e].choices.size(); ++c)
      if (!batch[e].choices[c].empty()) sums[e][c] = static_cast<double>(z[batch[e].choices[c][0]]) - normaliser;
  }
  // 2. All choices of all examples together, each against its input's cache: choice tokens
  //    0..k-2 are fed, their logits predict tokens 1..k-1.
  std::size_t n_rows = 0;
  for (const ChoiceExample& example : batch)
    for (const auto& choice : example.choices) n_rows += choice.size() >= 2 ? 1 : 0;
  if (n_rows == 0) return sums;
  choice_caches_.resize(std::max(choice_caches_.size(), n_rows));
  rows.clear();
  wanted.clear();
  std::vector<std::int32_t> targets;
  std::vector<std::pair<std::size_t, std::size_t>> owner;  // (example, choice) of each target
  position = 0;
  for (std::size_t e = 0; e < batch.size(); ++e) {
    for (std::size_t c = 0; c < batch[e].choices.size(); ++c) {
      const auto& choice = batch[e].choices[c];
      if (choice.size() < 2) continue;
      KvCache& cache = choice_caches_[rows.size()];
      cache.clear();
      rows.push_back({&input_caches_[e], &cache, std::span(choice).first(choice.size() - 1)});
      for (std::size_t k = 1; k < choice.size(); ++k) {
        wanted.push_back(position++);
        targets.push_back(choice[k]);
        owner.emplace_back(e, c);
      }
    }
  }
  decoder_.extend(rows, wanted, logits_);
  std::vector<double> log_probs(targets.size());
  target_log_probs(logits_, vocab, targets, log_probs);
  for (std::size_t r = 0; r < targets.size(); ++r) sums[owner[r].first][owner[r].second] += log_probs[r];
  return sums;
}

BloomTokenGenerator::BloomTokenGenerator(const models::Model& model) : decoder_(model) {}

void BloomTokenGenerator::start(std::span<const std::vector<std::int32_t>> prompts, std::span<const int> prompt_of_row,
                                std::vector<float>& logits) {
  const std::int64_t vocab = vocab_size();
  prompt_caches_.resize(prompts.size());
  std::vector<DecodeRow> rows;
  std::vector<std::int64_t> wanted;
  std::int64_t position = 0;
  for (std::size_t p = 0; p < prompts.size(); ++p) {
    if (prompts[p].empty()) fail("generation: an empty prompt (no token to continue)");
    prompt_caches_[p].clear();
    rows.push_back({nullptr, &prompt_caches_[p], prompts[p]});
    position += static_cast<std::int64_t>(prompts[p].size());
    wanted.push_back(position - 1);
  }
  std::vector<float> prompt_logits;
  decoder_.extend(rows, wanted, prompt_logits);
  prompt_of_row_.assign(prompt_of_row.begin(), prompt_of_row.end());
  row_caches_.resize(prompt_of_row.size());
  logits.resize(prompt_of_row.size() * static_cast<std::size_t>(vocab));
  for (std::size_t r = 0; r < prompt_of_row.size(); ++r) {
    const int p = prompt_of_row[r];
    if (p < 0 || static_cast<std::size_t>(p) >= prompts.size()) fail("generation: row {} names prompt {} of {}", r, p, prompts.size());
    row_caches_[r].clear();
    std::copy_n(prompt_logits.data() + p * vocab, vocab, logits.data() + static_cast<std::int64_t>(r) * vocab);
  }
}

void BloomTokenGenerator::step(std::span<const int> rows, std::span<const std::int32_t> tokens, std::vector<float>& logits) {
  if (rows.size() != tokens.size()) fail("generation: {} rows but {} tokens", rows.size(), tokens.size());
  std::vector<DecodeRow> decode_rows;
  std::vector<std::int64_t> wanted;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto r = static_cast<std::size_t>(rows[i]);
    if (r >= row_caches_.size()) fail("generation: row {} was not started", r);
    decode_rows.push_back({&prompt_caches_[static_cast<std::size_t>(prompt_of_row_[r])], &row_caches_[r], tokens.subspan(i, 1)});
    wanted.push_back(static_cast<std::int64_t>(i));
  }
  decoder_.extend(decode_rows, wanted, logits);
}

}  // namespace xmtf::eval
