#include "core/text.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <numeric>

namespace xmtf {

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t end = text.find(separator, start);
    parts.emplace_back(text.substr(start, end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += separator;
    out += parts[i];
  }
  return out;
}

std::string_view trim(std::string_view text) {
  const char* space = " \t\r\n\f\v";
  std::size_t first = text.find_first_not_of(space);
  if (first == std::string_view::npos) return {};
  std::size_t last = text.find_last_not_of(space);
  return text.substr(first, last - first + 1);
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

namespace {

// Length of the well-formed UTF-8 sequence at the start of text (1-4), or 0.
std::size_t utf8_sequence_length(std::string_view text) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(0);
  std::size_t length = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : (lead & 0xF8) == 0xF0 ? 4 : 0;
  if (length == 0 || length > text.size()) return 0;
  for (std::size_t i = 1; i < length; ++i)
    if ((byte(i) & 0xC0) != 0x80) return 0;
  std::uint32_t code_point = length == 1 ? lead : lead & (0x7F >> length);
  for (std::size_t i = 1; i < length; ++i) code_point = (code_point << 6) | (byte(i) & 0x3F);
  static constexpr std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};  // no overlong forms
  if (code_point < kSmallest[length] || code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) return 0;
  return length;
}

}  // namespace

std::string printable(std::string_view untrusted, std::size_t max_bytes) {
  std::string out;
  std::size_t i = 0;
  while (i < untrusted.size() && out.size() < max_bytes) {
    auto c = static_cast<unsigned char>(untrusted[i]);
    std::size_t length = utf8_sequence_length(untrusted.substr(i));
    bool c1_control = length == 2 && c == 0xC2 && static_cast<unsigned char>(untrusted[i + 1]) < 0xA0;
    if (length > 1 && !c1_control) {
      out.append(untrusted.substr(i, length));
      i += length;
      continue;
    }
    if (c1_control) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned char>(untrusted[i + 1]));
      i += 2;
      continue;
    }
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c == '\\') out += "\\\\";
    else if (c < 0x20 || c >= 0x7F) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
    ++i;
  }
  if (i < untrusted.size()) out += "...";
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& candidate : candidates) {
    std::size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

std::string shell_quote(std::string_view text) {
  bool plain = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("_-./=:,+@%").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(text);
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  out += "'";
  return out;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[unit]);
}

std::string format_duration(double seconds) {
  if (seconds < 0 || seconds != seconds) return "?";
  long total = static_cast<long>(seconds + 0.5);
  if (total < 60) return fmt::format("{}s", total);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60);
}

namespace {
bool glob_at(std::string_view p, std::string_view t) {
  while (!p.empty()) {
    if (p.substr(0, 2) == "**") {
      std::string_view rest = p.substr(2);
      if (!rest.empty() && rest[0] == '/') {
        // "**/" also matches zero folders
        if (glob_at(rest.substr(1), t)) return true;
      }
      for (std::size_t i = 0; i <= t.size(); ++i)
        if (glob_at(rest, t.substr(i))) return true;
      return false;
    }
    if (p[0] == '*') {
      for (std::size_t i = 0; i <= t.size(); ++i) {
        if (glob_at(p.substr(1), t.substr(i))) return true;
        if (i < t.size() && t[i] == '/') break;
      }
      return false;
    }
    if (t.empty()) return false;
    if (p[0] == '[') {
      std::size_t close = p.find(']', 1);
      if (close != std::string_view::npos) {
        std::string_view set = p.substr(1, close - 1);
        bool negate = !set.empty() && (set[0] == '!' || set[0] == '^');
        if (negate) set.remove_prefix(1);
        bool found = false;
        for (std::size_t i = 0; i < set.size(); ++i) {
          if (i + 2 < set.size() && set[i + 1] == '-') {
            if (t[0] >= set[i] && t[0] <= set[i + 2]) found = true;
            i += 2;
          } else if (set[i] == t[0]) {
            found = true;
          }
        }
        if (found == negate) return false;
        p.remove_prefix(close + 1);
        t.remove_prefix(1);
        continue;
      }
    }
    if (p[0] != '?' && p[0] != t[0]) return false;
    if (p[0] == '?' && t[0] == '/') return false;
    p.remove_prefix(1);
    t.remove_prefix(1);
  }
  return t.empty();
}
}  // namespace

bool glob_match(std::string_view pattern, std::string_view text) { return glob_at(pattern, text); }

}  // namespace xmtf
