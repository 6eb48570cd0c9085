#include "data/validate.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include <cstring>
#include <string>

#include "data/line_reader.hpp"

namespace xmtf::data {

static_assert(LineReader::kPadding >= simdjson::SIMDJSON_PADDING);

namespace {
// A parser that swallowed one huge line keeps its buffers; past this size we start afresh so
// memory returns to normal after a pathological line.
constexpr std::size_t kParserResetAbove = std::size_t{8} << 20;

bool is_blank(std::string_view text) {
  for (char c : text)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

std::string check_string_field(simdjson::dom::object& object, const char* name) {
  simdjson::dom::element value;
  if (object.at_key(name).get(value) != simdjson::SUCCESS) return fmt::format("missing field \"{}\"", name);
  if (!value.is_string()) return fmt::format("field \"{}\" is not a string", name);
  return {};
}
}  // namespace

std::string_view normalize_line(std::string_view line, bool first_line_of_file) {
  if (first_line_of_file && line.size() >= 3 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

struct LineValidator::Impl {
  simdjson::dom::parser parser;
  std::string copy;  // padded copy for callers without padding

  std::string_view padded(std::string_view line, bool already_padded) {
    if (already_padded) return line;
    copy.assign(line);
    copy.append(simdjson::SIMDJSON_PADDING, '\0');
    return std::string_view(copy.data(), line.size());
  }
  void maybe_reset(std::size_t line_size) {
    if (line_size > kParserResetAbove) parser = simdjson::dom::parser{};
  }
};

LineValidator::LineValidator() : impl_(std::make_unique<Impl>()) {}
LineValidator::~LineValidator() = default;

std::string LineValidator::check(std::string_view line, bool padded) {
  if (is_blank(line)) return "empty line";
  if (std::memchr(line.data(), '\0', line.size()) != nullptr) return "NUL byte in line";
  // No separate UTF-8 pass: simdjson's stage 1 validates UTF-8 and reports UTF8_ERROR.
  std::string_view text = impl_->padded(line, padded);
  simdjson::dom::element document;
  auto error = impl_->parser.parse(text.data(), text.size(), false).get(document);
  std::string reason;
  if (error == simdjson::UTF8_ERROR) {
    reason = "invalid UTF-8";
  } else if (error != simdjson::SUCCESS) {
    reason = fmt::format("invalid JSON ({})", simdjson::error_message(error));
  } else if (!document.is_object()) {
    reason = "not a JSON object";
  } else {
    simdjson::dom::object object = document.get_object().value_unsafe();
    reason = check_string_field(object, "inputs");
    if (reason.empty()) reason = check_string_field(object, "targets");
    if (reason.empty()) {
      std::string_view targets = object["targets"].get_string().value_unsafe();
      if (targets.empty()) reason = "empty targets";
    }
  }
  impl_->maybe_reset(line.size());
  return reason;
}

std::string LineValidator::prompt_group(std::string_view line, std::string_view fallback, bool padded) {
  std::string_view text = impl_->padded(line, padded);
  simdjson::dom::element document;
  std::string group(fallback);
  if (impl_->parser.parse(text.data(), text.size(), false).get(document) == simdjson::SUCCESS && document.is_object()) {
    std::string_view dataset, config, prompt;
    auto object = document.get_object().value_unsafe();
    bool has_dataset = object["dataset"].get_string().get(dataset) == simdjson::SUCCESS;
    bool has_template = object["template"].get_string().get(prompt) == simdjson::SUCCESS;
    if (object["config"].get_string().get(config) != simdjson::SUCCESS) config = {};
    if (has_dataset && has_template) group = fmt::format("{}/{}/{}", dataset, config, prompt);
  }
  impl_->maybe_reset(line.size());
  return group;
}

}  // namespace xmtf::data
