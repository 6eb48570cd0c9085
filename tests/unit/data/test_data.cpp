// Unit and end-to-end tests of src/data: validation of every bad-line case, the chunked line
// reader, the mixture weights against BLOOMZ's own file, and xmtf-shard's output against the
// independent Python count in tests/reference/data/golden_shard.json.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>

#include "core/completion.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/process.hpp"
#include "core/sha256.hpp"
#include "core/text.hpp"
#include "data/hash.hpp"
#include "data/line_reader.hpp"
#include "data/mixture.hpp"
#include "data/part_file.hpp"
#include "data/shard.hpp"
#include "data/validate.hpp"

using namespace xmtf;
using namespace xmtf::data;
using json = nlohmann::json;

namespace {

const fs::path kData = fs::path(XMTF_TEST_DATA_DIR) / "xp3";
const fs::path kShard = fs::path(XMTF_BIN_DIR) / "xmtf-shard";

fs::path fresh_temp_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / fmt::format("xmtf-data-test-{}-{}", ::getpid(), name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

int run_shard(const std::string& arguments) {
  std::string command = shell_quote(kShard.string()) + " " + arguments + " --log-level warn";
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

json load_json(const fs::path& path) { return json::parse(read_file(path)); }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines = split(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::string concatenated_parts(const fs::path& language_dir, const std::string& split_name) {
  std::string all;
  json index = load_json(language_dir / "index.json");
  for (const json& part : index["parts"])
    if (part["split"] == split_name) all += read_file(language_dir / part["file"].get<std::string>());
  return all;
}

std::string reason_category(const std::string& reason) {
  const std::pair<const char*, const char*> categories[] = {
      {"empty line", "empty"},      {"NUL byte", "nul"},          {"invalid UTF-8", "utf8"},
      {"invalid JSON", "json"},     {"not a JSON object", "object"}, {"missing field", "missing"},
      {"is not a string", "type"}, {"empty targets", "empty_targets"}};
  for (const auto& [needle, category] : categories)
    if (reason.find(needle) != std::string::npos) return category;
  return "unknown: " + reason;
}

std::string check(std::string_view line) {
  LineValidator validator;
  return validator.check(line);
}

}  // namespace

// ------------------------------------------------------------------ validation

TEST(Validate, AcceptsRealLinesAndKeepsExtraFields) {
  EXPECT_EQ(check(lines_of(read_file(kData / "xp3_card_example.jsonl"))[0]), "");
  EXPECT_EQ(check(R"({"inputs": "x", "targets": "y", "language": "sw", "template": "t", "score": [1, 2]})"), "");
  EXPECT_EQ(check(R"(  {"targets": "y", "inputs": ""}  )"), "");  // empty inputs are allowed
}

TEST(Validate, RejectsEveryBadLineKind) {
  EXPECT_EQ(check(""), "empty line");
  EXPECT_EQ(check("  \t"), "empty line");
  EXPECT_EQ(check(std::string("{\"inputs\": \"a\0b\", \"targets\": \"c\"}", 31)), "NUL byte in line");
  EXPECT_EQ(check("{\"inputs\": \"caf\xe9\", \"targets\": \"x\"}"), "invalid UTF-8");
  EXPECT_EQ(check("{\"inputs\": \"\xed\xa0\x80\", \"targets\": \"x\"}"), "invalid UTF-8");  // encoded surrogate
  EXPECT_EQ(check("{\"inputs\": \"\xf0\x9f\x98\", \"targets\": \"x\"}"), "invalid UTF-8");  // cut sequence
  EXPECT_EQ(check(R"(["inputs", "targets"])"), "not a JSON object");
  EXPECT_EQ(check(R"("text")"), "not a JSON object");
  EXPECT_EQ(check("42"), "not a JSON object");
  EXPECT_EQ(check(R"({"inputs": 3, "targets": "x"})"), "field \"inputs\" is not a string");
  EXPECT_EQ(check(R"({"inputs": "x", "targets": null})"), "field \"targets\" is not a string");
  EXPECT_EQ(check(R"({"inputs": "x", "targets": {"a": 1}})"), "field \"targets\" is not a string");
  EXPECT_EQ(check(R"({"inputs": "x"})"), "missing field \"targets\"");
  EXPECT_EQ(check(R"({"targets": "x"})"), "missing field \"inputs\"");
  EXPECT_EQ(check(R"({"inputs": "x", "targets": ""})"), "empty targets");
  EXPECT_EQ(reason_category(check(R"({"inputs": "x", "targets": "y"} trailing)")), "json");
  EXPECT_EQ(reason_category(check(R"({"inputs": "x", "targets": "y")")), "json");
  EXPECT_EQ(reason_category(check(R"({"inputs": "x\q", "targets": "y"})")), "json");
  EXPECT_EQ(reason_category(check("{\"inputs\": \"tab\there\", \"targets\": \"y\"}")), "json");  // raw control char
}

TEST(Validate, NormalizesBomOnlyOnFirstLineAndOneCarriageReturn) {
  EXPECT_EQ(normalize_line("\xEF\xBB\xBF{}\r", true), "{}");
  EXPECT_EQ(normalize_line("\xEF\xBB\xBF{}", false), "\xEF\xBB\xBF{}");
  EXPECT_EQ(normalize_line("{}\r\r", false), "{}\r");
  EXPECT_EQ(normalize_line("{}", true), "{}");
}

TEST(Validate, PromptGroupUsesXp3xFieldsElseFallback) {
  LineValidator validator;
  EXPECT_EQ(validator.prompt_group(R"({"inputs":"x","targets":"y","dataset":"xcopa","config":"sw","template":"best"})", "f.jsonl"),
            "xcopa/sw/best");
  EXPECT_EQ(validator.prompt_group(R"({"inputs":"x","targets":"y"})", "f.jsonl"), "f.jsonl");
}

// The batch fast path may only vouch for lines LineValidator::check accepts, and must vouch for
// runs of clean lines (else it is useless). Real sample lines, each mutated at random (bytes
// flipped, quotes/braces/backslashes/CR/NUL/spaces/0xFF inserted, cut, doubled, BOM-prefixed),
// walked the way run_chunk walks a chunk.
TEST(Validate, BatchFastPathOnlyVouchesForLinesTheCheckAccepts) {
  std::vector<std::string> good;
  for (const auto& entry : fs::recursive_directory_iterator(kData / "samples"))
    if (entry.path().extension() == ".jsonl")
      for (const std::string& line : lines_of(read_file(entry.path()))) good.push_back(line);
  ASSERT_GE(good.size(), 1000u);
  std::mt19937 random(11);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(random() % n); };
  const std::string inserts[] = {"\"", "{", "}", "\\", "\r", std::string(1, '\0'), " ", "\xff", "\xc3", ",", "\t", "]"};
  auto mutate = [&](std::string line) {
    switch (pick(9)) {
      case 0: line[pick(line.size())] ^= static_cast<char>(1 << pick(8)); break;
      case 1: line.insert(pick(line.size() + 1), inserts[pick(std::size(inserts))]); break;
      case 2: line.resize(pick(line.size())); break;
      case 3: line += good[pick(good.size())]; break;
      case 4: line = "\xEF\xBB\xBF" + line; break;
      case 5: line += pick(2) ? "\r" : " "; break;
      case 6: line = pick(2) ? R"({"inputs": "x", "targets": ""})" : R"({"inputs": "x", "targets": 1})"; break;
      case 7: line = std::string(pick(3), ' '); break;
      default: line.erase(pick(line.size()), 1 + pick(3)); break;
    }
    return line;
  };
  LineValidator validator;
  BatchValidator batch;
  std::size_t vouched_total = 0, lines_total = 0;
  for (int round = 0; round < 60; ++round) {
    double bad_share = round % 3 == 0 ? 0.0 : round % 3 == 1 ? 0.01 : 0.3;
    std::vector<std::string> lines;
    for (int i = 0; i < 400; ++i) {
      std::string line = good[pick(good.size())];
      lines.push_back(std::uniform_real_distribution<>(0, 1)(random) < bad_share ? mutate(line) : line);
    }
    std::string text;
    std::vector<std::size_t> starts;
    for (const std::string& line : lines) {
      starts.push_back(text.size());
      text += line + "\n";
    }
    std::size_t limit = round % 5 == 4 ? 300 : std::size_t{64} << 20;
    text.append(LineReader::kPadding, '\0');
    std::size_t end = text.size() - LineReader::kPadding;
    if (bad_share == 0.0 && limit > 1000) {
      EXPECT_EQ(BatchValidator().count_valid_prefix(std::string_view(text.data(), end), limit), lines.size())
          << "a clean batch is vouched for whole";
    }
    for (std::size_t i = 0; i < lines.size();) {
      std::size_t vouched = batch.count_valid_prefix(std::string_view(text.data() + starts[i], end - starts[i]), limit);
      ASSERT_LE(i + vouched, lines.size());
      for (std::size_t k = i; k < i + vouched; ++k) {
        std::string_view normalized = normalize_line(lines[k], false);
        ASSERT_EQ(validator.check(normalized), "") << "vouched for a bad line: " << lines[k];
        ASSERT_LE(lines[k].size(), limit);
        ASSERT_FALSE(lines[k].starts_with("\xEF\xBB\xBF"));
      }
      vouched_total += vouched;
      i += std::max<std::size_t>(vouched, 1);  // the first unvouched line goes to the slow path
    }
    lines_total += lines.size();
  }
  EXPECT_GT(vouched_total, lines_total / 2) << "the fast path should carry most lines";
}

// ------------------------------------------------------------------ line reader

namespace {
struct ReadLine {
  std::string bytes;
  std::uint64_t offset, length;
  bool has_newline, too_long;
  bool operator==(const ReadLine&) const = default;
};

std::vector<ReadLine> read_range(const fs::path& path, std::uint64_t begin, std::uint64_t end, std::uint64_t max_line) {
  std::vector<ReadLine> out;
  auto start = first_line_start(path, begin, end);
  if (!start) return out;
  LineReader reader(path, *start, end, max_line);
  Line line;
  while (reader.next(line))
    out.push_back(ReadLine{std::string(line.bytes), line.offset, line.length, line.has_newline, line.too_long});
  return out;
}
}  // namespace

TEST(LineReader, ChunksTogetherReadEveryLineExactlyOnce) {
  fs::path dir = fresh_temp_dir("reader");
  std::mt19937 random(7);
  std::string contents;
  for (int i = 0; i < 400; ++i) {
    int length = (i % 37 == 0) ? 3000 + static_cast<int>(random() % 5000) : static_cast<int>(random() % 90);
    contents += std::string(static_cast<std::size_t>(length), static_cast<char>('a' + i % 26));
    if (i % 50 == 3) contents += "\n";  // some empty lines
    contents += "\n";
  }
  contents += "last line without newline";
  fs::path path = dir / "lines.txt";
  write_file_atomic(path, contents);
  const std::uint64_t max_line = 5000;  // some lines are too long
  auto whole = read_range(path, 0, contents.size(), max_line);
  std::vector<std::string> expected = split(contents, '\n');
  ASSERT_EQ(whole.size(), expected.size());
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < whole.size(); ++i) {
    EXPECT_EQ(whole[i].offset, offset);
    EXPECT_EQ(whole[i].length, expected[i].size());
    EXPECT_EQ(whole[i].too_long, expected[i].size() > max_line);
    if (!whole[i].too_long) {
      EXPECT_EQ(whole[i].bytes, expected[i]);
    }
    offset += expected[i].size() + 1;
  }
  EXPECT_FALSE(whole.back().has_newline);
  for (std::uint64_t chunk : {1, 7, 64, 1000, 4096, 100000}) {
    std::vector<ReadLine> joined;
    for (std::uint64_t begin = 0; begin < contents.size(); begin += chunk) {
      auto part = read_range(path, begin, std::min<std::uint64_t>(begin + chunk, contents.size()), max_line);
      joined.insert(joined.end(), part.begin(), part.end());
    }
    EXPECT_EQ(joined, whole) << "chunk " << chunk;
  }
  fs::remove_all(dir);
}

// Run in a fresh process by GiantLineOverDefaultLimitIsSkippedNotLoaded (this binary, this test
// alone), so that the peak memory it reports is the reader's and not what other tests of the
// same process allocated. Prints "peak_rss_kib=N" (VmHWM of its own, freshly exec'd, image).
TEST(LineReader, DISABLED_GiantLineInAFreshProcess) {
  const char* file = std::getenv("XMTF_TEST_GIANT_LINE_FILE");
  ASSERT_NE(file, nullptr) << "run by GiantLineOverDefaultLimitIsSkippedNotLoaded";
  fs::path path = file;
  auto lines = read_range(path, 0, fs::file_size(path), std::uint64_t{64} << 20);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_FALSE(lines[0].too_long);
  EXPECT_TRUE(lines[1].too_long);
  EXPECT_EQ(lines[1].length, fs::file_size(path) - 32 - 1 - 32);  // all but the two short lines and a newline
  EXPECT_TRUE(lines[1].bytes.empty());
  EXPECT_EQ(lines[2].bytes, R"({"inputs": "c", "targets": "d"})");
  // A chunk that lies inside the giant line owns no line.
  EXPECT_FALSE(first_line_start(path, 1 << 20, 2 << 20).has_value());
  for (const auto& line : split(read_file("/proc/self/status"), '\n'))
    if (starts_with(line, "VmHWM:")) std::printf("peak_rss_kib=%lld\n", std::atoll(line.c_str() + 6));
}

TEST(LineReader, GiantLineOverDefaultLimitIsSkippedNotLoaded) {
  fs::path dir = fresh_temp_dir("giant");
  fs::path path = dir / "giant.jsonl";
  const std::uint64_t giant = (std::uint64_t{64} << 20) + 10;  // > 64 MiB
  {
    std::ofstream out(path, std::ios::binary);
    out << "{\"inputs\": \"a\", \"targets\": \"b\"}\n{\"inputs\": \"";
    std::string block(1 << 20, 'x');
    std::uint64_t written = 12;
    while (written + block.size() < giant - 18) {
      out << block;
      written += block.size();
    }
    out << std::string(giant - 18 - written, 'x') << "\", \"targets\": \"b\"}";
    out << "\n{\"inputs\": \"c\", \"targets\": \"d\"}\n";
  }
  ASSERT_EQ(fs::file_size(path), 32 + giant + 1 + 32);
  ProcessOptions options;
  options.set_env.emplace_back("XMTF_TEST_GIANT_LINE_FILE", path.string());
  ProcessResult child = run_process({fs::read_symlink("/proc/self/exe").string(), "--gtest_also_run_disabled_tests",
                                     "--gtest_filter=LineReader.DISABLED_GiantLineInAFreshProcess"},
                                    options);
  ASSERT_EQ(child.exit_code, 0) << child.out << child.err;
  std::smatch peak;
  ASSERT_TRUE(std::regex_search(child.out, peak, std::regex("peak_rss_kib=([0-9]+)"))) << child.out;
  // Memory stayed bounded: the reader's buffer stops growing at --max-line-bytes.
  EXPECT_LT(std::stoll(peak[1]), 160 * 1024) << "peak RSS in KiB of the reading process";
  fs::remove_all(dir);
}

// ------------------------------------------------------------------ part files

// Lines crossing 4 MiB block edges, a tail that is not a multiple of the O_DIRECT alignment, both
// hashing modes: the file, its size and its SHA-256 (OpenSSL over the expected bytes) must match;
// an uncommitted file leaves nothing behind.
TEST(PartFile, WritesExactBytesAndHashAcrossBlocks) {
  fs::path dir = fresh_temp_dir("partfile");
  std::mt19937 random(3);
  for (int mode = 0; mode < 3; ++mode) {
    std::string expected;
    fs::path path = dir / fmt::format("part-{}.jsonl", mode);
    {
      PartFile part(path, PartFile::Options{.hash_in_background = mode == 1, .direct = mode < 2});
      std::uint64_t lines = 0;
      while (expected.size() < PartFile::kBlockBytes * 2 + 12345) {
        std::string line(static_cast<std::size_t>(random() % 70000), static_cast<char>('a' + lines % 26));
        part.write_line(line);
        expected += line + "\n";
        ++lines;
      }
      part.write_block("{\"x\": 1}\n{\"y\": 2}\n", 2);
      expected += "{\"x\": 1}\n{\"y\": 2}\n";
      EXPECT_FALSE(fs::exists(path)) << "visible only after commit";
      PartRecord record = part.commit();
      EXPECT_EQ(record.samples, lines + 2);
      EXPECT_EQ(record.bytes, expected.size());
      EXPECT_EQ(record.sha256, sha256_hex(expected));
    }
    EXPECT_EQ(read_file(path), expected);
  }
  {
    PartFile abandoned(dir / "abandoned.jsonl", PartFile::Options{.hash_in_background = true});
    abandoned.write_line(std::string(5 << 20, 'z'));
  }
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"part-0.jsonl", "part-1.jsonl", "part-2.jsonl"}));
  fs::remove_all(dir);
}

