#include "sched/slurm.hpp"

#include <cstdlib>
#include <ctime>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/process.hpp"
#include "core/text.hpp"
#include "sched/plan.hpp"

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

QueueSnapshot squeue(const std::vector<std::string>& job_ids) {
  QueueSnapshot snapshot;
  if (job_ids.empty()) return snapshot;
  ProcessResult r = slurm_command({"squeue", "-r", "-h", "-t", "all", "-j", join(job_ids, ","), "-o", "%F|%K|%T|%r"});
  // An id that left slurmctld's memory makes squeue fail with "Invalid job id"; the others
  // still matter, so read whatever it printed.
  for (const auto& line : split(r.out, '\n')) {
    auto fields = split(std::string(trim(line)), '|');
    if (fields.size() < 4) continue;
    std::size_t task = 0;
    if (fields[1] != "N/A") task = std::strtoul(fields[1].c_str(), nullptr, 10);
    snapshot[fields[0]][task] = {fields[2], fields[3]};
  }
  return snapshot;
}

QueueSnapshot sacct(const std::vector<std::string>& job_ids, double since) {
  QueueSnapshot snapshot;
  if (job_ids.empty() || find_executable("sacct", {}, {}).empty()) return snapshot;
  std::time_t start = static_cast<std::time_t>(since) - 60;
  char start_text[32];
  std::strftime(start_text, sizeof start_text, "%Y-%m-%dT%H:%M:%S", std::localtime(&start));
  ProcessResult r = slurm_command({"sacct", "-X", "-P", "-n", "-S", start_text, "-j", join(job_ids, ","), "-o", "JobID,State"});
  if (r.exit_code != 0) return snapshot;  // no accounting storage: markers and squeue must do
  for (const auto& line : split(r.out, '\n')) {
    auto fields = split(std::string(trim(line)), '|');
    if (fields.size() < 2) continue;
    auto underscore = fields[0].find('_');
    if (underscore == std::string::npos || fields[0].find('[') != std::string::npos) continue;
    std::string state = split(fields[1], ' ')[0];  // "CANCELLED by 0"
    snapshot[fields[0].substr(0, underscore)][std::strtoul(fields[0].c_str() + underscore + 1, nullptr, 10)] = {state, "None"};
  }
  return snapshot;
}

void update_dependency(const std::string& job_id, const std::string& dependency) {
  ProcessResult r = slurm_command({"scontrol", "update", "JobId=" + job_id, "Dependency=" + dependency});
  if (r.exit_code != 0) log::debug("scontrol update {} Dependency={}: {}", job_id, dependency, std::string(trim(r.err)));
}

void scancel(const std::vector<std::string>& job_ids) {
  if (job_ids.empty()) return;
  std::vector<std::string> argv = {"scancel"};
  argv.insert(argv.end(), job_ids.begin(), job_ids.end());
  ProcessResult r = slurm_command(argv);
  if (r.exit_code != 0) log::warn("scancel: {}", std::string(trim(r.err)));
}

bool is_active_state(const std::string& state) {
  return state == "PENDING" || state == "RUNNING" || state == "CONFIGURING" || state == "COMPLETING" ||
         state == "SUSPENDED" || state == "REQUEUED" || state == "RESIZING" || state == "REQUEUE_HOLD" ||
         state == "REQUEUE_FED" || state == "SIGNALING" || state == "STAGE_OUT" || state == "STOPPED";
}

}  // namespace xmtf::sched
