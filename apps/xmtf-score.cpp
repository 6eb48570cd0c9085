// xmtf-score: the sum and count of the target tokens' log-probabilities given the inputs, one
// JSON line per input line, alone or under mpiexec (batches are spread over ranks; the output is
// identical whatever the number of ranks). See docs/engine.md, "Scoring".
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>

#include "core/cli.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "dist/world.hpp"
#include "core/text.hpp"
#include "eval/score.hpp"

namespace {

using namespace xmtf;

struct Options {
  fs::path model_dir, input, output, tokenizer;
  std::int64_t batch_size = 8;
  std::optional<std::string> target_prefix;
  std::optional<bool> input_eos;
  bool target_eos = false;
  bool force = false;
  std::string backend = "cpu";
};

// What changes the scores besides the files (the batch size does not).
std::string encoding_options(const Options& options) {
  return fmt::format("target_prefix={} input_eos={} target_eos={}", options.target_prefix ? shell_quote(*options.target_prefix) : "default",
                     options.input_eos ? (*options.input_eos ? "1" : "0") : "default", options.target_eos ? 1 : 0);
}

void write_results(const Options& options, const std::vector<eval::ScoreSample>& samples,
                   const std::vector<eval::ScoreResult>& results) {
  std::string text;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    text += eval::format_result(samples[i], results[i]);
    text += '\n';
  }
  if (options.output.empty()) {
    std::cout << text << std::flush;
    if (!std::cout) fail("stdout: write error");
    return;
  }
  if (options.output.has_parent_path()) fs::create_directories(options.output.parent_path());
  write_file_atomic(options.output, text);
  log::info("{}: {} lines written", options.output.string(), samples.size());
}

// Every rank reads and tokenizes the whole input (cheap next to the forward passes), so a bad
// line fails on every rank alike, and a batch's content does not depend on the rank count.
std::vector<eval::ScoreSample> read_input(const Options& options, const fs::path& model_folder,
                                          std::int64_t vocab_size) {
  fs::path tokenizer_path = eval::resolve_tokenizer(options.tokenizer, options.model_dir, model_folder);
  std::unique_ptr<tok::Tokenizer> tokenizer;
  std::optional<h5::SampleEncoder> encoder;
  if (!tokenizer_path.empty()) {
    tokenizer = tok::load_tokenizer(tokenizer_path);
    h5::TokenizeOptions encoding;
    encoding.target_prefix = options.target_prefix;
    encoding.input_eos = options.input_eos;
    encoding.target_eos = options.target_eos;
    encoder.emplace(*tokenizer, encoding, tokenizer_path.string());
    log::debug("tokenizer {} ({})", tokenizer_path.string(), encoder->options_text());
  }
  return eval::read_score_input(options.input, tokenizer.get(), encoder ? &*encoder : nullptr, vocab_size);
}