// ramfs refuses O_DIRECT (and creates the file before saying so): parts must then go through
// the page cache with the same bytes. Needs a private mount namespace (`unshare -rm`), else skipped.
TEST(XmtfShard, FileSystemWithoutODirectGetsTheSameOutput) {
  if (std::system("unshare -rm true > /dev/null 2>&1") != 0) GTEST_SKIP() << "no private mount namespace here";
  fs::path work = fresh_temp_dir("ramfs"), mountpoint = work / "ramfs", reference = work / "reference";
  fs::create_directories(mountpoint);
  std::string options = fmt::format("--input {} --max-shard-bytes 20000", (kData / "samples").string());
  std::string inside = fmt::format("mount -t ramfs ramfs {0} && {1} {2} --output {0}/out --log-level warn && cp -r {0}/out {3}/copied",
                                   mountpoint.string(), kShard.string(), options, work.string());
  ASSERT_EQ(std::system(fmt::format("unshare -rm sh -c {}", shell_quote(inside)).c_str()), 0);
  ASSERT_EQ(run_shard(fmt::format("{} --output {}", options, reference.string())), 0);
  // Byte for byte, but for the completion records (they hold the parts' mtimes).
  ASSERT_EQ(std::system(fmt::format("diff -r -x .xmtf-shard.done {} {}", (work / "copied").string(), reference.string()).c_str()), 0);
  fs::remove_all(work);
}

