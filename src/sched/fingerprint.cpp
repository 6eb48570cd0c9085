#include "sched/fingerprint.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <fmt/format.h>
#include <random>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/process.hpp"
#include "core/sha256.hpp"
#include "core/text.hpp"
#include "sched/lineage.hpp"
#include "sched/markers.hpp"
#include "sched/plan.hpp"

namespace xmtf::sched {

using nlohmann::json;

unsigned triggers_of(const std::vector<std::string>& rerun_on) {
  unsigned triggers = 0;
  for (const auto& t : rerun_on) {
    if (t == "options") triggers |= kOptionsTrigger;
    else if (t == "inputs") triggers |= kInputsTrigger;
    else if (t == "program") triggers |= kProgramTrigger;
  }
  return triggers;
}

namespace {

json program_to_json(const ProgramIdentity& p) {
  return {{"path", p.path}, {"version", p.version}, {"sha256", p.sha256}, {"size", p.size},
          {"inode", p.inode}, {"mtime_ns", p.mtime_ns}, {"ctime_ns", p.ctime_ns}};
}

ProgramIdentity program_from_json(const json& j) {
  return {j.at("path"), j.at("version"), j.at("sha256"), j.at("size"), j.at("inode"), j.at("mtime_ns"), j.at("ctime_ns")};
}

}  // namespace

json fingerprint_to_json(const Fingerprint& f) {
  json inputs = json::array();
  for (const auto& r : f.inputs) inputs.push_back(input_record_to_json(r));
  json upstream = json::array();
  for (const auto& u : f.upstream) {
    json ref = {{"stage", u.stage}, {"aligned", u.aligned}, {"execution", u.execution}};
    if (u.aligned) ref["index"] = u.index;
    else ref["tasks"] = u.tasks;
    upstream.push_back(std::move(ref));
  }
  json j = {{"format", "xmtf-fingerprint/1"},
            {"execution", f.execution},
            {"params", f.params},
            {"command", f.command},
            {"env", f.env},
            {"program", f.program.known() ? program_to_json(f.program) : json()},
            {"inputs", std::move(inputs)},
            {"upstream", std::move(upstream)}};
  if (f.train)
    j["train"] = {{"identity", f.train->identity}, {"steps", f.train->steps},
                  {"configured_dir", f.train->configured_dir}, {"checkpoint_dir", f.train->checkpoint_dir}};
  return j;
}

Fingerprint fingerprint_from_json(const json& j, const std::string& origin) {
  try {
    if (j.value("format", "") != "xmtf-fingerprint/1") fail("{}: not an xmtf-fingerprint/1 fingerprint", origin);
    Fingerprint f;
    f.execution = j.at("execution");
    f.params = j.at("params").get<std::map<std::string, std::string>>();
    f.command = j.at("command").get<std::vector<std::string>>();
    f.env = j.at("env").get<std::vector<std::pair<std::string, std::string>>>();
    if (!j.at("program").is_null()) f.program = program_from_json(j["program"]);
    for (const auto& r : j.at("inputs")) f.inputs.push_back(input_record_from_json(r));
    for (const auto& u : j.at("upstream")) {
      UpstreamRef ref{u.at("stage"), u.at("aligned"), 0, 0, u.at("execution")};
      if (ref.aligned) ref.index = u.at("index");
      else ref.tasks = u.at("tasks");
      f.upstream.push_back(std::move(ref));
    }
    if (j.contains("train")) {
      const json& t = j["train"];
      f.train = TrainLineage{t.at("identity"), t.at("steps"), t.at("configured_dir"), t.at("checkpoint_dir")};
    }
    return f;
  } catch (const json::exception& e) {
    fail("{}: malformed fingerprint: {}", origin, e.what());
  }
}

std::vector<std::string> task_program_command(const StageSpec& spec, const Bindings& bindings) {
  if (spec.executable.empty()) return {"bash", "-c", expand_placeholders(spec.shell, bindings, Quoting::shell)};
  std::vector<std::string> command = {fs::path(spec.executable).filename().string()};
  for (const auto& a : spec.args) command.push_back(expand_placeholders(a, bindings, Quoting::none));
  return command;
}

Fingerprint compute_fingerprint(const StageSpec& spec, std::size_t index, const std::vector<std::string>& values,
                                const std::vector<UpstreamRef>& upstream, const Fingerprint* previous) {
  Bindings bindings = task_bindings(spec, index, values);
  Fingerprint f;
  for (std::size_t i = 0; i < spec.params.size() && i < values.size(); ++i) f.params[spec.params[i]] = values[i];
  f.command = task_program_command(spec, bindings);
  for (const auto& [key, value] : spec.env) f.env.emplace_back(key, expand_placeholders(value, bindings, Quoting::none));
  f.program = spec.program;
  InputScan scan;
  scan.workdir = spec.workdir;
  scan.run_dir = spec.run_dir;
  for (const auto& o : spec.outputs) {
    fs::path p = expand_placeholders(o, bindings, Quoting::none);
    scan.skip.insert((p.is_absolute() ? p : fs::path(spec.workdir) / p).lexically_normal().string());
  }
  if (previous) scan.previous = &previous->inputs;
  std::vector<std::string> extra;
  for (const auto& i : spec.inputs) extra.push_back(expand_placeholders(i, bindings, Quoting::none));
  f.inputs = collect_inputs(spec.type, f.command, extra, scan);
  f.upstream = upstream;
  return f;
}

// ------------------------------------------------------------------ what changed, in words

namespace {

std::string abbreviate(const std::string& text, std::size_t limit = 48) {
  std::string one_line = text;
  std::replace(one_line.begin(), one_line.end(), '\n', ' ');
  return one_line.size() <= limit ? one_line : one_line.substr(0, limit - 3) + "...";
}

// "--max-shard-bytes" -> "max_shard_bytes", the manifest's spelling.
std::string manifest_key(const std::string& flag) {
  std::string key = flag.substr(2);
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

// Arguments as (key, value) in order: "--k v", "--k=v", "--flag"; other words by position.
std::vector<std::pair<std::string, std::string>> argument_pairs(const std::vector<std::string>& command) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::size_t position = 0;
  for (std::size_t i = 1; i < command.size(); ++i) {
    const std::string& word = command[i];
    if (starts_with(word, "--") && word.size() > 2) {
      auto eq = word.find('=');
      if (eq != std::string::npos) pairs.emplace_back(manifest_key(word.substr(0, eq)), word.substr(eq + 1));
      else if (i + 1 < command.size() && !starts_with(command[i + 1], "--")) pairs.emplace_back(manifest_key(word), command[++i]);
      else pairs.emplace_back(manifest_key(word), "");
    } else {
      pairs.emplace_back(fmt::format("argument {}", ++position), word);
    }
  }
  return pairs;
}

std::string shown_values(const std::vector<std::string>& values) {
  if (values.size() == 1) return abbreviate(values[0]);
  std::vector<std::string> shown;
  for (const auto& v : values) shown.push_back(abbreviate(v, 24));
  return "[" + abbreviate(join(shown, ", "), 64) + "]";
}

void command_changes(const std::vector<std::string>& before, const std::vector<std::string>& now,
                     std::vector<std::string>& out) {
  if (before.size() >= 3 && now.size() >= 3 && before[0] == "bash" && now[0] == "bash" && before[1] == "-c") {
    if (before[2] != now[2]) out.push_back(fmt::format("run line '{}' -> '{}'", abbreviate(before[2]), abbreviate(now[2])));
    return;
  }
  if (!before.empty() && !now.empty() && before[0] != now[0]) out.push_back(fmt::format("program {} -> {}", before[0], now[0]));
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> old_values, new_values;
  for (const auto& [k, v] : argument_pairs(before)) old_values[k].push_back(v);
  for (const auto& [k, v] : argument_pairs(now)) {
    if (!new_values.count(k)) order.push_back(k);
    new_values[k].push_back(v);
  }
  for (const auto& [k, v] : old_values)
    if (!new_values.count(k)) order.push_back(k);
  for (const auto& key : order) {
    auto o = old_values.find(key);
    auto n = new_values.find(key);
    if (o == old_values.end()) out.push_back(fmt::format("{} added ({})", key, shown_values(n->second)));
    else if (n == new_values.end()) out.push_back(fmt::format("{} removed (was {})", key, shown_values(o->second)));
    else if (o->second != n->second)
      out.push_back(fmt::format("{} {} -> {}", key, shown_values(o->second), shown_values(n->second)));
  }
}

void env_changes(const std::vector<std::pair<std::string, std::string>>& before,
                 const std::vector<std::pair<std::string, std::string>>& now, std::vector<std::string>& out) {
  std::map<std::string, std::string> old_env(before.begin(), before.end()), new_env(now.begin(), now.end());
  for (const auto& [k, v] : new_env) {
    auto o = old_env.find(k);
    if (o == old_env.end()) out.push_back(fmt::format("env {} added ({})", k, abbreviate(v)));
    else if (o->second != v) out.push_back(fmt::format("env {} {} -> {}", k, abbreviate(o->second), abbreviate(v)));
  }
  for (const auto& [k, v] : old_env)
    if (!new_env.count(k)) out.push_back(fmt::format("env {} removed", k));
}

std::string file_change(const FileEntry& before, const FileEntry& now) {
  if (before.size != now.size) return fmt::format("size {} -> {}", before.size, now.size);
  if (!before.sha256.empty() && !now.sha256.empty()) return "content";
  return "modified";
}

std::string entry_path(const InputRecord& r, const FileEntry& f) {
  if (r.kind == InputRecord::Kind::folder) return r.path + "/" + f.path;
  if (r.kind == InputRecord::Kind::glob) return f.path;
  return r.path;
}

void set_changes(const InputRecord& before, const InputRecord& now, std::vector<std::string>& out) {
  std::vector<std::string> lines;
  std::size_t changed = 0, added = 0, removed = 0;
  auto a = before.files.begin(), b = now.files.begin();
  auto note = [&](std::string line) {
    if (lines.empty()) lines.push_back(std::move(line));
  };
  while (a != before.files.end() || b != now.files.end()) {
    if (b == now.files.end() || (a != before.files.end() && a->path < b->path)) {
      ++removed;
      note(fmt::format("{} removed", entry_path(before, *a++)));
    } else if (a == before.files.end() || b->path < a->path) {
      ++added;
      note(fmt::format("{} added", entry_path(now, *b++)));
    } else {
      if (!a->same_as(*b)) {
        ++changed;
        note(fmt::format("{} changed ({})", entry_path(now, *b), file_change(*a, *b)));
      }
      ++a, ++b;
    }
  }
  std::size_t total = changed + added + removed;
  if (total == 0) return;
  if (total == 1) return out.push_back(lines.front());
  std::vector<std::string> counts;
  if (changed) counts.push_back(fmt::format("{} changed", changed));
  if (added) counts.push_back(fmt::format("{} added", added));
  if (removed) counts.push_back(fmt::format("{} removed", removed));
  out.push_back(fmt::format("{}: {} of {} files (first: {})", now.path, join(counts, ", "), before.files.size(), lines.front()));
}

void input_changes(const std::vector<InputRecord>& before, const std::vector<InputRecord>& now, std::vector<std::string>& out) {
  using Kind = InputRecord::Kind;
  std::map<std::string, const InputRecord*> old_by_path;
  for (const auto& r : before) old_by_path[r.path] = &r;
  std::set<std::string> matched;
  for (const auto& r : now) {
    auto found = old_by_path.find(r.path);
    if (found == old_by_path.end()) {
      out.push_back(fmt::format("new input {}", r.path));
      continue;
    }
    matched.insert(r.path);
    const InputRecord& o = *found->second;
    if (o.kind != r.kind) {
      if (r.kind == Kind::missing) out.push_back(fmt::format("{} is gone", r.path));
      else if (o.kind == Kind::missing) out.push_back(fmt::format("{} appeared", r.path));
      else out.push_back(fmt::format("{} is now a {} (was a {})", r.path, input_kind_name(r.kind), input_kind_name(o.kind)));
    } else if (r.kind == Kind::file) {
      if (!o.files.at(0).same_as(r.files.at(0)))
        out.push_back(fmt::format("{} changed ({})", r.path, file_change(o.files[0], r.files[0])));
    } else if (r.kind != Kind::missing) {
      set_changes(o, r, out);
    }
  }
  for (const auto& r : before)
    if (!matched.count(r.path)) out.push_back(fmt::format("{} is no longer an input", r.path));
}

std::string short_hash(const std::string& sha) { return sha.substr(0, 12); }

}  // namespace

std::vector<std::string> fingerprint_changes(const Fingerprint& recorded, const Fingerprint& current, unsigned triggers) {
  std::vector<std::string> out;
  if (triggers & kOptionsTrigger) {
    for (const auto& [k, v] : current.params) {
      auto o = recorded.params.find(k);
      if (o != recorded.params.end() && o->second != v) out.push_back(fmt::format("task is now {}={} (was {})", k, v, o->second));
    }
    command_changes(recorded.command, current.command, out);
    env_changes(recorded.env, current.env, out);
  }
  if ((triggers & kProgramTrigger) && recorded.program.known() && current.program.known() &&
      recorded.program.sha256 != current.program.sha256) {
    std::string name = fs::path(current.program.path).filename().string();
    if (recorded.program.version != current.program.version)
      out.push_back(fmt::format("{} {} -> {}", name, recorded.program.version.empty() ? "?" : recorded.program.version,
                                current.program.version.empty() ? "?" : current.program.version));
    else
      out.push_back(fmt::format("{} rebuilt (sha256 {} -> {}{})", name, short_hash(recorded.program.sha256),
                                short_hash(current.program.sha256),
                                current.program.version.empty() ? "" : ", version " + current.program.version + " unchanged"));
  }
  if (triggers & kInputsTrigger) input_changes(recorded.inputs, current.inputs, out);
  return out;
}

// ------------------------------------------------------------------ programs

namespace {

struct FileStat {
  std::uint64_t size = 0, inode = 0;
  std::int64_t mtime_ns = 0, ctime_ns = 0;
};

std::optional<FileStat> stat_file(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return FileStat{static_cast<std::uint64_t>(st.st_size), static_cast<std::uint64_t>(st.st_ino),
                  static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                  static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec};
}

std::string program_version(const std::string& path) {
  ProcessResult r = run_process({path, "--version"}, with_timeout(10));
  if (r.exit_code != 0) return "";
  return std::string(trim(r.out.substr(0, r.out.find('\n'))));
}

}  // namespace

ProgramIdentity identify_program(const std::string& path, bool ask_version, const ProgramIdentity* known) {
  auto st = stat_file(path);
  if (!st) return {};
  if (known && known->known() && known->path == path && known->size == st->size && known->inode == st->inode &&
      known->mtime_ns == st->mtime_ns && known->ctime_ns == st->ctime_ns)
    return *known;
  ProgramIdentity id{path, "", "", st->size, st->inode, st->mtime_ns, st->ctime_ns};
  try {
    id.sha256 = sha256_file(path);
  } catch (const Error& e) {
    log::warn("cannot hash {}: {}", path, e.what());
    return {};
  }
  if (ask_version) id.version = program_version(path);
  return id;
}

void identify_programs(Plan& plan) {
  fs::path cache_path = plan.run_dir / "programs.json";
  std::map<std::string, ProgramIdentity> cache;
  if (fs::exists(cache_path)) {
    try {
      for (const auto& p : json::parse(read_file(cache_path)).at("programs")) {
        ProgramIdentity id = program_from_json(p);
        cache[id.path] = id;
      }
    } catch (const std::exception&) {
      cache.clear();  // a cache only: rebuilt below
    }
  }
  bool changed = false;
  for (auto& planned : plan.stages) {
    StageSpec& spec = planned.spec;
    if (spec.executable.empty() || !fs::path(spec.executable).is_absolute()) continue;
    auto cached = cache.find(spec.executable);
    ProgramIdentity id = identify_program(spec.executable, spec.type != "command",
                                          cached == cache.end() ? nullptr : &cached->second);
    if (!id.known()) continue;
    if (cached == cache.end() || cached->second.sha256 != id.sha256 || cached->second.mtime_ns != id.mtime_ns ||
        cached->second.ctime_ns != id.ctime_ns || cached->second.inode != id.inode)
      changed = true;
    cache[spec.executable] = id;
    spec.program = id;
  }
  if (!changed) return;
  json programs = json::array();
  for (const auto& [path, id] : cache) programs.push_back(program_to_json(id));
  try {
    fs::create_directories(plan.run_dir);
    write_file_atomic(cache_path, json{{"format", "xmtf-programs/1"}, {"programs", programs}}.dump(1) + "\n");
  } catch (const std::exception& e) {
    log::debug("program cache {} not written: {}", cache_path.string(), e.what());
  }
}

std::string new_execution_id() {
  std::random_device device;
  return fmt::format("{:08x}{:08x}{:08x}{:08x}", device(), device(), device(), device());
}

std::string executions_digest(const std::vector<std::string>& executions) {
  Sha256 digest;
  for (const auto& e : executions) {
    digest.update(e);
    digest.update("\n");
  }
  return digest.hex_digest();
}

// ------------------------------------------------------------------ for the task wrapper

namespace {

std::string recorded_execution(const StageSpec& spec, const std::string& stage, std::size_t index) {
  DoneMarker done = read_done_marker(fs::path(spec.run_dir) / stage, {spec.run, stage, index}, spec.workdir);
  if (!done.is_done() || !done.marker->fingerprint.is_object()) return "";
  return done.marker->fingerprint.value("execution", "");
}

}  // namespace

std::vector<UpstreamRef> read_upstream_refs(const StageSpec& spec, std::size_t index) {
  std::vector<UpstreamRef> refs;
  for (const auto& dep : spec.after) {
    UpstreamRef ref{dep.stage, dep.aligned, index, dep.tasks, ""};
    if (dep.aligned) {
      ref.execution = recorded_execution(spec, dep.stage, index);
    } else {
      std::vector<std::string> executions;
      for (std::size_t i = 0; i < dep.tasks; ++i) executions.push_back(recorded_execution(spec, dep.stage, i));
      ref.execution = executions_digest(executions);
    }
    refs.push_back(std::move(ref));
  }
  return refs;
}

std::vector<Fingerprint> previous_fingerprints(const fs::path& stage_dir, std::size_t index) {
  std::vector<std::pair<double, Fingerprint>> found;
  for (const char* kind : {"stale", "failed", "running"}) {
    auto marker = read_marker(stage_dir, index, kind);
    if (!marker || !marker->fingerprint.is_object()) continue;
    try {
      found.emplace_back(marker->start_time, fingerprint_from_json(marker->fingerprint, marker_path(stage_dir, index, kind).string()));
    } catch (const Error& e) {
      log::debug("{}", e.what());
    }
  }
  std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<Fingerprint> out;
  for (auto& [time, f] : found) out.push_back(std::move(f));
  return out;
}

json fingerprint_task_start(const StageSpec& planned_spec, std::size_t index, const std::vector<std::string>& values,
                            std::vector<std::string>& command) {
  fs::path stage_dir = fs::path(planned_spec.run_dir) / planned_spec.stage;
  try {
    StageSpec spec = planned_spec;
    // Rebuilt since the plan? The stat check makes this free when it was not.
    if (!spec.executable.empty() && fs::path(spec.executable).is_absolute())
      spec.program = identify_program(spec.executable, spec.type != "command", &planned_spec.program);
    std::vector<Fingerprint> previous = previous_fingerprints(stage_dir, index);
    Fingerprint f = compute_fingerprint(spec, index, values, read_upstream_refs(spec, index),
                                        previous.empty() ? nullptr : &previous.front());
    f.execution = new_execution_id();
    if (has_checkpoint_lineage(spec)) {
      unsigned triggers = triggers_of(spec.rerun_on);
      LineageChoice choice = choose_checkpoint_dir(f, triggers, previous, spec.workdir);
      apply_lineage(f, triggers, choice, command);
      log::info("{}[{}] {}", spec.stage, index, choice.note);
    }
    return fingerprint_to_json(f);
  } catch (const std::exception& e) {
    log::warn("{}[{}]: no fingerprint recorded ({}); the next plan will see it as unknown", planned_spec.stage, index,
              e.what());
    return json();
  }
}

}  // namespace xmtf::sched
