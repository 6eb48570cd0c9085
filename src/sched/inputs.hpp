#pragma once
// The files a task reads, as its fingerprint records them: stat calls, not rereading data.
//   - typed stages: the files their input options name, by a rule per stage type (shard reads
//     <input>/<lang>/*.jsonl of its --languages; tokenize the part files under --input; train
//     the files its --data patterns match; ...): see input_rules() and docs/scheduler.md;
//   - every stage: the paths of its `inputs = [...]` key (files, folders recursively, globs).
// A file is path + size + mtime, plus a content sha256 where that is cheap: a file named
// directly and at most kHashLimit bytes (reused from the previous fingerprint while its size and
// mtime are unchanged), or a shard part whose sha256 xmtf-shard recorded in the index.json
// beside it. Folders are walked recursively (hidden entries, jobs/ and the task's own declared
// outputs skipped), their files as path + size + mtime.
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xmtf::sched {

struct FileEntry {
  std::string path;  // relative to the record's path; "" for a record of one file
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::string sha256;  // "" when not hashed

  // Same content: equal sizes and, where both were hashed, equal hashes, else equal mtimes.
  bool same_as(const FileEntry& other) const;
};

struct InputRecord {
  enum class Kind { file, folder, glob, missing };
  std::string path;  // as the task names it (relative to workdir or absolute); a glob: the pattern
  Kind kind = Kind::missing;
  std::vector<FileEntry> files;  // sorted by path
};

const char* input_kind_name(InputRecord::Kind kind);
nlohmann::json input_record_to_json(const InputRecord& record);
InputRecord input_record_from_json(const nlohmann::json& j);

// Files named directly up to this size are content-hashed.
constexpr std::uint64_t kHashLimit = std::uint64_t{64} << 20;

struct InputScan {
  std::filesystem::path workdir;
  std::filesystem::path run_dir;              // never walked into (markers change as tasks run)
  std::set<std::string> skip;                 // absolute paths: the task's declared outputs
  const std::vector<InputRecord>* previous = nullptr;  // hashes reused while stats agree
};

// The values of --name in an argument list ("--name v" and "--name=v"), in order.
std::vector<std::string> option_values(const std::vector<std::string>& command, const std::string& flag);

// Records for the files a task of `type` reads, from its command (after placeholders) and its
// extra inputs (after placeholders).
std::vector<InputRecord> collect_inputs(const std::string& type, const std::vector<std::string>& command,
                                        const std::vector<std::string>& extra_inputs, const InputScan& scan);

// Which options of each stage type name files it reads, and how (for docs and tests).
struct InputRule {
  const char* type;
  const char* option;  // "--input"
  const char* how;     // "path", "shard languages", "shard parts", "train data"
};
const std::vector<InputRule>& input_rules();

}  // namespace xmtf::sched
