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
#include "prompts/rows.hpp"
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

// Issue 18 item 11: a 0-byte or foreign output counted as "already done" (the marker only named
// the files). The completion record holds every output's size and sha256 and is verified.
TEST(PromptsCli, ARerunTrustsOnlyOutputsItsRecordVerifies) {
  fs::path out = scratch("record");
  ASSERT_EQ(run(xcopa_args(out)).exit_code, 0);
  fs::path probe = out / "et" / "xp3_xcopa_en_validation_exercise.jsonl";
  std::string good = read_file(probe);

  write_file_atomic(probe, "");  // 0 bytes (a full disk, a killed copy)
  ToolRun empty = run(xcopa_args(out));
  EXPECT_EQ(empty.exit_code, 0) << empty.output;
  EXPECT_NE(empty.output.find("redoing (" + probe.string() + ": 0 bytes, recorded"), std::string::npos) << empty.output;
  EXPECT_EQ(read_file(probe), good);

  std::string foreign = good;
  foreign[10] = foreign[10] == 'x' ? 'y' : 'x';  // same size, other bytes
  write_file_atomic(probe, foreign);
  ToolRun edited = run(xcopa_args(out));
  EXPECT_NE(edited.output.find("content changed"), std::string::npos) << edited.output;
  EXPECT_EQ(read_file(probe), good);

  for (const auto& entry : fs::directory_iterator(out / "et"))
    if (starts_with(entry.path().filename().string(), ".xmtf-prompt-")) write_file_atomic(entry.path(), "done\n");
  ToolRun garbage = run(xcopa_args(out));
  EXPECT_NE(garbage.output.find("unreadable completion record"), std::string::npos) << garbage.output;
  ToolRun again = run(xcopa_args(out));
  EXPECT_NE(again.output.find("already done"), std::string::npos) << again.output;

  // Data changed: the same job's record no longer matches.
  fs::path data = out / "val.et.jsonl";
  fs::copy_file(kData / "xcopa/val.et.jsonl", data);
  std::string args = fmt::format("--templates {} --data {} --lang et --output {}", kEnTemplates.string(), data.string(), out.string());
  ASSERT_EQ(run(args).exit_code, 0);
  std::string rows = read_file(data);
  write_file_atomic(data, rows + rows);
  ToolRun changed = run(args);
  EXPECT_NE(changed.output.find("val.et.jsonl changed"), std::string::npos) << changed.output;
  EXPECT_EQ(lines_of(probe).size(), 200u);
}

// Issue 19 item 13: temporaries (*.tmp.<pid>.<n>) of a killed run stayed after a successful
// rerun. Stale ones (pid dead, nobody holding their lock) go at start; another run's stay.
TEST(PromptsCli, StaleTemporaryFilesOfAKilledRunAreRemoved) {
  fs::path out = scratch("stale");
  fs::create_directories(out / "et");
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // a pid no process has now
  fs::path stale = out / "et" / fmt::format("xp3_xcopa_en_validation_exercise.jsonl.tmp.{}.0", child);
  fs::path running = out / "et" / fmt::format("xp3_other.jsonl.tmp.{}.3", ::getpid());  // a live writer's
  write_file_atomic(stale, "half a file");
  write_file_atomic(running, "being written");
  ToolRun result = run(xcopa_args(out));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(running));
  EXPECT_NE(result.output.find("removed (left by a killed run)"), std::string::npos) << result.output;
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

// A promptsource file holding the given templates (name -> jinja), in that order.
std::string templates_yaml(const std::vector<std::pair<std::string, std::string>>& templates) {
  std::string yaml = "dataset: xcopa\nsubset: et\ntemplates:\n";
  int id = 0;
  for (const auto& [name, jinja] : templates)
    yaml += fmt::format("  id{0}: !Template\n    answer_choices: null\n    id: id{0}\n    jinja: {1}\n    name: {2}\n"
                        "    reference: ''\n",
                        id++, json_quote(jinja), json_quote(name));
  return yaml;
}

ToolRun run_templates(const fs::path& dir, const std::vector<std::pair<std::string, std::string>>& templates,
                      const std::string& extra = "") {
  write_file_atomic(dir / "templates.yaml", templates_yaml(templates));
  return run(fmt::format("--templates {} --data {} --lang et --output {} {}", (dir / "templates.yaml").string(),
                         (kData / "xcopa/val.et.jsonl").string(), (dir / "out").string(), extra));
}

// Issue 18 items 4 and 5 end to end: a template nested 5,000 deep made xmtf-prompt segfault
// (exit 139), range(1000000000) allocated 13.6 GB. Now exit 1 naming the template and position.
TEST(PromptsCli, RunawayTemplatesFailNamingTheTemplateAndPosition) {
  fs::path dir = scratch("runaway");
  std::string deep = "{{ " + std::string(5000, '(') + "premise" + std::string(5000, ')') + " }} ||| x";
  ToolRun nested = run_templates(dir, {{"deep", deep}});
  EXPECT_EQ(nested.exit_code, 1) << nested.output;
  EXPECT_NE(nested.output.find("templates.yaml:4: template 'deep' (jinja): line 1, column "), std::string::npos) << nested.output;
  EXPECT_NE(nested.output.find("nested more than 100 levels deep"), std::string::npos) << nested.output;

  ToolRun ranged = run_templates(dir, {{"big range", "{% for i in range(1000000000) %}x{% endfor %} ||| y"}});
  EXPECT_EQ(ranged.exit_code, 1) << ranged.output;
  EXPECT_NE(ranged.output.find("template 'big range' (jinja): line 1, column 18: range() of 1000000000 items"),
            std::string::npos)
      << ranged.output;
  ToolRun grown = run_templates(dir, {{"grow", "{{ (premise * 1000000000) }} ||| y"}});
  EXPECT_EQ(grown.exit_code, 1) << grown.output;
  EXPECT_NE(grown.output.find("template 'grow' (jinja): line 1, column"), std::string::npos) << grown.output;
  EXPECT_NE(grown.output.find("exceed the limit of 64.0 MiB"), std::string::npos) << grown.output;
}

