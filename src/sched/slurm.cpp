#include "sched/slurm.hpp"

#include <algorithm>
#include <cstdlib>
#include <ctime>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/process.hpp"
#include "core/text.hpp"
#include "sched/plan.hpp"
#include "sched/state.hpp"

namespace xmtf::sched {
namespace {

ProcessResult slurm_command(const std::vector<std::string>& argv, double timeout = 60) {
  ProcessOptions options;
  options.timeout_seconds = timeout;
  options.unset_env_prefixes = {"SLURM_", "SBATCH_"};
  if (const char* conf = std::getenv("SLURM_CONF")) options.set_env.emplace_back("SLURM_CONF", conf);
  ProcessResult r = run_process(argv, options);
  if (r.timed_out) fail("{} did not answer within {}s", argv[0], timeout);
  return r;
}

}  // namespace

bool slurm_available() { return !find_executable("sbatch", {}, {}).empty(); }

std::string sbatch(const std::vector<std::string>& options, const std::string& script_path) {
  std::vector<std::string> argv = {"sbatch", "--parsable"};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.push_back(script_path);
  ProcessResult r = slurm_command(argv);
  if (r.exit_code != 0) fail("sbatch failed ({}): {}", describe_exit(r.exit_code), std::string(trim(r.err)));
  std::string id(trim(r.out));
  id = id.substr(0, id.find(';'));  // "jobid;cluster"
  if (id.empty()) fail("sbatch printed no job id");
  log::debug("sbatch {} -> {}", join(options, " "), id);
  return id;
}

int max_array_size() {
  ProcessResult r = slurm_command({"scontrol", "show", "config"});
  for (const auto& line : split(r.out, '\n')) {
    auto t = trim(line);
    if (starts_with(t, "MaxArraySize")) {
      auto eq = t.find('=');
      if (eq != std::string_view::npos) return std::atoi(std::string(trim(t.substr(eq + 1))).c_str());
    }
  }
  return 1001;
}

namespace {

// Lines "A|task|STATE|reason[|...]" of squeue -r into the snapshot.
void read_queue_lines(const std::string& out, QueueSnapshot& snapshot) {
  for (const auto& line : split(out, '\n')) {
    auto fields = split(std::string(trim(line)), '|');
    if (fields.size() < 4) continue;
    std::size_t task = 0;
    if (fields[1] != "N/A") task = std::strtoul(fields[1].c_str(), nullptr, 10);
    snapshot[fields[0]][task] = {fields[2], fields[3]};
  }
}

[[noreturn]] void query_failed(const std::string& program, const ProcessResult& r) {
  fail("{} failed ({}): {}; the state of the queue is unknown, so nothing was decided (is SLURM_CONF right, is "
       "slurmctld up?)",
       program, describe_exit(r.exit_code), std::string(trim(r.err + r.out)));
}

}  // namespace

QueueSnapshot squeue(const std::vector<std::string>& job_ids) {
  QueueSnapshot snapshot;
  if (job_ids.empty()) return snapshot;
  ProcessResult r = slurm_command({"squeue", "-r", "-h", "-t", "all", "-j", join(job_ids, ","), "-o", "%F|%K|%T|%r"});
  // squeue lists the ids it knows and fails with "Invalid job id specified" only when it knows
  // none of them (all past MinJobAge): that is an answer. Any other failure is not "nothing queued".
  if (r.exit_code != 0 && r.err.find("Invalid job id specified") == std::string::npos) query_failed("squeue", r);
  read_queue_lines(r.out, snapshot);
  return snapshot;
}

std::vector<std::pair<std::string, std::string>> squeue_commands(const std::vector<std::string>& job_names,
                                                                 const std::string& user) {
  std::vector<std::pair<std::string, std::string>> jobs;
  if (job_names.empty()) return jobs;
  ProcessResult r =
      slurm_command({"squeue", "-h", "-t", "all", "-u", user, "--name=" + join(job_names, ","), "-o", "%F|%o"});
  if (r.exit_code != 0) query_failed("squeue", r);
  for (const auto& line : split(r.out, '\n')) {
    auto bar = line.find('|');
    if (bar == std::string::npos) continue;
    std::pair<std::string, std::string> job{line.substr(0, bar), std::string(trim(line.substr(bar + 1)))};
    if (std::find(jobs.begin(), jobs.end(), job) == jobs.end()) jobs.push_back(std::move(job));
  }
  return jobs;
}

bool sacct_available() { return !find_executable("sacct", {}, {}).empty(); }

QueueSnapshot sacct(const std::vector<std::string>& job_ids, double since) {
  QueueSnapshot snapshot;
  if (job_ids.empty() || !sacct_available()) return snapshot;
  std::time_t start = static_cast<std::time_t>(since) - 60;
  char start_text[32];
  std::strftime(start_text, sizeof start_text, "%Y-%m-%dT%H:%M:%S", std::localtime(&start));
  ProcessResult r = slurm_command({"sacct", "-X", "-P", "-n", "-S", start_text, "-j", join(job_ids, ","), "-o", "JobID,State"});
  if (r.exit_code != 0) {
    // No accounting storage on this cluster: markers and squeue must do.
    if ((r.err + r.out).find("accounting storage is disabled") != std::string::npos) return snapshot;
    query_failed("sacct", r);
  }
  for (const auto& line : split(r.out, '\n')) {
    auto fields = split(std::string(trim(line)), '|');
    if (fields.size() < 2) continue;
    std::string state = split(fields[1], ' ')[0];  // "CANCELLED by 0"
    auto underscore = fields[0].find('_');
    if (underscore == std::string::npos) continue;
    std::string job = fields[0].substr(0, underscore), tasks = fields[0].substr(underscore + 1);
    if (!tasks.empty() && tasks.front() == '[') {  // never-started tasks share one row: A_[1-5%2]
      tasks = tasks.substr(1, tasks.find_first_of("%]") - 1);
      for (std::size_t task : parse_index_ranges(tasks)) snapshot[job][task] = {state, "None"};
    } else {
      snapshot[job][std::strtoul(tasks.c_str(), nullptr, 10)] = {state, "None"};
    }
  }
  return snapshot;
}

void update_dependency(const std::string& job_id, const std::string& dependency) {
  ProcessResult r = slurm_command({"scontrol", "update", "JobId=" + job_id, "Dependency=" + dependency});
  if (r.exit_code == 0) return;
  // Tasks of the array that already ended or started answer so; the pending ones were updated.
  std::string answer(trim(r.err + r.out));
  if (answer.find("already finished") != std::string::npos || answer.find("no longer pending") != std::string::npos) {
    log::debug("scontrol update {} Dependency={}: {}", job_id, dependency, answer);
    return;
  }
  fail("scontrol update JobId={} Dependency={} failed ({}): {}", job_id, dependency, describe_exit(r.exit_code), answer);
}

void scancel(const std::vector<std::string>& job_ids) {
  if (job_ids.empty()) return;
  std::vector<std::string> argv = {"scancel"};
  argv.insert(argv.end(), job_ids.begin(), job_ids.end());
  ProcessResult r = slurm_command(argv);
  if (r.exit_code != 0) fail("scancel {} failed ({}): {}", join(job_ids, " "), describe_exit(r.exit_code), std::string(trim(r.err)));
}

bool is_active_state(const std::string& state) {
  return state == "PENDING" || state == "RUNNING" || state == "CONFIGURING" || state == "COMPLETING" ||
         state == "SUSPENDED" || state == "REQUEUED" || state == "RESIZING" || state == "REQUEUE_HOLD" ||
         state == "REQUEUE_FED" || state == "SIGNALING" || state == "STAGE_OUT" || state == "STOPPED";
}

}  // namespace xmtf::sched
