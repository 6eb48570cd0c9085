// Reproduction of published numbers from published inputs:
// - the five model cards (model_index_results.tsv) equal the paper's table under "card value =
//   max over EN/HT/MT of the max accuracy" (and pass@k as it is): 259 of 259 values;
// - BigScience's three HumanEval pass@k files (one per temperature) give the paper's BLOOM
//   column when the best temperature per k is kept;
// - our standard error sqrt(p(1-p)/(n-1)) equals lm-evaluation-harness's acc_stderr for every
//   accuracy of its XCOPA / XNLI / XStoryCloze / XWinograd files, with n the datasets' published
//   split sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/fs.hpp"
#include "core/text.hpp"
#include "report/aggregate.hpp"
#include "report/readers.hpp"

namespace xmtf::report {
namespace {

const fs::path kResults = fs::path(XMTF_TEST_DATA_DIR) / "results";

TEST(ReportReproduction, ModelCardsEqualThePapersTableMaxOverPromptLanguages) {
  Inputs inputs;
  read_baseline((kResults / "paper" / "allres_table.tsv").string(), inputs);
  Report report = make_report(std::move(inputs), "paper", "");
  // The cards' model names and the table's columns.
  const std::map<std::string, std::string> columns = {{"bloomz-560m", "BLOOMZ-560M"}, {"bloomz-1b1", "BLOOMZ-1.1B"},
                                                      {"bloomz", "BLOOMZ"},           {"mt0-small", "mT0-300M"},
                                                      {"mt0-xxl-mt", "mT0-13B-MT"}};
  // (model, task_type, dataset, config, split, metric) -> value in hundredths
  std::map<std::vector<std::string>, long> ours;
  for (const auto& [card, column] : columns)
    for (const CardRow& row : card_rows(report.table, "baseline:" + column))
      ours[{card, row.task_type, row.dataset, row.config, row.split, row.metric}] = std::lround(row.value * 1e4);

  std::size_t compared = 0, equal = 0;
  const auto lines = split(read_file(kResults / "paper" / "model_index_results.tsv"), '\n');
  for (std::size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const auto f = split(lines[i], '\t');
    ASSERT_EQ(f.size(), 7u) << "line " << i + 1;
    ++compared;
    auto it = ours.find({f[0], f[1], f[2], f[3], f[4], f[5]});
    if (it == ours.end()) {
      ADD_FAILURE() << "no value of ours for card line " << i + 1 << ": " << lines[i];
      continue;
    }
    const long card = std::lround(std::stod(f[6]) * 100);  // "33.3" and "33.30" alike
    if (card == it->second)
      ++equal;
    else
      ADD_FAILURE() << lines[i] << ": ours " << it->second / 100.0;
    ours.erase(it);
  }
  EXPECT_EQ(compared, 259u);
  EXPECT_EQ(equal, 259u);
  // Nothing of ours that the cards lack (every dataset of the five columns is on the cards).
  for (const auto& [key, value] : ours) ADD_FAILURE() << "not on the cards: " << join(key, " / ");
}

TEST(ReportReproduction, BestTemperaturePerKIsThePapersBloomHumanEval) {
  Inputs inputs;
  read_baseline("BLOOM-tr11=" + (kResults / "bigscience-tr11").string(), inputs);
  read_baseline((kResults / "paper" / "allres_table.tsv").string(), inputs);
  Report report = make_report(std::move(inputs), "humaneval", "");
  ASSERT_TRUE(report.problems.empty());
  for (const char* metric : {"Pass@1", "Pass@10", "Pass@100"}) {
    const RowKey row{"Program synthesis", "openai_humaneval", "None", "test", "EN", metric};
    const Cell* from_files = report.table.cell(row, "baseline:BLOOM-tr11");
    const Cell* paper = report.table.cell(row, "baseline:BLOOM");
    ASSERT_TRUE(from_files && paper) << metric;
    EXPECT_EQ(from_files->prompts, 3) << metric;  // three temperatures
    EXPECT_EQ(percent(from_files), percent(paper)) << metric;
  }
}

TEST(ReportReproduction, StandardErrorIsLmEvaluationHarnesss) {
  // Published split sizes: XCOPA test 500 per language, XNLI test 5,010, XStoryCloze eval 1,511,
  // XWinograd per language.
  const std::map<std::string, std::int64_t> xwinograd = {{"en", 2325}, {"fr", 83},  {"jp", 959},
                                                         {"pt", 263},  {"ru", 315}, {"zh", 504}};
  std::size_t checked = 0;
  for (const char* file : {"bloom-560m_xcopa_0-shot.json", "bloom-560m_xnli_0-shot.json",
                           "bloom-560m_xstory_cloze_0-shot.json", "bloom-560m_xwinograd_0-shot.json"}) {
    const auto doc = nlohmann::json::parse(read_file(kResults / "lm-eval-harness-bloom-560m" / file));
    for (auto& [task, entry] : doc["results"].items()) {
      const std::string language = task.substr(task.rfind('_') + 1);
      std::int64_t n = task.starts_with("xcopa") ? 500 : task.starts_with("xnli") ? 5010
                       : task.starts_with("xstory") ? 1511 : xwinograd.at(language);
      const double expected = entry["acc_stderr"].get<double>();
      EXPECT_NEAR(standard_error(entry["acc"].get<double>(), n), expected, 1e-12 * expected) << task;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 11u + 15u + 11u + 6u);
}

}  // namespace
}  // namespace xmtf::report
