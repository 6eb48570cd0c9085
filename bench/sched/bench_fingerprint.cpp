// Fingerprint cost: `xmtf plan` (which checks every done task against its fingerprint) on a
// tree of 100,000 input files, through the real `xmtf` binary. Two layouts:
//   per-task: 100 tasks, each reading its own folder of 1,000 files (like shard's languages);
//   one-task: 1 task whose `inputs` is the whole tree of 100,000 files.
// Peers measured in the same run: `find -printf '%s %T@'` over the tree (the stat calls alone)
// and `xmtf plan` of the same manifest without `inputs` (the markers and the plan alone).
// Goal: each plan under 2 s. `--keep` keeps the folder.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fmt/format.h>
#include <functional>

#include "core/fs.hpp"
#include "timing.hpp"
#include "core/process.hpp"
#include "core/text.hpp"
#include "sched/plan.hpp"

using namespace xmtf;
using namespace xmtf::sched;

namespace {

constexpr int kFolders = 100;
constexpr int kFilesPerFolder = 1000;

void make_tree(const fs::path& root) {
  for (int d = 0; d < kFolders; ++d) {
    fs::path folder = root / fmt::format("l{:03}", d);
    fs::create_directories(folder);
    for (int f = 0; f < kFilesPerFolder; ++f) {
      std::string path = (folder / fmt::format("part-{:05}.jsonl", f)).string();
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      std::string line = fmt::format("{{\"inputs\": \"{} {}\", \"targets\": \"x\"}}\n", d, f);
      if (fd < 0 || ::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        std::perror(path.c_str());
        std::exit(1);
      }
      ::close(fd);
    }
  }
}

std::string manifest(const fs::path& dir, const std::string& name, bool per_task, bool with_inputs) {
  std::string folders;
  for (int d = 0; d < kFolders; ++d) folders += fmt::format("{}\"l{:03}\"", d ? ", " : "", d);
  std::string inputs = !with_inputs ? "" : per_task ? "inputs = [\"data/{folder}\"]" : "inputs = [\"data\"]";
  return fmt::format(R"([run]
name = "{}"
workdir = "{}"
[lists]
folder = [{}]
[stages.work]
{}
run = "true"
{}
)",
                     name, dir.string(), folders, per_task ? "array = \"folder\"" : "", inputs);
}

}  // namespace

int main(int argc, char** argv) {
  fs::path xmtf = self_executable().parent_path() / "xmtf";
  fs::path dir = fs::temp_directory_path() / fmt::format("xmtf-bench-fingerprint-{}", ::getpid());
  fs::create_directories(dir);
  auto xmtf_ok = [&](std::vector<std::string> args) {
    args.insert(args.begin(), xmtf.string());
    ProcessResult r = run_process(args);
    if (r.exit_code != 0) {
      std::fprintf(stderr, "%s failed: %s%s\n", args[1].c_str(), r.out.c_str(), r.err.c_str());
      std::exit(1);
    }
    return r.out;
  };
  auto start = std::chrono::steady_clock::now();
  make_tree(dir / "data");
  fmt::print("tree: {} files in {} folders, made in {:.1f} s\n", kFolders * kFilesPerFolder, kFolders,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());

  double find_s = best_seconds([&] {
    ProcessResult r = run_process({"find", (dir / "data").string(), "-type", "f", "-printf", "%s %T@\n"});
    if (r.exit_code != 0) std::exit(1);
  }, 3);
  fmt::print("peer: find -printf '%s %T@' over the tree:                 {:.3f} s\n", find_s);

  struct Case {
    const char* name;
    bool per_task, with_inputs;
  };
  for (Case c : {Case{"per-task", true, true}, Case{"one-task", false, true}, Case{"no-inputs", true, false}}) {
    fs::path toml = dir / (std::string(c.name) + ".toml");
    write_file_atomic(toml, manifest(dir, c.name, c.per_task, c.with_inputs));
    double run_s = best_seconds([&] { xmtf_ok({"run", toml.string(), "-q"}); }, 1);
    std::uintmax_t marker_bytes = 0;
    for (const auto& e : fs::directory_iterator(dir / "jobs" / c.name / "work" / "markers")) marker_bytes += e.file_size();
    std::string out;
    double plan_s = best_seconds([&] { out = xmtf_ok({"plan", toml.string(), "-q"}); }, 3);
    if (out.find("up to date") == std::string::npos) {
      std::fprintf(stderr, "%s: expected nothing stale:\n%s", c.name, out.c_str());
      return 1;
    }
    std::string changed = "";
    if (c.with_inputs) {
      write_file_atomic(dir / "data/l042/part-00007.jsonl", "cut\n");
      double stale_s = best_seconds([&] { out = xmtf_ok({"plan", toml.string(), "-q"}); }, 3);
      if (out.find("part-00007.jsonl changed") == std::string::npos) {
        std::fprintf(stderr, "%s: the changed file is not reported:\n%s", c.name, out.c_str());
        return 1;
      }
      changed = fmt::format(", one file changed: {:.3f} s", stale_s);
      xmtf_ok({"run", toml.string(), "-q"});  // back to up to date for the next case
    }
    fmt::print("xmtf plan, {:<9} ({} done task{}, markers {:.1f} MB, first run {:.1f} s): {:.3f} s{}\n", c.name,
               c.per_task ? kFolders : 1, c.per_task ? "s" : "", marker_bytes / 1e6, run_s, plan_s, changed);
  }
  fmt::print("goal: xmtf plan under 2 s on 100,000 input files\n");
  if (argc < 2 || std::string(argv[1]) != "--keep") fs::remove_all(dir);
  return 0;
}
