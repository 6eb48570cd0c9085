#include "sched/plan.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <functional>
#include <regex>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/process.hpp"
#include "core/text.hpp"

namespace xmtf::sched {

const PlannedStage* Plan::find(const std::string& stage_name) const {
  for (const auto& s : stages)
    if (s.stage->name == stage_name) return &s;
  return nullptr;
}

std::size_t Plan::task_count() const {
  std::size_t n = 0;
  for (const auto& s : stages) n += s.rows.size();
  return n;
}

std::vector<std::string> dependency_order(const Manifest& manifest) {
  // Depth-first with colours; a grey node met again closes a cycle, printed from the stack.
  enum Colour { white, grey, black };
  std::map<std::string, Colour> colour;
  std::vector<std::string> order, stack;
  std::function<void(const Stage&)> visit = [&](const Stage& stage) {
    colour[stage.name] = grey;
    stack.push_back(stage.name);
    for (const auto& dep_name : stage.after) {
      const Stage* dep = manifest.find_stage(dep_name);
      if (!dep) fail("stage '{}' comes after unknown stage '{}'", stage.name, dep_name);
      if (colour[dep_name] == grey) {
        auto start = std::find(stack.begin(), stack.end(), dep_name);
        std::vector<std::string> cycle(start, stack.end());
        cycle.push_back(dep_name);
        fail("{}: the stages form a cycle: {}", manifest.path.string(), join(cycle, " -> "));
      }
      if (colour[dep_name] == white) visit(*dep);
    }
    stack.pop_back();
    colour[stage.name] = black;
    order.push_back(stage.name);
  };
  for (const auto& stage : manifest.stages)
    if (colour[stage.name] == white) visit(stage);
  return order;
}

bool arrays_aligned(const Stage& a, const Stage& b) {
  if (a.array.empty() || a.array.size() != b.array.size()) return false;
  for (std::size_t i = 0; i < a.array.size(); ++i)
    if (a.array[i].param != b.array[i].param || a.array[i].values != b.array[i].values) return false;
  return true;
}

fs::path self_executable() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) fail("cannot find the running executable: {}", ec.message());
  return p;
}

fs::path find_executable(const std::string& name, const fs::path& xmtf_dir, const fs::path& workdir) {
  auto runnable = [](const fs::path& p) { return fs::is_regular_file(p) && ::access(p.c_str(), X_OK) == 0; };
  if (name.find('/') != std::string::npos) {
    fs::path p = fs::path(name).is_absolute() ? fs::path(name) : workdir / name;
    return runnable(p) ? p : fs::path();
  }
  if (runnable(xmtf_dir / name)) return xmtf_dir / name;
  const char* path_env = std::getenv("PATH");
  for (const auto& dir : split(path_env ? path_env : "/usr/bin:/bin", ':'))
    if (!dir.empty() && runnable(fs::path(dir) / name)) return fs::path(dir) / name;
  return {};
}

std::vector<std::string> launcher_words(const Manifest& m) {
  std::vector<std::string> words;
  for (auto& w : split(m.executor == "slurm" ? m.slurm.mpi_launcher : m.local.mpi_launcher, ' '))
    if (!w.empty()) words.push_back(w);
  return words;
}

