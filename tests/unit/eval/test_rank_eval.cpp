// Rank classification against the independent reference (tests/reference/eval/make_rank_golden.py:
// jinja2 renderings, HF tokenizers, plain-torch BLOOM, each choice alone): rendered inputs and
// choices, gold labels, skips, every choice's summed log-probability, predictions and the result
// files; plus the dataset / template rules of src/eval/tasks.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "eval_test_util.hpp"
#include "eval/run.hpp"
#include "eval/score.hpp"
#include "eval/scorer.hpp"
#include "eval/tasks.hpp"
#include "prompts/templates.hpp"
#include "tok/tokenizer.hpp"

namespace xmtf::eval {
namespace {

using Json = nlohmann::json;

using testing::kData;
using testing::kModel;
using testing::kTokenizer;
using testing::read_jsonl;
using testing::TempDir;
const fs::path kGolden = fs::path(XMTF_SOURCE_DIR) / "tests" / "reference" / "eval" / "rank_golden.jsonl";

EvalOptions options_of(const Json& c, const fs::path& output) {
  EvalOptions options;
  options.model_dir = kModel;
  options.tokenizer = kTokenizer;
  options.dataset = c["dataset"];
  options.templates = kData / c["templates"].get<std::string>();
  options.data = kData / c["data"].get<std::string>();
  options.config = c["config"].get<std::string>();
  options.split = c["split"].get<std::string>();
  if (!c["limit"].is_null()) options.limit = c["limit"].get<std::int64_t>();
  if (!c["template_names"].is_null()) options.template_names = c["template_names"].get<std::vector<std::string>>();
  options.predictions = true;
  options.output = output;
  return options;
}

void expect_matches_golden(const Json& c, const std::vector<Json>& golden, const fs::path& output) {
  const std::string name = c["name"];
  const auto file = prompts::load_template_file(kData / c["templates"].get<std::string>());
  std::map<std::string, std::string> slug_of;
  for (const auto& t : file.templates) slug_of[t.name] = template_slug(t.name);
  std::size_t results = 0;
  for (const Json& g : golden) {
    if (g["case"] != name || g["kind"] != "result") continue;
    ++results;
    const std::string stem = fmt::format("{}.{}.{}.{}", c["dataset"].get<std::string>(), c["config"].get<std::string>(),
                                         c["split"].get<std::string>(), slug_of.at(g["template"]));
    const Json result = Json::parse(read_file(output / (stem + ".json")));
    EXPECT_EQ(result["template_name"], g["template"]) << stem;
    EXPECT_EQ(result["dataset_name"], file.dataset);
    EXPECT_EQ(result["prompt_language"], g["prompt_language"]) << stem;
    EXPECT_EQ(result["n"], g["n"]) << stem;
    EXPECT_EQ(result["correct"], g["correct"]) << stem;
    EXPECT_EQ(result["skipped"], g["skipped"]) << stem;
    if (g["n"].get<int>() > 0)
      EXPECT_DOUBLE_EQ(result["evaluation"]["accuracy"].get<double>(), g["correct"].get<double>() / g["n"].get<double>());
    else
      EXPECT_TRUE(result["evaluation"]["accuracy"].is_null());
    // Predictions: one line per row, equal to the reference's rendering and scores.
    std::vector<Json> expected;
    for (const Json& e : golden)
      if (e["case"] == name && e["kind"] == "example" && e["template"] == g["template"]) expected.push_back(e);
    const auto lines = read_jsonl(output / (stem + ".jsonl"));
    ASSERT_EQ(lines.size(), expected.size()) << stem;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const Json& got = lines[i];
      const Json& want = expected[i];
      const std::string where = fmt::format("{} row {}", stem, i);
      EXPECT_EQ(got["index"], want["index"]) << where;
      EXPECT_EQ(got["input"], want["input"]) << where;
      EXPECT_EQ(got["choices"], want["choices"]) << where;
      if (want.contains("skipped")) {
        EXPECT_EQ(got["skipped"], want["skipped"]) << where;
        continue;
      }
      EXPECT_EQ(got["gold"], want["gold"]) << where;
      const auto got_lp = got["logprobs"].get<std::vector<double>>();
      const auto want_lp = want["logprobs"].get<std::vector<double>>();
      ASSERT_EQ(got_lp.size(), want_lp.size()) << where;
      for (std::size_t j = 0; j < want_lp.size(); ++j)
        EXPECT_NEAR(got_lp[j], want_lp[j], 1e-5 * std::max(1.0, std::abs(want_lp[j]))) << where << " choice " << j;
      EXPECT_EQ(got["prediction"], want["prediction"]) << where;
      EXPECT_EQ(got["correct"], want["prediction"] == want["gold"]) << where;
    }
  }
  EXPECT_GT(results, 0u) << name;
}

TEST(RankEval, MatchesTheJinja2TorchReferenceOnEveryDataset) {
  const auto golden = read_jsonl(kGolden);
  std::size_t cases = 0;
  for (const Json& c : golden) {
    if (c["kind"] != "case") continue;
    ++cases;
    for (std::int64_t batch : {3, 8}) {  // ragged batches, and batches across templates
      TempDir dir(c["name"].get<std::string>() + std::to_string(batch));
      EvalOptions options = options_of(c, dir.path());
      options.batch_size = batch;
      ASSERT_EQ(run_eval(options, Ranks{}), 0);
      expect_matches_golden(c, golden, dir.path());
    }
  }
  EXPECT_EQ(cases, 8u);
}

TEST(RankEval, TheReferenceBackendGivesTheSameScores) {
  const auto golden = read_jsonl(kGolden);
  for (const Json& c : golden) {
    if (c["kind"] != "case" || c["name"] != "xwinograd_fr_mt") continue;
    TempDir dir("reference_backend");
    EvalOptions options = options_of(c, dir.path());
    options.backend = "reference";
    ASSERT_EQ(run_eval(options, Ranks{}), 0);
    expect_matches_golden(c, golden, dir.path());
  }
}

// Inputs longer than the window keep their end: the scores equal those of the cut inputs.
TEST(RankEval, InputsBeyondTheWindowAreCutOnTheLeftAndCounted) {
  const auto golden = read_jsonl(kGolden);
  TempDir dir("window");
  EvalOptions options = options_of(golden[0], dir.path());  // xcopa_sw_en
  options.template_names = {"best_option"};
  options.limit = 4;
  options.max_length = 20;
  ASSERT_EQ(run_eval(options, Ranks{}), 0);
  const Json result = Json::parse(read_file(dir.path() / "xcopa.sw.validation.best_option.json"));
  EXPECT_EQ(result["truncated"], 4);
  EXPECT_EQ(result["settings"]["max_length"], 20);
  auto model = load_model(kModel);
  auto tokenizer = tok::load_tokenizer(kTokenizer);
  BloomChoiceScorer scorer(*model);
  for (const Json& line : read_jsonl(dir.path() / "xcopa.sw.validation.best_option.jsonl")) {
    ChoiceExample example{tokenizer->encode(line["input"].get<std::string>()), {}};
    std::size_t longest = 0;
    for (const auto& choice : line["choices"]) {
      example.choices.push_back(tokenizer->encode(" " + choice.get<std::string>()));
      longest = std::max(longest, example.choices.back().size());
    }
    const std::size_t keep = 20 - longest;
    ASSERT_GT(example.input.size(), keep);
    example.input.erase(example.input.begin(), example.input.end() - static_cast<std::ptrdiff_t>(keep));
    const auto sums = scorer.score(std::span(&example, 1))[0];
    const auto got = line["logprobs"].get<std::vector<double>>();
    for (std::size_t j = 0; j < sums.size(); ++j) EXPECT_NEAR(got[j], sums[j], 1e-9 * std::abs(sums[j]));
  }
}

TEST(RankEval, RerunSkipsUpToDateTemplatesAndRedoesChangedOnes) {
  const auto golden = read_jsonl(kGolden);
  TempDir dir("rerun");
  EvalOptions options = options_of(golden[0], dir.path());  // xcopa_sw_en
  options.template_names = {"best_option", "cause_effect"};
  ASSERT_EQ(run_eval(options, Ranks{}), 0);
  const fs::path best = dir.path() / "xcopa.sw.validation.best_option.json";
  const auto written = fs::last_write_time(best);
  const std::string bytes = read_file(best);
  ASSERT_EQ(run_eval(options, Ranks{}), 0);
  EXPECT_EQ(fs::last_write_time(best), written);
  options.limit = 4;  // another setting: a new key, redone
  ASSERT_EQ(run_eval(options, Ranks{}), 0);
  EXPECT_EQ(Json::parse(read_file(best))["n"], 4);
  options.limit = 16;
  options.force = true;
  ASSERT_EQ(run_eval(options, Ranks{}), 0);
  EXPECT_EQ(read_file(best), bytes);  // the same inputs give the same bytes
}

TEST(RankEval, ATemplateWithoutAnswerChoicesOrOfAnotherDatasetIsAnError) {
  const fs::path copa = kData / "prompts" / "promptsource" / "pr826" / "xcopa" / "en" / "templates.yaml";
  const auto file = prompts::load_template_file(copa);
  EXPECT_THROW(select_templates(Dataset::xcopa, file, {"best_optoin"}, std::nullopt), Error);
  try {
    select_templates(Dataset::xcopa, file, {"best_optoin"}, std::nullopt);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'best_option'"), std::string::npos) << e.what();
  }
  // The HumanEval templates have no answer choices.
  const auto humaneval = prompts::load_template_file(kData / "prompts" / "promptsource" / "pr827" / "openai_humaneval" / "templates.yaml");
  try {
    select_templates(Dataset::xcopa, humaneval, {"function body generation"}, std::nullopt);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has no answer choices"), std::string::npos) << e.what();
  }
  EXPECT_THROW(select_templates(Dataset::xcopa, humaneval, {}, std::nullopt), Error);  // none has choices
  EXPECT_FALSE(templates_fit(Dataset::xcopa, humaneval.dataset));
  EXPECT_TRUE(templates_fit(Dataset::xwinograd, "Muennighoff/xwinograd"));
  EXPECT_TRUE(templates_fit(Dataset::xstory_cloze, "story_cloze"));
  EXPECT_THROW(parse_dataset("copa"), Error);
}

TEST(RankEval, ADataFileOfAnotherDatasetNamesTheRowAndTheMissingField) {
  try {
    load_rows(Dataset::xcopa, kData / "prompts" / "winogrande" / "dev.jsonl", "xcopa", "en");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("dev.jsonl: row 1 has no field 'premise'"), std::string::npos) << what;
    EXPECT_NE(what.find("not a xcopa row"), std::string::npos) << what;
  }
  EXPECT_THROW(load_rows(Dataset::xnli, kData / "prompts" / "xnli" / "xnli.dev.tsv", "xnli", "xx"), Error);  // no such language
}

