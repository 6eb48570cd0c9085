#pragma once
// Validation of one xP3 line: valid UTF-8, one JSON object, "inputs" and "targets" strings,
// targets non-empty. Extra fields are allowed and kept (xP3x adds language, template, ...).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace xmtf::data {

// The line as it should be written out: a UTF-8 BOM (first line of a file) and one trailing
// '\r' (CRLF files) removed; everything else byte for byte.
std::string_view normalize_line(std::string_view line, bool first_line_of_file);

class LineValidator {
 public:
  LineValidator();
  ~LineValidator();
  LineValidator(const LineValidator&) = delete;
  LineValidator& operator=(const LineValidator&) = delete;

  // Empty string when the (normalized) line is a valid example, else the reason it is not.
  // `line` must be followed by 64 readable bytes (LineReader::kPadding) unless
  // `padded` is false, in which case it is copied first.
  std::string check(std::string_view line, bool padded = false);

  // The (dataset, template) group of an example for --max-per-prompt: "dataset/config/template"
  // from xP3x's fields when present, else `fallback` (the source file name, which in xP3 is
  // xp3_{dataset}_{config}_{split}_{template}.jsonl). Line as for check().
  std::string prompt_group(std::string_view line, std::string_view fallback, bool padded = false);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xmtf::data
