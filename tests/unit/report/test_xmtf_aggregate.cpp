// xmtf-aggregate end to end on per-prompt result files written here with known counts (three
// models, one missing cell, a malformed file, an inconsistent file, a duplicate), the paper's
// table as baseline and a training metrics file with a torn last line. Medians, maxima,
// standard errors, averages and differences are computed independently here and compared with
// report.csv; then reruns, exit codes and the other outputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/text.hpp"
#include "report_test_util.hpp"

namespace xmtf::report {
namespace {

using namespace test_util;

const std::vector<std::string> kConfigs = {"et", "ht", "id", "sw"};

struct Model {
  std::string id;     // the "model" field
  std::string shown;  // its column: the shortest path suffix that tells the models apart
  int templates;
};
const std::vector<Model> kModels = {{"runs/alpha/hf-model", "alpha/hf-model", 5},
                                    {"runs/beta/hf-model", "beta/hf-model", 4},
                                    {"gamma-1b1", "gamma-1b1", 3}};
constexpr int kExamples = 100;

// Known, varied counts (40..80 of 100) per model, config and template.
int correct_of(std::size_t model, std::size_t config, int template_index) {
  return static_cast<int>((37 * model + 11 * config + 7 * static_cast<std::size_t>(template_index) * (model + 1)) % 41) + 40;
}
bool present(std::size_t model, const std::string& config) { return !(model == 1 && config == "sw"); }  // beta lacks sw

// The test's own median and max (in percent).
double median_percent(std::vector<int> counts) {
  std::sort(counts.begin(), counts.end());
  const std::size_t m = counts.size() / 2;
  const double c = counts.size() % 2 ? counts[m] : (counts[m - 1] + counts[m]) / 2.0;
  return c * 100.0 / kExamples;
}
double max_percent(const std::vector<int>& counts) { return *std::max_element(counts.begin(), counts.end()) * 100.0 / kExamples; }
std::vector<int> counts_of(std::size_t model, std::size_t config) {
  std::vector<int> counts;
  for (int t = 0; t < kModels[model].templates; ++t) counts.push_back(correct_of(model, config, t));
  return counts;
}

std::string key(const std::string& config, const std::string& metric, const std::string& prompt = "EN") {
  return fmt::format("Sent. completion|xcopa|{}|validation|{}|{}", config, prompt, metric);
}

double number(const std::string& field) {
  if (field.empty()) throw std::runtime_error("empty (missing) cell");
  return std::stod(field);
}

class XmtfAggregateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fresh_dir("cli");
    evals_ = dir_ / "evals";
    fs::create_directories(evals_ / "again");
    for (std::size_t m = 0; m < kModels.size(); ++m)
      for (std::size_t c = 0; c < kConfigs.size(); ++c) {
        if (!present(m, kConfigs[c])) continue;
        const fs::path folder = evals_ / fmt::format("m{}", m);
        fs::create_directories(folder);
        for (int t = 0; t < kModels[m].templates; ++t)
          write_prompt_result(folder, kModels[m].id, kConfigs[c], "EN", fmt::format("prompt {}", t), correct_of(m, c, t), kExamples);
      }
    // Translated prompts for beta on id.
    write_prompt_result(evals_ / "m1", kModels[1].id, "id", "MT", "prompt 0", 61, kExamples);
    write_prompt_result(evals_ / "m1", kModels[1].id, "id", "MT", "prompt 1", 64, kExamples);
    // A torn file, a file whose accuracy contradicts its counts, a duplicate, unrelated JSON.
    write_file_atomic(evals_ / "m0" / "xcopa.et.validation.torn.json",
                      "{\"model\": \"runs/alpha/hf-model\", \"dataset_name\": \"xcopa\",\n \"evaluation\": {\"accu");
    write_file_atomic(evals_ / "m2" / "xcopa.id.validation.liar.json",
                      R"({"model": "gamma-1b1", "dataset_name": "xcopa", "dataset_config_name": "id", "split": "validation",
                          "template_name": "liar", "n": 100, "correct": 50, "evaluation": {"accuracy": 0.9}})");
    fs::copy_file(evals_ / "m0" / "xcopa.et.validation.prompt 0.json", evals_ / "again" / "xcopa.et.validation.prompt 0.json");
    write_file_atomic(evals_ / "m0" / "config.json", R"({"hidden_size": 8})");
    // HumanEval for alpha at two temperatures: the best per k is kept.
    write_file_atomic(evals_ / "m0" / "humaneval.None.test.t02.json",
                      R"({"model": "runs/alpha/hf-model", "dataset_name": "humaneval", "split": "test", "template_name": "t0.2",
                          "evaluation": {"pass@1": 0.03, "pass@10": 0.04, "pass@100": 0.06}})");
    write_file_atomic(evals_ / "m0" / "humaneval.None.test.t08.json",
                      R"({"model": "runs/alpha/hf-model", "dataset_name": "humaneval", "split": "test", "template_name": "t0.8",
                          "evaluation": {"pass@1": 0.02, "pass@10": 0.05, "pass@100": 0.09}})");
    // gamma's HumanEval and an XStoryCloze result exactly as docs/eval.md shows xmtf-eval's files
    // (template_name null for HumanEval's raw prompt; XStoryCloze under story_cloze's templates).
    write_file_atomic(evals_ / "m2" / "humaneval.None.test.prompt.json", R"({
  "model": "gamma-1b1", "dataset_name": "openai_humaneval", "dataset_config_name": null, "split": "test",
  "template_name": null, "template_id": null, "prompt_language": "EN", "n": 164, "correct": 11,
  "evaluation": {"pass@1": 0.0218, "pass@10": 0.0411, "pass@100": 0.09},
  "skipped": {}, "truncated": 0,
  "best_temperature": {"pass@1": 0.2, "pass@10": 0.6, "pass@100": 0.8},
  "per_temperature": [{"temperature": 0.2, "samples": 200, "passed": 715, "pass@1": 0.0218, "pass@10": 0.03, "pass@100": 0.05}]
})");
    write_file_atomic(evals_ / "m2" / "xstory_cloze.sw.validation.Answer_Given_options.json", R"({
  "model": "gamma-1b1", "dataset_name": "story_cloze", "dataset_config_name": "sw", "split": "validation",
  "template_name": "Answer Given options", "template_id": "9fe8f3a1", "prompt_language": "EN",
  "n": 1508, "correct": 754, "evaluation": {"accuracy": 0.5},
  "skipped": {"no_input": 0, "no_choices": 0, "no_gold": 3}, "truncated": 2
})");
    // Training metrics with a torn last line (a crash mid-write).
    fs::create_directories(dir_ / "train" / "checkpoints");
    metrics_ = dir_ / "train" / "checkpoints" / "metrics.jsonl";
    const std::string metrics = read_file(kResultsData / "training" / "metrics.jsonl");
    torn_line_ = std::count(metrics.begin(), metrics.end(), '\n') + 1;
    write_file_atomic(metrics_, metrics + "{\"step\": 41, \"loss\": 3.");
    out_ = dir_ / "report";
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  CommandResult aggregate(const std::string& compare_to = "bloomz-560m") {
    return run(fmt::format("{} --input {} --input {} --baseline {} --output {} --title 'test run' --compare-to {}",
                           quote(kTool), quote(evals_), quote(metrics_), quote(kResultsData / "paper" / "allres_table.tsv"),
                           quote(out_), compare_to),
               dir_);
  }
  fs::path dir_, evals_, metrics_, out_;
  std::ptrdiff_t torn_line_ = 0;
};

