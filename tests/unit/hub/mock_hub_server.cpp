// The mock hub as a process. Two uses:
//  - demo / manual runs: serve folders as repos and run one command against them, e.g.
//      xmtf-mock-hub --model bigscience/bloomz-560m=tests/data/hub/bloomz-560m
//                    -- xmtf-fetch --repo bigscience/bloomz-560m --cache cache
//    The command gets HF_ENDPOINT; its exit code is ours.
//  - benchmarks (bench/hub/bench_fetch.sh): without a command, serve "bench/big" (an LFS file
//    big.bin of --size-mib MiB), print "ENDPOINT <url>", "CDN_URL <url>", "SHA256 <hex>", and
//    serve until standard input closes.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <string>

#include "core/cli.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "mock_hub.hpp"

namespace {

// "ORG/NAME=DIR" -> a repo with every file under DIR; files of lfs_min_bytes or more are LFS.
xmtf::test::MockRepo repo_from_folder(const std::string& spec, const std::string& kind, std::size_t lfs_min_bytes) {
  auto equals = spec.find('=');
  if (equals == std::string::npos) xmtf::fail("expected ORG/NAME=DIR, got '{}'", spec);
  xmtf::test::MockRepo repo;
  repo.id = spec.substr(0, equals);
  repo.kind = kind;
  repo.commit = xmtf::test::git_blob_sha1_of(kind + ":" + repo.id);  // stable, 40 hex
  xmtf::fs::path folder = spec.substr(equals + 1);
  if (!xmtf::fs::is_directory(folder)) xmtf::fail("{} is not a folder", folder.string());
  for (const auto& entry : xmtf::fs::recursive_directory_iterator(folder)) {
    if (!entry.is_regular_file()) continue;
    std::string content = xmtf::read_file(entry.path());
    bool lfs = content.size() >= lfs_min_bytes;
    repo.files.push_back({entry.path().lexically_relative(folder).generic_string(), std::move(content), lfs});
  }
  return repo;
}

xmtf::test::MockRepo big_random_repo(std::size_t size_mib) {
  std::string content(size_mib << 20, '\0');
  std::mt19937_64 random(7);
  for (std::size_t i = 0; i + 8 <= content.size(); i += 8) {
    std::uint64_t word = random();
    std::memcpy(&content[i], &word, 8);
  }
  xmtf::test::MockRepo repo;
  repo.id = "bench/big";
  repo.commit = std::string(40, 'b');
  repo.files.push_back({"big.bin", std::move(content), true});
  return repo;
}

int run_command(const std::vector<std::string>& command, const std::string& endpoint) {
  ::setenv("HF_ENDPOINT", endpoint.c_str(), 1);
  pid_t child = ::fork();
  if (child == 0) {
    std::vector<char*> argv;
    for (const auto& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::perror(argv[0]);
    std::_Exit(127);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Local mock of the HuggingFace Hub (tests, demo, benchmarks)", "xmtf-mock-hub"};
  std::vector<std::string> models;
  std::vector<std::string> datasets;
  std::vector<std::string> command;
  std::size_t size_mib = 1024;
  std::size_t lfs_min_kib = 16;
  app.add_option("--model", models, "serve DIR as model repo ORG/NAME (ORG/NAME=DIR, repeatable)");
  app.add_option("--dataset", datasets, "serve DIR as dataset repo ORG/NAME (ORG/NAME=DIR, repeatable)");
  app.add_option("--lfs-min-kib", lfs_min_kib, "files this large or larger are served as LFS files")
      ->capture_default_str();
  app.add_option("--size-mib", size_mib, "without repos: size of bench/big's big.bin")->capture_default_str();
  app.prefix_command();  // everything after "--" (or the first positional) is the command
  app.footer("After --: a command to run with HF_ENDPOINT pointing at the mock; its exit code is returned.");
  xmtf::add_logging_options(app);
  return xmtf::run_main(app, argc, argv, [&] {
    command = app.remaining();
    if (!command.empty() && command.front() == "--") command.erase(command.begin());
    xmtf::test::MockHub hub;
    for (const auto& spec : models) hub.add_repo(repo_from_folder(spec, "model", lfs_min_kib << 10));
    for (const auto& spec : datasets) hub.add_repo(repo_from_folder(spec, "dataset", lfs_min_kib << 10));
    if (!command.empty()) {
      xmtf::log::info("mock hub at {}; running {}", hub.endpoint(), command.front());
      return run_command(command, hub.endpoint());
    }
    std::string sha;
    if (models.empty() && datasets.empty()) {
      xmtf::test::MockRepo big = big_random_repo(size_mib);
      sha = xmtf::test::sha256_of(big.files.front().content);
      hub.add_repo(std::move(big));
    }
    std::cout << "ENDPOINT " << hub.endpoint() << "\nCDN_URL " << hub.cdn_endpoint() << "/lfs/" << sha
              << "\nSHA256 " << sha << std::endl;
    for (std::string line; std::getline(std::cin, line);) {
    }
    return 0;
  });
}
