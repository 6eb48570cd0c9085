// xmtf-prompt: apply promptsource templates to a raw dataset file and write xP3-style jsonl
// (<output>/<lang>/xp3_<dataset>_<config>_<split>_<template>.jsonl), or with --render one
// inspection line per row and template.
#include <CLI/CLI.hpp>

#include "core/cli.hpp"
#include "prompts/xp3.hpp"

int main(int argc, char** argv) {
  using namespace xmtf;
  CLI::App app{
      "Apply promptsource templates (templates.yaml) to a raw dataset file (jsonl / tsv / csv) and write xP3-style data:\n"
      "  <output>/<lang>/xp3_<dataset>_<config>_<split>_<template>.jsonl, lines {\"inputs\", \"targets\"}.\n"
      "An example is kept only with a non-empty input and exactly one non-empty target. A rerun with the same\n"
      "inputs and options is skipped.",
      "xmtf-prompt"};
  prompts::PromptJob job;
  std::string output;
  std::int64_t max_per_template = -1;
  app.add_option("--templates", job.templates, "promptsource templates.yaml")->required()->check(CLI::ExistingFile);
  app.add_option("--data", job.data, "raw dataset file: .jsonl, .tsv or .csv")->required()->check(CLI::ExistingFile);
  app.add_option("--lang", job.lang, "language of the data (output folder; selects rows in multi-language files)")->required();
  app.add_option("--output", output, "output folder ('-' with --render: standard output)")->required();
  app.add_option("--template", job.template_names, "template name to apply (repeatable; default all)");
  app.add_option("--max-per-template", max_per_template, "keep at most N examples per template (first N in row order)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--seed", job.seed, "seed of the `choice` filter's generator (Python random.seed semantics; default 0)");
  app.add_option("--split", job.split, "split name in file names (default: from the data file name)");
  app.add_option("--config", job.config, "dataset config in file names (default: the templates file's subset, or None)");
  app.add_option("--max-dropped-fraction", job.max_dropped_fraction,
                 "fail when more than this fraction of the (row, template) renderings gives no usable example "
                 "(capped ones do not count; a template may fit only some rows, as the cause/effect ones of XCOPA do; default 0.9)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_flag("!--no-truncate", job.truncate,
               "do not cut row values at 2048 characters (promptsource's apply(truncate=False); default truncates)");
  app.add_flag("--render", job.render,
               "write per row and template one line {\"template\", \"inputs\", \"targets\": [...], \"answer_choices\": [...]}"
               " to <output>/<lang>/render_<dataset>_<config>_<split>.jsonl instead");
  add_logging_options(app);
  return run_main(app, argc, argv, [&] {
    job.output = output;
    if (max_per_template >= 0) job.max_per_template = max_per_template;
    if (output == "-" && !job.render) throw CLI::ValidationError("--output", "'-' is only allowed with --render");
    prompts::run_prompt_job(job);
    return 0;
  });
}