TEST_F(XmtfAggregateTest, MediansMaximaAndErrorsEqualTheIndependentComputation) {
  CommandResult r = aggregate();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Csv csv(out_ / "report.csv");
  for (std::size_t m = 0; m < kModels.size(); ++m)
    for (std::size_t c = 0; c < kConfigs.size(); ++c) {
      SCOPED_TRACE(kModels[m].shown + " " + kConfigs[c]);
      const std::string median_key = key(kConfigs[c], "Median acc."), max_key = key(kConfigs[c], "Max acc.");
      if (!present(m, kConfigs[c])) {  // missing stays missing, never 0
        EXPECT_EQ(csv.at(median_key, kModels[m].shown), "");
        EXPECT_EQ(csv.at(max_key, kModels[m].shown), "");
        continue;
      }
      const auto counts = counts_of(m, c);
      const double median = median_percent(counts), max = max_percent(counts);
      EXPECT_NEAR(number(csv.at(median_key, kModels[m].shown)), median, 5e-5);
      EXPECT_NEAR(number(csv.at(max_key, kModels[m].shown)), max, 5e-5);
      auto se = [](double percent) {
        const double p = percent / 100;
        return 100 * std::sqrt(p * (1 - p) / (kExamples - 1));
      };
      EXPECT_NEAR(number(csv.at(median_key, "SE " + kModels[m].shown)), se(median), 5e-5);
      EXPECT_NEAR(number(csv.at(max_key, "SE " + kModels[m].shown)), se(max), 5e-5);
    }
  // beta's translated prompts: their own row; the others have none there.
  EXPECT_NEAR(number(csv.at(key("id", "Median acc.", "MT"), "beta/hf-model")), 62.5, 5e-5);
  EXPECT_EQ(csv.at(key("id", "Median acc.", "MT"), "alpha/hf-model"), "");
  // The paper's own MT value sits beside it.
  EXPECT_EQ(csv.at(key("id", "Median acc.", "MT"), "BLOOMZ-560M"), "53.0000");
  // HumanEval: the best temperature per k.
  const std::string he = "Program synthesis|openai_humaneval|None|test|EN|Pass@";
  EXPECT_EQ(csv.at(he + "1", "alpha/hf-model"), "3.0000");
  EXPECT_EQ(csv.at(he + "10", "alpha/hf-model"), "5.0000");
  EXPECT_EQ(csv.at(he + "100", "alpha/hf-model"), "9.0000");
  EXPECT_EQ(csv.at(he + "1", "beta/hf-model"), "");
  EXPECT_EQ(csv.at(he + "1", "gamma-1b1"), "2.1800");
  EXPECT_EQ(csv.at(he + "100", "gamma-1b1"), "9.0000");
  // story_cloze's templates on an XStoryCloze language: an xstory_cloze row.
  EXPECT_EQ(csv.at("Sent. completion|xstory_cloze|sw|validation|EN|Median acc.", "gamma-1b1"), "50.0000");
}

