#include "report/datasets.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <regex>
#include <vector>

#include "core/text.hpp"

namespace xmtf::report {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// After the last '/': hub ids carry their organisation ("Muennighoff/xwinograd").
std::string_view without_organisation(std::string_view name) {
  auto slash = name.rfind('/');
  return slash == std::string_view::npos ? name : name.substr(slash + 1);
}

bool is_one_of(std::string_view value, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), value) != names.end();
}

// The languages of ROOTS, BLOOM's pretraining corpus (the BLOOM model card; xP3 covers the same
// 46 natural languages). Everything else is "unseen" in the paper's sense.
constexpr std::array<std::string_view, 45> kBloomLanguages = {
    "ak", "ar", "as", "bm", "bn", "ca", "en", "es", "eu", "fon", "fr", "gu", "hi", "id", "ig",
    "ki", "kn", "lg", "ln", "ml", "mr", "ne", "nso", "ny", "or", "pa", "pt", "rn", "rw", "sn",
    "st", "sw", "ta", "te", "tn", "ts", "tum", "tw", "ur", "vi", "wo", "xh", "yo", "zh", "zu"};

// Datasets whose configs are language codes.
bool is_multilingual(std::string_view dataset) {
  return is_one_of(dataset, {"xcopa", "xnli", "xstory_cloze", "xwinograd", "pawsx", "paws-x", "lambada_mt"});
}

// English-only datasets of the paper's held-out set and of the baselines' files.
bool is_english(std::string_view dataset) {
  return is_one_of(dataset, {"winogrande", "anli", "super_glue", "story_cloze", "glue", "copa", "hellaswag",
                             "piqa", "arc_easy", "arc_challenge", "boolq", "openbookqa"});
}

struct NamedSize {
  std::string_view word;
  double parameters;
};
// T5 / mT0 size names as the model cards use them (mt0-small is the paper's mT0-300M).
constexpr std::array<NamedSize, 5> kT5Sizes = {{{"small", 300e6}, {"base", 580e6}, {"large", 1.2e9},
                                                {"xl", 3.7e9}, {"xxl", 13e9}}};

// "560m", "7.1B", "1b1" (1.1B), "13B", "300M", "116k": a size token, in parameters.
std::optional<double> size_token(std::string_view part) {
  static const std::regex pattern(R"(^(\d+(?:\.\d+)?)([kKmMbB])(\d*)$)");
  std::string text(part);
  std::smatch m;
  if (!std::regex_match(text, m, pattern)) return std::nullopt;
  std::string number = m[1].str();
  if (m[3].length() > 0) {  // "1b1": the digits after the unit are the decimals
    if (number.find('.') != std::string::npos) return std::nullopt;
    number += "." + m[3].str();
  }
  const char unit = static_cast<char>(std::tolower(static_cast<unsigned char>(m[2].str()[0])));
  const double scale = unit == 'k' ? 1e3 : unit == 'm' ? 1e6 : 1e9;
  return std::stod(number) * scale;
}

std::vector<std::string> name_parts(std::string_view model_name) {
  std::string name(without_organisation(model_name));
  std::vector<std::string> parts;
  std::string current;
  for (char c : name) {
    if (c == '-' || c == '_' || c == ' ') {
      if (!current.empty()) parts.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) parts.push_back(current);
  return parts;
}

}  // namespace

std::string canonical_dataset(std::string_view dataset_name) {
  std::string name(without_organisation(dataset_name));
  if (name == "humaneval" || name == "openai_humaneval" || name == "human_eval") return "openai_humaneval";
  return name;
}

std::string canonical_config(std::string_view dataset, std::string_view config_name) {
  std::string config(config_name);
  if (config.empty() || config == "null" || config == "none") return "None";
  if (dataset == "winogrande" && starts_with(config, "winogrande_")) return config.substr(11);
  if (dataset == "anli" && starts_with(config, "dev_")) return config.substr(4);
  return config;
}

