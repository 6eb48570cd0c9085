#include "prompts/xp3.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <set>
#include <unistd.h>

#include "core/completion.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "core/sha256.hpp"
#include "core/text.hpp"
#include "prompts/rows.hpp"
#include "prompts/templates.hpp"

namespace xmtf::prompts {
namespace {

std::vector<const PromptTemplate*> select_templates(const TemplateFile& file, const std::vector<std::string>& names) {
  std::vector<const PromptTemplate*> chosen;
  if (names.empty()) {
    for (const PromptTemplate& prompt : file.templates) chosen.push_back(&prompt);
    return chosen;
  }
  std::vector<std::string> available;
  for (const PromptTemplate& prompt : file.templates) available.push_back(prompt.name);
  for (const std::string& name : names) {
    bool already = std::any_of(chosen.begin(), chosen.end(), [&](const PromptTemplate* p) { return p->name == name; });
    if (already) continue;  // --template x --template x: one file, once
    auto found = std::find_if(file.templates.begin(), file.templates.end(), [&](const PromptTemplate& p) { return p.name == name; });
    if (found == file.templates.end()) {
      auto suggestion = closest_match(name, available);
      fail("{}: no template named '{}'{}", file.path.string(), name, suggestion ? fmt::format(" (did you mean '{}'?)", *suggestion) : "");
    }
    chosen.push_back(&*found);
  }
  return chosen;
}

std::string resolve_split(const PromptJob& job, const TemplateFile& file) {
  if (job.split) return *job.split;
  if (auto split = split_from_filename(job.data)) return *split;
  if (file.dataset.find("xwinograd") != std::string::npos) return "test";  // XWinograd has only a test split
  fail("{}: cannot tell the split from the file name; pass --split train|validation|test", job.data.string());
}

// Names one job's completion record in its output folder: what it reads, how it names its files
// and which templates it applies. A rerun of the same job with other content or options finds the same record, sees it
// does not match, and redoes (and replaces) it.
std::string job_key(const PromptJob& job, const std::string& split) {
  std::string identity = fmt::format("templates={}\ndata={}\nlang={}\nsplit={}\nconfig={}\n", fs::absolute(job.templates).string(),
                                     fs::absolute(job.data).string(), job.lang, split, job.config.value_or("-"));
  for (const std::string& name : job.template_names) identity += "template=" + name + "\n";  // another selection: another job
  return sha256_hex(identity).substr(0, 16);
}

// Every option that changes what is written, or whether the run passes.
std::string job_options(const PromptJob& job) {
  std::string text = fmt::format("truncate={} seed={} max_per_template={} max_dropped_fraction={}", job.truncate, job.seed,
                                 job.max_per_template ? std::to_string(*job.max_per_template) : "none", job.max_dropped_fraction);
  for (const std::string& name : job.template_names) text += " template=" + json_quote(name);
  return text;
}

CompletionRecord expected_record(const PromptJob& job) {
  CompletionRecord record("xmtf-prompt/2", job_options(job));
  record.add_input(job.templates);
  record.add_input(job.data);
  return record;
}

std::string json_string_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + json_quote(items[i]);
  return out + "]";
}

struct Renderers {
  std::vector<const PromptTemplate*> prompts;
  std::vector<CompiledTemplate> compiled;
};

Renderers compile_all(const TemplateFile& file, const PromptJob& job) {
  Renderers renderers;
  renderers.prompts = select_templates(file, job.template_names);
  for (const PromptTemplate* prompt : renderers.prompts) renderers.compiled.emplace_back(file, *prompt, job.truncate);
  return renderers;
}

Rendered apply_with_context(const CompiledTemplate& compiled, const Dict& row, std::size_t row_index, const fs::path& data,
                            PythonRandom& rng) {
  try {
    return compiled.apply(row, rng);
  } catch (const Error& e) {
    fail("{} (rendering row {} of {})", e.what(), row_index + 1, data.string());
  }
}

PromptSummary write_render(const PromptJob& job, const TemplateFile& file, const std::vector<Dict>& rows, const std::string& split) {
  Renderers renderers = compile_all(file, job);
  PythonRandom rng(job.seed);
  std::string out;
  Progress progress("render", renderers.compiled.size() * rows.size(), Progress::Unit::items);
  for (const CompiledTemplate& compiled : renderers.compiled) {
    for (std::size_t r = 0; r < rows.size(); ++r) {
      Rendered rendered = apply_with_context(compiled, rows[r], r, job.data, rng);
      out += fmt::format("{{\"template\": {}, \"inputs\": {}, \"targets\": {}, \"answer_choices\": {}}}\n",
                         json_quote(compiled.prompt().name), json_quote(rendered.input), json_string_list(rendered.targets),
                         json_string_list(rendered.answer_choices));
      progress.add(1);
    }
  }
  progress.finish();
  PromptSummary summary;
  summary.examples_written = renderers.compiled.size() * rows.size();
  if (job.output == "-") {
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    return summary;
  }
  std::string name = fmt::format("render_{}_{}_{}.jsonl", file.dataset, job.config ? *job.config : file.subset.value_or("None"), split);
  for (char& c : name)
    if (c == '/' || c == ' ') c = '_';
  fs::path path = job.output / job.lang / name;
  fs::create_directories(path.parent_path());
  write_file_atomic(path, out);
  summary.files_written = 1;
  log::info("wrote {} lines to {}", summary.examples_written, path.string());
  return summary;
}

// One output file per template: two templates whose names map to one file name ("a b" and
// "a_b") would overwrite each other, so that is an error before anything is rendered.
std::vector<std::string> output_names(const PromptJob& job, const TemplateFile& file, const Renderers& renderers,
                                      const std::string& split) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < renderers.prompts.size(); ++i) {
    names.push_back(xp3_file_name(file.dataset, job.config ? job.config : file.subset, split, renderers.prompts[i]->name));
    for (std::size_t j = 0; j < i; ++j)
      if (names[j] == names[i])
        fail("{}: templates '{}' (line {}) and '{}' (line {}) would both be written to {}; rename one, or pick one with "
             "--template",
             file.path.string(), renderers.prompts[j]->name, renderers.prompts[j]->yaml_line, renderers.prompts[i]->name,
             renderers.prompts[i]->yaml_line, names[i]);
  }
  return names;
}