TEST_F(XmtfAggregateTest, AveragesOverCommonLanguagesAndDifferencesToTheBaseline) {
  CommandResult r = aggregate();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Csv csv(out_ / "report.csv");
  // Every column with xcopa values has et, ht, id (beta lacks sw): all columns average those.
  const std::string all = "Sent. completion|xcopa|avg-all|validation|EN|Median acc.";
  EXPECT_EQ(csv.at(all, "Configs averaged"), "et;ht;id");
  const std::string unseen = "Sent. completion|xcopa|avg-unseen|validation|EN|Median acc.";
  EXPECT_EQ(csv.at(unseen, "Configs averaged"), "et;ht");
  // Seen: only id is common (beta lacks sw): no average of one language.
  EXPECT_FALSE(csv.has_row("Sent. completion|xcopa|avg-seen|validation|EN|Median acc."));
  for (std::size_t m = 0; m < kModels.size(); ++m) {
    double sum = 0;
    for (std::size_t c = 0; c < 3; ++c) sum += median_percent(counts_of(m, c));
    EXPECT_NEAR(number(csv.at(all, kModels[m].shown)), sum / 3, 5e-5) << kModels[m].shown;
  }
  // The paper's BLOOMZ-560M xcopa EN medians: et 48.00, ht 42.00, id 50.00.
  EXPECT_NEAR(number(csv.at(all, "BLOOMZ-560M")), (48.0 + 42.0 + 50.0) / 3, 5e-5);
  // Differences, in points, to --compare-to (matched without case).
  const std::string diff = "\u0394 alpha/hf-model vs BLOOMZ-560M";
  EXPECT_NEAR(number(csv.at(key("et", "Median acc."), diff)), median_percent(counts_of(0, 0)) - 48.0, 5e-5);
  EXPECT_NEAR(number(csv.at(all, diff)), number(csv.at(all, "alpha/hf-model")) - number(csv.at(all, "BLOOMZ-560M")), 2e-4);
  EXPECT_EQ(csv.at(key("sw", "Median acc."), "\u0394 beta/hf-model vs BLOOMZ-560M"), "");  // beta's sw is missing
}

TEST_F(XmtfAggregateTest, BadInputsAreReportedByPathAndSkipped) {
  CommandResult r = aggregate();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string md = read_file(out_ / "report.md");
  for (const std::string& expected :
       {(evals_ / "m0" / "xcopa.et.validation.torn.json").string() + ":2", (evals_ / "m2" / "xcopa.id.validation.liar.json").string(),
        (evals_ / "m0" / "xcopa.et.validation.prompt 0.json").string(), metrics_.string() + ":" + std::to_string(torn_line_)}) {
    EXPECT_NE(r.err.find(expected), std::string::npos) << expected << "\n" << r.err;
    EXPECT_NE(md.find(expected), std::string::npos) << expected;
  }
  EXPECT_NE(r.err.find("disagrees with correct / n"), std::string::npos);
  EXPECT_NE(r.err.find("already read from"), std::string::npos);
  EXPECT_EQ(r.err.find("config.json"), std::string::npos);  // not an eval result: not read, not a problem
  // Examples an eval could not score are noted beside the results.
  EXPECT_NE(md.find("3 of 1511 examples not scored (no_gold 3); 2 inputs cut on the left to fit the window"), std::string::npos);
  // The torn metrics line aside, the run's 40 steps are drawn.
  for (const char* plot : {"training_loss.svg", "training_lr.svg", "training_tokens_per_s.svg", "accuracy_xcopa_validation_EN.svg",
                           "accuracy_xcopa_validation_MT.svg", "scale_xcopa_validation.svg"})
    EXPECT_TRUE(fs::exists(out_ / plot)) << plot;
  EXPECT_NE(md.find("training run train: "), std::string::npos);
  EXPECT_NE(md.find("(40 steps)"), std::string::npos);
}

