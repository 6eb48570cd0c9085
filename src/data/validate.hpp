#pragma once
// Validation of one xP3 line: valid UTF-8, one JSON object, "inputs" and "targets" strings,
// targets non-empty. Extra fields are allowed and kept (xP3x adds language, template, ...).
#include <cstddef>
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

// The fast path for the common case where (nearly) every line is valid: many lines go through
// one simdjson pass (parse_many), instead of one parse per line (1.7x less validation time on
// xP3 lines). It only ever *vouches* for lines: the first line it cannot vouch for (a rejection,
// a BOM, blanks around the value, a line over the limit, any error in the pass) ends its answer,
// and the caller checks that line with LineValidator::check, which stays the one definition of
// validity. A vouched line is one JSON object spanning the whole line (one trailing '\r'
// allowed, as normalize_line drops it) whose "inputs" and "targets" are strings, targets
// non-empty: exactly what check() accepts.
class BatchValidator {
 public:
  BatchValidator();
  ~BatchValidator();
  BatchValidator(const BatchValidator&) = delete;
  BatchValidator& operator=(const BatchValidator&) = delete;

  // How many leading lines of `text` are vouched for. `text` is lines, each ending in '\n' (an
  // unfinished last line is ignored), followed by 64 readable bytes (LineReader::kPadding). Only
  // lines of at most max_line_bytes (without '\n') and at most 4 MiB are vouched for (the
  // parser's memory stays bounded; longer lines take the slow path). Looks at a window of about
  // window() bytes: it shrinks after a batch with a bad line (so mostly-bad input does not pay a
  // whole pass per line) and grows back after clean ones.
  std::size_t count_valid_prefix(std::string_view text, std::uint64_t max_line_bytes);
  std::size_t window() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xmtf::data
