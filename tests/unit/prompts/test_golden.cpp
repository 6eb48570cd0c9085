// Every template of the vendored promptsource files rendered over real dataset rows must give
// exactly what Python's jinja2 gives through promptsource's Template.apply
// (tests/reference/prompts/render_golden.py wrote golden.jsonl), and the xP3-style XCOPA lines
// must be reproduced from the XCOPA rows and templates.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

#include "core/error.hpp"
#include "core/text.hpp"
#include "prompts/rows.hpp"
#include "prompts/templates.hpp"

namespace xmtf::prompts {
namespace {

using Json = nlohmann::json;

const fs::path kData = fs::path(XMTF_TEST_DATA_DIR) / "prompts";
const fs::path kGolden = fs::path(XMTF_SOURCE_DIR) / "tests/reference/prompts/golden.jsonl";

struct Pair {
  std::string templates, data, lang;
  std::uint64_t seed;
  std::size_t max_rows;
};

std::vector<Pair> read_pairs() {
  std::vector<Pair> pairs;
  for (const std::string& line : split(read_file(kData / "golden_pairs.tsv"), '\n')) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f = split(line, '\t');
    pairs.push_back({f[0], f[1], f[2], std::stoull(f[3]), std::stoull(f[4])});
  }
  return pairs;
}

std::vector<Json> read_golden() {
  std::vector<Json> records;
  for (const std::string& line : split(read_file(kGolden), '\n'))
    if (!line.empty()) records.push_back(Json::parse(line));
  return records;
}

Json optional_json(const std::optional<std::string>& value) { return value ? Json(*value) : Json(nullptr); }
Json optional_json(const std::optional<bool>& value) { return value ? Json(*value) : Json(nullptr); }
Json optional_json(const std::optional<std::vector<std::string>>& value) { return value ? Json(*value) : Json(nullptr); }

TEST(PromptsGolden, TemplateFilesParseLikePyYaml) {
  std::size_t files = 0;
  for (const Json& record : read_golden()) {
    if (record["kind"] != "file") continue;
    ++files;
    std::string path = record["templates"];
    TemplateFile file = load_template_file(kData / path);
    EXPECT_EQ(file.dataset, record["dataset"]) << path;
    EXPECT_EQ(optional_json(file.subset), record["subset"]) << path;
    ASSERT_EQ(file.templates.size(), record["parsed"].size()) << path;
    for (std::size_t i = 0; i < file.templates.size(); ++i) {
      const PromptTemplate& t = file.templates[i];
      const Json& expected = record["parsed"][i];
      EXPECT_EQ(t.id, expected["id"]) << path;
      EXPECT_EQ(t.name, expected["name"]) << path;
      EXPECT_EQ(t.jinja, expected["jinja"]) << path << " " << t.name;
      EXPECT_EQ(optional_json(t.answer_choices), expected["answer_choices"]) << path << " " << t.name;
      EXPECT_EQ(t.reference, expected["reference"]) << path << " " << t.name;
      const Json& metadata = expected["metadata"];
      EXPECT_EQ(optional_json(t.metadata.original_task), metadata["original_task"]) << path;
      EXPECT_EQ(optional_json(t.metadata.choices_in_prompt), metadata["choices_in_prompt"]) << path;
      EXPECT_EQ(optional_json(t.metadata.metrics), metadata["metrics"]) << path;
      EXPECT_EQ(optional_json(t.metadata.languages), metadata["languages"]) << path;
    }
  }
  EXPECT_EQ(files, 48u);
}

TEST(PromptsGolden, EveryTemplateRendersLikeJinja2) {
  std::vector<Pair> pairs = read_pairs();
  std::map<std::size_t, std::vector<const Json*>> expected_by_pair;
  std::vector<Json> golden = read_golden();
  for (const Json& record : golden)
    if (record["kind"] == "render") expected_by_pair[record["pair"].get<std::size_t>()].push_back(&record);
  ASSERT_EQ(expected_by_pair.size(), pairs.size());

  std::size_t compared = 0, errors = 0;
  for (std::size_t p = 0; p < pairs.size(); ++p) {
    const Pair& pair = pairs[p];
    TemplateFile file = load_template_file(kData / pair.templates);
    std::vector<Dict> rows = load_dataset_rows(kData / pair.data, file.dataset, pair.lang);
    if (pair.max_rows && rows.size() > pair.max_rows) rows.resize(pair.max_rows);
    PythonRandom rng(pair.seed);
    std::size_t k = 0;
    const std::vector<const Json*>& expected = expected_by_pair[p];
    ASSERT_EQ(expected.size(), file.templates.size() * rows.size()) << pair.templates << " x " << pair.data;
    for (const PromptTemplate& prompt : file.templates) {
      CompiledTemplate compiled(file, prompt);
      for (std::size_t r = 0; r < rows.size(); ++r, ++k) {
        const Json& want = *expected[k];
        std::string where = fmt::format("{} x {} template '{}' row {}", pair.templates, pair.data, prompt.name, r);
        ASSERT_EQ(want["template"], prompt.name) << where;
        if (want.contains("error")) {
          EXPECT_THROW(compiled.apply(rows[r], rng), Error) << where << " (jinja2 raised " << want["error"] << ")";
          ++errors;
          continue;
        }
        Rendered got = compiled.apply(rows[r], rng);
        std::vector<std::string> parts = {got.input};
        parts.insert(parts.end(), got.targets.begin(), got.targets.end());
        EXPECT_EQ(Json(parts), want["parts"]) << where;
        Json choices = got.has_answer_choices ? Json(got.answer_choices) : Json(nullptr);
        EXPECT_EQ(choices, want["answer_choices"]) << where;
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 3000u);
  EXPECT_EQ(errors, 4u);
}

// promptsource's xP3 recipe over one language's rows, template after template.
std::vector<std::vector<std::string>> xp3_lines_per_template(const std::string& templates, const std::string& lang) {
  TemplateFile file = load_template_file(kData / templates);
  std::vector<Dict> rows = load_dataset_rows(kData / ("xcopa/val." + lang + ".jsonl"), file.dataset, lang);
  PythonRandom rng(0);
  std::vector<std::vector<std::string>> blocks;
  for (const PromptTemplate& prompt : file.templates) {
    CompiledTemplate compiled(file, prompt);
    std::vector<std::string> lines;
    for (const Dict& row : rows) {
      Rendered r = compiled.apply(row, rng);
      if (r.input.empty() || r.targets.size() != 1 || r.targets[0].empty()) continue;
      lines.push_back("{\"inputs\": " + json_quote(r.input) + ", \"targets\": " + json_quote(r.targets[0]) + "}");
    }
    blocks.push_back(lines);
  }
  return blocks;
}

std::vector<std::string> file_lines(const fs::path& path) {
  std::vector<std::string> lines = split(read_file(path), '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

TEST(PromptsGolden, ReproducesXp3StyleXcopaLinesByteForByte) {
  for (const std::string lang : {"et", "zh"}) {
    std::vector<std::string> expected = file_lines(kData / "xp3/en_prompts" / lang / ("xp3_xcopa_" + lang + "_validation.jsonl"));
    std::vector<std::string> got;
    for (const auto& block : xp3_lines_per_template("promptsource/pr826/xcopa/en/templates.yaml", lang))
      got.insert(got.end(), block.begin(), block.end());
    ASSERT_EQ(expected.size(), 1000u);
    EXPECT_EQ(got, expected) << lang;
  }
}

TEST(PromptsGolden, ReproducesXp3mtStyleChineseLines) {
  // The machine-translated file holds the same per-template blocks in another template order.
  std::vector<std::string> expected = file_lines(kData / "xp3/mt_prompts/zh/xp3_xcopa_zh_validation.jsonl");
  std::vector<std::vector<std::string>> blocks = xp3_lines_per_template("promptsource/pr827/xcopa/zh/templates.yaml", "zh");
  std::size_t at = 0;
  std::vector<bool> used(blocks.size(), false);
  while (at < expected.size()) {
    bool matched = false;
    for (std::size_t b = 0; b < blocks.size() && !matched; ++b) {
      if (used[b] || blocks[b].empty() || at + blocks[b].size() > expected.size()) continue;
      if (std::equal(blocks[b].begin(), blocks[b].end(), expected.begin() + static_cast<std::ptrdiff_t>(at))) {
        used[b] = true;
        at += blocks[b].size();
        matched = true;
      }
    }
    ASSERT_TRUE(matched) << "line " << at + 1 << " starts no template's block: " << expected[at];
  }
  EXPECT_EQ(std::count(used.begin(), used.end(), true), 10);
}

}  // namespace
}  // namespace xmtf::prompts
