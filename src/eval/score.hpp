#pragma once
// Scoring: for each sample, the sum and the count of log p(target token | inputs, previous
// target tokens) under a model (BLOOM today; any family of the Model interface). The core of rank evaluation.
//
// Input: JSON lines, either {"inputs": str, "targets": str} (tokenized with the sample encoder of
// xmtf-tokenize: targets get BLOOMZ's " " prefix) or pre-tokenized {"input_ids": [..],
// "target_ids": [..]}; an optional "id" (any JSON value) is copied to the output. Blank lines are
// skipped (line numbers still count them).
// Output: one JSON line per sample, in input order:
//   {"line": N, "id": <copied when present>, "logprob_sum": x, "tokens": k}
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/completion.hpp"
#include "h5/tokenize_job.hpp"
#include "models/model.hpp"
#include "tok/tokenizer.hpp"

namespace xmtf::eval {

struct ScoreSample {
  std::int64_t line = 0;  // 1-based line number in the input file
  std::string id_json;    // the "id" value as compact JSON, "" when absent
  std::vector<std::int32_t> input_ids, target_ids;
};

struct ScoreResult {
  double logprob_sum = 0;  // accumulated in double
  std::int64_t tokens = 0;
};

// Text lines need `tokenizer` and `encoder` (null: such a line is an error). Every id must be in
// [0, vocab_size). Throws xmtf::Error "FILE:LINE: what" on the first bad line.
std::vector<ScoreSample> read_score_input(const std::filesystem::path& path, tok::Tokenizer* tokenizer,
                                          h5::SampleEncoder* encoder, std::int64_t vocab_size);

// The folder holding config.json + model.safetensors: `dir` itself (a HuggingFace folder or one
// step-N checkpoint folder), or for a training checkpoint root the step `latest` names.
std::filesystem::path resolve_model_folder(const std::filesystem::path& dir);
// The model of folder/config.json (any family of the Model interface) with its weights, on a
// backend.
std::unique_ptr<models::Model> load_model(const std::filesystem::path& folder,
                                          const nn::Backend& backend = nn::cpu_backend());

// Batches are consecutive runs of batch_size samples, independent of the number of ranks, so a
// sample's score is bit-identical whichever rank computes it. They are spread over the ranks by
// dist::assign_balanced: by their padded token count (batch size x longest sample), or, given
// only their number, round robin (batch b to rank b % world).
std::int64_t batch_count(std::size_t n_samples, std::int64_t batch_size);
std::vector<std::int64_t> batches_of_rank(std::int64_t n_batches, int rank, int world_size);
std::vector<std::int64_t> batches_of_rank(std::span<const ScoreSample> samples, std::int64_t batch_size, int rank,
                                          int world_size);

// Scores one batch in one forward (rows right-padded to the longest; a sample's tokens never
// see the padding, which comes after them under the causal mask).
// `activations` are the model's own (model.make_activations()), reused from batch to batch.
std::vector<ScoreResult> score_batch(const models::Model& model, std::span<const ScoreSample> batch,
                                     models::Activations& activations);

// Checks, before anything is scored, that every batch's activations fit in memory beside the
// weights; throws "INPUT:LINE: a sample of N tokens ..." naming the longest sample of the first
// batch that does not.
void check_batches_fit_in_memory(const models::Model& model, std::span<const ScoreSample> samples,
                                 std::int64_t batch_size, const std::string& input_name);

// No newline. Throws xmtf::Error when the sum is not finite (JSON has no NaN).
std::string format_result(const ScoreSample& sample, const ScoreResult& result);

// The tokenizer for text lines: `given`, else tokenizer.json in the model dir or the resolved
// model folder; empty when there is none.
std::filesystem::path resolve_tokenizer(const std::filesystem::path& given, const std::filesystem::path& model_dir,
                                        const std::filesystem::path& model_folder);

// The completion record of a scoring run with --output (`<dir>/.<name>.xmtf-score.done`): the
// input, the tokenizer and config.json by sha256, model.safetensors by size and mtime (GiBs),
// the encoding options, and the output by sha256. A rerun skips only when it verifies (a
// 0-byte or edited output, another model, other options: scored again).
class ScoreCompletion {
 public:
  // Throws when output is one of the run's input files (it would be read, then overwritten).
  ScoreCompletion(std::filesystem::path output, const std::filesystem::path& input, const std::filesystem::path& model_folder,
                  const std::filesystem::path& tokenizer, const std::string& encoding_options);
  std::string not_done() const;  // "" when the record verifies, else why not
  void record();                 // after the output was committed

 private:
  std::filesystem::path output_;
  CompletionRecord record_;
};

}  // namespace xmtf::eval
