// Scheduler scale: plan a manifest with a 10,000-task array, and `status` over 10,000 markers
// (both through the real `xmtf` binary, as a user runs them). Target: each under 1 s.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fmt/format.h>

#include "core/fs.hpp"
#include "timing.hpp"
#include "core/process.hpp"
#include "sched/markers.hpp"
#include "sched/plan.hpp"

using namespace xmtf;
using namespace xmtf::sched;

int main(int argc, char** argv) {
  const int n_tasks = 10000;
  fs::path xmtf = self_executable().parent_path() / "xmtf";
  fs::path dir = fs::temp_directory_path() / fmt::format("xmtf-bench-sched-{}", ::getpid());
  fs::create_directories(dir);
  std::string items;
  for (int i = 0; i < n_tasks; ++i) items += fmt::format("{}\"item{:05}\"", i ? ", " : "", i);
  write_file_atomic(dir / "big.toml", fmt::format(R"([run]
name = "big"
workdir = "{}"
[lists]
items = [{}]
[stages.work]
array = "items"
run = "echo {{items}}"
outputs = ["out/{{items}}.txt"]
[stages.collect]
array = "items"
after = ["work"]
run = "cat out/{{items}}.txt"
[stages.report]
after = ["collect"]
run = "true"
)",
                                                  dir.string(), items));
  auto run_xmtf = [&](std::vector<std::string> args) {
    args.insert(args.begin(), xmtf.string());
    ProcessResult r = run_process(args);
    if (r.exit_code != 0) {
      std::fprintf(stderr, "%s failed: %s\n", args[1].c_str(), r.err.c_str());
      std::exit(1);
    }
  };
  double plan_s = best_seconds([&] { run_xmtf({"plan", (dir / "big.toml").string(), "-q"}); }, 3);

  // 10,000 markers for stage work (9,990 done, 10 failed), the other stages never ran.
  Plan plan = make_plan(load_manifest(dir / "big.toml"), xmtf, false);
  for (int i = 0; i < n_tasks; ++i) {
    Marker m;
    m.run = "big";
    m.stage = "work";
    m.index = i;
    m.status = i % 1000 == 7 ? "failed" : "done";
    m.exit_status = m.status == "failed" ? 1 : 0;
    m.reason = m.exit_status ? "exit 1" : "";
    write_marker(plan.run_dir / "work", m);
  }
  double status_s = best_seconds([&] { run_xmtf({"status", "big", "--workdir", dir.string()}); }, 3);

  fmt::print("xmtf plan   (3 stages, {} tasks, {} array tasks per stage): {:.3f} s\n", 2 * n_tasks + 1, n_tasks, plan_s);
  fmt::print("xmtf status ({} markers, 10 failed listed, {} tasks in all):  {:.3f} s\n", n_tasks, 2 * n_tasks + 1, status_s);
  fmt::print("target: each under 1 s -> {}\n", plan_s < 1 && status_s < 1 ? "met" : "NOT met");
  if (argc < 2 || std::string(argv[1]) != "--keep") fs::remove_all(dir);
  return 0;
}
