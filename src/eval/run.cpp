#include "eval/run.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/sha256.hpp"
#include "core/text.hpp"
#include "eval/context.hpp"
#include "eval/score.hpp"
#include "eval/scorer.hpp"
#include "models/bloom_config.hpp"
#include "models/model.hpp"
#include "nn/backend.hpp"

namespace xmtf::eval {
namespace {

constexpr const char* kFormatVersion = "xmtf-eval results 1";

// Which files of a model folder identify its weights, by size and modification time (hashing
// gigabytes of weights on every run would cost more than some evaluations).
std::string model_identity(const fs::path& folder) {
  std::vector<std::string> entries;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    const bool relevant = name == "config.json" || name == "state.json" || name.ends_with(".safetensors") ||
                          name.ends_with(".safetensors.index.json");
    if (!relevant || !entry.is_regular_file()) continue;
    auto mtime = entry.last_write_time().time_since_epoch().count();
    entries.push_back(fmt::format("{} {} {}", name, entry.file_size(), mtime));
  }
  std::sort(entries.begin(), entries.end());
  return sha256_hex(join(entries, "\n"));
}

fs::path find_tokenizer(const EvalOptions& options, const fs::path& model_folder) {
  if (!options.tokenizer.empty()) {
    if (!fs::is_regular_file(options.tokenizer)) fail("{}: no such tokenizer file", options.tokenizer.string());
    return options.tokenizer;
  }
  for (const fs::path& dir : {options.model_dir, model_folder})
    for (const char* name : {"tokenizer.json", "spiece.model"})
      if (fs::is_regular_file(dir / name)) return dir / name;
  fail("{}: no tokenizer.json in the model folder: pass --tokenizer", options.model_dir.string());
}

bool up_to_date(const EvalOptions& options, const EvalContext& context, const SelectedTemplate& selected) {
  const fs::path result = result_path(options, context, selected);
  if (!fs::is_regular_file(result)) return false;
  if (options.predictions && !fs::is_regular_file(predictions_path(result))) return false;
  try {
    auto json = nlohmann::json::parse(read_file(result));
    return json.value("run_key", "") == run_key(options, context, selected);
  } catch (const std::exception&) {
    return false;  // unreadable: redo it
  }
}

EvalContext build_context(const EvalOptions& options) {
  EvalContext context;
  context.dataset = parse_dataset(options.dataset);
  context.templates = prompts::load_template_file(options.templates);
  if (!templates_fit(context.dataset, context.templates.dataset))
    fail("{}: templates for dataset '{}', not for {}", options.templates.string(), context.templates.dataset, options.dataset);
  context.config = resolve_config(context.dataset, options.config, options.data, context.templates);
  context.split = resolve_split(context.dataset, options.split, options.data);
  context.rows = load_rows(context.dataset, options.data, context.templates.dataset, context.config);
  context.rows_read = context.rows.size();
  if (options.limit) {
    if (*options.limit < 1) fail("--limit must be at least 1, not {}", *options.limit);
    if (context.rows.size() > static_cast<std::size_t>(*options.limit)) context.rows.resize(static_cast<std::size_t>(*options.limit));
  }
  context.selected = select_templates(context.dataset, context.templates, options.template_names, options.prompt_language);
  context.model_folder = resolve_model_folder(options.model_dir);
  const auto config = models::load_model_config(context.model_folder / "config.json");
  const auto* bloom = dynamic_cast<const models::BloomConfig*>(config.get());
  if (!bloom) fail("{}: xmtf-eval evaluates BLOOM models in this version, not '{}'", options.model_dir.string(), config->family());
  context.max_length = options.max_length > 0 ? options.max_length : bloom->seq_length;
  if (context.max_length < 2) fail("--max-length must be at least 2, not {}", context.max_length);
  context.target_prefix = " ";  // a decoder: choices continue the input after a space, as targets in training
  context.tokenizer_path = find_tokenizer(options, context.model_folder);
  context.model_identity = model_identity(context.model_folder);
  context.data_sha256 = sha256_file(options.data);
  context.templates_sha256 = sha256_file(options.templates);
  context.tokenizer_sha256 = sha256_file(context.tokenizer_path);
  return context;
}

}  // namespace

fs::path result_path(const EvalOptions& options, const EvalContext& context, const SelectedTemplate& selected) {
  return options.output /
         fmt::format("{}.{}.{}.{}.json", dataset_key(context.dataset), context.config.value_or("None"), context.split, selected.slug);
}

fs::path predictions_path(const fs::path& result) {
  fs::path path = result;
  return path.replace_extension(".jsonl");
}

