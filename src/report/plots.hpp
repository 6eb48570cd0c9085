#pragma once
// The report's figures, as the paper draws them: accuracy per language per model (bars, one
// figure per dataset and prompt language), accuracy against model size (one per dataset, a
// series per model family; our models each their own), and training curves from metrics.jsonl
// (loss with validation loss, learning rate, tokens/s against step).
#include <string>
#include <vector>

#include "report/results.hpp"
#include "report/table.hpp"

namespace xmtf::report {

struct Plot {
  std::string file_name;  // "accuracy_xcopa_EN.svg"
  std::string title;
  std::string caption;
  std::string svg;
};

// Bars of the median accuracy over prompts, per dataset and prompt language our models were
// evaluated on (all of them when there is no model of ours). Columns drawn: ours and
// `compare_to_id` (when set); every baseline too when that makes at most 8 bars per language,
// or when there is no model of ours (then all baselines).
std::vector<Plot> language_plots(const Table& table, const std::string& compare_to_id);
// Median accuracy over prompts (English prompts) averaged over the dataset's configs that every
// plotted column has, against parameters (log scale); columns of unknown size are left out and
// named in the caption.
std::vector<Plot> scale_plots(const Table& table, const std::vector<AverageRow>& averages);
std::vector<Plot> training_plots(const std::vector<TrainingRun>& runs);

}  // namespace xmtf::report
