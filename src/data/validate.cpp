#include "data/validate.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
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

// What keeps a parsed line from being an example ("" when nothing does).
std::string example_problem(simdjson::dom::element document) {
  if (!document.is_object()) return "not a JSON object";
  simdjson::dom::object object = document.get_object().value_unsafe();
  std::string reason = check_string_field(object, "inputs");
  if (reason.empty()) reason = check_string_field(object, "targets");
  if (reason.empty() && object["targets"].get_string().value_unsafe().empty()) reason = "empty targets";
  return reason;
}

// The same test without building a message: the batch path's inner loop.
bool is_example(simdjson::dom::element document) {
  simdjson::dom::object object;
  if (document.get_object().get(object) != simdjson::SUCCESS) return false;
  std::string_view inputs, targets;
  return object["inputs"].get_string().get(inputs) == simdjson::SUCCESS &&
         object["targets"].get_string().get(targets) == simdjson::SUCCESS && !targets.empty();
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
  } else {
    reason = example_problem(document);
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

// ---------------------------------------------------------------- batch fast path

namespace {
constexpr std::size_t kMinWindow = std::size_t{16} << 10;
constexpr std::size_t kMaxWindow = std::size_t{4} << 20;

// The whole lines of `text` within `window` bytes; else the first line alone when it is within
// kMaxWindow (so the batch parser never grows past kMaxWindow: longer lines take the slow path).
// Empty when there is no such line.
std::string_view batch_of(std::string_view text, std::size_t window) {
  auto through = [&](const void* newline) {
    return text.substr(0, static_cast<std::size_t>(static_cast<const char*>(newline) - text.data()) + 1);
  };
  if (const void* last = ::memrchr(text.data(), '\n', std::min(text.size(), window))) return through(last);
  if (const void* first = std::memchr(text.data(), '\n', std::min(text.size(), kMaxWindow))) return through(first);
  return {};
}
}  // namespace

struct BatchValidator::Impl {
  simdjson::dom::parser parser;
  std::size_t window = kMaxWindow;
};

BatchValidator::BatchValidator() : impl_(std::make_unique<Impl>()) {}
BatchValidator::~BatchValidator() = default;
std::size_t BatchValidator::window() const { return impl_->window; }

std::size_t BatchValidator::count_valid_prefix(std::string_view text, std::uint64_t max_line_bytes) {
  std::string_view batch = batch_of(text, impl_->window);
  if (batch.empty()) return 0;
  // One stage-1 pass over the whole batch; documents then come one by one.
  simdjson::dom::document_stream stream;
  if (impl_->parser.parse_many(batch.data(), batch.size(), kMaxWindow).get(stream) != simdjson::SUCCESS) return 0;
  std::size_t vouched = 0, line_start = 0;
  bool clean = true;
  for (auto it = stream.begin(); it != stream.end(); ++it) {
    simdjson::dom::element document;
    if ((*it).get(document) != simdjson::SUCCESS || it.current_index() != line_start || !is_example(document)) {
      clean = false;
      break;
    }
    // The object must be the whole line: '\n' (or "\r\n") right after its closing brace.
    std::size_t end = line_start + it.source().size();
    if (end < batch.size() && batch[end] == '\r') ++end;
    if (end >= batch.size() || batch[end] != '\n' || end - line_start > max_line_bytes) {
      clean = false;
      break;
    }
    ++vouched;
    line_start = end + 1;
  }
  if (line_start != batch.size()) clean = false;
  // Bad lines are rare; where they are not, smaller batches keep re-parsing cheap.
  impl_->window = clean ? std::min(impl_->window * 2, kMaxWindow) : std::max(impl_->window / 4, kMinWindow);
  return vouched;
}

}  // namespace xmtf::data