// Issue 18 item 13: two templates whose names map to one file name overwrote each other (the
// log counted both); now an error naming both, before anything is written.
TEST(PromptsCli, TwoTemplatesForOneFileNameAreAnError) {
  fs::path dir = scratch("collide");
  ToolRun result = run_templates(dir, {{"a b", "{{ premise }} ||| x"}, {"ok", "{{ premise }} ||| y"}, {"a_b", "{{ premise }} ||| z"}});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("templates 'a b' (line 4) and 'a_b' (line 16) would both be written to "
                               "xp3_xcopa_et_validation_a_b.jsonl"),
            std::string::npos)
      << result.output;
  EXPECT_FALSE(fs::exists(dir / "out" / "et" / "xp3_xcopa_et_validation_ok.jsonl"));
  ToolRun one = run(fmt::format("--templates {} --data {} --lang et --output {} --template 'a b' --template 'a b'",
                                (dir / "templates.yaml").string(), (kData / "xcopa/val.et.jsonl").string(),
                                (dir / "out").string()));
  EXPECT_EQ(one.exit_code, 0) << one.output;  // the same template picked twice is one file
  EXPECT_EQ(lines_of(dir / "out" / "et" / "xp3_xcopa_et_validation_a_b.jsonl").size(), 100u);
}

// A quote left open ran to the end of the file and yaml-cpp accepted it; libyaml (PyYAML's
// parser) gives the verdict, with the line and column.
TEST(PromptsCli, AYamlFileWithAnUnterminatedQuoteIsRejected) {
  fs::path dir = scratch("quote");
  std::string yaml = templates_yaml({{"t", "{{ premise }} ||| x"}});
  yaml.replace(yaml.find("jinja: \""), 8, "jinja: '");  // opened with ', never closed
  write_file_atomic(dir / "templates.yaml", yaml);
  ToolRun result = run(fmt::format("--templates {} --data {} --lang et --output {}", (dir / "templates.yaml").string(),
                                   (kData / "xcopa/val.et.jsonl").string(), (dir / "out").string()));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("templates.yaml:"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("invalid YAML: found unexpected end of stream while scanning a quoted scalar"),
            std::string::npos)
      << result.output;
  EXPECT_FALSE(fs::exists(dir / "out"));
}

// Every row dropped (here: a template for another dataset's fields) exited 0 with an INFO line.
// Now a warning per empty template, and past --max-dropped-fraction (0.9) an error; capped
// examples do not count.
TEST(PromptsCli, ARunThatDropsTooManyRowsFails) {
  fs::path dir = scratch("dropped");
  ToolRun none = run_templates(dir, {{"wrong dataset", "{{ sentence1 }} ||| {{ label }}"}});
  EXPECT_EQ(none.exit_code, 1) << none.output;
  EXPECT_NE(none.output.find("WARN template 'wrong dataset': no usable example in 100 rows"), std::string::npos) << none.output;
  EXPECT_NE(none.output.find("100 of 100 renderings (100.0%) gave no usable example"), std::string::npos) << none.output;
  EXPECT_FALSE(fs::exists(dir / "out" / "et" / "xp3_xcopa_et_validation_wrong_dataset.jsonl"));
  // Half the rows (the "effect" questions) is fine by default, not with a stricter threshold.
  std::vector<std::pair<std::string, std::string>> half = {{"effect only", "{% if question == 'effect' %}{{ premise }} ||| {{ choice1 }}{% endif %}"}};
  ToolRun loose = run_templates(dir, half);
  EXPECT_EQ(loose.exit_code, 0) << loose.output;
  ToolRun strict = run_templates(dir, half, "--max-dropped-fraction 0.1");
  EXPECT_EQ(strict.exit_code, 1) << strict.output;
  EXPECT_NE(strict.output.find("more than --max-dropped-fraction 0.1"), std::string::npos) << strict.output;
  ToolRun capped = run_templates(dir, {{"all", "{{ premise }} ||| {{ choice1 }}"}}, "--max-per-template 1 --max-dropped-fraction 0");
  EXPECT_EQ(capped.exit_code, 0) << capped.output;  // 99 capped, none unusable
}

// A file the previous run of the same job wrote and this one does not (its template was
// removed) is removed: xmtf-shard would still read it.
TEST(PromptsCli, OutputsOfAnEarlierRunThatThisOneDoesNotWriteAreRemoved) {
  fs::path dir = scratch("removed");
  ASSERT_EQ(run_templates(dir, {{"kept", "{{ premise }} ||| x"}, {"gone", "{{ premise }} ||| y"}}).exit_code, 0);
  fs::path gone = dir / "out" / "et" / "xp3_xcopa_et_validation_gone.jsonl";
  ASSERT_TRUE(fs::exists(gone));
  ToolRun rerun = run_templates(dir, {{"kept", "{{ premise }} ||| x"}});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_FALSE(fs::exists(gone));
  EXPECT_TRUE(fs::exists(dir / "out" / "et" / "xp3_xcopa_et_validation_kept.jsonl"));
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
