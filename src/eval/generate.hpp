#pragma once
// Text generation over a TokenGenerator (scorer.hpp): greedy or sampled decoding (temperature,
// nucleus / top-p), stopped by the end-of-document token, stop sequences or a token budget,
// many rows in one batch (samples of one prompt share its KV cache). Each row draws from its
// own random stream, so a completion depends on its seed only, not on the batch it ran in.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "eval/scorer.hpp"
#include "tok/tokenizer.hpp"

namespace xmtf::eval {

struct SamplingOptions {
  double temperature = 0.0;  // <= 0: greedy (the first most likely token)
  double top_p = 1.0;        // keep the most likely tokens whose mass reaches top_p
  std::int64_t max_new_tokens = 256;
  std::vector<std::string> stop;        // the completion ends before the first one it contains
  std::optional<std::int32_t> eos_id;   // ends a completion (not part of its text)
};

enum class Finish { eos, stop, length };
std::string finish_name(Finish finish);

struct Generation {
  std::vector<std::int32_t> tokens;  // generated, up to and excluding EOS
  std::string text;                  // their text, cut before the first stop sequence
  Finish finish = Finish::length;
};

// xoshiro256** seeded through splitmix64: a small, fast, portable generator with a fixed
// sequence per seed on every platform (std::uniform_real_distribution is not portable).
class RowRandom {
 public:
  explicit RowRandom(std::uint64_t seed);
  std::uint64_t next();
  double uniform();  // [0, 1) with 53 random bits
 private:
  std::uint64_t state_[4];
};

// A seed for one row from the values that identify it (run seed, problem, temperature, sample).
std::uint64_t mix_seed(std::initializer_list<std::uint64_t> parts);

// The next token from one row of logits: argmax when temperature <= 0, else a draw from
// softmax(logits / temperature) restricted to the top-p nucleus (most likely first, the token
// that crosses top_p included; ties broken by the lower id).
std::int32_t choose_token(std::span<const float> logits, double temperature, double top_p, RowRandom& random);

// One completion per row: row r continues prompts[prompt_of_row[r]] and draws with seeds[r].
std::vector<Generation> generate(TokenGenerator& model, const tok::Tokenizer& tokenizer,
                                 std::span<const std::vector<std::int32_t>> prompts, std::span<const int> prompt_of_row,
                                 std::span<const std::uint64_t> seeds, const SamplingOptions& options);

}  // namespace xmtf::eval
