#include "prompts/rows.hpp"

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/text.hpp"

namespace xmtf::prompts {
namespace {

using Json = nlohmann::ordered_json;

Value from_json(const Json& json) {
  switch (json.type()) {
    case Json::value_t::null: return Value::none();
    case Json::value_t::boolean: return Value::of_bool(json.get<bool>());
    case Json::value_t::number_integer: return Value::of_int(json.get<std::int64_t>());
    case Json::value_t::number_unsigned: return Value::of_int(static_cast<std::int64_t>(json.get<std::uint64_t>()));
    case Json::value_t::number_float: return Value::of_real(json.get<double>());
    case Json::value_t::string: return Value::of_string(json.get<std::string>());
    case Json::value_t::array: {
      List items;
      for (const Json& item : json) items.push_back(from_json(item));
      return Value::of_list(std::move(items));
    }
    case Json::value_t::object: {
      Dict entries;
      for (const auto& [key, item] : json.items()) entries.emplace_back(key, from_json(item));
      return Value::of_dict(std::move(entries));
    }
    default: return Value::none();
  }
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines = split(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  for (std::string& line : lines)
    if (!line.empty() && line.back() == '\r') line.pop_back();
  return lines;
}

std::vector<Dict> read_jsonl(const fs::path& path) {
  std::vector<Dict> rows;
  std::vector<std::string> lines = lines_of(read_file(path));
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (trim(lines[i]).empty()) continue;
    Json json;
    try {
      json = Json::parse(lines[i]);
    } catch (const Json::exception& e) {
      fail("{}:{}: invalid JSON: {}", path.string(), i + 1, e.what());
    }
    if (!json.is_object()) fail("{}:{}: expected a JSON object per line", path.string(), i + 1);
    rows.push_back(std::move(*from_json(json).entries));
  }
  return rows;
}

// Python's csv.reader with the excel dialect (quote '"', doubled quotes, newlines in quotes)
// or, for tsv, with quoting off. Each record remembers the line it started on.
struct Record {
  std::vector<std::string> fields;
  std::size_t line;
};

std::vector<Record> read_records(const fs::path& path, char delimiter, bool quoting) {
  std::string text = read_file(path);
  std::vector<Record> records;
  Record record{{}, 1};
  std::string field;
  bool in_quotes = false, field_started = false;
  std::size_t line = 1;
  auto end_field = [&] {
    record.fields.push_back(field);
    field.clear();
    field_started = false;
  };
  auto end_record = [&] {
    end_field();
    if (!(record.fields.size() == 1 && record.fields[0].empty())) records.push_back(record);
    record = Record{{}, line};
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (quoting && c == '"' && !field_started) {
      in_quotes = true;
      field_started = true;
    } else if (c == delimiter) {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++line;
      end_record();
    } else {
      field += c;
      field_started = true;
    }
  }
  if (in_quotes) fail("{}:{}: unterminated quoted field", path.string(), record.line);
  if (!field.empty() || !record.fields.empty()) end_record();
  return records;
}

std::vector<Dict> rows_with_header(const std::vector<Record>& records, const fs::path& path) {
  std::vector<Dict> rows;
  if (records.empty()) return rows;
  const std::vector<std::string>& header = records[0].fields;
  for (std::size_t r = 1; r < records.size(); ++r) {
    const Record& record = records[r];
    if (record.fields.size() != header.size())
      fail("{}:{}: {} fields where the header has {}", path.string(), record.line, record.fields.size(), header.size());
    Dict row;
    for (std::size_t i = 0; i < header.size(); ++i) row.emplace_back(header[i], Value::of_string(record.fields[i]));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string extension_of(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

const Value* field(const Dict& row, std::string_view key) {
  for (const auto& [name, value] : row)
    if (name == key) return &value;
  return nullptr;
}

std::string string_field(const Dict& row, std::string_view key, const fs::path& path, std::size_t index) {
  const Value* value = field(row, key);
  if (!value) fail("{}: row {} has no field '{}'", path.string(), index + 1, key);
  return py_str(*value);
}

std::int64_t int_field(const Dict& row, std::string_view key, const fs::path& path, std::size_t index) {
  const Value* value = field(row, key);
  if (value && value->kind == Value::Kind::integer) return value->integer;
  std::string text = string_field(row, key, path, index);
  try {
    std::size_t used = 0;
    std::int64_t number = std::stoll(text, &used);
    if (used == text.size()) return number;
  } catch (const std::exception&) {
  }
  fail("{}: row {}: field '{}' is not an integer: '{}'", path.string(), index + 1, key, text);
}

// HF "xnli": premise, hypothesis, label (ClassLabel entailment / neutral / contradiction),
// from the XNLI-1.0 files (sentence1, sentence2, gold_label, language).
std::vector<Dict> adapt_xnli(const std::vector<Dict>& raw, const fs::path& path, const std::string& lang) {
  static const std::vector<std::string> labels = {"entailment", "neutral", "contradiction"};
  std::vector<Dict> rows;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const Dict& row = raw[i];
    if (const Value* language = field(row, "language"); language && py_str(*language) != lang) continue;
    std::string gold = string_field(row, "gold_label", path, i);
    auto label = std::find(labels.begin(), labels.end(), gold);
    if (label == labels.end()) fail("{}: row {}: unknown gold_label '{}'", path.string(), i + 1, gold);
    rows.push_back({{"premise", Value::of_string(string_field(row, "sentence1", path, i))},
                    {"hypothesis", Value::of_string(string_field(row, "sentence2", path, i))},
                    {"label", Value::of_int(label - labels.begin())}});
  }
  return rows;
}

// HF "story_cloze" / "xstory_cloze" fields from the ROCStories cloze csv columns.
std::vector<Dict> adapt_story_cloze(const std::vector<Dict>& raw, const fs::path& path) {
  std::vector<Dict> rows;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const Dict& row = raw[i];
    rows.push_back({{"story_id", Value::of_string(string_field(row, "InputStoryid", path, i))},
                    {"input_sentence_1", Value::of_string(string_field(row, "InputSentence1", path, i))},
                    {"input_sentence_2", Value::of_string(string_field(row, "InputSentence2", path, i))},
                    {"input_sentence_3", Value::of_string(string_field(row, "InputSentence3", path, i))},
                    {"input_sentence_4", Value::of_string(string_field(row, "InputSentence4", path, i))},
                    {"sentence_quiz1", Value::of_string(string_field(row, "RandomFifthSentenceQuiz1", path, i))},
                    {"sentence_quiz2", Value::of_string(string_field(row, "RandomFifthSentenceQuiz2", path, i))},
                    {"answer_right_ending", Value::of_int(int_field(row, "AnswerRightEnding", path, i))}});
  }
  return rows;
}

std::size_t count_occurrences(std::string_view text, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// XWinograd's raw dataset.tsv (no header: lang, source, ?, sentence, tokens, pronoun,
// candidates as JSON) to Muennighoff/xwinograd's fields: the pronoun replaced by "_" in the
// sentence, the two candidates as option1 / option2 in file order, answer "1" or "2".
std::vector<Dict> adapt_xwinograd_raw(const fs::path& path, const std::string& lang) {
  std::vector<Dict> rows;
  std::size_t skipped = 0;
  for (const Record& record : read_records(path, '\t', false)) {
    if (record.fields.size() != 7) fail("{}:{}: expected 7 tab-separated fields, found {}", path.string(), record.line, record.fields.size());
    if (record.fields[0] != lang) continue;
    Json tokens, pronoun, candidates;
    try {
      tokens = Json::parse(record.fields[4]);
      pronoun = Json::parse(record.fields[5]);
      candidates = Json::parse(record.fields[6]);
    } catch (const Json::exception& e) {
      fail("{}:{}: invalid JSON column: {}", path.string(), record.line, e.what());
    }
    if (candidates.size() != 2) {
      ++skipped;
      continue;
    }
    const std::string& sentence = record.fields[3];
    std::string word = pronoun.at(0).get<std::string>();
    auto first_token = pronoun.at(1).at(0).get<std::size_t>();
    std::string before;
    for (std::size_t t = 0; t < first_token && t < tokens.size(); ++t) before += tokens[t].get<std::string>() + " ";
    // The pronoun is the (k+1)-th occurrence of its text, k = its occurrences in the tokens before
    // it (joined by spaces, so that no match spans two tokens).
    std::size_t k = count_occurrences(before, word), at = sentence.find(word);
    for (std::size_t n = 0; n < k && at != std::string::npos; ++n) at = sentence.find(word, at + word.size());
    if (at == std::string::npos) fail("{}:{}: pronoun '{}' not found in the sentence", path.string(), record.line, word);
    bool first_is_answer = candidates[0].at(3).get<bool>();
    rows.push_back({{"sentence", Value::of_string(sentence.substr(0, at) + "_" + sentence.substr(at + word.size()))},
                    {"option1", Value::of_string(candidates[0].at(0).get<std::string>())},
                    {"option2", Value::of_string(candidates[1].at(0).get<std::string>())},
                    {"answer", Value::of_string(first_is_answer ? "1" : "2")}});
  }
  if (skipped) log::warn("{}: skipped {} rows with other than two candidates", path.string(), skipped);
  return rows;
}

std::string dataset_basename(const std::string& dataset) {
  std::size_t slash = dataset.rfind('/');
  return slash == std::string::npos ? dataset : dataset.substr(slash + 1);
}

}  // namespace

std::vector<Dict> read_rows(const fs::path& path) {
  std::string ext = extension_of(path);
  if (ext == ".jsonl" || ext == ".json") return read_jsonl(path);
  if (ext == ".tsv") return rows_with_header(read_records(path, '\t', false), path);
  if (ext == ".csv") return rows_with_header(read_records(path, ',', true), path);
  fail("{}: unknown data format '{}' (expected .jsonl, .tsv or .csv)", path.string(), ext);
}

std::vector<Dict> load_dataset_rows(const fs::path& path, const std::string& dataset, const std::string& lang) {
  std::string name = dataset_basename(dataset);
  if (name == "xwinograd" && extension_of(path) == ".tsv") return adapt_xwinograd_raw(path, lang);
  std::vector<Dict> rows = read_rows(path);
  if (rows.empty()) return rows;
  if (name == "xnli" && field(rows[0], "sentence1") && field(rows[0], "gold_label")) return adapt_xnli(rows, path, lang);
  if ((name == "story_cloze" || name == "xstory_cloze") && field(rows[0], "InputSentence1")) return adapt_story_cloze(rows, path);
  return rows;
}

std::optional<std::string> split_from_filename(const fs::path& path) {
  std::string name = path.filename().string();
  std::optional<std::string> split;
  std::string word;
  auto consider = [&] {
    std::string lowered = py_lower(word);
    if (lowered == "train") split = "train";
    else if (lowered == "val" || lowered == "valid" || lowered == "validation" || lowered == "dev") split = "validation";
    else if (lowered == "test") split = "test";
    word.clear();
  };
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) word += c;
    else consider();
  }
  consider();
  return split;  // the last word that names a split wins ("cloze_test_ALL_val.csv" is validation)
}

Value parse_json(const std::string& text) {
  try {
    return from_json(Json::parse(text));
  } catch (const Json::exception& e) {
    fail("invalid JSON: {}", e.what());
  }
}

std::string json_quote(const std::string& text) {
  try {
    return Json(text).dump(-1, ' ', false, Json::error_handler_t::strict);
  } catch (const Json::exception& e) {
    fail("text is not valid UTF-8: {}", e.what());
  }
}

std::string json_dump(const Value& value) {
  switch (value.kind) {
    case Value::Kind::undefined:
    case Value::Kind::none: return "null";
    case Value::Kind::boolean: return value.boolean ? "true" : "false";
    case Value::Kind::integer: return std::to_string(value.integer);
    case Value::Kind::real: return py_float_repr(value.real);
    case Value::Kind::string: return json_quote(value.text);
    case Value::Kind::list:
    case Value::Kind::tuple: {
      std::string out = "[";
      for (std::size_t i = 0; i < value.items->size(); ++i) out += (i ? ", " : "") + json_dump((*value.items)[i]);
      return out + "]";
    }
    default: {
      std::string out = "{";
      bool first = true;
      for (const auto& [key, item] : *value.entries) {
        out += (first ? "" : ", ") + json_quote(key) + ": " + json_dump(item);
        first = false;
      }
      return out + "}";
    }
  }
}

}  // namespace xmtf::prompts
