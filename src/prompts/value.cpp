#include "prompts/value.hpp"

#include <fmt/format.h>

#include <charconv>
#include <clocale>
#include <cmath>
#include <cwctype>
#include <locale.h>

namespace xmtf::prompts {

Value Value::none() {
  Value v;
  v.kind = Kind::none;
  return v;
}
Value Value::of_bool(bool value) {
  Value v;
  v.kind = Kind::boolean;
  v.boolean = value;
  return v;
}
Value Value::of_int(std::int64_t value) {
  Value v;
  v.kind = Kind::integer;
  v.integer = value;
  return v;
}
Value Value::of_real(double value) {
  Value v;
  v.kind = Kind::real;
  v.real = value;
  return v;
}
Value Value::of_string(std::string value) {
  Value v;
  v.kind = Kind::string;
  v.text = std::move(value);
  return v;
}
Value Value::of_list(List values) {
  Value v;
  v.kind = Kind::list;
  v.items = std::make_shared<List>(std::move(values));
  return v;
}
Value Value::of_tuple(List values) {
  Value v = of_list(std::move(values));
  v.kind = Kind::tuple;
  return v;
}
Value Value::of_dict(Dict values) {
  Value v;
  v.kind = Kind::dict;
  v.entries = std::make_shared<Dict>(std::move(values));
  return v;
}
Value Value::name_space(Dict values) {
  Value v = of_dict(std::move(values));
  v.kind = Kind::name_space;
  return v;
}
Value Value::function(std::string name, std::shared_ptr<Value> self) {
  Value v;
  v.kind = Kind::callable;
  v.text = std::move(name);
  v.bound_self = std::move(self);
  return v;
}

const Value* Value::find(std::string_view key) const {
  if (!entries) return nullptr;
  for (const auto& [name, value] : *entries)
    if (name == key) return &value;
  return nullptr;
}

std::string type_name(const Value& value) {
  switch (value.kind) {
    case Value::Kind::undefined: return "Undefined";
    case Value::Kind::none: return "NoneType";
    case Value::Kind::boolean: return "bool";
    case Value::Kind::integer: return "int";
    case Value::Kind::real: return "float";
    case Value::Kind::string: return "str";
    case Value::Kind::list: return "list";
    case Value::Kind::tuple: return "tuple";
    case Value::Kind::dict: return "dict";
    case Value::Kind::name_space: return "Namespace";
    case Value::Kind::callable: return "function";
  }
  return "?";
}

// --- UTF-8 ----------------------------------------------------------------------------------

std::u32string utf8_decode(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    auto byte = static_cast<unsigned char>(text[i]);
    int extra = byte < 0x80 ? 0 : byte < 0xE0 ? 1 : byte < 0xF0 ? 2 : 3;
    char32_t cp = extra == 0 ? byte : extra == 1 ? (byte & 0x1F) : extra == 2 ? (byte & 0x0F) : (byte & 0x07);
    for (int k = 1; k <= extra && i + k < text.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    out.push_back(cp);
    i += 1 + extra;
  }
  return out;
}

std::string utf8_encode(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

std::size_t utf8_length(std::string_view text) {
  std::size_t n = 0;
  for (char c : text)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

bool py_isspace(char32_t cp) {
  // Python's str.isspace(): bidirectional class WS, B or S, or category Zs.
  if ((cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20)) return true;
  switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

std::string py_strip(std::string_view text, bool left, bool right, const std::u32string* chars) {
  std::u32string cps = utf8_decode(text);
  auto strip_this = [&](char32_t cp) { return chars ? chars->find(cp) != std::u32string::npos : py_isspace(cp); };
  std::size_t begin = 0, end = cps.size();
  if (left)
    while (begin < end && strip_this(cps[begin])) ++begin;
  if (right)
    while (end > begin && strip_this(cps[end - 1])) --end;
  return utf8_encode(std::u32string_view(cps).substr(begin, end - begin));
}

std::vector<std::string> py_split(std::string_view text, const std::string* sep, std::int64_t maxsplit) {
  std::vector<std::string> parts;
  if (sep) {
    std::size_t start = 0;
    while (maxsplit < 0 || static_cast<std::int64_t>(parts.size()) < maxsplit) {
      std::size_t at = text.find(*sep, start);
      if (at == std::string_view::npos) break;
      parts.emplace_back(text.substr(start, at - start));
      start = at + sep->size();
    }
    parts.emplace_back(text.substr(start));
    return parts;
  }
  std::u32string cps = utf8_decode(text);
  std::size_t i = 0, n = cps.size();
  while (true) {
    while (i < n && py_isspace(cps[i])) ++i;
    if (i == n) break;
    if (maxsplit >= 0 && static_cast<std::int64_t>(parts.size()) == maxsplit) {
      parts.push_back(utf8_encode(std::u32string_view(cps).substr(i)));  // the rest, trailing space kept
      break;
    }
    std::size_t start = i;
    while (i < n && !py_isspace(cps[i])) ++i;
    parts.push_back(utf8_encode(std::u32string_view(cps).substr(start, i - start)));
  }
  return parts;
}

std::vector<std::string> py_rsplit(std::string_view text, const std::string* sep, std::int64_t maxsplit) {
  if (maxsplit < 0) return py_split(text, sep, maxsplit);
  std::vector<std::string> parts;
  if (sep) {
    std::size_t end = text.size();
    while (static_cast<std::int64_t>(parts.size()) < maxsplit) {
      if (end < sep->size()) break;
      std::size_t at = text.rfind(*sep, end - sep->size());
      if (at == std::string_view::npos) break;
      parts.emplace_back(text.substr(at + sep->size(), end - at - sep->size()));
      end = at;
    }
    parts.emplace_back(text.substr(0, end));
  } else {
    std::u32string cps = utf8_decode(text);
    std::size_t i = cps.size();
    while (true) {
      while (i > 0 && py_isspace(cps[i - 1])) --i;
      if (i == 0) break;
      if (static_cast<std::int64_t>(parts.size()) == maxsplit) {
        parts.push_back(utf8_encode(std::u32string_view(cps).substr(0, i)));  // the rest, leading space kept
        break;
      }
      std::size_t end = i;
      while (i > 0 && !py_isspace(cps[i - 1])) --i;
      parts.push_back(utf8_encode(std::u32string_view(cps).substr(i, end - i)));
    }
  }
  return {parts.rbegin(), parts.rend()};
}

std::string py_replace(std::string_view text, std::string_view old, std::string_view replacement, std::int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts the replacement between every code point (and at both ends).
    std::u32string cps = utf8_decode(text);
    std::int64_t done = 0;
    for (char32_t cp : cps) {
      if (count < 0 || done < count) {
        out += replacement;
        ++done;
      }
      out += utf8_encode(std::u32string(1, cp));
    }
    if (count < 0 || done < count) out += replacement;
    return out;
  }
  std::size_t start = 0;
  std::int64_t done = 0;
  while (count < 0 || done < count) {
    std::size_t at = text.find(old, start);
    if (at == std::string_view::npos) break;
    out += text.substr(start, at - start);
    out += replacement;
    start = at + old.size();
    ++done;
  }
  out += text.substr(start);
  return out;
}

namespace {

locale_t utf8_locale() {
  static locale_t locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return locale;
}

std::string map_case(std::string_view text, bool upper) {
  std::u32string cps = utf8_decode(text);
  locale_t locale = utf8_locale();
  for (char32_t& cp : cps) {
    if (cp < 0x80) {
      if (upper && cp >= 'a' && cp <= 'z') cp -= 32;
      if (!upper && cp >= 'A' && cp <= 'Z') cp += 32;
    } else if (locale) {
      cp = static_cast<char32_t>(upper ? towupper_l(static_cast<wint_t>(cp), locale)
                                       : towlower_l(static_cast<wint_t>(cp), locale));
    }
  }
  return utf8_encode(cps);
}

// Python's str.isprintable() for the characters rows realistically hold: control characters,
// format characters and non-ASCII spaces are escaped by repr().
bool py_isprintable(char32_t cp) {
  if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD) return false;
  if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F)) return false;
  if ((cp >= 0x205F && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF) return false;
  if ((cp >= 0xD800 && cp <= 0xF8FF) || (cp >= 0xFFF9 && cp <= 0xFFFB) || cp > 0x10FFFF) return false;
  return true;
}

std::string string_repr(const std::string& text) {
  bool has_single = text.find('\'') != std::string::npos;
  bool has_double = text.find('"') != std::string::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t cp : utf8_decode(text)) {
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (!py_isprintable(cp)) {
      if (cp < 0x100) out += fmt::format("\\x{:02x}", static_cast<unsigned>(cp));
      else if (cp < 0x10000) out += fmt::format("\\u{:04x}", static_cast<unsigned>(cp));
      else out += fmt::format("\\U{:08x}", static_cast<unsigned>(cp));
    } else {
      out += utf8_encode(std::u32string(1, cp));
    }
  }
  out += quote;
  return out;
}

std::string sequence_repr(const Value& value) {
  bool tuple = value.kind == Value::Kind::tuple;
  std::string out = tuple ? "(" : "[";
  for (std::size_t i = 0; i < value.items->size(); ++i) {
    if (i) out += ", ";
    out += py_repr((*value.items)[i]);
  }
  if (tuple && value.items->size() == 1) out += ",";
  out += tuple ? ")" : "]";
  return out;
}

std::string dict_repr(const Value& value) {
  std::string out = value.kind == Value::Kind::name_space ? "<Namespace {" : "{";
  bool first = true;
  for (const auto& [key, item] : *value.entries) {
    if (!first) out += ", ";
    first = false;
    out += string_repr(key) + ": " + py_repr(item);
  }
  out += value.kind == Value::Kind::name_space ? "}>" : "}";
  return out;
}

}  // namespace