namespace {

// Rows of the array product, first axis slowest ("dataset x lang": xcopa/en, xcopa/fr, ...).
std::vector<std::vector<std::string>> expand_rows(const Stage& stage) {
  std::vector<std::vector<std::string>> rows(1);
  for (const auto& axis : stage.array) {
    std::vector<std::vector<std::string>> next;
    next.reserve(rows.size() * axis.values.size());
    for (const auto& row : rows)
      for (const auto& value : axis.values) {
        next.push_back(row);
        next.back().push_back(value);
      }
    rows = std::move(next);
  }
  return rows;
}

std::vector<std::string> argument_templates(const Stage& stage) {
  std::vector<std::string> args = stage.args;
  for (const auto& option : stage.options) {
    std::string flag = "--" + option.name;
    std::replace(flag.begin() + 2, flag.end(), '_', '-');
    if (option.is_flag) {
      args.push_back(flag + "=" + option.values.at(0));
      continue;
    }
    for (const auto& value : option.values) {
      args.push_back(flag);
      args.push_back(value);
    }
  }
  return args;
}

const StageOption* find_option(const Stage& stage, const std::string& name) {
  for (const auto& o : stage.options)
    if (o.name == name) return &o;
  return nullptr;
}

// Parses "16G" / "500M" / "4000" (MiB, as SLURM reads it) into MiB.
long long mem_mib(const std::string& mem) {
  if (mem.empty()) return 0;
  long long value = std::atoll(mem.c_str());
  switch (mem.back()) {
    case 'K': return value / 1024;
    case 'G': return value * 1024;
    case 'T': return value * 1024 * 1024;
    default: return value;
  }
}

struct NodeShape {
  int cpus = 0;
  long long mem_mib = 0;
  int gpus = 0;
};

// Node shapes of a SLURM partition from sinfo; empty when sinfo is not there to ask.
std::vector<NodeShape> partition_nodes(const std::string& partition) {
  if (find_executable("sinfo", {}, {}).empty()) return {};
  std::vector<std::string> argv = {"sinfo", "-h", "-N", "-o", "%c %m %G"};
  if (!partition.empty()) argv.insert(argv.end(), {"-p", partition});
  ProcessResult r = run_process(argv, with_timeout(10));
  if (r.exit_code != 0) return {};
  std::vector<NodeShape> nodes;
  for (const auto& line : split(r.out, '\n')) {
    auto words = split(std::string(trim(line)), ' ');
    if (words.size() < 2) continue;
    NodeShape n{std::atoi(words[0].c_str()), std::atoll(words[1].c_str()), 0};
    if (words.size() > 2 && words[2].find("gpu") != std::string::npos)
      n.gpus = std::atoi(words[2].substr(words[2].rfind(':') + 1).c_str());
    nodes.push_back(n);
  }
  return nodes;
}

void check_resources(const Manifest& m, const Stage& s, std::vector<std::string>& problems) {
  const Resources& r = s.resources;
  int gpus_per_node = std::max(r.gpus_per_node, r.gpus_per_task * r.ntasks_per_node);
  int cpus_per_node = r.cpus_per_task * r.ntasks_per_node;
  auto problem = [&](const std::string& text) { problems.push_back(fmt::format("{}: stage '{}': {}", s.where.str(), s.name, text)); };
  if (find_option(s, "tp") || find_option(s, "pp") || find_option(s, "dp")) {
    const StageOption* tp = find_option(s, "tp");
    const StageOption* pp = find_option(s, "pp");
    const StageOption* dp = find_option(s, "dp");
    auto value = [](const StageOption* o) { return o && !o->values.empty() ? std::atoi(o->values[0].c_str()) : 1; };
    int world = value(tp) * value(pp) * value(dp);
    if (world != r.total_tasks())
      problem(fmt::format("tp x pp x dp = {} x {} x {} = {} ranks, but the stage starts nodes x ntasks_per_node = {}",
                          value(tp), value(pp), value(dp), world, r.total_tasks()));
  }
  if (m.executor == "local") {
    if (r.nodes > 1) problem(fmt::format("nodes = {}, but the local executor runs on this one machine", r.nodes));
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    if (r.cpus_per_task > static_cast<int>(cores))
      problem(fmt::format("cpus_per_task = {}, but this machine has {} cores", r.cpus_per_task, cores));
    else if (s.mpi && static_cast<long long>(r.total_tasks()) * r.cpus_per_task > static_cast<long long>(cores))
      problem(fmt::format("{} MPI ranks x cpus_per_task {} need {} cores, but this machine has {}", r.total_tasks(),
                          r.cpus_per_task, static_cast<long long>(r.total_tasks()) * r.cpus_per_task, cores));
    if (gpus_per_node > 0 && !fs::exists("/dev/nvidia0"))
      problem(fmt::format("asks for {} GPU(s) per node, but this machine has none", gpus_per_node));
    return;
  }
  std::vector<NodeShape> nodes = partition_nodes(m.slurm.partition);
  if (nodes.empty()) return;  // no sinfo here: SLURM itself will refuse what cannot fit
  long long mem = mem_mib(r.mem);
  int fitting = 0;
  for (const auto& n : nodes)
    if (cpus_per_node <= n.cpus && mem <= n.mem_mib && gpus_per_node <= n.gpus) ++fitting;
  if (fitting == 0)
    problem(fmt::format("needs {} CPUs{}{} per node; no node of partition '{}' has that", cpus_per_node,
                        mem ? fmt::format(", {} MiB", mem) : "", gpus_per_node ? fmt::format(", {} GPUs", gpus_per_node) : "",
                        m.slurm.partition.empty() ? "(default)" : m.slurm.partition));
  else if (fitting < r.nodes)
    problem(fmt::format("needs {} nodes; only {} node(s) of the partition fit its per-node request", r.nodes, fitting));
}

// Typed stages pass their keys to the program as --options: each must be one the program's
// --help lists, so a typo fails at plan time with a suggestion instead of inside a job.
void check_options_against_help(const Stage& stage, const fs::path& executable, std::vector<std::string>& problems) {
  ProcessResult help = run_process({executable.string(), "--help"}, with_timeout(20));
  if (help.exit_code != 0) return;  // a program without --help: SLURM's log will tell
  std::set<std::string> flags;
  static const std::regex flag_pattern("--([a-z0-9][a-z0-9-]*)");
  for (std::sregex_iterator it(help.out.begin(), help.out.end(), flag_pattern), end; it != end; ++it)
    flags.insert((*it)[1]);
  std::vector<std::string> candidates = {"array", "after", "nodes", "ntasks", "ntasks_per_node", "cpus_per_task",
                                         "gpus_per_task", "gpus_per_node", "mem", "time", "mpi", "env", "outputs",
                                         "extra_sbatch", "options", "args", "type", "inputs", "rerun_on"};
  for (const auto& f : flags) {
    std::string key = f;
    std::replace(key.begin(), key.end(), '-', '_');
    candidates.push_back(key);
  }
  for (const auto& option : stage.options) {
    std::string flag = option.name;
    std::replace(flag.begin(), flag.end(), '_', '-');
    if (flags.count(flag)) continue;
    auto suggestion = closest_match(option.name, candidates);
    problems.push_back(fmt::format("{}: stage '{}': '{}' is neither a stage key nor an option of {} (no --{} in its --help){}",
                                   option.where.str(), stage.name, option.name, executable.filename().string(), flag,
                                   suggestion ? fmt::format("; did you mean '{}'?", *suggestion) : ""));
  }
}

StageSpec make_spec(const Plan& plan, const Stage& stage, const fs::path& executable) {
  const Manifest& m = plan.manifest;
  StageSpec spec;
  spec.run = m.name;
  spec.stage = stage.name;
  spec.type = stage.type;
  spec.executable = executable.string();
  spec.shell = stage.shell;
  spec.args = argument_templates(stage);
  spec.mpi = stage.mpi;
  spec.ntasks = stage.resources.total_tasks();
  spec.launcher = launcher_words(m);
  spec.env = stage.env;
  spec.outputs = stage.outputs;
  for (const auto& axis : stage.array) spec.params.push_back(axis.param);
  spec.task_count = stage.task_count();
  spec.workdir = m.workdir.string();
  spec.run_dir = plan.run_dir.string();
  spec.inputs = stage.inputs;
  spec.rerun_on = stage.rerun_on;
  for (const auto& dep : stage.after) {
    const Stage& upstream = *m.find_stage(dep);
    spec.after.push_back({dep, arrays_aligned(stage, upstream), upstream.task_count()});
  }
  return spec;
}

}  // namespace