// ------------------------------------------------------------------ hashing

TEST(Hash, SetKeepsFirstOccurrencesOnlyAndGrows) {
  HashSet128 set;
  for (int round = 0; round < 2; ++round)
    for (int i = 0; i < 5000; ++i) EXPECT_EQ(set.insert(hash128(std::to_string(i))), round == 0);
  EXPECT_EQ(set.size(), 5000u);
  EXPECT_LE(set.memory_bytes(), 5000u * 16 * 4);
}

TEST(Hash, ValidationSplitFollowsTheFraction) {
  int in_validation = 0;
  for (int i = 0; i < 20000; ++i) in_validation += in_validation_split("line " + std::to_string(i), 0.1);
  EXPECT_NEAR(in_validation / 20000.0, 0.1, 0.01);
  EXPECT_FALSE(in_validation_split("anything", 0.0));
  EXPECT_TRUE(in_validation_split("anything", 1.0));
}

// ------------------------------------------------------------------ mixture

namespace {
// BLOOMZ's weights file: "train: 0.3924620202 0:0.950 /path/xp3_en, ..." -> {en: 0.39...}
std::map<std::string, double> read_bloomz_weights(const fs::path& path) {
  std::string text = read_file(path);
  std::map<std::string, double> weights;
  std::regex item(R"(([0-9.]+) [0-9.:]+ \S*/xp3_([a-z]+))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), item); it != std::sregex_iterator(); ++it)
    weights[(*it)[2]] = std::stod((*it)[1]);
  return weights;
}
}  // namespace

TEST(Mixture, ReproducesBloomzWeightsFromXp3LanguageSizes) {
  std::map<std::string, std::uint64_t> kilobytes;
  for (const std::string& row : lines_of(read_file(kData / "xp3_language_sizes.tsv"))) {
    auto fields = split(row, '\t');
    if (fields[0] == "language" || fields[0] == "total") continue;
    kilobytes[fields[0]] = std::stoull(fields[1]);
  }
  ASSERT_EQ(kilobytes.size(), 46u);
  auto mixture = mixture_weights(kilobytes, parse_upsample("code=1.3"));
  for (const char* file : {"xmtf_xp3capmixnewcodelong_train.txt", "xmtf_xp3capmixnewcodelong_validation.txt"}) {
    auto bloomz = read_bloomz_weights(kData / file);
    ASSERT_EQ(bloomz.size(), 46u) << file;
    for (const auto& [language, weight] : bloomz) EXPECT_NEAR(mixture.at(language).weight, weight, 6e-11) << language;
  }
  EXPECT_NEAR(mixture.at("en").weight, 0.3924620202, 1e-10);
  EXPECT_NEAR(mixture.at("code").byte_share * 1.3, mixture.at("code").weight, 1e-15);
  double normalized = 0;
  for (const auto& [language, entry] : mixture) normalized += entry.normalized_weight;
  EXPECT_NEAR(normalized, 1.0, 1e-12);
}

TEST(Mixture, ParsesUpsampleAndRejectsNonsense) {
  auto factors = parse_upsample("code=1.3, en=2");
  EXPECT_DOUBLE_EQ(factors.at("code"), 1.3);
  EXPECT_DOUBLE_EQ(factors.at("en"), 2.0);
  EXPECT_THROW(parse_upsample("code"), Error);
  EXPECT_THROW(parse_upsample("code=-1"), Error);
  EXPECT_THROW(parse_upsample("=2"), Error);
}

// ------------------------------------------------------------------ xmtf-shard end to end

namespace {
const json& golden() {
  static const json value = load_json(fs::path(XMTF_SOURCE_DIR) / "tests/reference/data/golden_shard.json");
  return value;
}

// index.json of every language against the Python count.
void expect_matches_golden(const fs::path& output, const json& expected_languages, bool dedup) {
  json run_index = load_json(output / "index.json");
  std::uint64_t all_bytes = 0;
  for (const auto& [language, expected] : expected_languages.items()) all_bytes += dedup ? expected["dedup"]["bytes"].get<std::uint64_t>() : expected["train_bytes"].get<std::uint64_t>();
  for (const auto& [language, expected] : expected_languages.items()) {
    SCOPED_TRACE(language);
    fs::path dir = output / language;
    json index = load_json(dir / "index.json");
    std::uint64_t samples = dedup ? expected["dedup"]["samples"] : expected["train_samples"];
    std::uint64_t bytes = dedup ? expected["dedup"]["bytes"] : expected["train_bytes"];
    std::string sha = dedup ? expected["dedup"]["sha256_concatenated"] : expected["sha256_concatenated"];
    EXPECT_EQ(index["totals"]["train"]["samples"], samples);
    EXPECT_EQ(index["totals"]["train"]["bytes"], bytes);
    EXPECT_EQ(sha256_hex(concatenated_parts(dir, "train")), sha);
    for (const json& part : index["parts"]) {
      fs::path path = dir / part["file"].get<std::string>();
      EXPECT_EQ(sha256_file(path), part["sha256"]);
      EXPECT_EQ(fs::file_size(path), part["bytes"]);
      EXPECT_EQ(lines_of(read_file(path)).size(), part["samples"]);
    }
    for (const json& input : index["inputs"]) {
      const json& counts = expected["files"][input["file"].get<std::string>()];
      std::uint64_t duplicates = dedup ? expected["dedup"]["duplicates"][input["file"].get<std::string>()].get<std::uint64_t>() : 0;
      EXPECT_EQ(input["lines_read"], counts["lines_read"]);
      EXPECT_EQ(input["rejected"], counts["rejected"]);
      EXPECT_EQ(input["duplicates"], duplicates);
      EXPECT_EQ(input["kept"], counts["kept"].get<std::uint64_t>() - duplicates);
    }
    std::vector<json> rejects;
    for (const std::string& row : lines_of(read_file(dir / "rejects.jsonl"))) {
      json reject = json::parse(row);
      std::string reason = reject["reason"];
      rejects.push_back(json::array({reject["source"], reject["line"], reason_category(reason),
                                     starts_with(reason, "truncated last line")}));
    }
    EXPECT_EQ(json(rejects), expected["rejects"]);
    EXPECT_NEAR(run_index["languages"][language]["byte_share"].get<double>(), double(bytes) / double(all_bytes), 1e-12);
  }
}
}  // namespace

TEST(XmtfShard, SamplesMatchTheIndependentCount) {
  fs::path out = fresh_temp_dir("samples");
  // Small chunks and parts so that files span several chunks and languages several parts.
  ASSERT_EQ(run_shard(fmt::format("--input {} --output {} --chunk-bytes 9000 --max-shard-bytes 30000",
                                  (kData / "samples").string(), out.string())), 0);
  expect_matches_golden(out, golden()["samples"], false);
  for (const auto& [language, expected] : golden()["samples"].items()) {
    json index = load_json(out / language / "index.json");
    EXPECT_GT(index["parts"].size(), 1u);
    for (const json& part : index["parts"]) EXPECT_LE(part["bytes"].get<std::uint64_t>(), 30000u);
    EXPECT_FALSE(fs::exists(out / language / ".work"));
  }
  fs::remove_all(out);
}

TEST(XmtfShard, BadLinesAreRejectedWithFileAndLine) {
  fs::path out = fresh_temp_dir("bad");
  std::string input = (kData / "bad_input").string();
  // 15 of 63 lines are bad: over the default --max-bad-fraction, so the language fails.
  EXPECT_EQ(run_shard(fmt::format("--input {} --output {}", input, out.string())), 1);
  EXPECT_FALSE(fs::exists(out / "sw" / "index.json"));
  EXPECT_EQ(lines_of(read_file(out / "sw" / "rejects.jsonl")).size(), 15u);
  ASSERT_EQ(run_shard(fmt::format("--input {} --output {} --max-bad-fraction 0.5 --chunk-bytes 700", input, out.string())), 0);
  expect_matches_golden(out, golden()["bad_input"], false);
  // Every output line is valid JSON, CRLF and BOM gone, extra fields kept byte for byte.
  std::string all = concatenated_parts(out / "sw", "train");
  EXPECT_EQ(all.find('\r'), std::string::npos);
  EXPECT_EQ(all.find("\xEF\xBB\xBF"), std::string::npos);
  EXPECT_NE(all.find(R"("language": "sw", "dataset": "xcopa", "config": "sw", "template": "best_option")"), std::string::npos);
  for (const std::string& line : lines_of(all)) EXPECT_TRUE(json::accept(line)) << line;
  fs::remove_all(out);
}

TEST(XmtfShard, DedupKeepsFirstOccurrences) {
  fs::path out = fresh_temp_dir("dedup");
  ASSERT_EQ(run_shard(fmt::format("--input {} --output {} --max-bad-fraction 0.5 --dedup --chunk-bytes 2000",
                                  (kData / "bad_input").string(), out.string())), 0);
  expect_matches_golden(out, golden()["bad_input"], true);
  fs::remove_all(out);
}

// Past --dedup-memory the hashes spill to disk partitions: same output, byte for byte, as the
// in-memory table (and the golden counts of the independent Python count).
TEST(XmtfShard, DedupSpilledToDiskMatchesInMemory) {
  fs::path spilled = fresh_temp_dir("dedup-spill");
  ASSERT_EQ(run_shard(fmt::format("--input {} --output {} --max-bad-fraction 0.5 --dedup --dedup-memory 4096 --chunk-bytes 2000",
                                  (kData / "bad_input").string(), spilled.string())),
            0);
  expect_matches_golden(spilled, golden()["bad_input"], true);
  // Many duplicates, within and across files: every sample line twice or three times.
  fs::path input = fresh_temp_dir("dedup-input");
  fs::create_directories(input / "xx");
  std::vector<std::string> all;
  for (const char* language : {"et", "sw", "zh"})
    for (const auto& entry : fs::directory_iterator(kData / "samples" / language))
      for (const std::string& line : lines_of(read_file(entry.path()))) all.push_back(line);
  std::mt19937 random(5);
  std::string a, b;
  std::vector<std::string> canonical_a, canonical_b;
  for (std::size_t i = 0; i < all.size(); ++i) {
    (i % 2 ? canonical_a : canonical_b).push_back(all[i]);
    canonical_a.push_back(all[random() % all.size()]);
    if (i % 3 == 0) canonical_b.push_back(all[i]);
  }
  for (const std::string& line : canonical_a) a += line + "\n";
  for (const std::string& line : canonical_b) b += line + "\n";
  write_file_atomic(input / "xx" / "a.jsonl", a);
  write_file_atomic(input / "xx" / "b.jsonl", b);
  std::set<std::string> seen;
  std::string expected;  // first occurrences in canonical order (a.jsonl, then b.jsonl)
  for (const auto* lines : {&canonical_a, &canonical_b})
    for (const std::string& line : *lines)
      if (seen.insert(line).second) expected += line + "\n";

  fs::path memory = fresh_temp_dir("dedup-memory");
  std::string options = "--dedup --max-shard-bytes 200000";
  ASSERT_EQ(run_shard(fmt::format("--input {} --output {} {}", input.string(), memory.string(), options)), 0);
  EXPECT_EQ(concatenated_parts(memory / "xx", "train"), expected);
  std::string command = fmt::format("{} --input {} --output {} {} --dedup-memory 4096 --log-level info 2>&1", kShard.string(),
                                    input.string(), spilled.string(), options);
  std::string log;
  {
    std::FILE* pipe = ::popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe)) log += buffer;
    ASSERT_EQ(::pclose(pipe), 0) << log;
  }
  EXPECT_NE(log.find("spills to disk"), std::string::npos) << log;
  json in_memory = load_json(memory / "xx" / "index.json"), on_disk = load_json(spilled / "xx" / "index.json");
  EXPECT_EQ(in_memory["parts"], on_disk["parts"]);
  EXPECT_EQ(in_memory["totals"], on_disk["totals"]);
  EXPECT_EQ(on_disk["totals"]["duplicates"], canonical_a.size() + canonical_b.size() - seen.size());
  EXPECT_FALSE(fs::exists(spilled / "xx" / ".work")) << "partitions removed";
  for (const fs::path& dir : {input, memory, spilled}) fs::remove_all(dir);
}