std::string py_lower(std::string_view text) { return map_case(text, false); }
std::string py_upper(std::string_view text) { return map_case(text, true); }

std::string py_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  std::string scientific(buffer, result.ptr);  // "-1.2345e+02": shortest round-trip digits
  bool negative = scientific[0] == '-';
  if (negative) scientific.erase(0, 1);
  std::size_t e = scientific.find('e');
  int exponent = std::stoi(scientific.substr(e + 1));
  std::string digits;
  for (char c : scientific.substr(0, e))
    if (c != '.') digits += c;
  std::string out;
  if (exponent >= -4 && exponent < 16) {  // Python's repr uses exponent form outside [-4, 16)
    if (exponent >= 0) {
      if (static_cast<int>(digits.size()) <= exponent + 1) {
        out = digits + std::string(exponent + 1 - digits.size(), '0') + ".0";
      } else {
        out = digits.substr(0, exponent + 1) + "." + digits.substr(exponent + 1);
      }
    } else {
      out = "0." + std::string(-exponent - 1, '0') + digits;
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
  }
  return negative ? "-" + out : out;
}

std::string py_str(const Value& value) {
  switch (value.kind) {
    case Value::Kind::undefined: return "";
    case Value::Kind::string: return value.text;
    default: return py_repr(value);
  }
}

