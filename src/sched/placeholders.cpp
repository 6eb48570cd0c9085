#include "sched/placeholders.hpp"

#include "core/error.hpp"
#include "core/text.hpp"

namespace xmtf::sched {
namespace {

// Walks text, calling on_literal for plain text and on_name for each placeholder.
void scan(const std::string& text, const std::function<void(char)>& on_literal,
          const std::function<void(const std::string&)>& on_name) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      on_literal(c);
      ++i;
    } else if (c == '{') {
      std::size_t close = text.find('}', i);
      if (close == std::string::npos) fail("unclosed '{{' in \"{}\" (write {{{{ for a literal brace)", text);
      on_name(std::string(trim(text.substr(i + 1, close - i - 1))));
      i = close;
    } else if (c == '}') {
      fail("unmatched '}}' in \"{}\" (write }}}} for a literal brace)", text);
    } else {
      on_literal(c);
    }
  }
}

}  // namespace

std::vector<std::string> placeholder_names(const std::string& text) {
  std::vector<std::string> names;
  scan(text, [](char) {}, [&](const std::string& name) { names.push_back(name); });
  return names;
}

std::string expand_placeholders(const std::string& text, const Bindings& bindings, Quoting quoting) {
  std::string out;
  scan(
      text, [&](char c) { out += c; },
      [&](const std::string& name) {
        auto found = bindings.find(name);
        if (found == bindings.end()) fail("unknown placeholder {{{}}} in \"{}\"", name, text);
        out += quoting == Quoting::shell ? shell_quote(found->second) : found->second;
      });
  return out;
}

}  // namespace xmtf::sched