TEST(XmtfShard, ShuffleSplitAndCapAreDeterministicPermutations) {
  fs::path plain = fresh_temp_dir("plain"), shuffled = fresh_temp_dir("shuffled"), again = fresh_temp_dir("again");
  std::string input = (kData / "samples").string();
  ASSERT_EQ(run_shard(fmt::format("--input {} --output {} --languages zh", input, plain.string())), 0);
  std::string options = "--languages zh --shuffle-seed 11 --validation-fraction 0.25 --max-shard-bytes 20000";
  ASSERT_EQ(run_shard(fmt::format("--input {} --output {} {}", input, shuffled.string(), options)), 0);
  ASSERT_EQ(run_shard(fmt::format("--input {} --output {} {}", input, again.string(), options)), 0);
  std::vector<std::string> original = lines_of(concatenated_parts(plain / "zh", "train"));
  std::vector<std::string> train = lines_of(concatenated_parts(shuffled / "zh", "train"));
  std::vector<std::string> validation = lines_of(concatenated_parts(shuffled / "zh", "validation"));
  EXPECT_EQ(concatenated_parts(shuffled / "zh", "train"), concatenated_parts(again / "zh", "train"));
  EXPECT_NEAR(double(validation.size()) / double(original.size()), 0.25, 0.06);
  for (const std::string& line : validation) EXPECT_TRUE(in_validation_split(line, 0.25));
  std::vector<std::string> recombined = train;
  recombined.insert(recombined.end(), validation.begin(), validation.end());
  std::vector<std::string> sorted_original = original;
  std::sort(recombined.begin(), recombined.end());
  std::sort(sorted_original.begin(), sorted_original.end());
  EXPECT_EQ(recombined, sorted_original);
  std::vector<std::string> train_in_original_order;
  for (const std::string& line : original)
    if (!in_validation_split(line, 0.25)) train_in_original_order.push_back(line);
  EXPECT_NE(train, train_in_original_order);  // shuffled

  // --max-per-prompt: the xP3 file name is the (dataset, template) key here.
  fs::path capped = fresh_temp_dir("capped");
  ASSERT_EQ(run_shard(fmt::format("--input {} --output {} --languages zh --max-per-prompt 40", input, capped.string())), 0);
  json index = load_json(capped / "zh" / "index.json");
  EXPECT_EQ(index["totals"]["train"]["samples"], 80);
  for (const json& file : index["inputs"]) EXPECT_EQ(file["kept"], 40);
  EXPECT_EQ(lines_of(concatenated_parts(capped / "zh", "train"))[40], lines_of(read_file(kData / "samples/zh/xp3mt_xcopa_zh_validation.jsonl"))[0]);
  for (const fs::path& dir : {plain, shuffled, again, capped}) fs::remove_all(dir);
}

