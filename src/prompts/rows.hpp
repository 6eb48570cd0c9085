#pragma once
// Dataset rows for templates: reading raw files as the datasets publish them (jsonl, tsv, csv)
// and adapting them to the fields the promptsource templates were written against (the
// features of the HF datasets loaders: XNLI's premise / hypothesis / label, StoryCloze's
// input_sentence_1.. / answer_right_ending, XWinograd's sentence / option1 / option2 / answer).
#include <optional>
#include <string>
#include <vector>

#include "core/fs.hpp"
#include "prompts/value.hpp"

namespace xmtf::prompts {

// The rows of a jsonl / tsv / csv file as Python would read them: JSON values keep their types
// (json.loads); tsv (csv.reader, tab, no quoting) and csv (csv.reader, excel dialect) rows are
// dicts of strings keyed by the header line.
std::vector<Dict> read_rows(const fs::path& path);

// Rows for a template file's dataset (its `dataset:` name, e.g. "xnli", "story_cloze",
// "Muennighoff/xwinograd"): raw layouts are converted to the loader's fields; rows of other
// languages are dropped where the file holds several (XNLI, XWinograd). Rows already in the
// loader's layout pass unchanged.
std::vector<Dict> load_dataset_rows(const fs::path& path, const std::string& dataset, const std::string& lang);

// The split a data file holds, from its name (train / validation / test), if it says.
std::optional<std::string> split_from_filename(const fs::path& path);

// A JSON document as the Value json.loads would give (objects keep their key order).
Value parse_json(const std::string& text);

// A JSON string literal as Python's json.dumps(..., ensure_ascii=False) writes it.
std::string json_quote(const std::string& text);
// One row of Values as a JSON object (for messages and tests).
std::string json_dump(const Value& value);

}  // namespace xmtf::prompts