int score(const Options& options, dist::World& world) {
  const int rank = world.rank();
  // Setup (model, input): deterministic, so every rank fails alike; agree before going on.
  std::unique_ptr<models::Model> model;
  std::vector<eval::ScoreSample> samples;
  fs::path model_folder;
  std::optional<eval::ScoreCompletion> completion;  // with --output only
  int ok = 1;
  try {
    model_folder = eval::resolve_model_folder(options.model_dir);
    if (!options.output.empty())
      completion.emplace(options.output, options.input, model_folder,
                         eval::resolve_tokenizer(options.tokenizer, options.model_dir, model_folder), encoding_options(options));
    if (completion && !options.force) {
      std::string not_done = completion->not_done();
      if (not_done.empty()) {
        if (rank == 0) log::info("{}: up to date, skipped (--force to redo)", options.output.string());
        return 0;
      }
      if (rank == 0 && fs::exists(options.output)) log::info("{}: scoring again ({})", options.output.string(), not_done);
    }
    model = eval::load_model(model_folder, nn::backend_named(options.backend));
    samples = read_input(options, model_folder, model->config().vocab_size);
    eval::check_batches_fit_in_memory(*model, samples, options.batch_size, options.input.string());
  } catch (const Error& e) {
    if (rank == 0) log::error("{}", e.what());
    ok = 0;
  }
  if (!world.all_ok(ok == 1)) return 1;

  const std::int64_t n_batches = eval::batch_count(samples.size(), options.batch_size);
  const auto mine = eval::batches_of_rank(samples, options.batch_size, rank, world.size());
  if (rank == 0)
    log::info("{}: {} parameters; {} samples in {} batches of up to {}", model_folder.string(),
              model->n_parameters(), samples.size(), n_batches, options.batch_size);
  // Each rank fills its samples' sums; the others stay 0 and the sum over ranks (x + 0 = x)
  // assembles the exact values on rank 0.
  std::vector<double> sums(samples.size(), 0.0);
  const auto activations = model->make_activations();
  std::uint64_t my_samples = 0;
  for (std::int64_t b : mine)
    my_samples += std::min<std::uint64_t>(samples.size() - static_cast<std::uint64_t>(b * options.batch_size),
                                          static_cast<std::uint64_t>(options.batch_size));
  Progress progress("score", my_samples);
  auto start = std::chrono::steady_clock::now();
  std::int64_t my_tokens = 0;
  for (std::int64_t b : mine) {
    const std::size_t begin = static_cast<std::size_t>(b * options.batch_size);
    const std::size_t count = std::min(samples.size() - begin, static_cast<std::size_t>(options.batch_size));
    auto results = eval::score_batch(*model, std::span(samples).subspan(begin, count), *activations);
    for (std::size_t i = 0; i < count; ++i) {
      sums[begin + i] = results[i].logprob_sum;
      my_tokens += results[i].tokens;
    }
    progress.add(count);
  }
  progress.finish();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("rank done: {} batches, {} target tokens in {:.2f}s", mine.size(), my_tokens, seconds);

  world.communicator().all_reduce(std::span<double>(sums), dist::ReduceOp::sum);
  if (rank != 0) return 0;
  std::vector<eval::ScoreResult> results(samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i)
    results[i] = {sums[i], static_cast<std::int64_t>(samples[i].target_ids.size())};
  write_results(options, samples, results);
  if (completion) completion->record();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Score target texts: for each JSON line {\"inputs\": str, \"targets\": str} (or pre-tokenized\n"
               "{\"input_ids\": [..], \"target_ids\": [..]}; an optional \"id\" is copied), write\n"
               "{\"line\": N, \"id\": .., \"logprob_sum\": sum of log p(target tokens | inputs), \"tokens\": count}\n"
               "in input order. Alone or under mpiexec -n N (same output whatever N).",
               "xmtf-score"};
  Options options;
  std::string target_prefix;
  bool input_eos = false;
  app.add_option("--model", options.model_dir,
                 "HuggingFace BLOOM folder (config.json + model.safetensors), a step-N checkpoint folder, or a "
                 "checkpoint root (its `latest` step)")
      ->required();
  app.add_option("--input", options.input, "JSON lines to score")->required()->check(CLI::ExistingFile);
  app.add_option("--output", options.output, "output JSON lines, written atomically (default: stdout)");
  app.add_option("--tokenizer", options.tokenizer,
                 "tokenizer for text lines (default: tokenizer.json in the model folder when present)")
      ->check(CLI::ExistingFile);
  auto* prefix = app.add_option("--target-prefix", target_prefix,
                                "text prepended to each target (default \" \" for tokenizer.json as BLOOMZ, \"\" for SentencePiece)");
  auto* input_eos_option = app.add_option("--input-eos", input_eos,
                                          "append the end-of-document token to inputs (default as xmtf-tokenize)");
  app.add_option("--target-eos", options.target_eos, "append the end-of-document token to targets and score it too")
      ->default_val(false);
  app.add_option("--batch-size", options.batch_size, "samples per forward pass")->default_val(8)->check(CLI::PositiveNumber);
  app.add_option("--backend", options.backend, "kernels: cpu (BLAS, default) or reference (plain loops, the oracle; slow)")
      ->check(CLI::IsMember({"cpu", "reference"}));
  app.add_flag("--force", options.force, "rescore even when --output's completion record verifies");
  add_logging_options(app);

  return run_main(app, argc, argv, [&]() -> int {
    if (*prefix) options.target_prefix = target_prefix;
    if (*input_eos_option) options.input_eos = input_eos;
    dist::World world(argc, argv);
    // Past the agreed setup, the other ranks may wait in the reduction: an error ends the job.
    return world.run([&] { return score(options, world); });
  });
}