TEST(XmtfShard, RerunIsANoOpAndOptionsChangeRedoes) {
  fs::path out = fresh_temp_dir("rerun");
  std::string command = fmt::format("--input {} --output {} --max-shard-bytes 40000", (kData / "samples").string(), out.string());
  ASSERT_EQ(run_shard(command), 0);
  auto stamp = fs::last_write_time(out / "sw" / "index.json");
  auto part_stamp = fs::last_write_time(out / "sw" / "part-00000.jsonl");
  ASSERT_EQ(run_shard(command), 0);
  EXPECT_EQ(fs::last_write_time(out / "sw" / "index.json"), stamp);
  EXPECT_EQ(fs::last_write_time(out / "sw" / "part-00000.jsonl"), part_stamp);
  // Bigger parts: fewer parts, and the stale ones are gone.
  ASSERT_EQ(run_shard(fmt::format("--input {} --output {} --max-shard-bytes 1000000", (kData / "samples").string(), out.string())), 0);
  EXPECT_TRUE(fs::exists(out / "sw" / "part-00000.jsonl"));
  EXPECT_FALSE(fs::exists(out / "sw" / "part-00001.jsonl"));
  EXPECT_EQ(load_json(out / "sw" / "index.json")["parts"].size(), 1u);
  fs::remove_all(out);
}

