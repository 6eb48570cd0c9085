#pragma once
// Completion records: what a rerun's "already done, skipped" rests on. A step that finished
// writes, last and atomically, a record of what it was made from (its inputs' sizes, mtimes and
// sha256, its options as text) and what it wrote (each output's size, mtime and sha256). A
// rerun skips the step only when the record verifies: written by the same step with the same
// options from inputs that are still the same, and every output still as it was written. A
// missing, empty or garbage record, a 0-byte, truncated, foreign or edited output (even at the
// same size) all mean "not done": the step runs again. Used by xmtf-prompt, xmtf-shard (its
// index.json stamps), xmtf-tokenize and xmtf-score; the format is in docs/data.md.
//
// Comparison rule for a file (input or output): the size always; then the sha256 when the
// record holds one and the check hashes content, else the mtime (to the nanosecond).
#include <cstdint>
#include <string>
#include <vector>

#include "core/fs.hpp"

namespace xmtf {

struct FileStamp {
  std::string name;  // inputs: the absolute path; outputs: relative to the record's folder
  std::uint64_t bytes = 0;
  std::int64_t mtime_ns = 0;
  std::string sha256;  // "" when not recorded
};

// Whether a stamp hashes the file (outputs of a few GiB may be checked by size and mtime).
enum class Content { stat_only, hash };

std::int64_t mtime_ns(const fs::path& path);
// The file's stamp now; Error when it cannot be read.
FileStamp stamp_file(const fs::path& path, std::string name, Content content = Content::hash);
// "" when the file at path still matches stamp (see the comparison rule), else what differs
// ("missing", "12 bytes, recorded 40", "content changed (sha256 ...)").
std::string stamp_mismatch(const fs::path& path, const FileStamp& stamp, Content content = Content::hash);

class CompletionRecord {
 public:
  // step names the program and its record version ("xmtf-prompt/1"); options is every option
  // that changes the outputs, as canonical text.
  CompletionRecord(std::string step, std::string options);

  // Inputs, stamped now (an input given twice is recorded once).
  void add_input(const fs::path& path, Content content = Content::hash);
  // An input whose sha256 the caller already computed (not hashed again).
  void add_input(const fs::path& path, const std::string& sha256);
  // An output in folder (the record's folder), stamped now: after it was committed.
  void add_output(const fs::path& folder, const std::string& relative_name, Content content = Content::hash);
  // An output whose sha256 the writer computed while writing it (not read again).
  void add_output(const fs::path& folder, const std::string& relative_name, const std::string& sha256);

  // Atomic (temp, fsync, rename); written after every output it names.
  void write(const fs::path& record_path) const;

  // "" when the record at record_path verifies against this one's step, options and inputs,
  // and every output it lists still matches (content hashed per `outputs`); else the reason.
  std::string mismatch(const fs::path& record_path, Content outputs = Content::hash) const;

  const std::vector<FileStamp>& outputs() const { return outputs_; }

 private:
  std::string step_;
  std::string options_;
  std::vector<FileStamp> inputs_;
  std::vector<FileStamp> outputs_;
};

// The outputs a record lists (names relative to its folder); empty when it is missing or
// unreadable. For removing what an earlier run wrote and this one does not.
std::vector<std::string> recorded_outputs(const fs::path& record_path);

// True when a and b are the same file or folder, or one lies inside the other (after resolving
// symlinks and ".."): an output that overlaps an input is refused by the programs.
bool paths_overlap(const fs::path& a, const fs::path& b);

}  // namespace xmtf
