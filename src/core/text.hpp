#pragma once
// Small string utilities shared by every area.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xmtf {

std::vector<std::string> split(std::string_view text, char separator);
std::string join(const std::vector<std::string>& parts, std::string_view separator);
std::string_view trim(std::string_view text);
bool starts_with(std::string_view text, std::string_view prefix);

// Text from outside (a server's header or body, a file name from a listing) made safe to put in
// a log line or an error message: control characters (newlines, ESC, C1 controls) and bytes that
// are not well-formed UTF-8 become \n, \xNN or \uNNNN escapes, so the text cannot forge log lines
// or drive the terminal; cut after max_bytes with "...".
std::string printable(std::string_view untrusted, std::size_t max_bytes = 200);

// Levenshtein distance, for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);
// The candidate closest to word, if it is close enough to be a plausible typo.
std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates);

// POSIX shell single-quoting: the result is one word whose value is exactly text, whatever it
// holds ($(), backquotes, quotes, newlines). Used for every manifest value that reaches a script.
std::string shell_quote(std::string_view text);

// "1.5 GiB", "2.0 MiB/s", "3m05s": human units for progress and reports.
std::string format_bytes(double bytes);
std::string format_duration(double seconds);

// Glob with '*' (not crossing '/'), '**' (crossing '/'), '?' and [abc] classes, as used by
// --include / --exclude options.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace xmtf
