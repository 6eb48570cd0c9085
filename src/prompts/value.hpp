#pragma once
// The values a promptsource template computes with, and the Python behaviour they must copy.
// Templates were written against Python objects (dataset rows from HF datasets, rendered by
// jinja2), so str(), repr(), truthiness, comparisons, indexing and the string methods here follow
// Python 3 exactly where the templates can observe a difference.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xmtf::prompts {

struct Value;
using List = std::vector<Value>;
// An insertion-ordered mapping, like a Python dict (rows keep their column order).
using Dict = std::vector<std::pair<std::string, Value>>;

struct Value {
  // undefined: jinja2's Undefined (a missing name or a failed lookup): prints as "", is false.
  // tuple: a List that repr()s with parentheses (zip results, loop targets).
  enum class Kind { undefined, none, boolean, integer, real, string, list, tuple, dict, name_space, callable };

  Kind kind = Kind::undefined;
  bool boolean = false;
  std::int64_t integer = 0;
  double real = 0.0;
  std::string text;                 // string; name of the function for callable
  std::shared_ptr<List> items;      // list, tuple (shared: Python lists are references)
  std::shared_ptr<Dict> entries;    // dict, name_space (jinja2's namespace() attributes)
  std::shared_ptr<Value> bound_self;  // callable: the object a method was looked up on

  static Value undefined() { return {}; }
  static Value none();
  static Value of_bool(bool value);
  static Value of_int(std::int64_t value);
  static Value of_real(double value);
  static Value of_string(std::string value);
  static Value of_list(List values);
  static Value of_tuple(List values);
  static Value of_dict(Dict values);
  static Value name_space(Dict values);
  static Value function(std::string name, std::shared_ptr<Value> self = nullptr);

  bool is_undefined() const { return kind == Kind::undefined; }
  bool is_string() const { return kind == Kind::string; }
  bool is_number() const { return kind == Kind::integer || kind == Kind::real || kind == Kind::boolean; }
  bool is_sequence() const { return kind == Kind::list || kind == Kind::tuple; }
  const Value* find(std::string_view key) const;  // dict / namespace entry, or nullptr
};

// Python's type name, for error messages ("unsupported operand 'str' - 'int'").
std::string type_name(const Value& value);
// str(value) as jinja2 prints it: undefined -> "", None -> "None", True, 1.5, "['a', 1]".
std::string py_str(const Value& value);
// repr(value) (used inside containers).
std::string py_repr(const Value& value);
bool py_truthy(const Value& value);
bool py_equal(const Value& a, const Value& b);

// --- UTF-8 text as Python sees it: a sequence of code points ----------------------------------
std::u32string utf8_decode(std::string_view text);
std::string utf8_encode(std::u32string_view text);
std::size_t utf8_length(std::string_view text);
// str.isspace() for one code point (the Unicode whitespace Python strips and splits on).
bool py_isspace(char32_t code_point);
// str.strip/lstrip/rstrip: chars empty means whitespace.
std::string py_strip(std::string_view text, bool left, bool right, const std::u32string* chars = nullptr);
// str.split(sep, maxsplit): sep nullptr means runs of whitespace.
std::vector<std::string> py_split(std::string_view text, const std::string* sep, std::int64_t maxsplit);
std::vector<std::string> py_rsplit(std::string_view text, const std::string* sep, std::int64_t maxsplit);
std::string py_replace(std::string_view text, std::string_view old, std::string_view replacement, std::int64_t count);
std::string py_lower(std::string_view text);
std::string py_upper(std::string_view text);
// repr() of a float: shortest round-trip digits, "1.0", "1e+20", "1e-05".
std::string py_float_repr(double value);

}  // namespace xmtf::prompts