// Too many unusable renderings (a wrong --lang or dataset, a template that yields nothing) fail
// the run, as xmtf-shard's --max-bad-fraction does; any template that kept nothing is a warning.
void check_dropped(const PromptJob& job, const PromptSummary& summary, std::size_t renderings) {
  if (renderings == 0 || summary.examples_unusable == 0) return;
  double fraction = static_cast<double>(summary.examples_unusable) / static_cast<double>(renderings);
  if (fraction > job.max_dropped_fraction)
    fail("{}: {} of {} renderings ({:.1f}%) gave no usable example (no input, no target or several targets), more than "
         "--max-dropped-fraction {}; nothing written",
         job.data.string(), summary.examples_unusable, renderings, 100 * fraction, job.max_dropped_fraction);
}

PromptSummary write_xp3(const PromptJob& job, const TemplateFile& file, const std::vector<Dict>& rows, const std::string& split) {
  Renderers renderers = compile_all(file, job);
  std::vector<std::string> names = output_names(job, file, renderers, split);
  PythonRandom rng(job.seed);
  fs::path folder = job.output / job.lang;
  fs::create_directories(folder);
  for (const fs::path& stale : remove_stale_temp_files(folder)) log::info("{}: removed (left by a killed run)", stale.string());
  fs::path record_path = folder / fmt::format(".xmtf-prompt-{}.done", job_key(job, split));
  CompletionRecord record = expected_record(job);
  std::string not_done = record.mismatch(record_path);
  if (not_done.empty()) {
    log::info("{}: already done (record {} verified), nothing to do", folder.string(), record_path.filename().string());
    PromptSummary summary;
    summary.skipped = true;
    return summary;
  }
  if (fs::exists(record_path)) log::info("{}: redoing ({})", folder.string(), not_done);
  PromptSummary summary;
  std::vector<std::string> contents(renderers.compiled.size());
  Progress progress("prompt", renderers.compiled.size() * rows.size(), Progress::Unit::items);
  for (std::size_t t = 0; t < renderers.compiled.size(); ++t) {
    const CompiledTemplate& compiled = renderers.compiled[t];
    std::int64_t kept = 0;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      // Every row is rendered, even past the cap, so `choice` draws stay aligned with a
      // Python run over the same rows.
      Rendered rendered = apply_with_context(compiled, rows[r], r, job.data, rng);
      progress.add(1);
      bool usable = !rendered.input.empty() && rendered.targets.size() == 1 && !rendered.targets[0].empty();
      if (!usable) ++summary.examples_unusable;
      if (!usable || (job.max_per_template && kept >= *job.max_per_template)) {
        ++summary.examples_dropped;
        continue;
      }
      contents[t] += fmt::format("{{\"inputs\": {}, \"targets\": {}}}\n", json_quote(rendered.input), json_quote(rendered.targets[0]));
      ++kept;
    }
    if (kept == 0) log::warn("template '{}': no usable example in {} rows, no file", compiled.prompt().name, rows.size());
    summary.examples_written += static_cast<std::size_t>(kept);
  }
  progress.finish();
  check_dropped(job, summary, renderers.compiled.size() * rows.size());
  if (summary.examples_written == 0)
    fail("{}: no template gave a usable example for any of its {} rows; nothing written", job.data.string(), rows.size());

  std::vector<std::string> previous = recorded_outputs(record_path);
  std::set<std::string> written;
  for (std::size_t t = 0; t < contents.size(); ++t) {
    if (contents[t].empty()) continue;
    write_file_atomic(folder / names[t], contents[t]);
    record.add_output(folder, names[t]);
    written.insert(names[t]);
    ++summary.files_written;
  }
  // A file the previous run of this job wrote and this one does not (a template removed, or
  // now empty) would still be read by xmtf-shard.
  for (const std::string& name : previous) {
    std::error_code ignored;
    if (!written.count(name) && fs::remove(folder / name, ignored))
      log::info("{}: removed (written by an earlier run of this job, not by this one)", name);
  }
  record.write(record_path);
  log::info("{}: {} files, {} examples ({} dropped, {} of them unusable)", folder.string(), summary.files_written,
            summary.examples_written, summary.examples_dropped, summary.examples_unusable);
  return summary;
}

}  // namespace

