#pragma once
// The report's documents, each a pure function of a Report (no clock, no paths of the machine
// beyond the inputs named), so a rerun on unchanged inputs writes identical bytes. Values print
// in percent with two decimals as the paper does (the CSV with four); a missing cell is "-"
// (empty in the CSV), never 0.
#include <string>
#include <vector>

#include "report/plots.hpp"
#include "report/results.hpp"
#include "report/table.hpp"

namespace xmtf::report {

struct Report {
  std::string title;
  Table table;
  std::vector<AverageRow> averages;
  std::string compare_to_id;  // a baseline column, or empty: no difference columns
  std::vector<Plot> plots;
  std::vector<Problem> problems;
  std::vector<Problem> notes;
  std::vector<std::string> files_read;
  std::vector<TrainingRun> training_runs;
};

std::string markdown_report(const Report& report);
std::string csv_report(const Report& report);
std::string latex_report(const Report& report);
std::string html_report(const Report& report);
// The main table for the terminal: the rows and columns of our models (with the comparison
// column and the differences), or every column when there is no model of ours.
std::string terminal_table(const Report& report);
// Our models' results in the model-card layout (model_index_results.tsv).
std::string model_card_tsv(const Report& report);

// "52.30", or "-" when missing.
std::string percent(const Cell* cell);

}  // namespace xmtf::report
