#include "eval/score.hpp"

#include <simdjson.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <fstream>

#include "ckpt/hf_model.hpp"
#include "ckpt/training_checkpoint.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/text.hpp"
#include "dist/balance.hpp"
#include "nn/memory.hpp"

namespace xmtf::eval {
namespace {

// Reads a JSON array of integer ids, checking each against the vocabulary.
std::vector<std::int32_t> read_ids(simdjson::dom::element row, const char* field, const std::string& where,
                                   std::int64_t vocab_size) {
  simdjson::dom::array array;
  if (row[field].get(array)) fail("{}: \"{}\" must be an array of token ids", where, field);
  std::vector<std::int32_t> ids;
  ids.reserve(array.size());
  for (simdjson::dom::element value : array) {
    std::int64_t id = 0;
    if (value.get(id)) fail("{}: \"{}\" holds a non-integer: {}", where, field, simdjson::minify(value));
    if (id < 0 || id >= vocab_size)
      fail("{}: \"{}\" holds id {}, outside the model's vocabulary [0, {})", where, field, id, vocab_size);
    ids.push_back(static_cast<std::int32_t>(id));
  }
  return ids;
}

// The engine's JSON rule (models/json_input.hpp): a key repeated within one object is an
// error. simdjson would give the first value where Python gives the last.
void check_unique_keys(simdjson::dom::element value, const std::string& where) {
  simdjson::dom::array array;
  if (!value.get(array)) {
    for (simdjson::dom::element element : array) check_unique_keys(element, where);
    return;
  }
  simdjson::dom::object object;
  if (value.get(object)) return;
  std::set<std::string_view> keys;
  for (auto field : object) {
    if (!keys.insert(field.key).second) fail("{}: duplicate key \"{}\" (a key may appear once per object)", where, field.key);
    check_unique_keys(field.value, where);
  }
}

}  // namespace

std::vector<ScoreSample> read_score_input(const fs::path& path, tok::Tokenizer* tokenizer, h5::SampleEncoder* encoder,
                                          std::int64_t vocab_size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open: {}", path.string(), errno_text(errno));
  simdjson::dom::parser parser;
  std::vector<ScoreSample> samples;
  std::string line;
  std::int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (trim(line).empty()) continue;
    std::string where = fmt::format("{}:{}", path.string(), line_number);
    simdjson::dom::element row;
    if (auto error = parser.parse(line).get(row)) fail("{}: invalid JSON: {}", where, simdjson::error_message(error));
    if (!row.is_object()) fail("{}: expected a JSON object", where);
    check_unique_keys(row, where);
    ScoreSample sample;
    sample.line = line_number;
    simdjson::dom::element id;
    if (!row["id"].get(id)) sample.id_json = simdjson::minify(id);
    simdjson::dom::element unused;
    if (!row["input_ids"].get(unused) || !row["target_ids"].get(unused)) {
      sample.input_ids = read_ids(row, "input_ids", where, vocab_size);
      sample.target_ids = read_ids(row, "target_ids", where, vocab_size);
    } else {
      std::string_view inputs, targets;
      if (row["inputs"].get(inputs) || row["targets"].get(targets))
        fail("{}: expected string fields \"inputs\" and \"targets\" (or arrays \"input_ids\" and \"target_ids\")", where);
      if (!tokenizer || !encoder)
        fail("{}: a text line needs a tokenizer: pass --tokenizer or put tokenizer.json in the model folder", where);
      encoder->encode(*tokenizer, inputs, targets, sample.input_ids, sample.target_ids);
      // An empty target scores nothing (not the lone prefix " ").
      if (targets.empty()) {
        bool eos = encoder->target_eos() && !sample.target_ids.empty();
        std::int32_t eos_id = eos ? sample.target_ids.back() : 0;
        sample.target_ids.clear();
        if (eos) sample.target_ids.push_back(eos_id);
      }
      for (auto ids : {&sample.input_ids, &sample.target_ids})
        for (std::int32_t token : *ids)
          if (token < 0 || token >= vocab_size)
            fail("{}: the tokenizer gave id {}, outside the model's vocabulary [0, {}): wrong tokenizer for this model?",
                 where, token, vocab_size);
    }
    if (sample.input_ids.empty()) fail("{}: empty inputs: the first target token would have no context", where);
    samples.push_back(std::move(sample));
  }
  if (in.bad()) fail("{}: read error: {}", path.string(), errno_text(errno));
  return samples;
}

