// xmtf-prompt end to end: the command-line contract, xP3-style output equal to the real xP3-style
// XCOPA lines, caps, template selection, --render, idempotent reruns, exit codes and errors.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <set>

#include "core/fs.hpp"
#include "core/text.hpp"
#include "prompts/templates.hpp"
#include "prompts/xp3.hpp"

namespace xmtf::prompts {
namespace {

const fs::path kData = fs::path(XMTF_TEST_DATA_DIR) / "prompts";
const fs::path kTool = fs::path(XMTF_BIN_DIR) / "xmtf-prompt";
const fs::path kEnTemplates = kData / "promptsource/pr826/xcopa/en/templates.yaml";

struct ToolRun {
  int exit_code;
  std::string output;  // stdout and stderr
};

ToolRun run(const std::string& arguments) {
  std::string command = kTool.string() + " " + arguments + " 2>&1";
  ToolRun result{-1, {}};
  FILE* pipe = ::popen(command.c_str(), "r");
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) result.output.append(buffer, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

fs::path scratch(const char* name) {
  fs::path dir = fs::temp_directory_path() / fmt::format("xmtf-prompts-{}-{}", name, ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::vector<std::string> lines_of(const fs::path& path) {
  std::vector<std::string> lines = split(read_file(path), '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::string xcopa_args(const fs::path& out, const std::string& lang = "et") {
  return fmt::format("--templates {} --data {} --lang {} --output {}", kEnTemplates.string(),
                     (kData / ("xcopa/val." + lang + ".jsonl")).string(), lang, out.string());
}

using Json = nlohmann::json;

// jinja2's renderings (tests/reference/prompts/golden.jsonl) of one pair of
// tests/data/prompts/golden_pairs.tsv, in template then row order.
std::vector<Json> golden_renders(const std::string& templates, const std::string& data, const std::string& lang) {
  std::size_t pair = 0, wanted = SIZE_MAX;
  for (const std::string& line : split(read_file(kData / "golden_pairs.tsv"), '\n')) {
    if (line.empty() || line[0] == '#') continue;
    auto f = split(line, '\t');
    if (f[0] == templates && f[1] == data && f[2] == lang) wanted = pair;
    ++pair;
  }
  std::vector<Json> out;
  for (const std::string& line : split(read_file(fs::path(XMTF_SOURCE_DIR) / "tests/reference/prompts/golden.jsonl"), '\n')) {
    if (line.empty()) continue;
    Json record = Json::parse(line);
    if (record["kind"] == "render" && record["pair"] == wanted) out.push_back(std::move(record));
  }
  EXPECT_FALSE(out.empty()) << templates << " x " << data << " is no golden pair";
  return out;
}

// The (inputs, targets) of every xP3 line of the .jsonl files in a folder.
std::multiset<std::pair<std::string, std::string>> xp3_pairs_in(const fs::path& dir) {
  std::multiset<std::pair<std::string, std::string>> out;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".jsonl")
      for (const std::string& line : lines_of(entry.path())) {
        Json j = Json::parse(line);
        out.emplace(j.at("inputs"), j.at("targets"));
      }
  return out;
}

// What jinja2 gives for those renderings under the xP3 recipe: a prompt and one target, both
// non-empty.
std::multiset<std::pair<std::string, std::string>> xp3_pairs_of(const std::vector<Json>& renders) {
  std::multiset<std::pair<std::string, std::string>> out;
  for (const Json& r : renders) {
    if (r.contains("error")) continue;
    const Json& parts = r["parts"];
    if (parts.size() != 2 || parts[0] == "" || parts[1] == "") continue;
    out.emplace(parts[0], parts[1]);
  }
  return out;
}

TEST(PromptsCli, HelpAndUsageExitCodes) {
  ToolRun help = run("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--max-per-template"), std::string::npos);
  EXPECT_EQ(run("--templates " + kEnTemplates.string()).exit_code, 2);  // --data, --lang, --output missing
  EXPECT_EQ(run(xcopa_args(scratch("usage")) + " --max-per-template -1").exit_code, 2);
}

TEST(PromptsCli, WritesXp3FilesThatConcatenateToTheRealXp3Lines) {
  fs::path out = scratch("xp3");
  ToolRun first = run(xcopa_args(out) + " --config et");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  TemplateFile file = load_template_file(kEnTemplates);
  std::vector<std::string> all;
  for (const PromptTemplate& prompt : file.templates) {
    fs::path path = out / "et" / xp3_file_name("xcopa", "et", "validation", prompt.name);
    ASSERT_TRUE(fs::exists(path)) << path;
    for (const std::string& line : lines_of(path)) all.push_back(line);
  }
  EXPECT_EQ(all, lines_of(kData / "xp3/en_prompts/et/xp3_xcopa_et_validation.jsonl"));
  EXPECT_TRUE(fs::exists(out / "et" / "xp3_xcopa_et_validation_exercise.jsonl"));

  // A rerun with the same inputs and options does nothing and leaves the files as they are.
  fs::path probe = out / "et" / "xp3_xcopa_et_validation_exercise.jsonl";
  auto written = fs::last_write_time(probe);
  ToolRun again = run(xcopa_args(out) + " --config et");
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.output.find("already done"), std::string::npos) << again.output;
  EXPECT_EQ(fs::last_write_time(probe), written);
  for (const auto& entry : fs::directory_iterator(out / "et"))
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
}

TEST(PromptsCli, CapsAndSelectsTemplates) {
  fs::path out = scratch("cap");
  ToolRun capped = run(xcopa_args(out) + " --template exercise --template 'best_option' --max-per-template 7 --seed 3");
  ASSERT_EQ(capped.exit_code, 0) << capped.output;
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(out / "et"))
    if (entry.path().extension() == ".jsonl") {
      ++files;
      EXPECT_EQ(lines_of(entry.path()).size(), 7u) << entry.path();
    }
  EXPECT_EQ(files, 2u);
  EXPECT_TRUE(fs::exists(out / "et" / "xp3_xcopa_en_validation_exercise.jsonl"));  // config defaults to the YAML subset
  // The 7 kept lines of each template are 7 distinct lines of its uncapped output.
  fs::path full = scratch("uncapped");
  ASSERT_EQ(run(xcopa_args(full) + " --template exercise --template 'best_option'").exit_code, 0);
  for (const char* name : {"xp3_xcopa_en_validation_exercise.jsonl", "xp3_xcopa_en_validation_best_option.jsonl"}) {
    std::vector<std::string> all = lines_of(full / "et" / name), kept = lines_of(out / "et" / name);
    std::set<std::string> all_set(all.begin(), all.end()), kept_set(kept.begin(), kept.end());
    EXPECT_GT(all.size(), 7u) << name;
    EXPECT_EQ(kept_set.size(), 7u) << name << ": repeated lines";
    for (const std::string& line : kept) EXPECT_TRUE(all_set.count(line)) << name << ": not in the uncapped output: " << line;
  }

  ToolRun unknown = run(xcopa_args(scratch("unknown")) + " --template excercise");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.output.find("did you mean 'exercise'"), std::string::npos) << unknown.output;
}

TEST(PromptsCli, RenderWritesOneLinePerRowAndTemplate) {
  fs::path out = scratch("render");
  ToolRun rendered = run(fmt::format("--templates {} --data {} --lang fr --output {} --render",
                                 (kData / "promptsource/pr827/xnli/fr/templates.yaml").string(), (kData / "xnli/xnli.dev.tsv").string(),
                                 out.string()));
  ASSERT_EQ(rendered.exit_code, 0) << rendered.output;
  std::vector<std::string> lines = lines_of(out / "fr" / "render_xnli_fr_validation.jsonl");
  ASSERT_EQ(lines.size(), 10u);  // 10 templates x the one French row of the dev file
  EXPECT_EQ(lines[0].rfind("{\"template\": ", 0), 0u);
  // Each line is jinja2's rendering of that template over that row.
  std::vector<Json> expected = golden_renders("promptsource/pr827/xnli/fr/templates.yaml", "xnli/xnli.dev.tsv", "fr");
  ASSERT_EQ(expected.size(), lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    Json got = Json::parse(lines[i]);
    const Json& want = expected[i];
    EXPECT_EQ(got["template"], want["template"]) << i;
    EXPECT_EQ(got["inputs"], want["parts"][0]) << i;
    EXPECT_EQ(got["targets"], Json(std::vector<Json>(want["parts"].begin() + 1, want["parts"].end()))) << i;
    EXPECT_EQ(got["answer_choices"], want["answer_choices"]) << i;
  }

  ToolRun to_stdout = run(fmt::format("--templates {} --data {} --lang en --output - --render --template 'function body generation'",
                                  (kData / "promptsource/pr827/openai_humaneval/templates.yaml").string(),
                                  (kData / "humaneval/HumanEval.head6.jsonl").string()));
  EXPECT_NE(to_stdout.exit_code, 0);  // the file name names no split
  EXPECT_NE(to_stdout.output.find("--split"), std::string::npos) << to_stdout.output;
  to_stdout = run(fmt::format("--templates {} --data {} --lang en --output - --render --split test --template 'function body generation' -q",
                              (kData / "promptsource/pr827/openai_humaneval/templates.yaml").string(),
                              (kData / "humaneval/HumanEval.head6.jsonl").string()));
  EXPECT_EQ(to_stdout.exit_code, 0) << to_stdout.output;
  EXPECT_EQ(split(to_stdout.output, '\n').size(), 7u);  // 6 lines and the final newline
}

TEST(PromptsCli, UnsupportedConstructIsAnErrorNamingFileTemplateAndPosition) {
  fs::path dir = scratch("bad");
  std::string yaml = read_file(kEnTemplates);
  std::size_t at = yaml.find("{{ premise }}");
  yaml.replace(at, 13, "{{ premise | wordwrap }}");
  write_file_atomic(dir / "templates.yaml", yaml);
  ToolRun bad = run(fmt::format("--templates {} --data {} --lang et --output {}", (dir / "templates.yaml").string(),
                            (kData / "xcopa/val.et.jsonl").string(), (dir / "out").string()));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("templates.yaml:4: template 'exercise' (jinja): line 3, column 14: unsupported Jinja filter 'wordwrap'"),
            std::string::npos)
      << bad.output;
  EXPECT_FALSE(fs::exists(dir / "out" / "et" / "xp3_xcopa_en_validation_exercise.jsonl"));
}