Plan make_plan(Manifest manifest, const fs::path& xmtf_path, bool check_machine) {
  Plan plan;
  plan.manifest = std::move(manifest);
  plan.xmtf_path = xmtf_path;
  plan.run_dir = plan.manifest.workdir / "jobs" / plan.manifest.name;
  std::vector<std::string> problems;
  for (const auto& name : dependency_order(plan.manifest)) {
    const Stage& stage = *plan.manifest.find_stage(name);
    PlannedStage planned;
    planned.stage = &stage;
    planned.dir = plan.run_dir / stage.name;
    planned.rows = expand_rows(stage);
    for (const auto& dep : stage.after)
      planned.after.push_back({dep, arrays_aligned(stage, *plan.manifest.find_stage(dep))});
    fs::path executable;
    if (!stage.executable.empty()) {
      executable = find_executable(stage.executable, xmtf_path.parent_path(), plan.manifest.workdir);
      if (executable.empty() && check_machine)
        problems.push_back(fmt::format("{}: stage '{}' runs '{}', which is neither next to {} nor on PATH",
                                       stage.where.str(), stage.name, stage.executable, xmtf_path.string()));
      if (executable.empty()) executable = stage.executable;
    }
    if (check_machine) check_resources(plan.manifest, stage, problems);
    if (check_machine && stage.type != "command" && !executable.empty() && fs::exists(executable))
      check_options_against_help(stage, executable, problems);
    planned.spec = make_spec(plan, stage, executable);
    plan.stages.push_back(std::move(planned));
  }
  if (!problems.empty()) throw Error("the manifest cannot run here:\n  " + join(problems, "\n  "));
  return plan;
}