TEST(RankEval, AMissingOrNegativeLabelIsACountedSkip) {
  TempDir dir("labels");
  // Three real XCOPA rows: one as is, one with label -1 (XCOPA's test rows), one without label.
  std::ifstream in(kData / "prompts" / "xcopa" / "val.sw.jsonl");
  std::string a, b, c;
  std::getline(in, a);
  std::getline(in, b);
  std::getline(in, c);
  Json row_b = Json::parse(b), row_c = Json::parse(c);
  row_b["label"] = -1;
  row_c.erase("label");
  write_file_atomic(dir.path() / "val.sw.jsonl", a + "\n" + row_b.dump() + "\n" + row_c.dump() + "\n");
  EvalOptions options;
  options.model_dir = kModel;
  options.tokenizer = kTokenizer;
  options.dataset = "xcopa";
  options.data = dir.path() / "val.sw.jsonl";
  options.templates = kData / "prompts" / "promptsource" / "pr826" / "xcopa" / "en" / "templates.yaml";
  options.template_names = {"best_option"};
  options.output = dir.path() / "out";
  options.predictions = true;
  ASSERT_EQ(run_eval(options, Ranks{}), 0);
  const Json result = Json::parse(read_file(dir.path() / "out" / "xcopa.sw.validation.best_option.json"));
  EXPECT_EQ(result["n"], 1);
  EXPECT_EQ(result["skipped"]["no_gold"], 2);
  const auto lines = read_jsonl(dir.path() / "out" / "xcopa.sw.validation.best_option.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1]["skipped"], "no_gold");
  EXPECT_EQ(lines[2]["skipped"], "no_gold");
}

TEST(Tasks, SlugsPromptLanguagesConfigsAndSplits) {
  EXPECT_EQ(template_slug("C1 or C2? premise, so/because\u2026"), "C1_or_C2_premise_so_because");
  EXPECT_EQ(template_slug("\u2026What could happen next, C1 or C2?"), "What_could_happen_next_C1_or_C2");
  EXPECT_EQ(template_slug("guaranteed/possible/impossible"), "guaranteed_possible_impossible");
  EXPECT_EQ(template_slug("GPT-3 style_frmt"), "GPT-3_style_frmt");
  EXPECT_EQ(template_slug("???"), "template");
  EXPECT_EQ(prompt_language_of("GPT-3 style_frmt"), "MT");
  EXPECT_EQ(prompt_language_of("i_am_hesitating_zhht"), "HT");
  EXPECT_EQ(prompt_language_of("best_option"), "EN");
  EXPECT_EQ(prompt_language_of("format"), "EN");
  const auto en = prompts::load_template_file(kData / "prompts" / "promptsource" / "pr826" / "xcopa" / "en" / "templates.yaml");
  EXPECT_EQ(resolve_config(Dataset::xcopa, std::nullopt, "data/val.sw.jsonl", en), "sw");
  EXPECT_EQ(resolve_config(Dataset::xcopa, std::nullopt, "data/copa.jsonl", en), "en");  // the templates' subset
  EXPECT_EQ(resolve_config(Dataset::xcopa, std::string("ht"), "data/val.sw.jsonl", en), "ht");
  EXPECT_EQ(resolve_split(Dataset::xcopa, std::nullopt, "val.sw.jsonl"), "validation");
  EXPECT_EQ(resolve_split(Dataset::xwinograd, std::nullopt, "dataset.tsv"), "test");
  EXPECT_THROW(resolve_split(Dataset::xnli, std::nullopt, "xnli.jsonl"), Error);
  // --prompt-lang picks the templates of one language.
  const auto zh = prompts::load_template_file(kData / "prompts" / "promptsource" / "pr827" / "xcopa" / "zh" / "templates.yaml");
  auto ht = select_templates(Dataset::xcopa, zh, {}, std::string("HT"));
  ASSERT_EQ(ht.size(), 5u);
  for (const auto& t : ht) EXPECT_TRUE(t.prompt->name.ends_with("_zhht")) << t.prompt->name;
  EXPECT_EQ(select_templates(Dataset::xcopa, zh, {}, std::nullopt).size(), 10u);
}

}  // namespace
}  // namespace xmtf::eval
