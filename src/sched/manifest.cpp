#include "sched/manifest.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <regex>
#include <set>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/text.hpp"
#include "sched/placeholders.hpp"

namespace xmtf::sched {

std::string SourceLocation::str() const { return fmt::format("{}:{}:{}", file, line, column); }

std::size_t Stage::task_count() const {
  std::size_t count = 1;
  for (const auto& axis : array) count *= axis.values.size();
  return count;
}

const Stage* Manifest::find_stage(const std::string& stage_name) const {
  for (const auto& stage : stages)
    if (stage.name == stage_name) return &stage;
  return nullptr;
}

const std::vector<StageType>& stage_types() {
  static const std::vector<StageType> types = {
      {"command", "", false},          {"fetch", "xmtf-fetch", false},
      {"prompt", "xmtf-prompt", false}, {"shard", "xmtf-shard", true},
      {"tokenize", "xmtf-tokenize", true}, {"train", "xmtf-train", true},
      {"reshape", "xmtf-reshape", false}, {"score", "xmtf-score", true},
      {"eval", "xmtf-eval", true},      {"aggregate", "xmtf-aggregate", false},
  };
  return types;
}

const std::vector<std::string>& xp3_languages() {
  static const std::vector<std::string> languages = {
      "ak", "ar", "as", "bm", "bn", "ca", "code", "en", "es", "eu", "fon", "fr", "gu", "hi", "id", "ig",
      "ki", "kn", "lg", "ln", "ml", "mr", "ne", "nso", "ny", "or", "pa", "pt", "rn", "rw", "sn", "st",
      "sw", "ta", "te", "tn", "ts", "tum", "tw", "ur", "vi", "wo", "xh", "yo", "zh", "zu"};
  return languages;
}

namespace {

const std::vector<std::string> kTopKeys = {"run", "slurm", "local", "languages", "lists", "assets", "stages"};
const std::vector<std::string> kRunKeys = {"name", "executor", "workdir"};
const std::vector<std::string> kSlurmKeys = {"partition", "account", "qos", "time", "setup", "max_concurrent",
                                             "extra_sbatch", "mpi_launcher", "signal", "requeue",
                                             "lost_after_seconds"};
const std::vector<std::string> kLocalKeys = {"max_parallel", "mpi_launcher"};
const std::vector<std::string> kLanguageKeys = {"use"};
const std::vector<std::string> kAssetKeys = {"repo", "kind", "revision", "include", "exclude"};
const std::vector<std::string> kStageKeys = {
    "type", "run", "argv", "args", "options", "array", "after", "nodes", "ntasks", "ntasks_per_node",
    "cpus_per_task", "gpus_per_task", "gpus_per_node", "mem", "time", "mpi", "env", "outputs",
    "extra_sbatch", "inputs", "rerun_on"};
const std::vector<std::string> kRerunTriggers = {"options", "inputs", "program"};
// Placeholders every stage may use besides its array parameters.
const std::vector<std::string> kBuiltinPlaceholders = {"run", "root", "jobs", "stage", "index"};

// Reads one manifest, collecting every problem instead of stopping at the first.
class ManifestReader {
 public:
  ManifestReader(std::string file_name, fs::path base_dir) : file_(std::move(file_name)), base_(std::move(base_dir)) {}

  Manifest read(const toml::table& root) {
    Manifest m;
    check_keys(root, kTopKeys, "the manifest");
    read_run(root, m);
    read_slurm(root, m);
    read_local(root, m);
    read_languages(root, m);
    read_lists(root, m);
    read_assets(root, m);
    read_stages(root, m);
    check_dag(m);
    if (!errors_.empty()) throw Error("invalid manifest:\n  " + join(errors_, "\n  "));
    return m;
  }

 private:
  SourceLocation where(const toml::source_region& region) const {
    return {file_, static_cast<int>(region.begin.line), static_cast<int>(region.begin.column)};
  }

