#pragma once
// A compact interpreter for the Jinja subset promptsource templates use, with jinja2's
// semantics (Environment defaults: no autoescape, no trim_blocks, trailing newline dropped,
// Undefined prints as ""). What it does not implement is rejected at compile time or at the
// point of use with the origin (file, template) and the line and column in the template text:
// a template is never rendered silently wrong. See docs/prompts.md for the supported subset.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "prompts/python_random.hpp"
#include "prompts/value.hpp"

namespace xmtf::prompts::jinja {

struct Node;
struct Statement;

class Template {
 public:
  // origin names the template in errors ("templates.yaml:12 template 'x' (jinja)").
  // original_offset maps an offset in source back to the text the user wrote (promptsource
  // inserts filters before every "}}"), so positions point into what is in the file.
  static Template compile(const std::string& source, std::string origin,
                          std::function<std::size_t(std::size_t)> original_offset = {},
                          std::string original_source = {});

  // Renders with the given top-level variables; `choice` / `random` draw from rng.
  std::string render(const Dict& variables, PythonRandom& rng) const;

  const std::string& origin() const;

  struct Shared;  // the parsed body and what errors need to name positions

 private:
  std::shared_ptr<const Shared> shared_;
};

}  // namespace xmtf::prompts::jinja
