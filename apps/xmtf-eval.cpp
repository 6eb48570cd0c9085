// xmtf-eval: the paper's zero-shot evaluation of a model on one dataset file with one
// promptsource templates file: one JSON result per template (docs/eval.md). Alone or under
// mpiexec (examples spread over ranks, identical output whatever the rank count).
#include <cstdlib>

#include "core/cli.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "dist/world.hpp"
#include "eval/run.hpp"
#include "nn/backend.hpp"

namespace {

using namespace xmtf;

// The evaluation's collectives over the MPI world (the library itself is MPI-free).
eval::Ranks ranks_of(dist::World& world) {
  eval::Ranks ranks;
  ranks.rank = world.rank();
  ranks.size = world.size();
  ranks.all_ok = [&world](bool ok) { return world.all_ok(ok); };
  ranks.sum_to_root = [&world](std::vector<double>& values) {
    world.communicator().all_reduce(std::span<double>(values), dist::ReduceOp::sum);
  };
  ranks.gather_to_root = [&world](const std::string& text) {
    auto& comm = world.communicator();
    std::vector<std::string> parts;
    if (world.rank() != 0) {
      std::int64_t length = static_cast<std::int64_t>(text.size());
      comm.send(&length, 1, dist::DataType::i64, 0, 1);
      if (length > 0) comm.send(text.data(), text.size(), dist::DataType::u8, 0, 2);
      return parts;
    }
    parts.push_back(text);
    for (int r = 1; r < world.size(); ++r) {
      std::int64_t length = 0;
      comm.recv(&length, 1, dist::DataType::i64, r, 1);
      std::string part(static_cast<std::size_t>(length), '\0');
      if (length > 0) comm.recv(part.data(), part.size(), dist::DataType::u8, r, 2);
      parts.push_back(std::move(part));
    }
    return parts;
  };
  return ranks;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Zero-shot evaluation as BLOOMZ / mT0 were evaluated: rank classification over promptsource\n"
               "templates (xcopa, xnli, xstory_cloze, xwinograd), or HumanEval pass@k with completions run in a\n"
               "sandbox (humaneval). Writes one JSON result per template,\n"
               "DIR/<dataset>.<config>.<split>.<template>.json (format: docs/eval.md). Alone or under\n"
               "mpiexec -n N (same files whatever N); a rerun skips templates already done with the same\n"
               "inputs and options.",
               "xmtf-eval"};
  eval::EvalOptions options;
  std::string config, split, prompt_language;
  std::int64_t limit = 0;
  app.add_option("--model", options.model_dir,
                 "HuggingFace BLOOM folder, a step-N checkpoint folder or a checkpoint root (its `latest`)")
      ->required();
  app.add_option("--dataset", options.dataset, "xcopa, xnli, xstory_cloze, xwinograd or humaneval")
      ->required()
      ->check(CLI::IsMember({"xcopa", "xnli", "xstory_cloze", "xwinograd", "humaneval"}));
  app.add_option("--data", options.data, "the raw data file as published (jsonl, tsv, csv; HumanEval .jsonl.gz too)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--templates", options.templates, "a promptsource templates.yaml for the dataset")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--template", options.template_names,
                 "a template to evaluate (repeatable; default: every template with answer choices; HumanEval: the "
                 "problems' own prompts)");
  auto* config_option = app.add_option("--config", config,
                                       "dataset config (language); default: from the data file name, else the templates' subset");
  auto* split_option = app.add_option("--split", split, "split; default: from the data file name (val/dev, test, train)");
  auto* language_option = app.add_option("--prompt-lang", prompt_language,
                                         "prompt language: EN, HT or MT; default from each template's name (_xxmt, _xxht)")
                              ->check(CLI::IsMember({"EN", "HT", "MT"}));
  app.add_option("--tokenizer", options.tokenizer, "tokenizer (default: tokenizer.json in the model folder)")
      ->check(CLI::ExistingFile);
  auto* limit_option = app.add_option("--limit", limit, "only the first N rows")->check(CLI::PositiveNumber);
  app.add_flag("--predictions", options.predictions, "also write per-example predictions (.jsonl beside each result)");
  app.add_option("--output", options.output, "folder for the result files")->required();
  app.add_option("--batch-size", options.batch_size, "examples per forward batch")->default_val(8)->check(CLI::PositiveNumber);
  app.add_option("--max-length", options.max_length, "longest input + choice in tokens (default: the model's seq_length)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--force", options.force, "redo templates whose results are up to date");
  auto* humaneval = app.add_option_group("HumanEval", "generation and execution (--dataset humaneval)");
  humaneval->add_option("--samples", options.samples, "completions per problem and temperature")
      ->default_val(200)
      ->check(CLI::PositiveNumber);
  humaneval->add_option("--temperatures", options.temperatures, "sampling temperatures (0: greedy), comma-separated")
      ->delimiter(',')
      ->default_str("0.2,0.6,0.8")
      ->check(CLI::NonNegativeNumber);
  humaneval->add_option("--top-p", options.top_p, "nucleus sampling mass")->default_val(0.95)->check(CLI::Range(0.0, 1.0));
  humaneval->add_option("--max-new-tokens", options.max_new_tokens, "tokens generated at most")
      ->default_val(256)
      ->check(CLI::PositiveNumber);
  humaneval->add_option("--seed", options.seed, "seed of the sampling streams")->default_val(0);
  humaneval->add_option("--timeout", options.timeout_seconds, "wall-clock seconds per completion's tests")
      ->default_val(3.0)
      ->check(CLI::PositiveNumber);
  humaneval->add_option("--jobs", options.jobs, "completions run at once per rank (default: the cores this rank may use)")
      ->check(CLI::NonNegativeNumber);
  humaneval->add_option("--python", options.python, "the interpreter (default /usr/bin/python3, else python3 on PATH)");
  humaneval->add_flag("--allow-network", options.allow_network,
                      "run completions even where the kernel refuses them a network namespace");
  app.add_option("--backend", options.backend, "kernels: cpu (BLAS, default) or reference (plain loops, the oracle; slow)")
      ->check(CLI::IsMember({"cpu", "reference"}));
  add_logging_options(app);

  return run_main(app, argc, argv, [&]() -> int {
    if (*config_option) options.config = config;
    if (*split_option) options.split = split;
    if (*language_option) options.prompt_language = prompt_language;
    if (*limit_option) options.limit = limit;
    dist::World world(argc, argv);
    if (std::getenv("OPENBLAS_NUM_THREADS") == nullptr) nn::backend_named(options.backend).set_threads(world.cores_per_rank());
    const eval::Ranks ranks = ranks_of(world);
    // Past the agreed setup the other ranks may wait in a collective: an error ends the job.
    return world.run([&]() -> int {
      try {
        return eval::run_eval(options, ranks);
      } catch (const eval::SetupError& e) {
        if (world.is_root()) log::error("{}", e.what());  // every rank has the same message
        return 1;
      }
    });
  });
}
