#pragma once
// What the report knows about the evaluation datasets, in the paper's vocabulary: the task group
// of a dataset ("Coref. resolution", "NLI", "Program synthesis", "Sent. completion"), the names
// the paper's table uses for datasets and configs, the split the paper evaluated on, the language
// of a config and whether BLOOM saw that language in pretraining (the paper's seen / unseen
// grouping). Names from other tools (HF hub ids such as "Muennighoff/xwinograd", promptsource's
// "winogrande_xl", lm-evaluation-harness task names) are mapped onto these.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xmtf::report {

// "Muennighoff/xwinograd" -> "xwinograd", "humaneval" -> "openai_humaneval"; others unchanged.
std::string canonical_dataset(std::string_view dataset_name);
// "winogrande_xl" -> "xl", "dev_r1" -> "r1"; an empty or null config -> "None" (as the table).
std::string canonical_config(std::string_view dataset, std::string_view config_name);
// The split the paper evaluated a dataset on when a result does not say (t-zero's results.json):
// "test" for xwinograd and HumanEval, "validation" otherwise.
std::string default_split(std::string_view dataset);
// The paper's task group of a dataset and config ("super_glue" holds NLI, sentence completion
// and coreference sets); "Other" when unknown.
std::string task_of(std::string_view dataset, std::string_view config);
// The HF dataset id the model cards use ("Muennighoff/xwinograd"), and the cards' long task name
// ("Coreference resolution"), for writing results in the model-card layout.
std::string card_dataset_id(std::string_view dataset);
std::string card_task_type(std::string_view task);

// ISO 639-1 code of the language a config holds ("jp" -> "ja"; English-only datasets -> "en");
// nullopt for code (HumanEval) and unknown datasets.
std::optional<std::string> config_language(std::string_view dataset, std::string_view config);
// Whether a dataset's configs are languages, each a different one (xcopa, xnli: averaged and
// drawn per language; not super_glue's cb and rte, nor anli's rounds).
bool configs_are_languages(std::string_view dataset, const std::vector<std::string>& configs);
// Whether BLOOM's pretraining corpus (ROOTS) held the language; nullopt when config_language is.
std::optional<bool> seen_in_bloom_pretraining(std::string_view dataset, std::string_view config);

// Model size from a name as the papers and hubs write it: "BLOOMZ-7.1B-MT" 7.1e9, "bloomz-1b1"
// 1.1e9, "mT0-300M", "bloomz-560m", "mt0-xxl-mt" (T5 size names), "BLOOMZ" (176B).
std::optional<double> parameters_from_name(std::string_view model_name);
// The model family a name belongs to, its size removed: "BLOOMZ-7.1B-MT" -> "BLOOMZ-MT",
// "mT0-13B" -> "mT0", "bloomz-560m" -> "bloomz". Series of the scale plot.
std::string family_from_name(std::string_view model_name);

}  // namespace xmtf::report