TEST_F(XmtfAggregateTest, TerminalTableLatexHtmlAndModelCard) {
  CommandResult r = aggregate();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The terminal shows our rows only, with the comparison column and the differences.
  EXPECT_NE(r.out.find("alpha/hf-model"), std::string::npos);
  EXPECT_NE(r.out.find("BLOOMZ-560M"), std::string::npos);
  EXPECT_EQ(r.out.find("winogrande"), std::string::npos);
  EXPECT_NE(r.out.find(fmt::format("{:.2f}", median_percent(counts_of(0, 0)))), std::string::npos);
  const std::string tex = read_file(out_ / "report.tex");
  for (const char* s : {"\\begin{longtable}", "\\toprule", "\\midrule", "\\bottomrule", "Sent. completion & xcopa & et",
                        "super\\_glue", "\\multicolumn{3}{c|}{Ours}"})
    EXPECT_NE(tex.find(s), std::string::npos) << s;
  const std::string html = read_file(out_ / "report.html");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src=\""), std::string::npos);  // nothing to fetch: one self-contained file
  EXPECT_EQ(html.find("href=\""), std::string::npos);
  std::size_t svgs = 0;
  for (std::size_t at = 0; (at = html.find("<svg ", at)) != std::string::npos; ++at) ++svgs;
  std::size_t svg_files = 0;
  for (const auto& entry : fs::directory_iterator(out_)) svg_files += entry.path().extension() == ".svg";
  EXPECT_EQ(svgs, svg_files);
  // Model card of ours: accuracy = max over prompt languages of the max accuracy.
  const std::string card = read_file(out_ / "model_card.tsv");
  EXPECT_NE(card.find(fmt::format("beta/hf-model\tSentence completion\txcopa\tid\tvalidation\tAccuracy\t{:.2f}",
                                  std::max(max_percent(counts_of(1, 2)), 64.0))),
            std::string::npos)
      << card;
  EXPECT_NE(card.find("alpha/hf-model\tProgram synthesis\topenai_humaneval\tNone\ttest\tPass@100\t9.00"), std::string::npos);
}

TEST_F(XmtfAggregateTest, RerunOnUnchangedInputsRewritesNothing) {
  ASSERT_EQ(aggregate().exit_code, 0);
  std::map<fs::path, fs::file_time_type> written;
  for (const auto& entry : fs::directory_iterator(out_)) written[entry.path()] = entry.last_write_time();
  CommandResult again = aggregate();
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("0 files written, " + std::to_string(written.size()) + " unchanged"), std::string::npos) << again.err;
  for (const auto& entry : fs::directory_iterator(out_)) EXPECT_EQ(entry.last_write_time(), written.at(entry.path()));
  // Without the translated prompts the MT plot goes, and only what changed is rewritten.
  fs::remove(evals_ / "m1" / "xcopa.id.validation.prompt 0-MT.json");
  fs::remove(evals_ / "m1" / "xcopa.id.validation.prompt 1-MT.json");
  CommandResult fewer = aggregate();
  ASSERT_EQ(fewer.exit_code, 0) << fewer.err;
  EXPECT_FALSE(fs::exists(out_ / "accuracy_xcopa_validation_MT.svg"));
  EXPECT_NE(fewer.err.find("1 stale plots removed"), std::string::npos) << fewer.err;
}

TEST_F(XmtfAggregateTest, ExitCodes) {
  EXPECT_EQ(run(quote(kTool) + " --help", dir_).exit_code, 0);
  EXPECT_EQ(run(quote(kTool) + " --input " + quote(evals_), dir_).exit_code, 2);  // no --output
  EXPECT_EQ(run(quote(kTool) + " --input " + quote(dir_ / "nope") + " --output " + quote(out_), dir_).exit_code, 2);
  CommandResult typo = aggregate("BLOOMZ-560");
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("did you mean 'BLOOMZ-560M'"), std::string::npos) << typo.err;
  // Nothing usable at all: an error, not an empty report.
  fs::create_directories(dir_ / "bad");
  write_file_atomic(dir_ / "bad" / "xcopa.et.validation.x.json", "{");
  CommandResult nothing = run(quote(kTool) + " --input " + quote(dir_ / "bad") + " --output " + quote(dir_ / "bad-report"), dir_);
  EXPECT_EQ(nothing.exit_code, 1);
  EXPECT_NE(nothing.err.find("xcopa.et.validation.x.json:1"), std::string::npos) << nothing.err;
  EXPECT_FALSE(fs::exists(dir_ / "bad-report" / "report.html"));
}

}  // namespace
}  // namespace xmtf::report
