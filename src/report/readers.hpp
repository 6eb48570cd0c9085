#pragma once
// Readers of everything xmtf-aggregate accepts (formats in docs/report.md). None of them throws
// on bad content: a malformed or partial file (or line, or entry) is recorded in
// Inputs::problems with its path (and line) and skipped, so one torn file never hides the rest.
//
// --input:    xmtf-eval result files (one JSON per template; t-zero's results.json is the same
//             format without model / split / prompt_language), training metrics.jsonl, or
//             folders of them (walked recursively; see is_eval_result_name).
// --baseline: the paper's results table (TSV), t-zero results.json, BigScience bslmeval.json,
//             HumanEval pass@k files, lm-evaluation-harness results JSON, or folders of them;
//             `NAME=PATH` names the column of files that carry no model name.
#include <string>

#include "report/results.hpp"

namespace xmtf::report {

struct ReadSettings {
  fs::path skip_dir;  // never walked into (the output folder, when it lies inside an input)
};

void read_input(const fs::path& path, Inputs& inputs, const ReadSettings& settings = {});
void read_baseline(const std::string& argument, Inputs& inputs);

// Gives our columns (named by the `model` field, often a path) their display names: the
// shortest suffix of path components that tells them apart ("results/a/hf-model" and
// "results/b/hf-model" -> "a/hf-model", "b/hf-model"); training runs likewise. Call once, after
// the last read.
void finish_names(Inputs& inputs);

// Whether a file met while walking an --input folder is read as an eval result: xmtf-eval's
// `<dataset>.<config>.<split>.<template-slug>.json` (at least four dot-separated fields) or
// t-zero's `results.json`. Other JSON (config.json, tokenizer.json, indexes) is not ours.
bool is_eval_result_name(const fs::path& path);

}  // namespace xmtf::report
