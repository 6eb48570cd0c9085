// xmtf-fetch: HuggingFace Hub files into the huggingface_hub cache; prints the snapshot folder.
#include <cstdio>
#include <cstdlib>

#include "core/cli.hpp"
#include "core/log.hpp"
#include "hub/fetch.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "Fetch files of a HuggingFace Hub repo into the huggingface_hub cache (resumable, verified) and print the\n"
      "snapshot folder on the last line of standard output.\n"
      "Environment: HF_ENDPOINT, HF_TOKEN (or the token file $HF_HOME/token), HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE=1.",
      "xmtf-fetch"};
  xmtf::hub::FetchOptions options;
  std::string kind = "model";
  std::string cache_dir;
  int retries = 5;
  const char* delay_env = std::getenv("XMTF_HUB_RETRY_DELAY");
  double retry_delay = delay_env ? std::atof(delay_env) : 1.0;
  double parallel_min_mib = 64;

  app.add_option("--repo", options.repo.id, "repo id, ORG/NAME")->required();
  app.add_option("--kind", kind, "model or dataset")->check(CLI::IsMember({"model", "dataset"}))->capture_default_str();
  app.add_option("--revision", options.revision, "branch, tag or commit")->capture_default_str();
  app.add_option("--include", options.include, "glob of repo paths to fetch (repeatable; '*' stays in a folder, '**' "
                                               "crosses folders, 'dir/' is everything under dir)");
  app.add_option("--exclude", options.exclude, "glob of repo paths to skip (repeatable)");
  app.add_option("--cache", cache_dir, "cache folder (default $HF_HUB_CACHE or $HF_HOME/hub)");
  app.add_option("--jobs", options.jobs, "files downloaded at once; also the ranges fetched at once for a large file")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--retries", retries, "retries per request on connection errors, 429 and 5xx")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  app.add_option("--retry-delay", retry_delay, "first backoff delay in seconds, doubled per retry, with jitter (env "
                                               "XMTF_HUB_RETRY_DELAY)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--parallel-min-size", parallel_min_mib, "MiB from which one file is fetched as parallel ranges")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  xmtf::add_logging_options(app);

  return xmtf::run_main(app, argc, argv, [&] {
    options.repo.kind = xmtf::hub::parse_repo_kind(kind);
    options.retry.max_attempts = retries + 1;
    options.retry.base_delay_seconds = retry_delay;
    options.parallel_min_bytes = static_cast<std::uint64_t>(parallel_min_mib * (1 << 20));
    xmtf::hub::HubSettings settings = xmtf::hub::settings_from_environment();
    if (!cache_dir.empty()) settings.cache_dir = cache_dir;
    xmtf::hub::FetchResult result = xmtf::hub::fetch_snapshot(options, settings);
    std::printf("%s\n", result.snapshot_dir.c_str());
    return std::fflush(stdout) == 0 ? 0 : 1;
  });
}