OrderedJson result_settings(const EvalOptions& options, const EvalContext& context) {
  OrderedJson settings;
  settings["tokenizer"] = context.tokenizer_sha256;
  settings["limit"] = options.limit ? OrderedJson(*options.limit) : OrderedJson(nullptr);
  settings["max_length"] = context.max_length;
  settings["batch_size"] = options.batch_size;
  if (context.dataset == Dataset::humaneval) {
    settings["samples"] = options.samples;
    settings["temperatures"] = options.temperatures;
    settings["top_p"] = options.top_p;
    settings["max_new_tokens"] = options.max_new_tokens;
    settings["seed"] = options.seed;
    settings["timeout_seconds"] = options.timeout_seconds;
  } else {
    settings["target_prefix"] = context.target_prefix;
  }
  return settings;
}

std::string run_key(const EvalOptions& options, const EvalContext& context, const SelectedTemplate& selected) {
  OrderedJson key;
  key["format"] = kFormatVersion;
  key["dataset"] = dataset_key(context.dataset);
  key["model"] = context.model_identity;
  key["data"] = context.data_sha256;
  key["templates"] = context.templates_sha256;
  key["config"] = context.config ? OrderedJson(*context.config) : OrderedJson(nullptr);
  key["split"] = context.split;
  key["template"] = selected.prompt ? selected.prompt->id + "\n" + selected.prompt->name : "prompt";
  key["prompt_language"] = selected.prompt_language;
  key["settings"] = result_settings(options, context);
  return sha256_hex(key.dump());
}

OrderedJson result_head(const EvalOptions& options, const EvalContext& context, const SelectedTemplate& selected) {
  OrderedJson result;
  result["model"] = options.model_dir.string();
  result["dataset_name"] = context.templates.dataset;
  result["dataset_config_name"] = context.config ? OrderedJson(*context.config) : OrderedJson(nullptr);
  result["split"] = context.split;
  result["template_name"] = selected.prompt ? OrderedJson(selected.prompt->name) : OrderedJson(nullptr);
  result["template_id"] = selected.prompt ? OrderedJson(selected.prompt->id) : OrderedJson(nullptr);
  result["prompt_language"] = selected.prompt_language;
  return result;
}

void add_result_tail(OrderedJson& result, const EvalOptions& options, const EvalContext& context,
                     const SelectedTemplate& selected) {
  result["data"] = {{"file", options.data.string()}, {"sha256", context.data_sha256}, {"rows", context.rows_read}};
  result["templates"] = {{"file", options.templates.string()}, {"sha256", context.templates_sha256}};
  result["settings"] = result_settings(options, context);
  result["run_key"] = run_key(options, context, selected);
}

void write_json_file(const fs::path& path, const OrderedJson& json) { write_file_atomic(path, json.dump(2) + "\n"); }

int run_eval(const EvalOptions& options, const Ranks& ranks) {
  // Setup is deterministic, so every rank fails alike; agree before any collective work.
  EvalContext context;
  std::unique_ptr<models::Model> model;
  std::unique_ptr<tok::Tokenizer> tokenizer;
  std::string error;
  try {
    context = build_context(options);
    const std::size_t before = context.selected.size();
    if (!options.force)
      std::erase_if(context.selected, [&](const SelectedTemplate& t) { return up_to_date(options, context, t); });
    if (ranks.rank == 0 && context.selected.size() < before)
      log::info("{} of {} templates up to date in {} (--force to redo)", before - context.selected.size(), before,
                options.output.string());
    if (!context.selected.empty()) {
      model = load_model(context.model_folder, nn::backend_named(options.backend));
      tokenizer = tok::load_tokenizer(context.tokenizer_path);
    }
  } catch (const Error& e) {
    error = e.what();
  }
  if (!ranks.all_ok(error.empty())) throw SetupError(error.empty() ? "another rank failed to set up" : error);
  if (context.selected.empty()) return 0;
  if (ranks.rank == 0) {
    fs::create_directories(options.output);
    log::info("{}: {} parameters; {} {} rows ({} {}), {} templates", context.model_folder.string(), model->n_parameters(),
              context.rows.size(), options.dataset, context.config.value_or("None"), context.split, context.selected.size());
  }
  if (context.dataset == Dataset::humaneval) {
    BloomTokenGenerator generator(*model);
    run_humaneval(options, ranks, context, generator, *tokenizer, model->config().eos_token_id);
  } else {
    BloomChoiceScorer scorer(*model, context.max_length);
    run_rank_classification(options, ranks, context, scorer, *tokenizer);
  }
  return 0;
}

}  // namespace xmtf::eval
