// xmtf-tokenize: shard parts -> tokenized HDF5 shards, alone or under mpiexec (parts are spread
// over ranks; each part is written by one rank to its own file). Also --encode / --decode for
// quick checks from the shell. See docs/tok.md and docs/h5.md.
#include <sys/resource.h>

#include <chrono>
#include <iostream>

#include "core/cli.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "dist/balance.hpp"
#include "dist/world.hpp"
#include "h5/tokenize_job.hpp"

namespace {

double peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;
}

// Runs the parts assigned to this rank; returns the number of parts that failed.
int tokenize_parts(const xmtf::h5::TokenizeOptions& options, xmtf::dist::World& world) {
  using namespace xmtf;
  auto load_start = std::chrono::steady_clock::now();
  h5::ShardTokenizer job(options);
  double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  log::info("tokenizer {} ({} ids) loaded in {:.2f}s, resident {}", options.tokenizer_path.string(),
            job.tokenizer().vocab_size(), load_seconds, format_bytes(peak_rss_bytes()));
  auto parts = h5::plan_parts(options, job.name());
  if (world.is_root() && fs::is_directory(options.input)) h5::remove_stale_outputs(parts, job.name());
  std::vector<std::uint64_t> part_bytes;
  for (const h5::PartJob& part : parts) part_bytes.push_back(part.bytes);
  const auto mine = dist::tasks_of_rank(dist::assign_balanced(part_bytes, world.size()), world.rank());
  std::uintmax_t my_bytes = 0;
  for (std::size_t i : mine) my_bytes += parts[i].bytes;
  log::info("{} parts in total, {} for this rank ({})", parts.size(), mine.size(), format_bytes(static_cast<double>(my_bytes)));

  Progress progress("tokenize", my_bytes, Progress::Unit::bytes);
  std::int64_t totals[5] = {0, 0, 0, 0, 0};  // samples, input tokens, target tokens, skipped, failed
  auto start = std::chrono::steady_clock::now();
  for (std::size_t i : mine) {
    try {
      h5::PartStats stats = job.run(parts[i], &progress);
      totals[0] += stats.samples;
      totals[1] += stats.input_tokens;
      totals[2] += stats.target_tokens;
      totals[3] += stats.skipped ? 1 : 0;
    } catch (const Error& e) {
      log::error("{}", e.what());
      ++totals[4];
    }
  }
  progress.finish();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("rank done: {} tokens in {:.2f}s, peak resident memory {}", totals[1] + totals[2], seconds,
            format_bytes(peak_rss_bytes()));

  std::int64_t sums[5] = {totals[0], totals[1], totals[2], totals[3], totals[4]};
  world.communicator().all_reduce(std::span<std::int64_t>(sums), dist::ReduceOp::sum);
  const double slowest = world.communicator().all_reduce(seconds, dist::ReduceOp::max);
  if (world.is_root())
    log::info("all ranks: {} parts ({} skipped, {} failed), {} samples, {} input + {} target tokens, {:.0f} tokens/s",
              parts.size(), sums[3], sums[4], sums[0], sums[1], sums[2], (sums[1] + sums[2]) / std::max(slowest, 1e-9));
  return static_cast<int>(sums[4]);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace xmtf;
  CLI::App app{"Tokenize shard parts (shards/<lang>/part-NNNNN.jsonl) into HDF5 tokenized shards\n"
               "(<output>/<lang>/part-NNNNN.<name>.h5), alone or under mpiexec -n N; or encode/decode\n"
               "JSON lines on stdin with --encode / --decode.",
               "xmtf-tokenize"};
  h5::TokenizeOptions options;
  bool encode = false, decode = false;
  std::string target_prefix;
  bool input_eos = false, target_eos = true;
  app.add_option("--tokenizer", options.tokenizer_path, "tokenizer.json (HuggingFace) or spiece.model (SentencePiece)")
      ->required()
      ->check(CLI::ExistingFile);
  auto* input = app.add_option("--input", options.input, "a part file or a shard folder (searched recursively)");
  auto* output = app.add_option("--output", options.output_dir, "output folder; files go to <output>/<lang>/");
  app.add_option("--name", options.name, "tokenizer name in output file names (default: from the tokenizer file)");
  auto* prefix = app.add_option("--target-prefix", target_prefix,
                                "text prepended to each target (default \" \" for tokenizer.json, \"\" for SentencePiece)");
  auto* input_eos_option = app.add_option("--input-eos", input_eos,
                                          "append the end-of-document token to inputs (default: false for tokenizer.json, true for SentencePiece)");
  auto* target_eos_option = app.add_option("--target-eos", target_eos, "append the end-of-document token to targets (default true)");
  app.add_flag("--force", options.force, "redo parts whose output is already up to date");
  auto* encode_flag = app.add_flag("--encode", encode, "stdin: one JSON string per line -> stdout: one JSON array of ids per line");
  auto* decode_flag = app.add_flag("--decode", decode, "stdin: one JSON array of ids per line -> stdout: one JSON string per line");
  encode_flag->excludes(decode_flag);
  encode_flag->excludes(input)->excludes(output);
  decode_flag->excludes(input)->excludes(output);
  add_logging_options(app);

  return run_main(app, argc, argv, [&]() -> int {
    if (encode || decode) {
      std::ios::sync_with_stdio(false);  // line-by-line stdin/stdout at full speed
      auto tokenizer = tok::load_tokenizer(options.tokenizer_path);
      encode ? h5::encode_lines(*tokenizer, std::cin, std::cout) : h5::decode_lines(*tokenizer, std::cin, std::cout);
      return 0;
    }
    if (options.input.empty() || options.output_dir.empty()) {
      std::cerr << "xmtf-tokenize: --input and --output are required (or --encode / --decode)\n"
                << "Run with --help for more information.\n";
      return 2;
    }
    if (*prefix) options.target_prefix = target_prefix;
    if (*input_eos_option) options.input_eos = input_eos;
    if (*target_eos_option) options.target_eos = target_eos;

    dist::World world(argc, argv);
    // A setup error (tokenizer, input) outside the per-part handling: the other ranks may be
    // waiting in the final reduction, so with several ranks World::run ends the whole job.
    int failed = 0;
    if (const int code = world.run([&] { failed = tokenize_parts(options, world); return 0; }); code != 0) return code;
    if (failed > 0) {
      if (world.is_root()) log::error("{} part(s) failed; rerun to retry them (completed parts are skipped)", failed);
      return 1;
    }
    return 0;
  });
}
