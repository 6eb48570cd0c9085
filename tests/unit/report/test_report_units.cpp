// Building blocks of the report: dataset knowledge (names, splits, seen / unseen languages, sizes
// from names), medians, the paper's row order, SVG axes, and each reader on real files of the
// formats it reads (bslmeval against medians computed by Python's statistics module).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "core/fs.hpp"
#include "core/text.hpp"
#include "report/aggregate.hpp"
#include "report/datasets.hpp"
#include "report/readers.hpp"
#include "report/svg.hpp"
#include "report/table.hpp"

namespace xmtf::report {
namespace {

const fs::path kResults = fs::path(XMTF_TEST_DATA_DIR) / "results";

std::vector<std::vector<std::string>> read_tsv(const fs::path& path) {
  std::vector<std::vector<std::string>> rows;
  for (const std::string& line : split(read_file(path), '\n'))
    if (!line.empty()) rows.push_back(split(line, '\t'));
  return rows;
}

TEST(ReportDatasets, NamesSplitsAndTasksAsThePaper) {
  EXPECT_EQ(canonical_dataset("Muennighoff/xwinograd"), "xwinograd");
  EXPECT_EQ(canonical_dataset("humaneval"), "openai_humaneval");
  EXPECT_EQ(canonical_config("winogrande", "winogrande_xl"), "xl");
  EXPECT_EQ(canonical_config("anli", "dev_r2"), "r2");
  EXPECT_EQ(canonical_config("openai_humaneval", ""), "None");
  EXPECT_EQ(default_split("xwinograd"), "test");
  EXPECT_EQ(default_split("xcopa"), "validation");
  EXPECT_EQ(task_of("xcopa", "sw"), "Sent. completion");
  EXPECT_EQ(task_of("super_glue", "copa"), "Sent. completion");
  EXPECT_EQ(task_of("super_glue", "cb"), "NLI");
  EXPECT_EQ(task_of("xwinograd", "jp"), "Coref. resolution");
  EXPECT_EQ(task_of("openai_humaneval", "None"), "Program synthesis");
  EXPECT_EQ(task_of("gsm8k", "None"), "Other");
}

TEST(ReportDatasets, SeenAndUnseenLanguagesAsTheBloomCorpus) {
  // The paper's unseen languages: XCOPA et ht it qu th tr, XNLI bg de el ru th tr, XStoryCloze my ru,
  // XWinograd jp ru; the others are in ROOTS.
  for (const char* config : {"et", "ht", "it", "qu", "th", "tr"}) EXPECT_FALSE(*seen_in_bloom_pretraining("xcopa", config)) << config;
  for (const char* config : {"id", "sw", "ta", "vi", "zh"}) EXPECT_TRUE(*seen_in_bloom_pretraining("xcopa", config)) << config;
  for (const char* config : {"bg", "de", "el", "ru", "th", "tr"}) EXPECT_FALSE(*seen_in_bloom_pretraining("xnli", config)) << config;
  for (const char* config : {"ar", "en", "es", "fr", "hi", "sw", "ur", "vi", "zh"}) EXPECT_TRUE(*seen_in_bloom_pretraining("xnli", config));
  EXPECT_FALSE(*seen_in_bloom_pretraining("xwinograd", "jp"));
  EXPECT_FALSE(*seen_in_bloom_pretraining("xstory_cloze", "my"));
  EXPECT_FALSE(seen_in_bloom_pretraining("openai_humaneval", "None").has_value());
  EXPECT_TRUE(configs_are_languages("xcopa", {"et", "sw"}));
  EXPECT_FALSE(configs_are_languages("super_glue", {"cb", "rte"}));  // both English
}

TEST(ReportDatasets, ModelSizesAndFamiliesFromNames) {
  EXPECT_DOUBLE_EQ(*parameters_from_name("BLOOMZ-7.1B-MT"), 7.1e9);
  EXPECT_DOUBLE_EQ(*parameters_from_name("bigscience/bloomz-1b1"), 1.1e9);
  EXPECT_DOUBLE_EQ(*parameters_from_name("bloomz-560m"), 560e6);
  EXPECT_DOUBLE_EQ(*parameters_from_name("mT0-300M"), 300e6);
  EXPECT_DOUBLE_EQ(*parameters_from_name("mt0-xxl-mt"), 13e9);
  EXPECT_DOUBLE_EQ(*parameters_from_name("BLOOMZ-P3"), 176e9);
  EXPECT_DOUBLE_EQ(*parameters_from_name("XGLM-7.5B"), 7.5e9);
  EXPECT_FALSE(parameters_from_name("hf-model").has_value());
  EXPECT_EQ(family_from_name("BLOOMZ-7.1B-MT"), "BLOOMZ-MT");
  EXPECT_EQ(family_from_name("BLOOMZ-MT"), "BLOOMZ-MT");
  EXPECT_EQ(family_from_name("mT0-13B-P3"), "mT0-P3");
  EXPECT_EQ(family_from_name("mt0-xxl-mt"), "mt0-mt");
}

TEST(ReportTable, MedianAsNumpy) {
  EXPECT_DOUBLE_EQ(median({0.5, 0.1, 0.3}), 0.3);
  EXPECT_DOUBLE_EQ(median({0.4, 0.1, 0.3, 0.2}), 0.25);
  EXPECT_DOUBLE_EQ(median({0.7}), 0.7);
}

TEST(ReportTable, RowsSortInThePapersOrder) {
  Inputs inputs;
  read_baseline((kResults / "paper" / "allres_table.tsv").string(), inputs);
  ASSERT_TRUE(inputs.problems.empty());
  std::vector<Problem> problems;
  Table table = build_table(inputs, problems);
  const auto tsv = read_tsv(kResults / "paper" / "allres_table.tsv");
  ASSERT_EQ(table.rows.size() + 1, tsv.size());
  std::size_t i = 1;
  for (const auto& [row, cells] : table.rows) {
    EXPECT_EQ((std::vector<std::string>{row.task, row.dataset, row.config, row.split, row.prompt, row.metric}),
              std::vector<std::string>(tsv[i].begin(), tsv[i].begin() + 6))
        << "line " << i + 1;
    ++i;
  }
  ASSERT_EQ(table.columns.size(), 27u);
  EXPECT_EQ(table.columns.back().name, "BLOOMZ-P3");  // the header's "BLOOMZ-P3 \\" cleaned
  // "-" stays missing: XGLM has no HumanEval value.
  EXPECT_EQ(table.cell({"Program synthesis", "openai_humaneval", "None", "test", "EN", "Pass@1"}, "baseline:XGLM-7.5B"), nullptr);
  EXPECT_DOUBLE_EQ(table.cell({"Program synthesis", "openai_humaneval", "None", "test", "EN", "Pass@1"}, "baseline:BLOOMZ-560M")->value,
                   0.0218);
}

TEST(ReportReaders, BslmevalMediansAndMaximaEqualPythonStatistics) {
  Inputs inputs;
  read_baseline("BLOOM-176B=" + (kResults / "bigscience-tr11" / "bslmeval.json").string(), inputs);
  ASSERT_TRUE(inputs.problems.empty());
  std::vector<Problem> problems;
  Table table = build_table(inputs, problems);
  ASSERT_TRUE(problems.empty());
  ASSERT_EQ(table.columns.size(), 1u);
  EXPECT_EQ(table.columns[0].name, "BLOOM-176B");
  EXPECT_DOUBLE_EQ(*table.columns[0].parameters, 176e9);
  // task -> its (median, max) rows
  std::map<std::string, std::pair<const Cell*, const Cell*>> by_task;
  for (const auto& [row, cells] : table.rows) {
    if (row.prompt != "EN") continue;
    std::string task = row.config != "None" ? row.config : row.dataset;
    if (row.dataset == "glue" && row.config == "mnli") task = row.split == "validation_matched" ? "mnli" : "mnli_mismatched";
    if (row.dataset == "glue" && row.config == "sst2") task = "sst";
    if (row.dataset == "super_glue" && row.config == "wsc.fixed") task = "wsc";
    (row.metric == "Median acc." ? by_task[task].first : by_task[task].second) = &cells.begin()->second;
  }
  const auto golden = read_tsv(kResults / "golden" / "bslmeval_medians.tsv");
  ASSERT_EQ(golden.size(), 20u);
  for (std::size_t i = 1; i < golden.size(); ++i) {
    const auto& g = golden[i];
    SCOPED_TRACE(g[0]);
    auto it = by_task.find(g[0]);
    ASSERT_NE(it, by_task.end());
    ASSERT_TRUE(it->second.first && it->second.second);
    EXPECT_EQ(it->second.first->prompts, std::stoi(g[1]));
    EXPECT_NEAR(it->second.first->value, std::stod(g[2]), 1e-11);
    EXPECT_NEAR(it->second.second->value, std::stod(g[3]), 1e-11);
    EXPECT_EQ(*it->second.second->n, std::stoll(g[4]));
  }
  // Plain (harness-style) entries of the same file are single accuracies.
  const Cell* arc = table.cell({"Other", "arc_challenge", "None", "test", "-", "Acc."}, "baseline:BLOOM-176B");
  ASSERT_NE(arc, nullptr);
  EXPECT_DOUBLE_EQ(arc->value, 0.4112627986348123);
  EXPECT_DOUBLE_EQ(*arc->standard_error, 0.014379441068522077);
}

TEST(ReportReaders, HarnessNamesTheModelAndKeepsFewShotApart) {
  Inputs inputs;
  read_baseline((kResults / "lm-eval-harness-bloom-560m").string(), inputs);
  EXPECT_TRUE(inputs.problems.empty());
  std::vector<Problem> problems;
  Table table = build_table(inputs, problems);
  EXPECT_TRUE(problems.empty());
  ASSERT_EQ(table.columns.size(), 1u);
  EXPECT_EQ(table.columns[0].name, "bloom-560m");  // from config.model_args, not the folder
  EXPECT_DOUBLE_EQ(*table.columns[0].parameters, 560e6);
  EXPECT_NE(table.cell({"Other", "gsm8k", "None", "-", "-", "Acc. (8-shot)"}, "baseline:bloom-560m"), nullptr);
  EXPECT_NE(table.cell({"Other", "gsm8k", "None", "-", "-", "Acc. (5-shot)"}, "baseline:bloom-560m"), nullptr);
  const Cell* sw = table.cell({"Sent. completion", "xcopa", "sw", "test", "-", "Acc."}, "baseline:bloom-560m");
  ASSERT_NE(sw, nullptr);
  EXPECT_DOUBLE_EQ(sw->value, 0.516);
  EXPECT_EQ(*sw->n, 500);
}

TEST(ReportReaders, TZeroResultsAreEvalResultsWithoutModel) {
  Inputs inputs;
  read_baseline("T0-3B=" + (kResults / "t-zero" / "results.json").string(), inputs);
  ASSERT_TRUE(inputs.problems.empty());
  ASSERT_EQ(inputs.prompt_accuracies.size(), 1u);
  const PromptAccuracy& a = inputs.prompt_accuracies[0];
  EXPECT_EQ(a.column, "baseline:T0-3B");
  EXPECT_EQ(a.setting, (EvalSetting{"super_glue", "cb", "validation", "EN"}));
  EXPECT_EQ(a.template_name, "GPT-3 style");
  EXPECT_DOUBLE_EQ(a.accuracy, 0.39285714285714285);
}

TEST(ReportReaders, ParametersOfOurModelFromItsBloomConfig) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("xmtf_report_params_{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir / "model");
  fs::copy_file(fs::path(XMTF_TEST_DATA_DIR) / "bloom" / "tiny-bloom.config.json", dir / "model" / "config.json");
  write_file_atomic(dir / "xcopa.sw.validation.t.json",
                    fmt::format(R"({{"model": "{}", "dataset_name": "xcopa", "dataset_config_name": "sw", "split": "validation",
                    "template_name": "t", "prompt_language": "EN", "n": 10, "correct": 7, "evaluation": {{"accuracy": 0.7}}}})",
                                (dir / "model").string()));
  Inputs inputs;
  read_input(dir, inputs);
  ASSERT_TRUE(inputs.problems.empty());
  ASSERT_EQ(inputs.columns.size(), 1u);
  // vocab 260, hidden 64, 2 layers: V h + 4 h (two LayerNorms) + L (12 h^2 + 13 h)
  const double h = 64, v = 260, layers = 2;
  EXPECT_DOUBLE_EQ(*inputs.columns[0].parameters, v * h + 4 * h + layers * (12 * h * h + 13 * h));
  fs::remove_all(dir);
}