std::string default_split(std::string_view dataset) {
  return dataset == "xwinograd" || dataset == "openai_humaneval" ? "test" : "validation";
}

std::string task_of(std::string_view dataset, std::string_view config) {
  if (dataset == "super_glue" || dataset == "glue") {
    if (is_one_of(config, {"cb", "rte", "axb", "axg", "mnli", "qnli", "wnli"})) return "NLI";
    if (config == "copa") return "Sent. completion";
    if (is_one_of(config, {"wsc", "wsc.fixed"})) return "Coref. resolution";
    return "Other";
  }
  if (is_one_of(dataset, {"winogrande", "xwinograd", "wsc273"})) return "Coref. resolution";
  if (is_one_of(dataset, {"anli", "xnli"})) return "NLI";
  if (is_one_of(dataset, {"xcopa", "xstory_cloze", "story_cloze", "hellaswag"})) return "Sent. completion";
  if (dataset == "openai_humaneval") return "Program synthesis";
  return "Other";
}

std::string card_dataset_id(std::string_view dataset) {
  if (dataset == "xwinograd" || dataset == "xstory_cloze") return "Muennighoff/" + std::string(dataset);
  return std::string(dataset);
}

std::string card_task_type(std::string_view task) {
  if (task == "Coref. resolution") return "Coreference resolution";
  if (task == "NLI") return "Natural language inference";
  if (task == "Sent. completion") return "Sentence completion";
  return std::string(task);
}

std::optional<std::string> config_language(std::string_view dataset, std::string_view config) {
  if (is_multilingual(dataset)) return config == "jp" ? std::string("ja") : std::string(config);
  if (is_english(dataset)) return std::string("en");
  return std::nullopt;
}

bool configs_are_languages(std::string_view dataset, const std::vector<std::string>& configs) {
  std::vector<std::string> languages;
  for (const std::string& config : configs) {
    auto language = config_language(dataset, config);
    if (!language || std::find(languages.begin(), languages.end(), *language) != languages.end()) return false;
    languages.push_back(*language);
  }
  return true;
}

std::optional<bool> seen_in_bloom_pretraining(std::string_view dataset, std::string_view config) {
  auto language = config_language(dataset, config);
  if (!language) return std::nullopt;
  return std::find(kBloomLanguages.begin(), kBloomLanguages.end(), *language) != kBloomLanguages.end();
}

std::optional<double> parameters_from_name(std::string_view model_name) {
  const std::vector<std::string> parts = name_parts(model_name);
  for (const std::string& part : parts)
    if (auto size = size_token(part)) return size;
  if (parts.empty()) return std::nullopt;
  const std::string first = lower(parts[0]);
  // BLOOM's own names carry no size: "BLOOM", "BLOOMZ", "BLOOMZ-MT", "BLOOMZ-P3" are 176B.
  if (first == "bloom" || first == "bloomz") return 176e9;
  if (first == "mt0" || first == "mt5" || first == "t5")
    for (const std::string& part : parts)
      for (const NamedSize& size : kT5Sizes)
        if (lower(part) == size.word) return size.parameters;
  if (first == "t0" || first == "t0pp") return 11e9;
  return std::nullopt;
}

std::string family_from_name(std::string_view model_name) {
  std::vector<std::string> kept;
  const std::vector<std::string> parts = name_parts(model_name);
  const bool t5_like = !parts.empty() && is_one_of(lower(parts[0]), {"mt0", "mt5", "t5"});
  for (const std::string& part : parts) {
    if (size_token(part)) continue;
    if (t5_like && std::any_of(kT5Sizes.begin(), kT5Sizes.end(),
                               [&](const NamedSize& size) { return lower(part) == size.word; }))
      continue;
    kept.push_back(part);
  }
  return kept.empty() ? std::string(model_name) : join(kept, "-");
}

}  // namespace xmtf::report