std::string xp3_file_name(const std::string& dataset, const std::optional<std::string>& subset, const std::string& split,
                          const std::string& template_name) {
  std::string name = fmt::format("xp3_{}_{}_{}_{}.jsonl", dataset, subset.value_or("None"), split, template_name);
  for (char& c : name)
    if (c == '/' || c == ' ') c = '_';
  return name;
}

PromptSummary run_prompt_job(const PromptJob& job) {
  if (job.lang.empty() || job.lang.find('/') != std::string::npos) fail("--lang must be a plain language code, got '{}'", job.lang);
  if (job.max_per_template && *job.max_per_template < 0) fail("--max-per-template must be >= 0");
  if (!(job.max_dropped_fraction >= 0 && job.max_dropped_fraction <= 1)) fail("--max-dropped-fraction must be in [0, 1]");
  TemplateFile file = load_template_file(job.templates);
  std::string split = resolve_split(job, file);
  std::vector<Dict> rows = load_dataset_rows(job.data, file.dataset, job.lang);
  log::info("{}: {} templates; {}: {} rows (lang {}, split {})", job.templates.string(), file.templates.size(), job.data.string(),
            rows.size(), job.lang, split);
  if (job.render) return write_render(job, file, rows, split);
  return write_xp3(job, file, rows, split);
}

}  // namespace xmtf::prompts