TEST(PromptsCli, ReadsRawTsvAndCsvLayouts) {
  fs::path out = scratch("raw");
  ToolRun winograd = run(fmt::format("--templates {} --data {} --lang jp --output {}",
                                 (kData / "promptsource/pr827/Muennighoff/xwinograd/jp/templates.yaml").string(),
                                 (kData / "xwinograd/dataset.sample.tsv").string(), out.string()));
  ASSERT_EQ(winograd.exit_code, 0) << winograd.output;
  ToolRun cloze = run(fmt::format("--templates {} --data {} --lang en --output {}", (kData / "promptsource/pr827/story_cloze/2016/templates.yaml").string(),
                              (kData / "story_cloze/cloze_test_val_spring2016.csv").string(), out.string()));
  ASSERT_EQ(cloze.exit_code, 0) << cloze.output;
  std::size_t jp = 0, en = 0;
  for (const auto& entry : fs::directory_iterator(out / "jp")) jp += entry.path().extension() == ".jsonl";
  for (const auto& entry : fs::directory_iterator(out / "en")) en += entry.path().extension() == ".jsonl";
  EXPECT_GT(jp, 0u);
  EXPECT_EQ(lines_of(out / "jp" / "xp3_Muennighoff_xwinograd_jp_test_Replace_jpmt.jsonl").size(), 12u);
  EXPECT_GT(en, 0u);
  // Every line written is one jinja2 renders from these rows, and none is missing.
  EXPECT_EQ(xp3_pairs_in(out / "jp"), xp3_pairs_of(golden_renders("promptsource/pr827/Muennighoff/xwinograd/jp/templates.yaml",
                                                                  "xwinograd/dataset.sample.tsv", "jp")));
  EXPECT_EQ(xp3_pairs_in(out / "en"), xp3_pairs_of(golden_renders("promptsource/pr827/story_cloze/2016/templates.yaml",
                                                                  "story_cloze/cloze_test_val_spring2016.csv", "en")));
}

// Removes this process's scratch folders when the tests end.
class ScratchCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::string suffix = fmt::format("-{}", ::getpid());
    for (const auto& entry : fs::directory_iterator(fs::temp_directory_path())) {
      std::string name = entry.path().filename().string();
      if (starts_with(name, "xmtf-prompts-") && name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix)
        fs::remove_all(entry.path());
    }
  }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new ScratchCleanup);

}  // namespace
}  // namespace xmtf::prompts
