#include "sched/inputs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/sha256.hpp"
#include "core/text.hpp"

namespace xmtf::sched {

using nlohmann::json;

bool FileEntry::same_as(const FileEntry& other) const {
  if (size != other.size) return false;
  if (!sha256.empty() && !other.sha256.empty()) return sha256 == other.sha256;
  return mtime_ns == other.mtime_ns;
}

const char* input_kind_name(InputRecord::Kind kind) {
  switch (kind) {
    case InputRecord::Kind::file: return "file";
    case InputRecord::Kind::folder: return "folder";
    case InputRecord::Kind::glob: return "glob";
    default: return "missing";
  }
}

// Compact on purpose: a folder of 100,000 files is one array of [path, size, mtime(, sha256)].
json input_record_to_json(const InputRecord& r) {
  json files = json::array();
  for (const auto& f : r.files) {
    json entry = json::array({f.path, f.size, f.mtime_ns});
    if (!f.sha256.empty()) entry.push_back(f.sha256);
    files.push_back(std::move(entry));
  }
  return {{"path", r.path}, {"kind", input_kind_name(r.kind)}, {"files", std::move(files)}};
}

InputRecord input_record_from_json(const json& j) {
  InputRecord r;
  r.path = j.at("path");
  std::string kind = j.at("kind");
  r.kind = kind == "file" ? InputRecord::Kind::file
           : kind == "folder" ? InputRecord::Kind::folder
           : kind == "glob" ? InputRecord::Kind::glob
                            : InputRecord::Kind::missing;
  for (const auto& f : j.at("files")) {
    FileEntry e{f.at(0), f.at(1), f.at(2), ""};
    if (f.size() > 3) e.sha256 = f.at(3);
    r.files.push_back(std::move(e));
  }
  return r;
}

std::vector<std::string> option_values(const std::vector<std::string>& command, const std::string& flag) {
  std::vector<std::string> values;
  for (std::size_t i = 0; i < command.size(); ++i) {
    if (command[i] == flag && i + 1 < command.size()) values.push_back(command[++i]);
    else if (starts_with(command[i], flag + "=")) values.push_back(command[i].substr(flag.size() + 1));
  }
  return values;
}

const std::vector<InputRule>& input_rules() {
  static const std::vector<InputRule> rules = {
      {"prompt", "--templates", "path"},     {"prompt", "--data", "path"},
      {"shard", "--input", "shard languages"},
      {"tokenize", "--tokenizer", "path"},   {"tokenize", "--input", "shard parts"},
      {"train", "--model-config", "path"},   {"train", "--init-weights", "path"},
      {"train", "--data", "train data"},
      {"score", "--model", "path"},          {"score", "--input", "path"},
      {"score", "--tokenizer", "path"},
  };
  return rules;
}

namespace {

std::int64_t mtime_of(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

bool has_glob_characters(const std::string& text) { return text.find_first_of("*?[") != std::string::npos; }

// sha256 of files already hashed by this process, by path, size and mtime: one `xmtf plan`
// checks many tasks that name the same tokenizer.
std::string memoized_sha256(const std::string& path, std::uint64_t size, std::int64_t mtime_ns) {
  static std::mutex mutex;
  static std::map<std::string, std::tuple<std::uint64_t, std::int64_t, std::string>> memo;
  {
    std::lock_guard lock(mutex);
    auto found = memo.find(path);
    if (found != memo.end() && std::get<0>(found->second) == size && std::get<1>(found->second) == mtime_ns)
      return std::get<2>(found->second);
  }
  std::string sha;
  try {
    sha = sha256_file(path);
  } catch (const Error&) {
    return "";  // unreadable: size and mtime must do
  }
  std::lock_guard lock(mutex);
  memo[path] = {size, mtime_ns, sha};
  return sha;
}

// sha256 of the parts xmtf-shard lists in <dir>/index.json, for files not modified since.
class ShardIndex {
 public:
  explicit ShardIndex(const fs::path& dir) {
    fs::path index = dir / "index.json";
    struct stat st{};
    if (::stat(index.c_str(), &st) != 0) return;
    mtime_ns_ = mtime_of(st);
    try {
      json j = json::parse(read_file(index));
      if (j.value("format", "") != "xmtf-shard/1") return;
      for (const auto& part : j.at("parts")) parts_[part.at("file")] = {part.at("bytes"), part.at("sha256")};
    } catch (const std::exception&) {
      parts_.clear();  // a torn or foreign index.json: stat fields only
    }
  }
  void annotate(const std::string& name, FileEntry& entry) const {
    auto found = parts_.find(name);
    if (found != parts_.end() && found->second.first == entry.size && entry.mtime_ns <= mtime_ns_)
      entry.sha256 = found->second.second;
  }

 private:
  std::int64_t mtime_ns_ = 0;
  std::map<std::string, std::pair<std::uint64_t, std::string>> parts_;
};

struct FolderFilter {
  std::vector<std::string> name_globs;  // empty: every file
  int max_depth = 64;                   // 1: only the folder's own files (and a bound on symlink loops)
  bool annotate_from_index = false;
  bool accepts(const std::string& name) const {
    if (name_globs.empty()) return true;
    return std::any_of(name_globs.begin(), name_globs.end(), [&](const std::string& g) { return glob_match(g, name); });
  }
};

// readdir + fstatat on open folder descriptors: 100,000 files in a fraction of a second.
class FolderWalker {
 public:
  FolderWalker(const InputScan& scan, const FolderFilter& filter, std::vector<FileEntry>& out)
      : scan_(scan), filter_(filter), out_(out), run_dir_(scan.run_dir.lexically_normal().string()) {
    while (run_dir_.size() > 1 && run_dir_.back() == '/') run_dir_.pop_back();
  }

  void walk(const std::string& absolute_root) {
    int fd = ::open(absolute_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    walk_fd(fd, absolute_root, "", 1);
    std::sort(out_.begin(), out_.end(), [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
  }

 private:
  void walk_fd(int fd, const std::string& absolute, const std::string& relative, int depth) {
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
      ::close(fd);
      return;
    }
    std::vector<std::pair<std::string, std::size_t>> files_here;  // name, index in out_
    while (dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (name.empty() || name[0] == '.') continue;
      std::string child_absolute = absolute + "/" + name;
      std::string child_relative = relative.empty() ? name : relative + "/" + name;
      if (child_absolute == run_dir_ || scan_.skip.count(child_absolute)) continue;
      struct stat st{};
      if (::fstatat(::dirfd(dir), entry->d_name, &st, 0) != 0) continue;  // vanished, or a dangling link
      if (S_ISDIR(st.st_mode)) {
        if (depth >= filter_.max_depth) continue;
        int child = ::openat(::dirfd(dir), entry->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (child >= 0) walk_fd(child, child_absolute, child_relative, depth + 1);
      } else if (S_ISREG(st.st_mode) && filter_.accepts(name)) {
        files_here.emplace_back(name, out_.size());
        out_.push_back({child_relative, static_cast<std::uint64_t>(st.st_size), mtime_of(st), ""});
      }
    }
    ::closedir(dir);
    if (filter_.annotate_from_index && !files_here.empty()) {
      ShardIndex index(absolute);
      for (const auto& [name, at] : files_here) index.annotate(name, out_[at]);
    }
  }

  const InputScan& scan_;
  const FolderFilter& filter_;
  std::vector<FileEntry>& out_;
  std::string run_dir_;
};

class InputCollector {
 public:
  explicit InputCollector(const InputScan& scan) : scan_(scan) {}

  std::vector<InputRecord> take() { return std::move(records_); }

  // A path named directly: a file (hashed when small), a folder (walked), a glob, or missing.
  void path(const std::string& named, const FolderFilter& folder_filter = {}) {
    if (named.empty() || seen_.count(named)) return;
    seen_.insert(named);
    if (has_glob_characters(named)) return glob(named);
    InputRecord record;
    record.path = named;
    std::string absolute = absolute_of(named);
    struct stat st{};
    if (::stat(absolute.c_str(), &st) != 0) {
      record.kind = InputRecord::Kind::missing;
    } else if (S_ISDIR(st.st_mode)) {
      record.kind = InputRecord::Kind::folder;
      FolderWalker(scan_, folder_filter, record.files).walk(absolute);
    } else {
      record.kind = InputRecord::Kind::file;
      record.files.push_back(hashed_file(named, absolute, st, folder_filter.annotate_from_index));
    }
    records_.push_back(std::move(record));
  }

  // "dir/part-*.h5": the files matching it (a matched folder walked), paths relative to workdir
  // when the pattern is.
  void glob(const std::string& pattern) {
    InputRecord record;
    record.path = pattern;
    record.kind = InputRecord::Kind::glob;
    bool relative = fs::path(pattern).is_relative();
    std::string prefix = scan_.workdir.lexically_normal().string() + "/";
    glob_t matches{};
    if (::glob(absolute_of(pattern).c_str(), 0, nullptr, &matches) == 0) {
      for (std::size_t i = 0; i < matches.gl_pathc; ++i) {
        std::string match = matches.gl_pathv[i];
        std::string shown = relative && starts_with(match, prefix) ? match.substr(prefix.size()) : match;
        struct stat st{};
        if (::stat(match.c_str(), &st) != 0 || scan_.skip.count(match)) continue;
        if (S_ISREG(st.st_mode)) {
          record.files.push_back({shown, static_cast<std::uint64_t>(st.st_size), mtime_of(st), ""});
        } else if (S_ISDIR(st.st_mode)) {
          std::vector<FileEntry> inside;
          FolderWalker(scan_, {}, inside).walk(match);
          for (auto& f : inside) record.files.push_back({shown + "/" + f.path, f.size, f.mtime_ns, ""});
        }
      }
    }
    ::globfree(&matches);
    std::sort(record.files.begin(), record.files.end(), [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
    records_.push_back(std::move(record));
  }

 private:
  // Normal form, without a trailing '/' ("data/." is "data"), as walks compare path strings.
  std::string absolute_of(const std::string& named) const {
    fs::path p(named);
    std::string absolute = (p.is_absolute() ? p : scan_.workdir / p).lexically_normal().string();
    while (absolute.size() > 1 && absolute.back() == '/') absolute.pop_back();
    return absolute;
  }

  FileEntry hashed_file(const std::string& named, const std::string& absolute, const struct stat& st, bool shard_part) {
    FileEntry entry{"", static_cast<std::uint64_t>(st.st_size), mtime_of(st), ""};
    if (shard_part) ShardIndex(fs::path(absolute).parent_path()).annotate(fs::path(absolute).filename().string(), entry);
    if (!entry.sha256.empty() || entry.size > kHashLimit) return entry;
    if (const FileEntry* before = previous_entry(named); before && before->size == entry.size &&
                                                         before->mtime_ns == entry.mtime_ns && !before->sha256.empty()) {
      entry.sha256 = before->sha256;
      return entry;
    }
    entry.sha256 = memoized_sha256(absolute, entry.size, entry.mtime_ns);
    return entry;
  }

  const FileEntry* previous_entry(const std::string& named) const {
    if (!scan_.previous) return nullptr;
    for (const auto& r : *scan_.previous)
      if (r.path == named && r.kind == InputRecord::Kind::file && r.files.size() == 1) return &r.files[0];
    return nullptr;
  }

  const InputScan& scan_;
  std::vector<InputRecord> records_;
  std::set<std::string> seen_;
};

// shard: --input is a folder of language folders; a task reads <input>/<lang>/*.jsonl of the
// languages it names (all language folders without --languages).
void shard_languages(InputCollector& in, const std::vector<std::string>& command, const std::string& input) {
  std::vector<std::string> languages;
  for (const auto& value : option_values(command, "--languages"))
    for (const auto& language : split(value, ','))
      if (!trim(language).empty()) languages.emplace_back(trim(language));
  FolderFilter jsonl{{"*.jsonl"}, 1, false};
  if (languages.empty()) {
    FolderFilter language_folders{{"*.jsonl"}, 2, false};
    return in.path(input, language_folders);
  }
  for (const auto& language : languages) in.path((fs::path(input) / language).string(), jsonl);
}

// train: --data LANG:WEIGHT:PATTERN[,PATTERN]; patterns glob file names, as xmtf-train does.
void train_data(InputCollector& in, const std::string& spec) {
  auto fields = split(spec, ':');
  if (fields.size() < 3) return;  // xmtf-train refuses it
  std::string patterns = fields[2];
  for (std::size_t i = 3; i < fields.size(); ++i) patterns += ":" + fields[i];
  for (const auto& pattern : split(patterns, ','))
    if (!pattern.empty()) in.path(pattern);
}

}  // namespace

std::vector<InputRecord> collect_inputs(const std::string& type, const std::vector<std::string>& command,
                                        const std::vector<std::string>& extra_inputs, const InputScan& scan) {
  InputCollector in(scan);
  static const FolderFilter shard_parts{{"part-*.jsonl", "validation-*.jsonl"}, 64, true};
  for (const auto& rule : input_rules()) {
    if (type != rule.type) continue;
    std::string how = rule.how;
    for (const auto& value : option_values(command, rule.option)) {
      if (how == "shard languages") shard_languages(in, command, value);
      else if (how == "shard parts") in.path(value, shard_parts);
      else if (how == "train data") train_data(in, value);
      else in.path(value);
    }
  }
  for (const auto& extra : extra_inputs) in.path(extra);
  return in.take();
}

}  // namespace xmtf::sched
