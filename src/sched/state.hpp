#pragma once
// jobs/<run>/state.sqlite: what the scheduler submitted (one row per sbatch call). The
// scheduler is its only writer; tasks never touch it (they write markers). Markers say what
// ran; this store says which SLURM job to ask about which task.
#include <filesystem>
#include <string>
#include <vector>

struct sqlite3;

namespace xmtf::sched {

struct Submission {
  long id = 0;
  std::string stage;
  std::string job_id;              // SLURM array job id
  std::size_t index_offset = 0;    // global task index = array task id + offset
  std::vector<std::size_t> indices;  // global task indices in this job
  std::string dependency;          // as passed to sbatch / scontrol
  std::string launch_dir;          // jobs/<run>/<stage>/launch/NNNN
  double submitted_at = 0;
  bool cancelled = false;
};

class StateStore {
 public:
  explicit StateStore(const std::filesystem::path& run_dir);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  void add(Submission& submission);  // sets submission.id
  void set_dependency(long submission_id, const std::string& dependency);
  void mark_cancelled(long submission_id);
  std::vector<Submission> submissions() const;  // oldest first
  int next_launch_number(const std::string& stage) const;

 private:
  void exec(const std::string& sql);
  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
};

// "0-3,7,9-12" from sorted indices, and back.
std::string format_index_ranges(const std::vector<std::size_t>& sorted_indices);
std::vector<std::size_t> parse_index_ranges(const std::string& ranges);

}  // namespace xmtf::sched
