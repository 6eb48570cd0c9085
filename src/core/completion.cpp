#include "core/completion.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <optional>

#include "core/error.hpp"
#include "core/sha256.hpp"
#include "core/text.hpp"

namespace xmtf {
namespace {

using json = nlohmann::ordered_json;
constexpr const char* kRecordFormat = "xmtf-completion/1";

json stamp_json(const FileStamp& stamp) {
  json entry{{"name", stamp.name}, {"bytes", stamp.bytes}, {"mtime_ns", stamp.mtime_ns}};
  if (!stamp.sha256.empty()) entry["sha256"] = stamp.sha256;
  return entry;
}

// Throws nlohmann's exception on a malformed entry: the caller treats the record as unreadable.
FileStamp stamp_from_json(const json& entry) {
  FileStamp stamp;
  stamp.name = entry.at("name").get<std::string>();
  stamp.bytes = entry.at("bytes").get<std::uint64_t>();
  stamp.mtime_ns = entry.at("mtime_ns").get<std::int64_t>();
  stamp.sha256 = entry.value("sha256", std::string());
  return stamp;
}

// An output name from a record: relative and inside the record's folder (a garbage record must
// not make us hash, or remove, a file elsewhere).
bool is_plain_relative(const std::string& name) {
  if (name.empty() || name.front() == '/') return false;
  for (const std::string& segment : split(name, '/'))
    if (segment.empty() || segment == "." || segment == "..") return false;
  return true;
}

std::string input_name(const fs::path& path) { return fs::absolute(path).lexically_normal().string(); }

bool same_input(const FileStamp& now, const FileStamp& recorded) {
  if (now.name != recorded.name || now.bytes != recorded.bytes) return false;
  if (!now.sha256.empty() && !recorded.sha256.empty()) return now.sha256 == recorded.sha256;
  return now.mtime_ns == recorded.mtime_ns;
}

std::optional<json> read_record(const fs::path& path, std::string& problem) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    problem = "no completion record " + path.string();
    return std::nullopt;
  }
  try {
    json record = json::parse(read_file(path));
    if (!record.is_object() || record.value("record", "") != kRecordFormat) throw Error("not a completion record");
    return record;
  } catch (const std::exception&) {
    problem = "unreadable completion record " + path.string();
    return std::nullopt;
  }
}

}  // namespace

std::int64_t mtime_ns(const fs::path& path) {
  auto time = fs::last_write_time(path);
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

FileStamp stamp_file(const fs::path& path, std::string name, Content content) {
  std::error_code ec;
  FileStamp stamp;
  stamp.name = std::move(name);
  stamp.bytes = fs::file_size(path, ec);
  if (ec) fail("cannot stat {}: {}", path.string(), ec.message());
  stamp.mtime_ns = mtime_ns(path);
  if (content == Content::hash) stamp.sha256 = sha256_file(path);
  return stamp;
}

std::string stamp_mismatch(const fs::path& path, const FileStamp& stamp, Content content) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return fmt::format("{}: missing", path.string());
  std::uint64_t bytes = fs::file_size(path, ec);
  if (ec) return fmt::format("{}: {}", path.string(), ec.message());
  if (bytes != stamp.bytes) return fmt::format("{}: {} bytes, recorded {}", path.string(), bytes, stamp.bytes);
  if (content == Content::hash && !stamp.sha256.empty()) {
    std::string sha256 = sha256_file(path);
    if (sha256 != stamp.sha256)
      return fmt::format("{}: content changed (sha256 {}, recorded {})", path.string(), sha256, stamp.sha256);
    return "";
  }
  if (mtime_ns(path) != stamp.mtime_ns) return fmt::format("{}: modified since it was recorded", path.string());
  return "";
}

CompletionRecord::CompletionRecord(std::string step, std::string options)
    : step_(std::move(step)), options_(std::move(options)) {}

void CompletionRecord::add_input(const fs::path& path, Content content) {
  std::string name = input_name(path);
  if (std::any_of(inputs_.begin(), inputs_.end(), [&](const FileStamp& s) { return s.name == name; })) return;
  inputs_.push_back(stamp_file(path, name, content));
}