std::string sbatch_script(const Plan& plan, const PlannedStage& planned, const fs::path& spec_path) {
  const Manifest& m = plan.manifest;
  const Stage& stage = *planned.stage;
  const Resources& r = stage.resources;
  std::string s = "#!/bin/bash\n";
  s += fmt::format("# xmtf run {}, stage {} ({} task{}). Generated by `xmtf plan`: edit the manifest, not this file.\n",
                   m.name, stage.name, planned.rows.size(), planned.rows.size() == 1 ? "" : "s");
  auto sbatch = [&](const std::string& option, const std::string& value) {
    s += "#SBATCH " + option + "=" + shell_quote(value) + "\n";
  };
  sbatch("--job-name", "xmtf." + m.name + "." + stage.name);
  sbatch("--output", (planned.dir / "logs" / "%A_%a.out").string());
  s += "#SBATCH --open-mode=append\n";
  sbatch("--chdir", m.workdir.string());
  sbatch("--nodes", std::to_string(r.nodes));
  sbatch("--ntasks-per-node", std::to_string(r.ntasks_per_node));
  sbatch("--cpus-per-task", std::to_string(r.cpus_per_task));
  if (r.gpus_per_task) sbatch("--gpus-per-task", std::to_string(r.gpus_per_task));
  if (r.gpus_per_node) sbatch("--gpus-per-node", std::to_string(r.gpus_per_node));
  if (!r.mem.empty()) sbatch("--mem", r.mem);
  std::string time = r.time.empty() ? m.slurm.time : r.time;
  if (!time.empty()) sbatch("--time", time);
  if (!m.slurm.partition.empty()) sbatch("--partition", m.slurm.partition);
  if (!m.slurm.account.empty()) sbatch("--account", m.slurm.account);
  if (!m.slurm.qos.empty()) sbatch("--qos", m.slurm.qos);
  if (!m.slurm.signal.empty()) sbatch("--signal", m.slurm.signal);
  s += m.slurm.requeue ? "#SBATCH --requeue\n" : "#SBATCH --no-requeue\n";
  // "--name=value" entries get their value quoted like every other setting: sbatch splits an
  // #SBATCH line at spaces outside quotes.
  auto extra_line = [&](const std::string& extra) {
    auto eq = extra.find('=');
    if (eq == std::string::npos) s += "#SBATCH " + extra + "\n";
    else sbatch(extra.substr(0, eq), extra.substr(eq + 1));
  };
  for (const auto& extra : m.slurm.extra_sbatch) extra_line(extra);
  for (const auto& extra : stage.extra_sbatch) extra_line(extra);
  if (!m.slurm.setup.empty()) {
    s += "\n# setup lines from the manifest\n";
    for (const auto& line : m.slurm.setup) s += line + "\n";
  }
  s += "\n";
  s += "exec " + shell_quote(plan.xmtf_path.string()) + " task --spec " + shell_quote(spec_path.string()) + "\n";
  return s;
}

void write_plan(const Plan& plan) {
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& planned : plan.stages) {
    fs::create_directories(planned.dir / "logs");
    fs::create_directories(planned.dir / "markers");
    fs::path spec_path = planned.dir / "stage.json";
    write_file_atomic(spec_path, spec_to_json(planned.spec));
    write_file_atomic(planned.dir / "tasks.tsv", task_table_text(planned.spec.params, planned.rows));
    write_file_atomic(planned.dir / "job.sbatch", sbatch_script(plan, planned, spec_path));
    nlohmann::json after = nlohmann::json::array();
    for (const auto& d : planned.after) after.push_back({{"stage", d.stage}, {"aligned", d.aligned}});
    stages.push_back({{"name", planned.stage->name}, {"tasks", planned.rows.size()}, {"after", after}});
  }
  nlohmann::json j = {{"format", "xmtf-plan/1"},
                      {"run", plan.manifest.name},
                      {"executor", plan.manifest.executor},
                      {"manifest", plan.manifest.path.string()},
                      {"workdir", plan.manifest.workdir.string()},
                      {"xmtf", plan.xmtf_path.string()},
                      {"stages", stages}};
  write_file_atomic(plan.run_dir / "plan.json", j.dump(2) + "\n");
}

std::string describe_plan(const Plan& plan) {
  const Manifest& m = plan.manifest;
  std::string s = fmt::format("run {} (executor {}): {} stage{}, {} task{} -> {}\n", m.name, m.executor,
                              plan.stages.size(), plan.stages.size() == 1 ? "" : "s", plan.task_count(),
                              plan.task_count() == 1 ? "" : "s", plan.run_dir.string());
  std::size_t width = 0;
  for (const auto& p : plan.stages) width = std::max(width, p.stage->name.size());
  for (const auto& p : plan.stages) {
    const Stage& st = *p.stage;
    std::string array;
    for (const auto& axis : st.array) {
      if (!array.empty()) array += " x ";
      array += fmt::format("{}[{}]", axis.param, axis.values.size());
    }
    std::string deps;
    for (const auto& d : p.after) deps += fmt::format("{}{} ({})", deps.empty() ? "after " : ", ", d.stage,
                                                       d.aligned ? "task-to-task" : "whole stage");
    std::string runs = st.executable.empty() ? "shell" : fs::path(st.executable).filename().string();
    if (st.mpi && st.resources.total_tasks() > 1) runs += fmt::format(" x{} ranks", st.resources.total_tasks());
    s += fmt::format("  {:<{}}  {:>5} task{}  {:<22} {:<24} {}\n", st.name, width, p.rows.size(),
                     p.rows.size() == 1 ? " " : "s", array.empty() ? "-" : array, runs, deps);
  }
  return s;
}

}  // namespace xmtf::sched