std::string py_repr(const Value& value) {
  switch (value.kind) {
    case Value::Kind::undefined: return "";
    case Value::Kind::none: return "None";
    case Value::Kind::boolean: return value.boolean ? "True" : "False";
    case Value::Kind::integer: return std::to_string(value.integer);
    case Value::Kind::real: return py_float_repr(value.real);
    case Value::Kind::string: return string_repr(value.text);
    case Value::Kind::list:
    case Value::Kind::tuple: return sequence_repr(value);
    case Value::Kind::dict:
    case Value::Kind::name_space: return dict_repr(value);
    case Value::Kind::callable: return "<function " + value.text + ">";
  }
  return "";
}

bool py_truthy(const Value& value) {
  switch (value.kind) {
    case Value::Kind::undefined:
    case Value::Kind::none: return false;
    case Value::Kind::boolean: return value.boolean;
    case Value::Kind::integer: return value.integer != 0;
    case Value::Kind::real: return value.real != 0.0;
    case Value::Kind::string: return !value.text.empty();
    case Value::Kind::list:
    case Value::Kind::tuple: return !value.items->empty();
    case Value::Kind::dict: return !value.entries->empty();
    default: return true;
  }
}

namespace {
double as_double(const Value& v) {
  return v.kind == Value::Kind::real ? v.real : v.kind == Value::Kind::boolean ? (v.boolean ? 1.0 : 0.0) : static_cast<double>(v.integer);
}
}  // namespace

bool py_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind != Value::Kind::real && b.kind != Value::Kind::real) {
      auto ai = a.kind == Value::Kind::boolean ? std::int64_t{a.boolean} : a.integer;
      auto bi = b.kind == Value::Kind::boolean ? std::int64_t{b.boolean} : b.integer;
      return ai == bi;
    }
    return as_double(a) == as_double(b);
  }
  if (a.is_sequence() && b.is_sequence()) {
    if (a.kind != b.kind || a.items->size() != b.items->size()) return false;
    for (std::size_t i = 0; i < a.items->size(); ++i)
      if (!py_equal((*a.items)[i], (*b.items)[i])) return false;
    return true;
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::undefined:
    case Value::Kind::none: return true;
    case Value::Kind::string: return a.text == b.text;
    case Value::Kind::dict: {
      if (a.entries->size() != b.entries->size()) return false;
      for (const auto& [key, item] : *a.entries) {
        const Value* other = b.find(key);
        if (!other || !py_equal(item, *other)) return false;
      }
      return true;
    }
    default: return a.entries == b.entries && a.text == b.text;
  }
}

}  // namespace xmtf::prompts
