#pragma once
// A fake SLURM client for the executors' unit tests: sbatch, squeue, sacct, scancel, scontrol
// and sinfo as one bash script on PATH that records every call (argv, one call per line) and
// answers from files the test writes:
//   queue.txt   squeue's records, one "job|task|STATE|reason|name|script" per line, printed in
//               the -o format asked for (%F %K %i %T %r %j %o) and filtered by -j / --name
//   sacct.txt   sacct's "JobID|State" lines; absent: "accounting storage is disabled", exit 1
//   <prog>.fail its content goes to stderr and the program exits 1 (a controller that is down)
// sbatch prints job ids 100, 101, ... and keeps a copy of each script it was given.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/fs.hpp"
#include "core/text.hpp"

namespace xmtf::sched::testing {

inline const char* kFakeSlurmScript = R"BASH(#!/bin/bash
D=$(cd "$(dirname "$0")/.." && pwd)
prog=$(basename "$0")
line=$prog
for a in "$@"; do line+=$'\x1f'"$a"; done
printf '%s\n' "$line" >> "$D/calls.log"
if [ -e "$D/$prog.fail" ]; then cat "$D/$prog.fail" >&2; exit 1; fi
case $prog in
  sbatch)
    n=$(cat "$D/next_id" 2>/dev/null || echo 100)
    echo $((n + 1)) > "$D/next_id"
    cp "${@: -1}" "$D/scripts/$n.sbatch"
    echo "$n" ;;
  scontrol)
    if [ "$1" = show ] && [ "$2" = config ]; then
      echo "MaxArraySize            = $(cat "$D/max_array_size" 2>/dev/null || echo 1001)"
    fi ;;
  squeue)
    fmt="%i %T" jobs="" names=""
    while [ $# -gt 0 ]; do
      case $1 in
        -o) fmt=$2; shift ;;
        -j) jobs=",$2," ;;
        --name=*) names=",${1#--name=}," ;;
        --name) names=",$2,"; shift ;;
      esac
      shift
    done
    [ -e "$D/queue.txt" ] || exit 0
    while IFS='|' read -r job task state reason name script; do
      [ -z "$job" ] && continue
      [ -n "$jobs" ] && [[ "$jobs" != *",$job,"* ]] && continue
      [ -n "$names" ] && [[ "$names" != *",$name,"* ]] && continue
      id=${job}_$task; [ "$task" = N/A ] && id=$job
      out=${fmt//%F/$job}; out=${out//%K/$task}; out=${out//%i/$id}
      out=${out//%T/$state}; out=${out//%r/$reason}; out=${out//%j/$name}; out=${out//%o/$script}
      printf '%s\n' "$out"
    done < "$D/queue.txt" ;;
  sacct)
    if [ -e "$D/sacct.txt" ]; then cat "$D/sacct.txt"; else echo "Slurm accounting storage is disabled"; exit 1; fi ;;
  sinfo) echo "64 512000 (null)" ;;
esac
exit 0
)BASH";

class FakeSlurm {
 public:
  explicit FakeSlurm(const fs::path& dir) : dir_(dir) {
    fs::create_directories(dir_ / "bin");
    fs::create_directories(dir_ / "scripts");
    for (const char* program : {"sbatch", "squeue", "sacct", "scancel", "scontrol", "sinfo"}) {
      write_file_atomic(dir_ / "bin" / program, kFakeSlurmScript);
      fs::permissions(dir_ / "bin" / program, fs::perms::owner_all);
    }
    const char* path = std::getenv("PATH");
    old_path_ = path ? path : "/usr/bin:/bin";
    ::setenv("PATH", ((dir_ / "bin").string() + ":" + old_path_).c_str(), 1);
  }
  ~FakeSlurm() { ::setenv("PATH", old_path_.c_str(), 1); }
  FakeSlurm(const FakeSlurm&) = delete;
  FakeSlurm& operator=(const FakeSlurm&) = delete;

  // squeue's records: {job, task, STATE, reason[, name[, script]]} (name "wrap", no script).
  void set_queue(const std::vector<std::vector<std::string>>& records) {
    std::string text;
    for (auto record : records) {
      if (record.size() == 4) record.push_back("wrap");
      if (record.size() == 5) record.push_back("");
      text += join(record, "|") + "\n";
    }
    write_file_atomic(dir_ / "queue.txt", text);
  }
  void set_sacct(const std::string& lines) { write_file_atomic(dir_ / "sacct.txt", lines); }
  void set_max_array_size(int n) { write_file_atomic(dir_ / "max_array_size", std::to_string(n)); }
  void make_fail(const std::string& program, const std::string& message) {
    write_file_atomic(dir_ / (program + ".fail"), message + "\n");
  }
  void clear_calls() { fs::remove(dir_ / "calls.log"); }

  // argv (without the program name) of every call of one program, in order.
  std::vector<std::vector<std::string>> calls(const std::string& program) const {
    std::vector<std::vector<std::string>> out;
    if (!fs::exists(dir_ / "calls.log")) return out;
    for (const auto& line : split(read_file(dir_ / "calls.log"), '\n')) {
      auto words = split(line, '\x1f');
      if (words.empty() || words[0] != program) continue;
      out.emplace_back(words.begin() + 1, words.end());
    }
    return out;
  }
  // The value of --name=value in one call's argv ("" when absent).
  static std::string option(const std::vector<std::string>& argv, const std::string& name) {
    for (const auto& a : argv)
      if (starts_with(a, name + "=")) return a.substr(name.size() + 1);
    return "";
  }
  // scontrol update calls as "JobId -> Dependency".
  std::vector<std::pair<std::string, std::string>> dependency_updates() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& argv : calls("scontrol"))
      if (!argv.empty() && argv[0] == "update") out.emplace_back(option(argv, "JobId"), option(argv, "Dependency"));
    return out;
  }
  std::string script_of_job(const std::string& job_id) const { return read_file(dir_ / "scripts" / (job_id + ".sbatch")); }
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
  std::string old_path_;
};

}  // namespace xmtf::sched::testing
