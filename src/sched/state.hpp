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

// Each submission is also recorded in its launch folder (launch/NNNN/submission.json, written
// after sbatch answered), so that a lost state.sqlite can be rebuilt from them.
void write_launch_record(const Submission& submission);
std::vector<Submission> read_launch_records(const std::filesystem::path& run_dir);  // oldest first

// The submissions of a run: from state.sqlite, or from the launch records when it is missing
// (read only: status never writes).
std::vector<Submission> load_submissions(const std::filesystem::path& run_dir);

class StateStore {
 public:
  // Opens (creates) state.sqlite; when it was missing but launch records exist, rebuilds it
  // from them and says so.
  explicit StateStore(const std::filesystem::path& run_dir);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  void add(Submission& submission);  // sets submission.id
  void set_dependency(long submission_id, const std::string& dependency);
  void mark_cancelled(long submission_id);
  std::vector<Submission> submissions() const;  // oldest first
  int next_launch_number(const std::string& stage) const;
  bool rebuilt() const { return rebuilt_; }

 private:
  void exec(const std::string& sql);
  void insert(Submission& submission);
  Submission by_id(long submission_id) const;
  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
  bool rebuilt_ = false;
};

// "0-3,7,9-12" from sorted indices, and back.
std::string format_index_ranges(const std::vector<std::size_t>& sorted_indices);
std::vector<std::size_t> parse_index_ranges(const std::string& ranges);

}  // namespace xmtf::sched