// Issue 18 item 6: --max-shard-bytes 2 or --chunk-bytes 1 ran for tens of minutes. Below the
// minimum is a usage error; sizes that would cut the input into millions of pieces are refused
// with the size to use.
TEST(XmtfShard, AbsurdlySmallSizesAreRefused) {
  fs::path out = fresh_temp_dir("small");
  std::string input = (kData / "samples").string();
  EXPECT_EQ(run_shard(fmt::format("--input {} --output {} --max-shard-bytes 2", input, out.string())), 2);
  EXPECT_EQ(run_shard(fmt::format("--input {} --output {} --chunk-bytes 1", input, out.string())), 2);
  EXPECT_EQ(run_shard(fmt::format("--input {} --output {} --chunk-bytes 511", input, out.string())), 2);
  EXPECT_FALSE(fs::exists(out / "sw"));

  ShardOptions options;
  options.input_dir = "/data/in";
  options.output_dir = "/data/out";
  options.max_shard_bytes = 512;
  options.chunk_bytes = 512;
  std::vector<LanguageInput> small{{"en", {SourceFile{"a.jsonl", "a.jsonl", 100000, 0}}}};
  EXPECT_NO_THROW(check_run(options, small));
  options.max_shard_bytes = 16 << 20;
  options.chunk_bytes = 16 << 20;
  std::vector<LanguageInput> inputs{{"en", {SourceFile{"a.jsonl", "a.jsonl", std::uint64_t{1} << 40, 0}}}};  // 1 TiB
  EXPECT_NO_THROW(check_run(options, inputs));
  options.chunk_bytes = 1000;
  try {
    check_run(options, inputs);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("chunks, more than 1000000: use at least 1.0 MiB"), std::string::npos) << e.what();
  }
  options.chunk_bytes = 1 << 30;
  options.max_shard_bytes = 4096;
  EXPECT_THROW(check_run(options, inputs), Error);
  options.max_shard_bytes = 100;
  EXPECT_THROW(check_run(options, inputs), Error);
  fs::remove_all(out);
}

