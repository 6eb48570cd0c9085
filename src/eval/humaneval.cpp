// HumanEval: generation, sandboxed execution, pass@k (docs/eval.md).
#include "eval/humaneval.hpp"

#include <fmt/format.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "core/text.hpp"
#include "eval/context.hpp"
#include "eval/generate.hpp"
#include "eval/metrics.hpp"
#include "eval/sandbox.hpp"
#include "prompts/templates.hpp"

namespace xmtf::eval {
namespace {

const std::vector<int> kPassKs = {1, 10, 100};

std::string string_field(const prompts::Dict& row, const std::string& key, std::size_t index) {
  for (const auto& [k, v] : row)
    if (k == key) {
      if (!v.is_string()) fail("row {}: field '{}' is not a string", index + 1, key);
      return v.text;
    }
  fail("row {}: no field '{}'", index + 1, key);
}

int cores_available() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

struct Completion {
  std::string text;
  Finish finish = Finish::length;
  bool passed = false;
  std::string result;
};

// The prompt text each problem is continued from: its own prompt, or a template's input.
std::vector<std::string> prompt_texts(const EvalContext& context, const SelectedTemplate& selected,
                                      const std::vector<HumanEvalProblem>& problems, const fs::path& data) {
  std::vector<std::string> texts;
  if (!selected.prompt) {
    for (const auto& p : problems) texts.push_back(p.prompt);
    return texts;
  }
  prompts::CompiledTemplate compiled(context.templates, *selected.prompt);
  prompts::PythonRandom rng(0);
  for (std::size_t r = 0; r < context.rows.size(); ++r) {
    try {
      texts.push_back(compiled.apply(context.rows[r], rng).input);
    } catch (const Error& e) {
      fail("{} (rendering row {} of {})", e.what(), r + 1, data.string());
    }
    if (texts.back().empty()) fail("{}: row {}: template '{}' renders an empty prompt", data.string(), r + 1, selected.prompt->name);
  }
  return texts;
}

// Runs this rank's (temperature, problem) units: their completions, then their programs.
std::string run_units(const EvalOptions& options, const Ranks& ranks, const std::vector<HumanEvalProblem>& problems,
                      const std::vector<std::string>& texts, const std::vector<std::vector<std::int32_t>>& prompt_ids,
                      TokenGenerator& generator, const tok::Tokenizer& tokenizer, std::optional<std::int32_t> eos_id,
                      const Sandbox& sandbox) {
  const std::size_t n_problems = problems.size();
  const std::size_t n_units = n_problems * options.temperatures.size();
  std::vector<std::size_t> mine;
  for (std::size_t u = static_cast<std::size_t>(ranks.rank); u < n_units; u += static_cast<std::size_t>(ranks.size))
    mine.push_back(u);
  const auto samples = static_cast<std::size_t>(options.samples);
  Progress progress("humaneval", mine.size() * samples);
  std::string lines;
  const int jobs = options.jobs > 0 ? options.jobs : cores_available();
  for (std::size_t u : mine) {
    const std::size_t t = u / n_problems, p = u % n_problems;
    SamplingOptions sampling;
    sampling.temperature = options.temperatures[t];
    sampling.top_p = options.top_p;
    sampling.max_new_tokens = options.max_new_tokens;
    sampling.stop = humaneval_stop_sequences();
    sampling.eos_id = eos_id;
    std::vector<Completion> completions(samples);
    // Rows of one batch continue the same prompt: one prefill, its cache shared by the samples.
    for (std::size_t begin = 0; begin < samples; begin += static_cast<std::size_t>(options.batch_size)) {
      const std::size_t count = std::min(samples - begin, static_cast<std::size_t>(options.batch_size));
      std::vector<int> prompt_of_row(count, 0);
      std::vector<std::uint64_t> seeds;
      for (std::size_t s = begin; s < begin + count; ++s) seeds.push_back(mix_seed({options.seed, p, t, s}));
      auto generations = generate(generator, tokenizer, std::span(prompt_ids).subspan(p, 1), prompt_of_row, seeds, sampling);
      for (std::size_t i = 0; i < count; ++i) {
        completions[begin + i].text = std::move(generations[i].text);
        completions[begin + i].finish = generations[i].finish;
      }
    }
    std::vector<std::string> programs;
    for (const Completion& c : completions) programs.push_back(humaneval_program(problems[p], texts[p], c.text));
    const auto results = run_all(sandbox, programs, jobs);
    for (std::size_t s = 0; s < samples; ++s) {
      OrderedJson line;
      line["unit"] = u;
      line["sample"] = s;
      line["completion"] = completions[s].text;
      line["finish"] = finish_name(completions[s].finish);
      line["passed"] = results[s].outcome == Outcome::passed;
      line["result"] = results[s].summary();
      lines += line.dump() + "\n";
    }
    progress.add(samples);
  }
  progress.finish();
  return lines;
}

void write_humaneval_results(const EvalOptions& options, const EvalContext& context, const SelectedTemplate& selected,
                             const std::vector<HumanEvalProblem>& problems, const std::vector<std::vector<Completion>>& units) {
  const std::size_t n_problems = problems.size();
  const auto samples = static_cast<std::int64_t>(options.samples);
  std::vector<int> ks;
  for (int k : kPassKs)
    if (k <= samples) ks.push_back(k);
  OrderedJson per_temperature = OrderedJson::array();
  std::map<int, double> best;
  std::map<int, double> best_temperature;
  std::vector<bool> solved(n_problems, false);
  std::string predictions;
  for (std::size_t t = 0; t < options.temperatures.size(); ++t) {
    std::vector<std::int64_t> passed(n_problems, 0);
    std::int64_t total_passed = 0;
    for (std::size_t p = 0; p < n_problems; ++p) {
      const auto& completions = units[t * n_problems + p];
      for (std::size_t s = 0; s < completions.size(); ++s) {
        const Completion& c = completions[s];
        passed[p] += c.passed ? 1 : 0;
        if (options.predictions) {
          OrderedJson line;
          line["task_id"] = problems[p].task_id;
          line["temperature"] = options.temperatures[t];
          line["sample"] = s;
          line["completion"] = c.text;
          line["finish"] = finish_name(c.finish);
          line["passed"] = c.passed;
          line["result"] = c.result;
          predictions += line.dump() + "\n";
        }
      }
      total_passed += passed[p];
      if (passed[p] > 0) solved[p] = true;
    }
    const auto pass = mean_pass_at_k(passed, samples, ks);
    OrderedJson entry;
    entry["temperature"] = options.temperatures[t];
    entry["samples"] = samples;
    entry["passed"] = total_passed;
    for (const auto& [k, value] : pass) {
      entry[fmt::format("pass@{}", k)] = value;
      if (!best.count(k) || value > best[k]) {
        best[k] = value;
        best_temperature[k] = options.temperatures[t];
      }
    }
    per_temperature.push_back(entry);
  }
  const fs::path result_file = result_path(options, context, selected);
  if (options.predictions) write_file_atomic(predictions_path(result_file), predictions);
  OrderedJson result = result_head(options, context, selected);
  result["n"] = n_problems;
  result["correct"] = std::count(solved.begin(), solved.end(), true);
  OrderedJson evaluation = OrderedJson::object(), temperatures = OrderedJson::object();
  for (const auto& [k, value] : best) {
    evaluation[fmt::format("pass@{}", k)] = value;
    temperatures[fmt::format("pass@{}", k)] = best_temperature[k];
  }
  result["evaluation"] = evaluation;
  result["best_temperature"] = temperatures;
  result["per_temperature"] = per_temperature;
  result["skipped"] = {{"no_input", 0}, {"no_choices", 0}, {"no_gold", 0}};
  result["truncated"] = 0;
  add_result_tail(result, options, context, selected);
  write_json_file(result_file, result);
  log::info("{}: {}", result_file.filename().string(), evaluation.dump());
}

}  // namespace

std::vector<HumanEvalProblem> humaneval_problems(const std::vector<prompts::Dict>& rows) {
  std::vector<HumanEvalProblem> problems;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    HumanEvalProblem p;
    p.task_id = string_field(rows[r], "task_id", r);
    p.prompt = string_field(rows[r], "prompt", r);
    p.test = string_field(rows[r], "test", r);
    p.entry_point = string_field(rows[r], "entry_point", r);
    for (const auto& [k, v] : rows[r])
      if (k == "canonical_solution" && v.is_string()) p.canonical_solution = v.text;
    problems.push_back(std::move(p));
  }
  return problems;
}