fs::path resolve_tokenizer(const fs::path& given, const fs::path& model_dir, const fs::path& model_folder) {
  if (!given.empty()) return given;
  fs::path found;
  for (const fs::path& dir : {model_dir, model_folder})
    if (fs::exists(dir / "tokenizer.json")) found = dir / "tokenizer.json";
  return found;
}

namespace {

fs::path score_record_path(const fs::path& output) {
  return output.parent_path() / ("." + output.filename().string() + ".xmtf-score.done");
}

}  // namespace

ScoreCompletion::ScoreCompletion(fs::path output, const fs::path& input, const fs::path& model_folder, const fs::path& tokenizer,
                                 const std::string& encoding_options)
    : output_(std::move(output)), record_("xmtf-score/1", encoding_options) {
  std::vector<fs::path> inputs{input, model_folder / "config.json", model_folder / "model.safetensors"};
  if (!tokenizer.empty()) inputs.push_back(tokenizer);
  for (const fs::path& file : inputs)
    if (paths_overlap(output_, file)) fail("--output {} is the input {}: refusing to overwrite it", output_.string(), file.string());
  record_.add_input(input);
  record_.add_input(model_folder / "config.json");
  record_.add_input(model_folder / "model.safetensors", Content::stat_only);  // GiBs; its own sha256 is checked at load
  if (!tokenizer.empty()) record_.add_input(tokenizer);
}

std::string ScoreCompletion::not_done() const { return record_.mismatch(score_record_path(output_)); }

void ScoreCompletion::record() {
  record_.add_output(output_.parent_path(), output_.filename().string());
  record_.write(score_record_path(output_));
}

fs::path resolve_model_folder(const fs::path& dir) {
  if (!fs::is_directory(dir)) fail("{}: not a folder (expected a HuggingFace model folder or a checkpoint folder)", dir.string());
  if (fs::exists(dir / "config.json")) return dir;
  // A checkpoint root: its `latest`, or without one the newest complete step-N (with a warning).
  if (auto latest = ckpt::latest_checkpoint(dir)) return *latest;
  fail("{}: no config.json (HuggingFace folder or step-N checkpoint), no `latest` and no step-N folder (checkpoint root)",
       dir.string());
}

std::unique_ptr<models::Model> load_model(const fs::path& folder, const nn::Backend& backend) {
  auto model = models::create_model(*models::load_model_config(folder / "config.json"), backend);
  ckpt::load_hf_weights(folder, *model);
  return model;
}

std::int64_t batch_count(std::size_t n_samples, std::int64_t batch_size) {
  if (batch_size < 1) fail("batch size must be at least 1, not {}", batch_size);
  return (static_cast<std::int64_t>(n_samples) + batch_size - 1) / batch_size;
}

namespace {
std::vector<std::int64_t> batches_of(const std::vector<std::uint64_t>& costs, int rank, int world_size) {
  std::vector<std::int64_t> mine;
  for (std::size_t b : dist::tasks_of_rank(dist::assign_balanced(costs, world_size), rank)) mine.push_back(static_cast<std::int64_t>(b));
  return mine;
}
}  // namespace

std::vector<std::int64_t> batches_of_rank(std::int64_t n_batches, int rank, int world_size) {
  return batches_of(std::vector<std::uint64_t>(static_cast<std::size_t>(n_batches), 1), rank, world_size);
}

std::vector<std::int64_t> batches_of_rank(std::span<const ScoreSample> samples, std::int64_t batch_size, int rank,
                                          int world_size) {
  std::vector<std::uint64_t> costs;
  for (std::size_t begin = 0; begin < samples.size(); begin += static_cast<std::size_t>(batch_size)) {
    const std::size_t count = std::min(samples.size() - begin, static_cast<std::size_t>(batch_size));
    std::uint64_t longest = 0;
    for (std::size_t i = begin; i < begin + count; ++i)
      longest = std::max<std::uint64_t>(longest, samples[i].input_ids.size() + samples[i].target_ids.size());
    costs.push_back(count * longest);
  }
  return batches_of(costs, rank, world_size);
}

