// xmtf-shard: xP3 language folders -> validated, size-capped JSON-lines shards (MPI).
// The steps and their file formats are in src/data/shard.hpp and docs/data.md; this file only
// parses options and runs the steps on every rank with an agreement on success (dist::World)
// between them.
#include <cstdlib>

#include "core/cli.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "core/text.hpp"
#include "data/mixture.hpp"
#include "data/shard.hpp"
#include "dist/balance.hpp"
#include "dist/world.hpp"

namespace {

using namespace xmtf;
using namespace xmtf::data;

// Crash injection for the resume test: XMTF_SHARD_TEST_CRASH="chunks:N" (or "parts:N") ends
// this process abruptly after its N-th chunk (part), as a killed job would.
void maybe_crash(const char* step, int done) {
  static const char* spec = std::getenv("XMTF_SHARD_TEST_CRASH");
  if (spec == nullptr) return;
  std::string wanted = fmt::format("{}:{}", step, done);
  if (wanted == spec) {
    log::warn("XMTF_SHARD_TEST_CRASH: exiting abruptly after {} {}", done, step);
    std::_Exit(137);
  }
}

int shard(const ShardOptions& options, dist::World& world) {
  std::vector<LanguageInput> all_inputs;
  if (!world.agree([&] {
        all_inputs = discover_inputs(options.input_dir, options.languages);
        check_run(options, all_inputs);
      }))
    return 1;

  std::vector<LanguageInput> inputs;  // the languages still to do
  for (LanguageInput& input : all_inputs) {
    if (language_up_to_date(options, input)) {
      if (world.rank() == 0) log::info("{}: up to date, skipped", input.language);
    } else {
      inputs.push_back(std::move(input));
    }
  }
  if (inputs.empty()) return world.agree([&] {
           if (world.rank() == 0) write_run_index(options);
         }) ? 0 : 1;
  if (world.rank() == 0)
    for (const LanguageInput& input : inputs) invalidate_language(options, input);

  // Step 1: validate chunks.
  std::vector<ChunkTask> chunks = plan_chunks(inputs, options.chunk_bytes);
  std::vector<std::uint64_t> chunk_costs;
  for (const ChunkTask& task : chunks) chunk_costs.push_back(task.end - task.begin);
  std::vector<int> chunk_owner = dist::assign_balanced(chunk_costs, world.size());
  std::uint64_t my_bytes = 0;
  for (std::size_t i = 0; i < chunks.size(); ++i)
    if (chunk_owner[i] == world.rank()) my_bytes += chunk_costs[i];
  log::info("validating {} of {} in {} languages ({} chunks in all)", format_bytes(static_cast<double>(my_bytes)),
              format_bytes(static_cast<double>(std::accumulate(chunk_costs.begin(), chunk_costs.end(), std::uint64_t{0}))),
              inputs.size(), chunks.size());
  bool ok = world.agree([&] {
    Progress progress("validate", my_bytes, Progress::Unit::bytes);
    int done = 0;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      if (chunk_owner[i] != world.rank()) continue;
      run_chunk(options, inputs[chunks[i].language], chunks[i]);
      progress.add(chunk_costs[i]);
      maybe_crash("chunks", ++done);
    }
    progress.finish();
  });
  if (!ok) return 1;

  // Too many bad lines: the language fails (its rejects.jsonl is still written).
  std::vector<bool> too_bad(inputs.size(), false);
  if (!world.agree([&] {
        for (std::size_t l = 0; l < inputs.size(); ++l) {
          std::string problem = check_bad_fraction(options, inputs[l]);
          too_bad[l] = !problem.empty();
          if (too_bad[l] && world.rank() == 0) log::error("{}", problem);
        }
      }))
    return 1;

  // Step 2: write parts.
  std::vector<PartTask> parts;
  if (!world.agree([&] {
        for (std::size_t l = 0; l < inputs.size(); ++l)
          if (!too_bad[l])
            for (PartTask& task : plan_parts(options, inputs, l)) parts.push_back(std::move(task));
      }))
    return 1;
  std::vector<std::uint64_t> part_costs;
  for (const PartTask& task : parts) part_costs.push_back(task.bytes);
  std::vector<int> part_owner = dist::assign_balanced(part_costs, world.size());
  ok = world.agree([&] {
    int done = 0;
    for (std::size_t i = 0; i < parts.size(); ++i)
      if (part_owner[i] == world.rank()) {
        run_part(options, inputs[parts[i].language], parts[i]);
        maybe_crash("parts", ++done);
      }
  });
  if (!ok) return 1;