// Issue 18 item 12: a dangling *.jsonl link (an HF snapshot whose blob is missing) was skipped
// silently, the language sharded without it. It is an error naming the link; so is a FIFO.
TEST(XmtfShard, ADanglingOrSpecialJsonlInputIsAnErrorNamingIt) {
  fs::path work = fresh_temp_dir("dangling");
  fs::copy(kData / "samples", work / "in", fs::copy_options::recursive);
  fs::path link = work / "in" / "sw" / "xp3_missing_blob.jsonl";
  fs::create_symlink("../../blobs/0123abcd", link);
  std::string command = fmt::format("--input {} --output {} 2> {}", (work / "in").string(), (work / "out").string(),
                                    (work / "err").string());
  EXPECT_EQ(run_shard(command), 1);
  std::string err = read_file(work / "err");
  EXPECT_NE(err.find(link.string() + ": input is a dangling symbolic link to ../../blobs/0123abcd"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(work / "out" / "sw" / "index.json"));
  fs::remove(link);
  ASSERT_EQ(::mkfifo(link.c_str(), 0644), 0);
  EXPECT_EQ(run_shard(command), 1);  // would block forever reading it
  EXPECT_NE(read_file(work / "err").find("input is a FIFO"), std::string::npos) << read_file(work / "err");
  fs::remove_all(work);
}

// Issue 18 item 11: a part whose bytes changed at the same size was "up to date" (index.json
// holds its sha256, never checked), and --output equal to --input made xmtf-shard read its own
// parts as input. Parts are verified as stamped; overlapping folders are refused.
TEST(XmtfShard, APartEditedAtTheSameSizeIsRedoneAndOutputCannotBeTheInput) {
  fs::path out = fresh_temp_dir("stamps");
  std::string command = fmt::format("--input {} --output {} --max-shard-bytes 40000", (kData / "samples").string(), out.string());
  ASSERT_EQ(run_shard(command), 0);
  fs::path part = out / "sw" / "part-00000.jsonl";
  std::string good = read_file(part);
  std::string edited = good;
  edited[edited.size() / 2] = edited[edited.size() / 2] == 'a' ? 'b' : 'a';
  write_file_atomic(part, edited);
  ASSERT_EQ(run_shard(command), 0);
  EXPECT_EQ(read_file(part), good);
  EXPECT_TRUE(fs::exists(out / "sw" / ".xmtf-shard.done"));
  auto index_time = fs::last_write_time(out / "sw" / "index.json");
  ASSERT_EQ(run_shard(command), 0);  // and now it is up to date again
  EXPECT_EQ(fs::last_write_time(out / "sw" / "index.json"), index_time);

  fs::path work = fresh_temp_dir("overlap");
  fs::copy(kData / "samples", work / "in", fs::copy_options::recursive);
  std::string listing;
  for (const auto& entry : fs::recursive_directory_iterator(work / "in")) listing += entry.path().string() + "\n";
  for (const fs::path& output : {work / "in", work / "in" / "shards", work / "in" / "sw" / ".."}) {
    EXPECT_EQ(run_shard(fmt::format("--input {} --output {}", (work / "in").string(), output.string())), 1) << output;
  }
  EXPECT_EQ(run_shard(fmt::format("--input {} --output {}", (work / "in" / "sw").string(), work.string())), 1);
  std::string after;
  for (const auto& entry : fs::recursive_directory_iterator(work / "in")) after += entry.path().string() + "\n";
  EXPECT_EQ(after, listing);  // nothing written into the input
  fs::remove_all(out);
  fs::remove_all(work);
}

TEST(XmtfShard, UsageErrorsExitTwoAndMissingLanguageExitsOne) {
  EXPECT_EQ(run_shard("--output /tmp/x"), 2);
  EXPECT_EQ(run_shard("--help > /dev/null"), 0);
  fs::path out = fresh_temp_dir("usage");
  EXPECT_EQ(run_shard(fmt::format("--input {} --output {} --languages sv", (kData / "samples").string(), out.string())), 1);
  fs::remove_all(out);
}