void CompletionRecord::add_input(const fs::path& path, const std::string& sha256) {
  std::string name = input_name(path);
  if (std::any_of(inputs_.begin(), inputs_.end(), [&](const FileStamp& s) { return s.name == name; })) return;
  FileStamp stamp = stamp_file(path, name, Content::stat_only);
  stamp.sha256 = sha256;
  inputs_.push_back(std::move(stamp));
}

void CompletionRecord::add_output(const fs::path& folder, const std::string& relative_name, Content content) {
  if (!is_plain_relative(relative_name)) fail("output name '{}' is not a path inside {}", relative_name, folder.string());
  outputs_.push_back(stamp_file(folder / relative_name, relative_name, content));
}

void CompletionRecord::add_output(const fs::path& folder, const std::string& relative_name, const std::string& sha256) {
  if (!is_plain_relative(relative_name)) fail("output name '{}' is not a path inside {}", relative_name, folder.string());
  FileStamp stamp = stamp_file(folder / relative_name, relative_name, Content::stat_only);
  stamp.sha256 = sha256;
  outputs_.push_back(std::move(stamp));
}

void CompletionRecord::write(const fs::path& record_path) const {
  json inputs = json::array(), outputs = json::array();
  for (const FileStamp& stamp : inputs_) inputs.push_back(stamp_json(stamp));
  for (const FileStamp& stamp : outputs_) outputs.push_back(stamp_json(stamp));
  json record{{"record", kRecordFormat}, {"step", step_}, {"options", options_}, {"inputs", inputs}, {"outputs", outputs}};
  write_file_atomic(record_path, record.dump(1) + "\n");
}

std::string CompletionRecord::mismatch(const fs::path& record_path, Content outputs) const {
  std::string problem;
  std::optional<json> record = read_record(record_path, problem);
  if (!record) return problem;
  try {
    if (record->value("step", "") != step_) return "the record was written by another step";
    if (record->value("options", "") != options_) return "other options";
    const json& inputs = record->at("inputs");
    if (inputs.size() != inputs_.size()) return "other inputs";
    for (std::size_t i = 0; i < inputs_.size(); ++i)
      if (!same_input(inputs_[i], stamp_from_json(inputs[i]))) return fmt::format("{} changed", inputs_[i].name);
    const json& written = record->at("outputs");
    if (!written.is_array()) return "unreadable completion record " + record_path.string();
    for (const json& entry : written) {
      FileStamp stamp = stamp_from_json(entry);
      if (!is_plain_relative(stamp.name)) return "unreadable completion record " + record_path.string();
      std::string changed = stamp_mismatch(record_path.parent_path() / stamp.name, stamp, outputs);
      if (!changed.empty()) return changed;
    }
  } catch (const nlohmann::json::exception&) {
    return "unreadable completion record " + record_path.string();
  }
  return "";
}

std::vector<std::string> recorded_outputs(const fs::path& record_path) {
  std::string problem;
  std::vector<std::string> names;
  std::optional<json> record = read_record(record_path, problem);
  if (!record) return names;
  try {
    for (const json& entry : record->at("outputs")) {
      std::string name = entry.at("name").get<std::string>();
      if (is_plain_relative(name)) names.push_back(name);
    }
  } catch (const nlohmann::json::exception&) {
    names.clear();
  }
  return names;
}

bool paths_overlap(const fs::path& a, const fs::path& b) {
  auto resolved = [](const fs::path& path) {
    std::error_code ec;
    fs::path full = fs::weakly_canonical(fs::absolute(path), ec).lexically_normal();
    return full.has_filename() ? full : full.parent_path();  // "a/b/" is "a/b"
  };
  fs::path x = resolved(a), y = resolved(b);
  auto contains = [](const fs::path& outer, const fs::path& inner) {
    auto [end, unused] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
    return end == outer.end();
  };
  return contains(x, y) || contains(y, x);
}

}  // namespace xmtf