  // Step 3: indexes.
  std::vector<std::uint64_t> language_costs;
  for (const LanguageInput& input : inputs) language_costs.push_back(input.bytes());
  std::vector<int> language_owner = dist::assign_balanced(language_costs, world.size());
  ok = world.agree([&] {
    for (std::size_t l = 0; l < inputs.size(); ++l)
      if (language_owner[l] == world.rank()) {
        finish_language(options, inputs[l], too_bad[l]);
      }
  });
  if (!ok) return 1;
  if (!world.agree([&] {
        if (world.rank() == 0) write_run_index(options);
      }))
    return 1;
  return std::find(too_bad.begin(), too_bad.end(), true) == too_bad.end() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  xmtf::dist::World world(argc, argv);

  ShardOptions options;
  std::string languages, upsample;
  std::uint64_t shuffle_seed = 0;
  CLI::App app{
      "Shard xP3 language folders (<input>/<lang>/*.jsonl) into validated, size-capped JSON-lines parts\n"
      "<output>/<lang>/part-NNNNN.jsonl with <output>/<lang>/index.json, rejects.jsonl and a run-wide\n"
      "<output>/index.json (sampling weights). Run alone or under mpiexec -n N: the output is the same\n"
      "byte for byte. A rerun with unchanged inputs and options does nothing.",
      "xmtf-shard"};
  app.add_option("--input", options.input_dir, "folder of language folders (xP3 layout)")->required();
  app.add_option("--output", options.output_dir, "shards folder")->required();
  app.add_option("--languages", languages, "comma-separated languages (default: every folder of --input)");
  app.add_option("--max-shard-bytes", options.max_shard_bytes, "most bytes per part (default 256 MiB, at least 512)")
      ->check(CLI::Range(kMinShardBytes, UINT64_MAX));
  app.add_flag("--dedup", options.dedup,
               "drop exact duplicate lines per language, first occurrence kept (a 128-bit hash per line: "
               "16-64 bytes of memory each, up to --dedup-memory)");
  app.add_option("--dedup-memory", options.dedup_memory,
                 "most memory --dedup's hash table may take (default 1 GiB: 16-32 M lines); a language with more "
                 "lines spills its hashes to disk partitions (16 bytes per line) and reads its lines twice")
      ->check(CLI::Range(std::uint64_t{4096}, UINT64_MAX));
  app.add_option("--shuffle-seed", shuffle_seed, "shuffle each language's lines with this seed");
  app.add_option("--max-bad-fraction", options.max_bad_fraction,
                 "fail a language when more than this fraction of its lines is rejected (default 0.01)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--max-per-prompt", options.max_per_prompt,
                 "keep at most N examples per (dataset, template), like MAX_EXAMPLES_PER_DATASET_PROMPT (0: no cap)");
  app.add_option("--validation-fraction", options.validation_fraction,
                 "fraction of lines for validation-NNNNN.jsonl parts, chosen by a hash of the line (default 0)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--upsample", upsample, "sampling weight factors, e.g. code=1.3 (BLOOMZ's code upsampling)");
  app.add_option("--max-line-bytes", options.max_line_bytes, "longer lines are rejected without being loaded (default 64 MiB)")
      ->check(CLI::Range(std::uint64_t{1}, UINT64_MAX));
  app.add_option("--chunk-bytes", options.chunk_bytes,
                 "unit of work and of parallelism (default: 63/64 of --max-shard-bytes); part boundaries depend on it, "
                 "the number of ranks does not; at least 512")
      ->check(CLI::Range(kMinChunkBytes, UINT64_MAX));
  app.add_option("--threads", options.threads,
                 "threads per rank: 1 validates, hashes and writes on one core (disk writes wait on a helper thread "
                 "that uses no CPU); 2 also moves SHA-256 to that thread (a second core). Default: 2 when the rank has "
                 "2 cores to itself (its CPU affinity / ranks on the node), else 1")
      ->check(CLI::Range(1, 2));
  add_logging_options(app);

  options.threads = 0;  // not given: chosen below
  int code = run_main(app, argc, argv, [&] {
    if (options.threads == 0) options.threads = world.cores_per_rank() >= 2 ? 2 : 1;
    log::debug("{} thread(s) per rank", options.threads);
    if (!languages.empty())
      for (const std::string& language : split(languages, ','))
        if (!trim(language).empty()) options.languages.emplace_back(trim(language));
    if (app.count("--shuffle-seed") > 0) options.shuffle_seed = shuffle_seed;
    options.upsample = parse_upsample(upsample);
    // A chunk's kept lines can run one line past the chunk; a little slack keeps them in one
    // part, so a part is usually one chunk's output, moved into place rather than copied.
    if (options.chunk_bytes == 0) options.chunk_bytes = std::max(kMinChunkBytes, options.max_shard_bytes - options.max_shard_bytes / 64);
    return shard(options, world);
  });
  return code;
}