  template <class... A>
  void error_at(const toml::source_region& region, fmt::format_string<A...> f, A&&... args) {
    errors_.push_back(where(region).str() + ": " + fmt::format(f, std::forward<A>(args)...));
  }

  void check_keys(const toml::table& table, const std::vector<std::string>& allowed, const std::string& context) {
    for (auto&& [key, node] : table) {
      std::string name(key.str());
      if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) continue;
      auto suggestion = closest_match(name, allowed);
      if (suggestion)
        error_at(key.source(), "unknown key '{}' in {}; did you mean '{}'?", name, context, *suggestion);
      else
        error_at(key.source(), "unknown key '{}' in {} (valid keys: {})", name, context, join(allowed, ", "));
    }
  }

  const toml::table* subtable(const toml::table& parent, const char* key) {
    const toml::node* node = parent.get(key);
    if (!node) return nullptr;
    if (!node->is_table()) {
      error_at(node->source(), "'{}' must be a table", key);
      return nullptr;
    }
    return node->as_table();
  }

  std::string get_string(const toml::table& t, const char* key, std::string fallback) {
    const toml::node* node = t.get(key);
    if (!node) return fallback;
    if (!node->is_string()) {
      error_at(node->source(), "'{}' must be a string", key);
      return fallback;
    }
    return node->value<std::string>().value();
  }

  int get_int(const toml::table& t, const char* key, int fallback, int minimum) {
    const toml::node* node = t.get(key);
    if (!node) return fallback;
    if (!node->is_integer()) {
      error_at(node->source(), "'{}' must be an integer", key);
      return fallback;
    }
    auto value = node->value<int64_t>().value();
    if (value < minimum) {
      error_at(node->source(), "'{}' must be at least {} (got {})", key, minimum, value);
      return fallback;
    }
    return static_cast<int>(value);
  }

  bool get_bool(const toml::table& t, const char* key, bool fallback) {
    const toml::node* node = t.get(key);
    if (!node) return fallback;
    if (!node->is_boolean()) {
      error_at(node->source(), "'{}' must be true or false", key);
      return fallback;
    }
    return node->value<bool>().value();
  }

  // A scalar as text: strings as they are, numbers as TOML writes them.
  std::optional<std::string> scalar_text(const toml::node& node) {
    if (auto s = node.value_exact<std::string>()) return *s;
    if (auto i = node.value_exact<int64_t>()) return std::to_string(*i);
    if (auto d = node.value_exact<double>()) return fmt::format("{}", *d);
    return std::nullopt;
  }

  std::vector<std::string> get_string_list(const toml::table& t, const char* key) {
    const toml::node* node = t.get(key);
    if (!node) return {};
    return string_list(*node, key);
  }

  std::vector<std::string> string_list(const toml::node& node, const std::string& what) {
    std::vector<std::string> out;
    const toml::array* array = node.as_array();
    if (!array) {
      error_at(node.source(), "'{}' must be a list of strings", what);
      return out;
    }
    for (const auto& element : *array) {
      auto text = scalar_text(element);
      if (!text) error_at(element.source(), "'{}' must hold only strings or numbers", what);
      else out.push_back(*text);
    }
    return out;
  }