TEST(ReportReaders, EvalResultNamesOnlyWhenWalkingFolders) {
  EXPECT_TRUE(is_eval_result_name("xcopa.sw.validation.best_option.json"));
  EXPECT_TRUE(is_eval_result_name("results.json"));
  EXPECT_FALSE(is_eval_result_name("config.json"));
  EXPECT_FALSE(is_eval_result_name("model.safetensors.index.json"));
  EXPECT_FALSE(is_eval_result_name("xcopa.sw.validation.best_option.jsonl"));  // predictions
}

TEST(ReportSvg, TicksAndLabels) {
  EXPECT_EQ(nice_ticks(0, 100), (std::vector<double>{0, 20, 40, 60, 80, 100}));
  EXPECT_EQ(nice_ticks(0.3, 1.2, 4), (std::vector<double>{0.5, 0.75, 1.0}));
  EXPECT_EQ(log_ticks(1e8, 1e12), (std::vector<double>{1e8, 1e9, 1e10, 1e11, 1e12}));
  EXPECT_EQ(si_label(1.1e9), "1.1B");
  EXPECT_EQ(si_label(560e6), "560M");
  EXPECT_EQ(si_label(176e9), "176B");
  EXPECT_EQ(si_label(116864), "117K");
  EXPECT_EQ(xml_escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
}

TEST(ReportSvg, MissingBarsAreMarkedNotDrawnAsZero) {
  BarChart chart{"t", "y", {"et", "sw"}, {"a", "b"}, {{0.5, std::nullopt}, {0.25, 0.75}}, 0.0, 1.0};
  const std::string svg = bar_chart_svg(chart);
  std::size_t rects = 0;
  for (std::size_t at = 0; (at = svg.find("<rect x", at)) != std::string::npos; ++at) ++rects;
  EXPECT_EQ(rects, 1u + 3u);  // the background and three bars
  EXPECT_NE(svg.find("a sw: missing"), std::string::npos);
}

}  // namespace
}  // namespace xmtf::report