const std::vector<std::string>& humaneval_stop_sequences() {
  static const std::vector<std::string> stops = {"\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif"};
  return stops;
}

std::string humaneval_program(const HumanEvalProblem& problem, const std::string& prompt, const std::string& completion) {
  return prompt + completion + "\n" + problem.test + "\n" + "check(" + problem.entry_point + ")";
}

std::map<int, double> mean_pass_at_k(const std::vector<std::int64_t>& passed, std::int64_t samples, const std::vector<int>& ks) {
  std::map<int, double> means;
  for (int k : ks) {
    if (k > samples) continue;
    double sum = 0.0;
    for (std::int64_t c : passed) sum += pass_at_k(samples, c, k);
    means[k] = passed.empty() ? 0.0 : sum / static_cast<double>(passed.size());
  }
  return means;
}

void run_humaneval(const EvalOptions& options, const Ranks& ranks, const EvalContext& context, TokenGenerator& generator,
                   tok::Tokenizer& tokenizer, std::optional<std::int32_t> eos_id) {
  if (options.samples < 1) fail("--samples must be at least 1");
  if (options.temperatures.empty()) fail("--temperatures needs at least one value");
  // Every rank checks that it can sandbox before any expensive generation; all agree.
  std::unique_ptr<Sandbox> sandbox;
  std::string error;
  try {
    SandboxOptions sandbox_options;
    sandbox_options.python = find_python(options.python);
    sandbox_options.wall_seconds = options.timeout_seconds;
    sandbox_options.allow_network = options.allow_network;
    sandbox = std::make_unique<Sandbox>(sandbox_options);
    if (!sandbox->network_isolated()) log::warn("the kernel refused a network namespace: completions run WITH network access (--allow-network)");
  } catch (const Error& e) {
    error = e.what();
  }
  if (!ranks.all_ok(error.empty())) throw SetupError(error.empty() ? "another rank cannot sandbox programs" : error);
  const auto problems = humaneval_problems(context.rows);
  for (const SelectedTemplate& selected : context.selected) {
    const auto texts = prompt_texts(context, selected, problems, options.data);
    std::vector<std::vector<std::int32_t>> prompt_ids;
    const std::int64_t budget = std::max<std::int64_t>(1, context.max_length - options.max_new_tokens);
    for (const std::string& text : texts) {
      auto ids = tokenizer.encode(text);  // no EOS or BOS prepended (as for BLOOMZ)
      if (ids.empty()) fail("a HumanEval prompt tokenizes to nothing");
      for (std::int32_t id : ids)
        if (id < 0 || id >= generator.vocab_size())
          fail("{}: the tokenizer gave id {}, outside the model's vocabulary", context.tokenizer_path.string(), id);
      if (static_cast<std::int64_t>(ids.size()) > budget) ids.erase(ids.begin(), ids.end() - budget);
      prompt_ids.push_back(std::move(ids));
    }
    if (ranks.rank == 0)
      log::info("{} problems x {} temperatures x {} samples, up to {} new tokens", problems.size(), options.temperatures.size(),
                options.samples, options.max_new_tokens);
    const auto start = std::chrono::steady_clock::now();
    const std::string mine = run_units(options, ranks, problems, texts, prompt_ids, generator, tokenizer, eos_id, *sandbox);
    log::info("rank done in {:.1f}s", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    const auto gathered = ranks.gather_to_root(mine);
    if (ranks.rank != 0) continue;
    std::vector<std::vector<Completion>> units(problems.size() * options.temperatures.size(),
                                               std::vector<Completion>(static_cast<std::size_t>(options.samples)));
    for (const std::string& part : gathered)
      for (const std::string& line : split(part, '\n')) {
        if (line.empty()) continue;
        const auto json = nlohmann::json::parse(line);
        Completion& c = units.at(json["unit"].get<std::size_t>()).at(json["sample"].get<std::size_t>());
        c.text = json["completion"].get<std::string>();
        const std::string finish = json["finish"].get<std::string>();
        c.finish = finish == "eos" ? Finish::eos : finish == "stop" ? Finish::stop : Finish::length;
        c.passed = json["passed"].get<bool>();
        c.result = json["result"].get<std::string>();
      }
    write_humaneval_results(options, context, selected, problems, units);
  }
}

}  // namespace xmtf::eval
