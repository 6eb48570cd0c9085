#pragma once
// What rank classification and generation need from a model, as two small interfaces, so that
// an encoder-decoder (mT5) plugs in beside BLOOM without touching the evaluation code:
//   - ChoiceScorer: the summed log-probabilities of answer choices given an input;
//   - TokenGenerator: incremental decoding of rows continuing prompts (sampling, stopping and
//     the tokenizer stay in generate.hpp).
// The BLOOM implementations run on BloomDecoder (input once, KV cache shared by its choices or
// samples).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "eval/bloom_decoder.hpp"

namespace xmtf::eval {

// One example: the tokenized input and each answer choice, tokenized as a target.
struct ChoiceExample {
  std::vector<std::int32_t> input;
  std::vector<std::vector<std::int32_t>> choices;
};

class ChoiceScorer {
 public:
  virtual ~ChoiceScorer() = default;
  // Decoders score a choice as the continuation " " + choice (the targets' form in training);
  // an encoder-decoder scores the choice itself as the decoder target.
  virtual bool encoder_decoder() const = 0;
  virtual std::int64_t vocab_size() const = 0;
  // The longest input + choice the model takes (decoders) or the longest input (encoder-decoders).
  virtual std::int64_t max_length() const = 0;
  // Per example, per choice: sum over the choice's tokens of log p(token | input, earlier tokens),
  // accumulated in double. Every example needs a non-empty input.
  virtual std::vector<std::vector<double>> score(std::span<const ChoiceExample> batch) = 0;
};

class TokenGenerator {
 public:
  virtual ~TokenGenerator() = default;
  virtual std::int64_t vocab_size() const = 0;
  // Starts rows that continue prompts (row r continues prompts[prompt_of_row[r]]): writes the
  // logits of each row's first new token into logits [rows, vocab].
  virtual void start(std::span<const std::vector<std::int32_t>> prompts, std::span<const int> prompt_of_row,
                     std::vector<float>& logits) = 0;
  // Appends tokens[i] to row rows[i] (rows still generating) and writes the logits of their next
  // tokens into the first rows.size() * vocab floats of logits.
  virtual void step(std::span<const int> rows, std::span<const std::int32_t> tokens, std::vector<float>& logits) = 0;
};

class BloomChoiceScorer : public ChoiceScorer {
 public:
  // max_length 0: the model's seq_length.
  explicit BloomChoiceScorer(const models::Model& model, std::int64_t max_length = 0);
  bool encoder_decoder() const override { return false; }
  std::int64_t vocab_size() const override { return decoder_.config().vocab_size; }
  std::int64_t max_length() const override { return max_length_; }
  std::vector<std::vector<double>> score(std::span<const ChoiceExample> batch) override;

 private:
  BloomDecoder decoder_;
  std::int64_t max_length_;
  std::vector<KvCache> input_caches_, choice_caches_;
  std::vector<float> logits_;
};

class BloomTokenGenerator : public TokenGenerator {
 public:
  explicit BloomTokenGenerator(const models::Model& model);
  std::int64_t vocab_size() const override { return decoder_.config().vocab_size; }
  void start(std::span<const std::vector<std::int32_t>> prompts, std::span<const int> prompt_of_row,
             std::vector<float>& logits) override;
  void step(std::span<const int> rows, std::span<const std::int32_t> tokens, std::vector<float>& logits) override;

 private:
  BloomDecoder decoder_;
  std::vector<KvCache> prompt_caches_, row_caches_;
  std::vector<int> prompt_of_row_;
};

// exp(x) for x <= 0 within 2 float ulps, vectorisable; and log sum_v exp(z_v), the normaliser
// of a log-softmax (max in float, exp in float, blocks of sums in double).
float exp_nonpositive(float x);
double log_normaliser(const float* z, std::int64_t vocab);
// out[v] = exp((z[v] - max_logit) * scale) for z[v] <= max_logit; returns their sum.
double softmax_weights(const float* z, std::int64_t n, float max_logit, float scale, float* out);
// log p(targets[r]) under softmax(logits row r), for n rows of vocab logits.
void target_log_probs(std::span<const float> logits, std::int64_t vocab, std::span<const std::int32_t> targets,
                      std::span<double> out);

}  // namespace xmtf::eval
