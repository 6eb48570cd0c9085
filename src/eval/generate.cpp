#include "eval/generate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "eval/scorer.hpp"

#include "core/error.hpp"

namespace xmtf::eval {
namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

std::int32_t argmax_first(std::span<const float> logits) {
  std::size_t best = 0;
  for (std::size_t v = 1; v < logits.size(); ++v)
    if (logits[v] > logits[best]) best = v;
  return static_cast<std::int32_t>(best);
}

// The earliest position where one of the stop sequences starts, or npos.
std::size_t first_stop(const std::string& text, const std::vector<std::string>& stops) {
  std::size_t earliest = std::string::npos;
  for (const std::string& stop : stops) {
    if (stop.empty()) continue;
    const std::size_t at = text.find(stop);
    if (at < earliest) earliest = at;
  }
  return earliest;
}

}  // namespace

std::string finish_name(Finish finish) {
  switch (finish) {
    case Finish::eos: return "eos";
    case Finish::stop: return "stop";
    case Finish::length: return "length";
  }
  return "length";
}

RowRandom::RowRandom(std::uint64_t seed) {
  for (auto& word : state_) word = splitmix64(seed);
}

std::uint64_t RowRandom::next() {
  const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const std::uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

double RowRandom::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

std::uint64_t mix_seed(std::initializer_list<std::uint64_t> parts) {
  std::uint64_t state = 0x243F6A8885A308D3ull;
  std::uint64_t seed = 0;
  for (std::uint64_t part : parts) {
    state ^= part;
    seed = splitmix64(state);
    state = seed;
  }
  return seed;
}

std::int32_t choose_token(std::span<const float> logits, double temperature, double top_p, RowRandom& random) {
  if (logits.empty()) fail("sampling from an empty vocabulary");
  if (temperature <= 0.0) return argmax_first(logits);
  const std::size_t vocab = logits.size();
  thread_local std::vector<float> weights;
  thread_local std::vector<std::int32_t> nucleus;
  weights.resize(vocab);
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  // weights[v] = exp((l_v - max) / T), so the most likely token weighs 1.
  const double total = softmax_weights(logits.data(), static_cast<std::int64_t>(vocab), max_logit,
                                       static_cast<float>(1.0 / temperature), weights.data());
  if (top_p >= 1.0) {
    const double target = random.uniform() * total;
    double cumulative = 0.0;
    for (std::size_t v = 0; v < vocab; ++v) {
      cumulative += weights[v];
      if (cumulative > target) return static_cast<std::int32_t>(v);
    }
    return static_cast<std::int32_t>(vocab - 1);
  }
  // The nucleus is a prefix of the tokens by decreasing weight. Every token at or above a
  // threshold outweighs every token below it, so when those hold top_p of the mass the nucleus
  // lies among them and only they need sorting (a few out of 250,880 in practice); otherwise the
  // threshold drops.
  const double needed = top_p * total;
  for (float threshold = 1e-3f;; threshold = threshold > 1e-30f ? threshold * 1e-3f : 0.0f) {
    nucleus.clear();
    double mass = 0.0;
    for (std::size_t v = 0; v < vocab; ++v)
      if (weights[v] >= threshold) {
        nucleus.push_back(static_cast<std::int32_t>(v));
        mass += weights[v];
      }
    if (mass >= needed || threshold == 0.0f) break;
  }
  std::sort(nucleus.begin(), nucleus.end(), [](std::int32_t a, std::int32_t b) {
    const float wa = weights[static_cast<std::size_t>(a)], wb = weights[static_cast<std::size_t>(b)];
    return wa > wb || (wa == wb && a < b);
  });
  // A token is kept while the mass of the tokens before it is below top_p.
  std::size_t kept = 0;
  double kept_mass = 0.0;
  while (kept < nucleus.size() && kept_mass < needed) kept_mass += weights[static_cast<std::size_t>(nucleus[kept++])];
  const double target = random.uniform() * kept_mass;
  double cumulative = 0.0;
  for (std::size_t i = 0; i < kept; ++i) {
    cumulative += weights[static_cast<std::size_t>(nucleus[i])];
    if (cumulative > target) return nucleus[i];
  }
  return nucleus[kept - 1];
}

std::vector<Generation> generate(TokenGenerator& model, const tok::Tokenizer& tokenizer,
                                 std::span<const std::vector<std::int32_t>> prompts, std::span<const int> prompt_of_row,
                                 std::span<const std::uint64_t> seeds, const SamplingOptions& options) {
  if (seeds.size() != prompt_of_row.size()) fail("generation: {} rows but {} seeds", prompt_of_row.size(), seeds.size());
  if (options.max_new_tokens < 1) fail("generation: max new tokens must be at least 1");
  const std::size_t n_rows = prompt_of_row.size();
  const auto vocab = static_cast<std::size_t>(model.vocab_size());
  std::vector<Generation> generations(n_rows);
  if (n_rows == 0) return generations;
  std::vector<RowRandom> randoms;
  for (std::uint64_t seed : seeds) randoms.emplace_back(seed);
  std::vector<float> logits;
  model.start(prompts, prompt_of_row, logits);
  std::vector<int> live(n_rows);
  std::iota(live.begin(), live.end(), 0);
  for (std::int64_t step = 0; !live.empty(); ++step) {
    std::vector<int> still;
    std::vector<std::int32_t> fed;
    for (std::size_t i = 0; i < live.size(); ++i) {
      const auto r = static_cast<std::size_t>(live[i]);
      Generation& g = generations[r];
      const std::int32_t token =
          choose_token(std::span(logits).subspan(i * vocab, vocab), options.temperature, options.top_p, randoms[r]);
      if (options.eos_id && token == *options.eos_id) {
        g.finish = Finish::eos;
        continue;
      }
      g.tokens.push_back(token);
      g.text = tokenizer.decode(g.tokens);
      if (const std::size_t at = first_stop(g.text, options.stop); at != std::string::npos) {
        g.text.resize(at);
        g.finish = Finish::stop;
        continue;
      }
      if (static_cast<std::int64_t>(g.tokens.size()) >= options.max_new_tokens) {
        g.finish = Finish::length;
        continue;
      }
      still.push_back(live[i]);
      fed.push_back(token);
    }
    live = std::move(still);
    if (!live.empty()) model.step(live, fed, logits);
  }
  return generations;
}

}  // namespace xmtf::eval
