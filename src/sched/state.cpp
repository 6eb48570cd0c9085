#include "sched/state.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/text.hpp"

namespace xmtf::sched {

namespace {

struct Statement {
  sqlite3_stmt* handle = nullptr;
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &handle, nullptr) != SQLITE_OK) fail("sqlite: {}: {}", sql, sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(handle); }
  void bind(int i, const std::string& v) { sqlite3_bind_text(handle, i, v.c_str(), -1, SQLITE_TRANSIENT); }
  void bind(int i, long long v) { sqlite3_bind_int64(handle, i, v); }
  void bind(int i, double v) { sqlite3_bind_double(handle, i, v); }
  std::string text(int i) {
    const unsigned char* t = sqlite3_column_text(handle, i);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
};

}  // namespace

void write_launch_record(const Submission& s) {
  nlohmann::json j = {{"format", "xmtf-submission/1"}, {"stage", s.stage},        {"job_id", s.job_id},
                      {"index_offset", s.index_offset}, {"indices", format_index_ranges(s.indices)},
                      {"dependency", s.dependency},      {"submitted_at", s.submitted_at}, {"cancelled", s.cancelled}};
  write_file_atomic(fs::path(s.launch_dir) / "submission.json", j.dump(2) + "\n");
}

std::vector<Submission> read_launch_records(const fs::path& run_dir) {
  std::vector<Submission> out;
  std::error_code ec;
  for (const auto& stage : fs::directory_iterator(run_dir, ec)) {
    if (!stage.is_directory() || !fs::is_directory(stage.path() / "launch")) continue;
    for (const auto& launch : fs::directory_iterator(stage.path() / "launch")) {
      fs::path record = launch.path() / "submission.json";
      if (!fs::exists(record)) continue;
      try {
        auto j = nlohmann::json::parse(read_file(record));
        Submission s;
        s.stage = j.at("stage");
        s.job_id = j.at("job_id");
        s.index_offset = j.at("index_offset");
        s.indices = parse_index_ranges(j.at("indices"));
        s.dependency = j.at("dependency");
        s.launch_dir = launch.path().string();
        s.submitted_at = j.at("submitted_at");
        s.cancelled = j.value("cancelled", false);
        out.push_back(std::move(s));
      } catch (const std::exception& e) {
        fail("{}: unreadable submission record: {}", record.string(), e.what());
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const Submission& a, const Submission& b) {
    return a.submitted_at != b.submitted_at ? a.submitted_at < b.submitted_at : a.launch_dir < b.launch_dir;
  });
  for (std::size_t i = 0; i < out.size(); ++i) out[i].id = static_cast<long>(i + 1);
  return out;
}

std::vector<Submission> load_submissions(const fs::path& run_dir) {
  if (fs::exists(run_dir / "state.sqlite")) return StateStore(run_dir).submissions();
  return read_launch_records(run_dir);
}

StateStore::StateStore(const std::filesystem::path& run_dir) : path_(run_dir / "state.sqlite") {
  std::filesystem::create_directories(run_dir);
  bool existed = fs::exists(path_);
  if (sqlite3_open(path_.c_str(), &db_) != SQLITE_OK) fail("cannot open {}: {}", path_.string(), sqlite3_errmsg(db_));
  sqlite3_busy_timeout(db_, 10000);
  exec("PRAGMA journal_mode=WAL");
  exec(R"(CREATE TABLE IF NOT EXISTS submissions(
            id INTEGER PRIMARY KEY AUTOINCREMENT, stage TEXT NOT NULL, job_id TEXT NOT NULL,
            index_offset INTEGER NOT NULL, indices TEXT NOT NULL, dependency TEXT NOT NULL,
            launch_dir TEXT NOT NULL, submitted_at REAL NOT NULL, cancelled INTEGER NOT NULL DEFAULT 0))");
  if (existed) return;
  std::vector<Submission> records = read_launch_records(run_dir);
  if (records.empty()) return;
  exec("BEGIN");
  for (auto& record : records) {
    insert(record);
    if (record.cancelled) mark_cancelled(record.id);
  }
  exec("COMMIT");
  rebuilt_ = true;
  log::warn("{} was missing: rebuilt from {} submission records in the launch folders", path_.string(), records.size());
}