  // SLURM values land on "#SBATCH" lines: a newline there would start a shell command.
  void reject_control_characters(const toml::table& t, const char* key, const std::string& value) {
    if (std::any_of(value.begin(), value.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
      error_at(t.get(key)->source(), "'{}' must not contain newlines or control characters", key);
  }

  void read_run(const toml::table& root, Manifest& m) {
    const toml::table* run = subtable(root, "run");
    if (!run) {
      errors_.push_back(file_ + ":1:1: missing [run] table with at least name = \"...\"");
      return;
    }
    check_keys(*run, kRunKeys, "[run]");
    m.name = get_string(*run, "name", "");
    static const std::regex name_pattern("[A-Za-z0-9][A-Za-z0-9._-]*");
    if (m.name.empty())
      error_at(run->source(), "[run] needs name = \"...\"");
    else if (!std::regex_match(m.name, name_pattern))
      error_at(run->get("name")->source(), "run name '{}' may only hold letters, digits, '.', '_' and '-'", m.name);
    m.executor = get_string(*run, "executor", "local");
    if (m.executor != "local" && m.executor != "slurm")
      error_at(run->get("executor")->source(), "executor must be \"local\" or \"slurm\" (got \"{}\")", m.executor);
    std::string workdir = get_string(*run, "workdir", ".");
    m.workdir = fs::weakly_canonical(fs::absolute(fs::path(workdir)));
  }

  void read_slurm(const toml::table& root, Manifest& m) {
    const toml::table* slurm = subtable(root, "slurm");
    if (!slurm) return;
    check_keys(*slurm, kSlurmKeys, "[slurm]");
    SlurmSettings& s = m.slurm;
    s.partition = get_string(*slurm, "partition", "");
    s.account = get_string(*slurm, "account", "");
    s.qos = get_string(*slurm, "qos", "");
    s.time = get_string(*slurm, "time", "");
    s.signal = get_string(*slurm, "signal", "");
    for (const char* key : {"partition", "account", "qos", "time", "signal"})
      if (slurm->get(key)) reject_control_characters(*slurm, key, get_string(*slurm, key, ""));
    s.setup = get_string_list(*slurm, "setup");
    s.extra_sbatch = get_string_list(*slurm, "extra_sbatch");
    for (const auto& extra : s.extra_sbatch) check_sbatch_option(*slurm->get("extra_sbatch"), extra);
    s.max_concurrent = get_int(*slurm, "max_concurrent", 0, 0);
    s.mpi_launcher = get_string(*slurm, "mpi_launcher", s.mpi_launcher);
    s.requeue = get_bool(*slurm, "requeue", false);
    s.lost_after_seconds = get_int(*slurm, "lost_after_seconds", s.lost_after_seconds, 0);
    if (trim(s.mpi_launcher) == "srun")
      error_at(slurm->get("mpi_launcher")->source(),
               "a bare 'srun' starts N separate 1-rank programs; use \"srun --mpi=pmi2\" (or pmix) or \"mpiexec\"");
  }

  void check_sbatch_option(const toml::node& node, const std::string& option) {
    if (!starts_with(option, "--") ||
        std::any_of(option.begin(), option.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
      error_at(node.source(), "extra_sbatch entries must be single sbatch options starting with '--' (got \"{}\")",
               option);
  }

  void read_local(const toml::table& root, Manifest& m) {
    const toml::table* local = subtable(root, "local");
    if (!local) return;
    check_keys(*local, kLocalKeys, "[local]");
    m.local.max_parallel = get_int(*local, "max_parallel", 0, 0);
    m.local.mpi_launcher = get_string(*local, "mpi_launcher", m.local.mpi_launcher);
  }

  void read_languages(const toml::table& root, Manifest& m) {
    const toml::table* languages = subtable(root, "languages");
    if (!languages) return;
    check_keys(*languages, kLanguageKeys, "[languages]");
    const toml::node* use = languages->get("use");
    if (!use) return;
    if (use->value<std::string>() == "all") {
      m.languages = xp3_languages();
      return;
    }
    m.languages = string_list(*use, "use");
  }

  void read_lists(const toml::table& root, Manifest& m) {
    const toml::table* lists = subtable(root, "lists");
    if (!lists) return;
    for (auto&& [key, node] : *lists) m.lists[std::string(key.str())] = string_list(node, std::string(key.str()));
  }

  void read_assets(const toml::table& root, Manifest& m) {
    const toml::table* assets = subtable(root, "assets");
    if (!assets) return;
    for (auto&& [key, node] : *assets) {
      const toml::table* t = node.as_table();
      if (!t) {
        error_at(node.source(), "[assets.{}] must be a table", key.str());
        continue;
      }
      check_keys(*t, kAssetKeys, fmt::format("[assets.{}]", key.str()));
      Asset a;
      a.name = std::string(key.str());
      a.repo = get_string(*t, "repo", "");
      if (a.repo.empty()) error_at(t->source(), "[assets.{}] needs repo = \"org/name\"", a.name);
      a.kind = get_string(*t, "kind", "model");
      if (a.kind != "model" && a.kind != "dataset")
        error_at(t->get("kind")->source(), "kind must be \"model\" or \"dataset\"");
      a.revision = get_string(*t, "revision", "main");
      a.include = get_string_list(*t, "include");
      a.exclude = get_string_list(*t, "exclude");
      m.assets.push_back(std::move(a));
    }
  }

  // Tables iterate in key order; the manifest's order (source position) is what users mean.
  template <class Table>
  static std::vector<std::pair<std::string, const toml::node*>> in_source_order(const Table& table) {
    std::vector<std::pair<std::string, const toml::node*>> entries;
    for (auto&& [key, node] : table) entries.emplace_back(std::string(key.str()), &node);
    std::sort(entries.begin(), entries.end(), [&](const auto& a, const auto& b) {
      auto pa = table.find(a.first)->first.source().begin;
      auto pb = table.find(b.first)->first.source().begin;
      return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
    });
    return entries;
  }

  std::vector<std::string> named_list(const Manifest& m, const std::string& name, const toml::node& at) {
    if (name == "languages") {
      if (m.languages.empty()) error_at(at.source(), "array uses \"languages\" but [languages] use = [...] is empty");
      return m.languages;
    }
    auto found = m.lists.find(name);
    if (found != m.lists.end()) return found->second;
    std::vector<std::string> known = {"languages"};
    for (const auto& [list_name, _] : m.lists) known.push_back(list_name);
    auto suggestion = closest_match(name, known);
    error_at(at.source(), "unknown list \"{}\" (known: {}){}", name, join(known, ", "),
             suggestion ? fmt::format("; did you mean \"{}\"?", *suggestion) : "");
    return {};
  }

  ArrayAxis axis_from(const Manifest& m, const std::string& param, const toml::node& node) {
    ArrayAxis axis{param, {}};
    if (auto list_name = node.value_exact<std::string>())
      axis.values = named_list(m, *list_name, node);
    else
      axis.values = string_list(node, "array");
    if (axis.values.empty()) error_at(node.source(), "array axis '{}' has no values", param);
    std::set<std::string> seen;
    for (const auto& v : axis.values)
      if (!seen.insert(v).second) error_at(node.source(), "array axis '{}' lists \"{}\" twice", param, v);
    return axis;
  }

  // array = "languages" (param lang) | "LIST" (param LIST) | ["a", "b"] (param item)
  //       | { dataset = "datasets", lang = "languages" } (product, in the order written)
  std::vector<ArrayAxis> read_array(const Manifest& m, const toml::node& node) {
    if (auto name = node.value_exact<std::string>())
      return {axis_from(m, *name == "languages" ? "lang" : *name, node)};
    if (node.is_array()) return {axis_from(m, "item", node)};
    if (const toml::table* t = node.as_table()) {
      std::vector<ArrayAxis> axes;
      for (const auto& [param, value] : in_source_order(*t)) axes.push_back(axis_from(m, param, *value));
      return axes;
    }
    error_at(node.source(), "array must be a list name, a list, or a table of axes");
    return {};
  }

  void read_options(const toml::table& options, Stage& stage, const std::vector<std::string>& skip = {}) {
    for (const auto& [name, node] : in_source_order(options)) {
      if (std::find(skip.begin(), skip.end(), name) != skip.end()) continue;
      StageOption option{name, {}, false, where(options.find(name)->first.source())};
      if (auto flag = node->value_exact<bool>()) {
        option.is_flag = true;
        option.values = {*flag ? "true" : "false"};
      } else if (node->is_array()) {
        option.values = string_list(*node, name);
      } else if (auto text = scalar_text(*node)) {
        option.values = {*text};
      } else {
        error_at(node->source(), "option '{}' must be a string, number, boolean or list", name);
        continue;
      }
      stage.options.push_back(std::move(option));
    }
  }

  void read_resources(const toml::table& t, Stage& stage) {
    Resources& r = stage.resources;
    r.nodes = get_int(t, "nodes", 1, 1);
    r.ntasks_per_node = get_int(t, "ntasks_per_node", 1, 1);
    if (t.get("ntasks")) {
      int ntasks = get_int(t, "ntasks", 1, 1);
      if (ntasks % r.nodes != 0)
        error_at(t.get("ntasks")->source(), "ntasks = {} does not divide evenly over nodes = {}", ntasks, r.nodes);
      r.ntasks_per_node = ntasks / r.nodes;
    }
    r.cpus_per_task = get_int(t, "cpus_per_task", 1, 1);
    r.gpus_per_task = get_int(t, "gpus_per_task", 0, 0);
    r.gpus_per_node = get_int(t, "gpus_per_node", 0, 0);
    r.mem = get_string(t, "mem", "");
    r.time = get_string(t, "time", "");
    static const std::regex mem_pattern("[0-9]+[KMGT]?");
    if (!r.mem.empty() && !std::regex_match(r.mem, mem_pattern))
      error_at(t.get("mem")->source(), "mem must look like 4000, 500M or 16G (got \"{}\")", r.mem);
    static const std::regex time_pattern("([0-9]+-)?[0-9]+(:[0-9]{2}){0,2}");
    if (!r.time.empty() && !std::regex_match(r.time, time_pattern))
      error_at(t.get("time")->source(), "time must look like 30, 02:00:00 or 1-12:00:00 (got \"{}\")", r.time);
  }

  // A stage that sets tp, pp or dp (the trainer's options) starts tp x pp x dp ranks unless it
  // says otherwise with nodes / ntasks / ntasks_per_node (plan then checks that they agree).
  static void ranks_from_parallelism(const toml::table& t, Stage& stage) {
    if (t.get("nodes") || t.get("ntasks") || t.get("ntasks_per_node")) return;
    long long ranks = 1;
    bool any = false;
    for (const auto& option : stage.options) {
      if ((option.name == "tp" || option.name == "pp" || option.name == "dp") && option.values.size() == 1) {
        ranks *= std::max(1LL, std::atoll(option.values[0].c_str()));
        any = true;
      }
    }
    if (any) stage.resources.ntasks_per_node = static_cast<int>(std::min<long long>(ranks, 1 << 20));
  }

  void read_stages(const toml::table& root, Manifest& m) {
    const toml::table* stages = subtable(root, "stages");
    if (!stages || stages->empty()) {
      errors_.push_back(file_ + ":1:1: the manifest declares no [stages.NAME]");
      return;
    }
    static const std::regex name_pattern("[A-Za-z][A-Za-z0-9_-]*");
    for (const auto& [name, node] : in_source_order(*stages)) {
      const toml::table* t = node->as_table();
      if (!t) {
        error_at(node->source(), "[stages.{}] must be a table", name);
        continue;
      }
      if (!std::regex_match(name, name_pattern))
        error_at(node->source(), "stage name '{}' may only hold letters, digits, '_' and '-'", name);
      m.stages.push_back(read_stage(m, name, *t));
    }
  }

  static std::vector<std::string> with_asset_key(std::vector<std::string> keys) {
    keys.push_back("asset");
    return keys;
  }

  // fetch stages name an [assets.NAME] table: its repo, kind, revision and globs become
  // xmtf-fetch's options.
  void add_asset_options(const Manifest& m, const toml::table& t, Stage& stage) {
    const toml::node* node = t.get("asset");
    if (!node) return;
    std::string name = node->value<std::string>().value_or("");
    auto asset = std::find_if(m.assets.begin(), m.assets.end(), [&](const Asset& a) { return a.name == name; });
    if (asset == m.assets.end()) {
      std::vector<std::string> names;
      for (const auto& a : m.assets) names.push_back(a.name);
      auto suggestion = closest_match(name, names);
      error_at(node->source(), "stage '{}' fetches unknown asset '{}'{}", stage.name, name,
               suggestion ? fmt::format("; did you mean '{}'?", *suggestion) : "");
      return;
    }
    SourceLocation at = where(node->source());
    stage.options.push_back({"repo", {asset->repo}, false, at});
    stage.options.push_back({"kind", {asset->kind}, false, at});
    stage.options.push_back({"revision", {asset->revision}, false, at});
    if (!asset->include.empty()) stage.options.push_back({"include", asset->include, false, at});
    if (!asset->exclude.empty()) stage.options.push_back({"exclude", asset->exclude, false, at});
  }

  Stage read_stage(const Manifest& m, const std::string& name, const toml::table& t) {
    Stage stage;
    stage.name = name;
    stage.where = where(t.source());
    bool name_is_type = std::any_of(stage_types().begin(), stage_types().end(),
                                    [&](const StageType& st) { return name == st.type; });
    stage.type = get_string(t, "type", name_is_type ? name : "command");
    auto type = std::find_if(stage_types().begin(), stage_types().end(),
                             [&](const StageType& st) { return stage.type == st.type; });
    if (type == stage_types().end()) {
      std::vector<std::string> names;
      for (const auto& st : stage_types()) names.push_back(st.type);
      auto suggestion = closest_match(stage.type, names);
      error_at(t.get("type")->source(), "unknown stage type '{}' (types: {}){}", stage.type, join(names, ", "),
               suggestion ? fmt::format("; did you mean '{}'?", *suggestion) : "");
    } else {
      stage.executable = type->executable;
      stage.mpi = type->mpi;
    }
    stage.mpi = get_bool(t, "mpi", stage.mpi);
    stage.shell = get_string(t, "run", "");
    std::vector<std::string> argv = get_string_list(t, "argv");
    stage.args = get_string_list(t, "args");
    if (stage.type == "command") {
      if (stage.shell.empty() == argv.empty())
        error_at(t.source(), "command stage '{}' needs exactly one of run = \"shell line\" or argv = [...]", name);
      if (!argv.empty()) {
        stage.executable = argv.front();
        stage.args.insert(stage.args.begin(), argv.begin() + 1, argv.end());
      }
    } else if (!stage.shell.empty() || !argv.empty()) {
      error_at(t.source(), "stage '{}' of type {} runs {}; 'run' and 'argv' are for type = \"command\"", name,
               stage.type, stage.executable);
    }
    if (stage.type == "command") check_keys(t, kStageKeys, fmt::format("[stages.{}]", name));
    else read_options(t, stage, with_asset_key(kStageKeys));  // the program's own options, checked by plan
    if (stage.type == "fetch") add_asset_options(m, t, stage);
    if (const toml::node* options = t.get("options")) {
      if (const toml::table* table = options->as_table()) read_options(*table, stage);
      else error_at(options->source(), "options must be a table");
    }
    if (const toml::node* array = t.get("array")) stage.array = read_array(m, *array);
    stage.after = get_string_list(t, "after");
    read_resources(t, stage);
    ranks_from_parallelism(t, stage);
    if (const toml::node* env = t.get("env")) {
      if (const toml::table* table = env->as_table()) {
        for (const auto& [key, value] : in_source_order(*table)) {
          auto text = scalar_text(*value);
          if (!text) error_at(value->source(), "env values must be strings or numbers");
          else stage.env.emplace_back(key, *text);
        }
      } else {
        error_at(env->source(), "env must be a table");
      }
    }
    stage.outputs = get_string_list(t, "outputs");
    stage.extra_sbatch = get_string_list(t, "extra_sbatch");
    for (const auto& extra : stage.extra_sbatch) check_sbatch_option(*t.get("extra_sbatch"), extra);
    stage.inputs = get_string_list(t, "inputs");
    if (t.get("rerun_on")) read_rerun_on(*t.get("rerun_on"), stage);
    check_placeholders(t, stage);
    return stage;
  }

  void read_rerun_on(const toml::node& node, Stage& stage) {
    stage.rerun_on = string_list(node, "rerun_on");
    for (const auto& trigger : stage.rerun_on) {
      if (std::find(kRerunTriggers.begin(), kRerunTriggers.end(), trigger) != kRerunTriggers.end()) continue;
      auto suggestion = closest_match(trigger, kRerunTriggers);
      error_at(node.source(), "rerun_on: unknown trigger \"{}\" (triggers: {}){}", trigger, join(kRerunTriggers, ", "),
               suggestion ? fmt::format("; did you mean \"{}\"?", *suggestion) : "");
    }
  }

  void check_placeholders(const toml::table& t, const Stage& stage) {
    std::vector<std::string> known = kBuiltinPlaceholders;
    for (const auto& axis : stage.array) known.push_back(axis.param);
    auto check = [&](const char* key, const std::string& text) {
      try {
        for (const auto& name : placeholder_names(text)) {
          if (std::find(known.begin(), known.end(), name) != known.end()) continue;
          auto suggestion = closest_match(name, known);
          error_at(t.get(key) ? t.get(key)->source() : t.source(),
                   "stage '{}' uses {{{}}}, which is not one of its parameters ({}){}", stage.name, name,
                   join(known, ", "), suggestion ? fmt::format("; did you mean {{{}}}?", *suggestion) : "");
        }
      } catch (const Error& e) {
        error_at(t.get(key) ? t.get(key)->source() : t.source(), "{}", e.what());
      }
    };
    check("run", stage.shell);
    for (const auto& a : stage.args) check(t.get("argv") ? "argv" : "args", a);
    for (const auto& o : stage.options)
      for (const auto& v : o.values) check("options", v);
    for (const auto& o : stage.outputs) check("outputs", o);
    for (const auto& i : stage.inputs) check("inputs", i);
    for (const auto& [k, v] : stage.env) check("env", v);
  }

  void check_dag(const Manifest& m) {
    std::vector<std::string> names;
    for (const auto& s : m.stages) names.push_back(s.name);
    for (const auto& s : m.stages) {
      for (const auto& dep : s.after) {
        if (std::find(names.begin(), names.end(), dep) != names.end()) {
          if (dep == s.name) errors_.push_back(fmt::format("{}: stage '{}' comes after itself", s.where.str(), s.name));
          continue;
        }
        auto suggestion = closest_match(dep, names);
        errors_.push_back(fmt::format("{}: stage '{}' comes after unknown stage '{}'{}", s.where.str(), s.name, dep,
                                      suggestion ? fmt::format("; did you mean '{}'?", *suggestion) : ""));
      }
    }
  }

  std::string file_;
  fs::path base_;
  std::vector<std::string> errors_;
};

}  // namespace

Manifest parse_manifest(const std::string& toml_text, const std::string& file_name, const fs::path& base_dir) {
  toml::table root;
  try {
    root = toml::parse(toml_text, file_name);
  } catch (const toml::parse_error& e) {
    fail("{}:{}:{}: TOML syntax error: {}", file_name, e.source().begin.line, e.source().begin.column,
         e.description());
  }
  Manifest m = ManifestReader(file_name, base_dir).read(root);
  return m;
}

Manifest load_manifest(const fs::path& path) {
  if (!fs::exists(path)) fail("manifest {} does not exist", path.string());
  Manifest m = parse_manifest(read_file(path), path.string(), path.parent_path());
  m.path = fs::absolute(path);
  return m;
}

}  // namespace xmtf::sched