std::vector<ScoreResult> score_batch(const models::Model& model, std::span<const ScoreSample> batch,
                                     models::Activations& activations) {
  // Row i holds inputs + targets; the model reads row[0:seq] and predicts row[1:seq+1], so the
  // target token k (at row position n_in + k) is predicted at position n_in + k - 1.
  std::int64_t longest = 1;
  for (const auto& s : batch)
    longest = std::max<std::int64_t>(longest, static_cast<std::int64_t>(s.input_ids.size() + s.target_ids.size()) - 1);
  models::Batch b;
  b.batch_size = static_cast<std::int64_t>(batch.size());
  b.seq_len = longest;
  const std::size_t n = static_cast<std::size_t>(b.batch_size * b.seq_len);
  b.input_ids.assign(n, model.config().pad_token_id);
  b.target_ids.assign(n, model.config().pad_token_id);
  b.loss_weights.assign(n, 0.0f);
  std::vector<ScoreResult> results(batch.size());
  std::int64_t n_targets = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    std::vector<std::int32_t> row = batch[i].input_ids;
    row.insert(row.end(), batch[i].target_ids.begin(), batch[i].target_ids.end());
    const std::size_t base = i * static_cast<std::size_t>(b.seq_len);
    for (std::size_t t = 0; t + 1 < row.size(); ++t) {
      b.input_ids[base + t] = row[t];
      b.target_ids[base + t] = row[t + 1];
      if (t + 1 >= batch[i].input_ids.size()) b.loss_weights[base + t] = 1.0f;
    }
    results[i].tokens = static_cast<std::int64_t>(batch[i].target_ids.size());
    n_targets += results[i].tokens;
  }
  if (n_targets == 0) return results;

  model.forward(b, activations, /*loss_rows_only=*/true);
  const auto& rows = activations.logit_rows;  // flat positions, in order
  std::vector<std::int32_t> targets(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) targets[r] = b.target_ids[static_cast<std::size_t>(rows[r])];
  std::vector<double> log_probs(rows.size());
  model.backend().token_log_probs(log_probs.data(), activations.logits.data(), targets.data(),
                                  static_cast<std::int64_t>(rows.size()), model.config().vocab_size);
  for (std::size_t r = 0; r < rows.size(); ++r) results[static_cast<std::size_t>(rows[r] / b.seq_len)].logprob_sum += log_probs[r];
  return results;
}

void check_batches_fit_in_memory(const models::Model& model, std::span<const ScoreSample> samples,
                                 std::int64_t batch_size, const std::string& input_name) {
  const double memory = static_cast<double>(nn::host_memory_bytes());
  const double weights = 4.0 * static_cast<double>(model.n_parameters());
  for (std::size_t begin = 0; begin < samples.size(); begin += static_cast<std::size_t>(batch_size)) {
    const std::size_t count = std::min(samples.size() - begin, static_cast<std::size_t>(batch_size));
    const ScoreSample* longest = &samples[begin];
    for (std::size_t i = begin; i < begin + count; ++i) {
      if (samples[i].input_ids.size() + samples[i].target_ids.size() > longest->input_ids.size() + longest->target_ids.size())
        longest = &samples[i];
    }
    const auto tokens = static_cast<std::int64_t>(longest->input_ids.size() + longest->target_ids.size());
    const double bytes = model.activation_bytes(static_cast<std::int64_t>(count), std::max<std::int64_t>(tokens - 1, 1));
    if (weights + bytes > memory) {
      fail("{}:{}: a sample of {} tokens: its batch of {} needs {} of activations (attention grows with the square of the "
           "length), more than the {} of memory left beside the weights; shorten it or lower --batch-size", input_name,
           longest->line, tokens, count, format_bytes(bytes), format_bytes(std::max(memory - weights, 0.0)));
    }
  }
}

std::string format_result(const ScoreSample& sample, const ScoreResult& result) {
  // JSON has no NaN or infinity; a finite model scores finite log-probabilities, so this is a
  // broken model, never something to print.
  if (!std::isfinite(result.logprob_sum)) {
    fail("line {}: the log-probability is {} (non-finite activations: a broken model?)", sample.line, result.logprob_sum);
  }
  std::string id = sample.id_json.empty() ? "" : fmt::format(",\"id\":{}", sample.id_json);
  // {} prints the shortest text that reads back to the same double.
  return fmt::format("{{\"line\":{}{},\"logprob_sum\":{},\"tokens\":{}}}", sample.line, id, result.logprob_sum,
                     result.tokens);
}

}  // namespace xmtf::eval
