#pragma once
// "{name}" placeholders in stage arguments, outputs and shell lines. "{{" and "}}" are literal
// braces. Values inserted into a shell line are shell-quoted, so a value such as
// "$(touch /tmp/pwned)" stays literal text.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace xmtf::sched {

using Bindings = std::map<std::string, std::string>;

// Names used in text; throws xmtf::Error on an unbalanced brace.
std::vector<std::string> placeholder_names(const std::string& text);

enum class Quoting { none, shell };
// Replaces every {name} by its binding; throws xmtf::Error naming an unknown placeholder.
std::string expand_placeholders(const std::string& text, const Bindings& bindings, Quoting quoting);

}  // namespace xmtf::sched