StateStore::~StateStore() { sqlite3_close(db_); }

void StateStore::exec(const std::string& sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : "?";
    sqlite3_free(message);
    fail("sqlite {}: {}", path_.string(), text);
  }
}

void StateStore::add(Submission& s) {
  insert(s);
  write_launch_record(s);
}

void StateStore::insert(Submission& s) {
  Statement st(db_, "INSERT INTO submissions(stage, job_id, index_offset, indices, dependency, launch_dir, submitted_at) VALUES(?,?,?,?,?,?,?)");
  st.bind(1, s.stage);
  st.bind(2, s.job_id);
  st.bind(3, static_cast<long long>(s.index_offset));
  st.bind(4, format_index_ranges(s.indices));
  st.bind(5, s.dependency);
  st.bind(6, s.launch_dir);
  st.bind(7, s.submitted_at);
  if (sqlite3_step(st.handle) != SQLITE_DONE) fail("sqlite {}: {}", path_.string(), sqlite3_errmsg(db_));
  s.id = static_cast<long>(sqlite3_last_insert_rowid(db_));
}

void StateStore::set_dependency(long id, const std::string& dependency) {
  Statement st(db_, "UPDATE submissions SET dependency = ? WHERE id = ?");
  st.bind(1, dependency);
  st.bind(2, static_cast<long long>(id));
  if (sqlite3_step(st.handle) != SQLITE_DONE) fail("sqlite {}: {}", path_.string(), sqlite3_errmsg(db_));
  write_launch_record(by_id(id));
}

void StateStore::mark_cancelled(long id) {
  Statement st(db_, "UPDATE submissions SET cancelled = 1 WHERE id = ?");
  st.bind(1, static_cast<long long>(id));
  if (sqlite3_step(st.handle) != SQLITE_DONE) fail("sqlite {}: {}", path_.string(), sqlite3_errmsg(db_));
  Submission s = by_id(id);
  if (fs::exists(fs::path(s.launch_dir) / "submission.json")) write_launch_record(s);
}

Submission StateStore::by_id(long id) const {
  for (auto& s : submissions())
    if (s.id == id) return s;
  fail("{}: no submission {}", path_.string(), id);
}

std::vector<Submission> StateStore::submissions() const {
  Statement st(db_, "SELECT id, stage, job_id, index_offset, indices, dependency, launch_dir, submitted_at, cancelled FROM submissions ORDER BY id");
  std::vector<Submission> out;
  while (sqlite3_step(st.handle) == SQLITE_ROW) {
    Submission s;
    s.id = sqlite3_column_int64(st.handle, 0);
    s.stage = st.text(1);
    s.job_id = st.text(2);
    s.index_offset = sqlite3_column_int64(st.handle, 3);
    s.indices = parse_index_ranges(st.text(4));
    s.dependency = st.text(5);
    s.launch_dir = st.text(6);
    s.submitted_at = sqlite3_column_double(st.handle, 7);
    s.cancelled = sqlite3_column_int(st.handle, 8) != 0;
    out.push_back(std::move(s));
  }
  return out;
}

int StateStore::next_launch_number(const std::string& stage) const {
  Statement st(db_, "SELECT COUNT(*) FROM submissions WHERE stage = ?");
  st.bind(1, stage);
  sqlite3_step(st.handle);
  return static_cast<int>(sqlite3_column_int64(st.handle, 0)) + 1;
}

std::string format_index_ranges(const std::vector<std::size_t>& sorted) {
  std::string out;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += j == i ? fmt::format("{}", sorted[i]) : fmt::format("{}-{}", sorted[i], sorted[j]);
    i = j + 1;
  }
  return out;
}

std::vector<std::size_t> parse_index_ranges(const std::string& ranges) {
  std::vector<std::size_t> out;
  if (ranges.empty()) return out;
  for (const auto& part : split(ranges, ',')) {
    auto dash = part.find('-');
    std::size_t first = std::stoul(part.substr(0, dash));
    std::size_t last = dash == std::string::npos ? first : std::stoul(part.substr(dash + 1));
    for (std::size_t i = first; i <= last; ++i) out.push_back(i);
  }
  return out;
}

}  // namespace xmtf::sched
