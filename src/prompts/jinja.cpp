#include "prompts/jinja.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "core/error.hpp"
#include "core/text.hpp"

namespace xmtf::prompts::jinja {

// ============================================================================================
// Syntax tree
// ============================================================================================

enum class NodeKind {
  constant, name, get_attr, get_item, slice, call, filter, test, negate, positive, binary,
  compare, logical_and, logical_or, logical_not, conditional, list_literal, tuple_literal,
  dict_literal
};

using NodePtr = std::unique_ptr<Node>;

struct Node {
  NodeKind kind;
  std::size_t offset = 0;   // in the compiled source, for error positions
  int depth = 1;            // of the tree below (and with) this node
  std::string name;         // variable, attribute, filter, test or operator
  Value constant;
  std::vector<NodePtr> args;  // operands, call arguments (callee first), list items
  std::vector<std::pair<std::string, NodePtr>> kwargs;
  bool negated = false;     // "is not", "not in"
};

enum class StatementKind { text, output, if_chain, for_loop, set_value, set_block };

struct Statement {
  StatementKind kind;
  std::size_t offset = 0;
  std::string text;
  NodePtr expression;  // output, set value, for iterable
  // if_chain: one condition per branch; an else branch has a null condition
  std::vector<std::pair<NodePtr, std::vector<Statement>>> branches;
  // for_loop / set: the target names; set may target a namespace attribute
  std::vector<std::string> targets;
  std::string attribute;  // set ns.attribute
  NodePtr loop_filter;
  std::vector<Statement> body;
  std::vector<Statement> else_body;
};

Statement make_statement(StatementKind kind, std::size_t offset, std::string text = {}) {
  Statement statement;
  statement.kind = kind;
  statement.offset = offset;
  statement.text = std::move(text);
  return statement;
}

struct Template::Shared {
  std::string origin;
  std::string source;           // as compiled
  std::string original_source;  // as written (for line / column)
  std::function<std::size_t(std::size_t)> original_offset;
  std::vector<Statement> body;

  std::string where(std::size_t offset) const {
    std::size_t at = original_offset ? original_offset(offset) : offset;
    const std::string& text = original_source.empty() ? source : original_source;
    at = std::min(at, text.size());
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < at; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
        ++column;
      }
    }
    return fmt::format("{}: line {}, column {}", origin, line, column);
  }
};

namespace {

constexpr int kMaxNesting = 100;
constexpr int kMaxExpressionDepth = 500;

[[noreturn]] void fail_at(const Template::Shared& shared, std::size_t offset, const std::string& message) {
  fail("{}: {}", shared.where(offset), message);
}

// ============================================================================================
// Lexer
// ============================================================================================

enum class TokenKind { text, variable_begin, variable_end, block_begin, block_end, name, integer, real, string, op, end };

struct Token {
  TokenKind kind;
  std::string value;
  std::size_t offset;
};

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

class Lexer {
 public:
  explicit Lexer(const Template::Shared& shared) : shared_(shared), source_(shared.source) {}

  std::vector<Token> tokenize() {
    std::size_t pos = 0;
    bool strip_leading = false;  // the previous tag ended with "-"
    while (pos < source_.size()) {
      std::size_t tag = find_tag(pos);
      std::string text = source_.substr(pos, tag - pos);
      if (strip_leading) text = lstrip_whitespace(text);
      strip_leading = false;
      if (tag == source_.size()) {
        push(TokenKind::text, text, pos);
        break;
      }
      char second = source_[tag + 1];
      bool strip_before = tag + 2 < source_.size() && source_[tag + 2] == '-';
      if (strip_before) text = rstrip_whitespace(text);
      push(TokenKind::text, text, pos);
      std::size_t inner = tag + 2 + ((strip_before || (tag + 2 < source_.size() && source_[tag + 2] == '+')) ? 1 : 0);
      if (second == '#') {
        std::size_t close = source_.find("#}", inner);
        if (close == std::string::npos) fail_at(shared_, tag, "unclosed comment");
        strip_leading = close > 0 && source_[close - 1] == '-';
        pos = close + 2;
        continue;
      }
      bool is_block = second == '%';
      tokens_.push_back({is_block ? TokenKind::block_begin : TokenKind::variable_begin, "", tag});
      if (is_block) reject_raw(inner);
      pos = lex_inside_tag(inner, is_block ? "%}" : "}}", strip_leading);
      tokens_.push_back({is_block ? TokenKind::block_end : TokenKind::variable_end, "", pos});
    }
    tokens_.push_back({TokenKind::end, "", source_.size()});
    return std::move(tokens_);
  }

 private:
  void push(TokenKind kind, const std::string& value, std::size_t offset) {
    if (kind == TokenKind::text && value.empty()) return;
    tokens_.push_back({kind, value, offset});
  }

  std::size_t find_tag(std::size_t from) const {
    for (std::size_t i = from; i + 1 < source_.size(); ++i)
      if (source_[i] == '{' && (source_[i + 1] == '{' || source_[i + 1] == '%' || source_[i + 1] == '#')) return i;
    return source_.size();
  }

  static std::string lstrip_whitespace(const std::string& text) {
    std::size_t i = 0;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    return text.substr(i);
  }
  static std::string rstrip_whitespace(const std::string& text) {
    std::size_t i = text.size();
    while (i > 0 && std::isspace(static_cast<unsigned char>(text[i - 1]))) --i;
    return text.substr(0, i);
  }

  void reject_raw(std::size_t inner) const {
    std::size_t i = inner;
    while (i < source_.size() && std::isspace(static_cast<unsigned char>(source_[i]))) ++i;
    if (source_.compare(i, 3, "raw") == 0 && (i + 3 >= source_.size() || !is_name_char(source_[i + 3])))
      fail_at(shared_, inner, "unsupported Jinja construct '{% raw %}'");
  }

  // Tokens up to the closing delimiter (recognised only outside brackets, like jinja2);
  // returns the offset after it.
  std::size_t lex_inside_tag(std::size_t pos, const char* close, bool& strip_after) {
    std::vector<char> brackets;
    while (true) {
      while (pos < source_.size() && std::isspace(static_cast<unsigned char>(source_[pos]))) ++pos;
      if (pos >= source_.size()) fail_at(shared_, pos, fmt::format("missing '{}'", close));
      if (brackets.empty()) {
        if (source_[pos] == '-' && source_.compare(pos + 1, 2, close) == 0) {
          strip_after = true;
          return pos + 3;
        }
        if (source_.compare(pos, 2, close) == 0) return pos + 2;
      }
      char c = source_[pos];
      if (is_name_start(c)) {
        std::size_t end = pos;
        while (end < source_.size() && is_name_char(source_[end])) ++end;
        tokens_.push_back({TokenKind::name, source_.substr(pos, end - pos), pos});
        pos = end;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        pos = lex_number(pos);
      } else if (c == '\'' || c == '"') {
        pos = lex_string(pos);
      } else {
        pos = lex_operator(pos, brackets);
      }
    }
  }

  std::size_t lex_number(std::size_t pos) {
    std::size_t end = pos;
    auto digits = [&] {
      while (end < source_.size() && (std::isdigit(static_cast<unsigned char>(source_[end])) || source_[end] == '_')) ++end;
    };
    digits();
    bool real = false;
    if (end + 1 < source_.size() && source_[end] == '.' && std::isdigit(static_cast<unsigned char>(source_[end + 1]))) {
      real = true;
      ++end;
      digits();
    }
    if (end < source_.size() && (source_[end] == 'e' || source_[end] == 'E')) {
      std::size_t e = end + 1;
      if (e < source_.size() && (source_[e] == '+' || source_[e] == '-')) ++e;
      if (e < source_.size() && std::isdigit(static_cast<unsigned char>(source_[e]))) {
        real = true;
        end = e;
        digits();
      }
    }
    std::string text = source_.substr(pos, end - pos);
    text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
    tokens_.push_back({real ? TokenKind::real : TokenKind::integer, text, pos});
    return end;
  }

  // A string literal, unescaped the way jinja2 does it: Python's "unicode-escape" codec
  // applied to the literal with non-ASCII characters backslash-escaped first.
  std::size_t lex_string(std::size_t pos) {
    char quote = source_[pos];
    std::string value;
    std::size_t i = pos + 1;
    while (true) {
      if (i >= source_.size()) fail_at(shared_, pos, "unterminated string literal");
      char c = source_[i];
      if (c == quote) break;
      if (c != '\\') {
        value += c;
        ++i;
        continue;
      }
      if (i + 1 >= source_.size()) fail_at(shared_, pos, "unterminated string literal");
      i = unescape(i, value, pos);
    }
    tokens_.push_back({TokenKind::string, value, pos});
    return i + 1;
  }

  std::size_t unescape(std::size_t i, std::string& value, std::size_t literal) {
    char e = source_[i + 1];
    auto hex = [&](std::size_t start, int count) -> char32_t {
      if (start + count > source_.size()) fail_at(shared_, literal, "truncated escape in string literal");
      char32_t cp = 0;
      for (int k = 0; k < count; ++k) {
        char h = source_[start + k];
        if (!std::isxdigit(static_cast<unsigned char>(h))) fail_at(shared_, literal, "bad escape in string literal");
        cp = cp * 16 + static_cast<char32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
      }
      return cp;
    };
    switch (e) {
      case '\\': value += '\\'; return i + 2;
      case '\'': value += '\''; return i + 2;
      case '"': value += '"'; return i + 2;
      case 'a': value += '\a'; return i + 2;
      case 'b': value += '\b'; return i + 2;
      case 'f': value += '\f'; return i + 2;
      case 'n': value += '\n'; return i + 2;
      case 'r': value += '\r'; return i + 2;
      case 't': value += '\t'; return i + 2;
      case 'v': value += '\v'; return i + 2;
      case '\n': return i + 2;  // line continuation
      case 'x': value += utf8_encode(std::u32string(1, hex(i + 2, 2))); return i + 4;
      case 'u': value += utf8_encode(std::u32string(1, hex(i + 2, 4))); return i + 6;
      case 'U': value += utf8_encode(std::u32string(1, hex(i + 2, 8))); return i + 10;
      case 'N': fail_at(shared_, literal, "unsupported \\N{...} escape in string literal");
      default: break;
    }
    if (e >= '0' && e <= '7') {
      char32_t cp = 0;
      std::size_t k = i + 1;
      for (int n = 0; n < 3 && k < source_.size() && source_[k] >= '0' && source_[k] <= '7'; ++n, ++k) cp = cp * 8 + (source_[k] - '0');
      value += utf8_encode(std::u32string(1, cp));
      return k;
    }
    if (static_cast<unsigned char>(e) >= 0x80) {
      // The backslash escapes the "\xNN" jinja2 wrote for this character, which stays literal.
      std::u32string cp = utf8_decode(std::string_view(source_).substr(i + 1, 4)).substr(0, 1);
      std::size_t width = utf8_encode(cp).size();
      value += '\\';
      if (cp[0] < 0x100) value += fmt::format("x{:02x}", static_cast<unsigned>(cp[0]));
      else if (cp[0] < 0x10000) value += fmt::format("u{:04x}", static_cast<unsigned>(cp[0]));
      else value += fmt::format("U{:08x}", static_cast<unsigned>(cp[0]));
      return i + 1 + width;
    }
    value += '\\';  // unknown escapes keep their backslash
    value += e;
    return i + 2;
  }

  std::size_t lex_operator(std::size_t pos, std::vector<char>& brackets) {
    static const char* const two_char[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : two_char)
      if (source_.compare(pos, 2, op) == 0) {
        tokens_.push_back({TokenKind::op, op, pos});
        return pos + 2;
      }
    char c = source_[pos];
    if (std::string_view("+-/*%~[](){}<>=.:|,;").find(c) == std::string_view::npos)
      fail_at(shared_, pos, fmt::format("unexpected character '{}'", c));
    if (c == '(' || c == '[' || c == '{') brackets.push_back(c);
    if (c == ')' || c == ']' || c == '}') {
      char open = c == ')' ? '(' : c == ']' ? '[' : '{';
      if (brackets.empty() || brackets.back() != open) fail_at(shared_, pos, fmt::format("unexpected '{}'", c));
      brackets.pop_back();
    }
    tokens_.push_back({TokenKind::op, std::string(1, c), pos});
    return pos + 1;
  }

  const Template::Shared& shared_;
  const std::string& source_;
  std::vector<Token> tokens_;
};

// ============================================================================================
// Parser (jinja2's grammar and precedence)
// ============================================================================================

// What the renderer implements; anything else is rejected when the template is compiled.
const std::set<std::string>& known_filters() {
  static const std::set<std::string> names = {"string", "truncate", "join", "lower", "upper", "capitalize", "trim",
                                              "replace", "length", "count", "list", "first", "last", "reverse",
                                              "default", "d", "int", "float", "abs", "choice", "random", "most_frequent"};
  return names;
}
const std::set<std::string>& known_tests() {
  static const std::set<std::string> names = {"defined", "undefined", "none", "string", "number", "integer", "float",
                                              "boolean", "true", "false", "sequence", "mapping", "even", "odd",
                                              "divisibleby", "eq", "equalto", "ne", "in"};
  return names;
}

class Parser {
 public:
  Parser(const Template::Shared& shared, std::vector<Token> tokens) : shared_(shared), tokens_(std::move(tokens)) {}

  std::vector<Statement> parse_template() {
    std::vector<Statement> body = parse_body({});
    if (current().kind != TokenKind::end) fail_at(shared_, current().offset, "unexpected tag");
    return body;
  }

 private:
  const Token& current() const { return tokens_[pos_]; }
  const Token& peek(std::size_t ahead = 1) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
  Token next() { return tokens_[pos_++]; }
  bool at_op(const char* op) const { return current().kind == TokenKind::op && current().value == op; }
  bool at_name(const char* name) const { return current().kind == TokenKind::name && current().value == name; }
  bool skip_op(const char* op) {
    if (!at_op(op)) return false;
    ++pos_;
    return true;
  }
  bool skip_name(const char* name) {
    if (!at_name(name)) return false;
    ++pos_;
    return true;
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail_at(shared_, current().offset, fmt::format("expected '{}'", op));
  }
  void expect_block_end() {
    if (current().kind != TokenKind::block_end) fail_at(shared_, current().offset, "expected end of statement '%}'");
    ++pos_;
  }
  std::string expect_name() {
    if (current().kind != TokenKind::name) fail_at(shared_, current().offset, "expected a name");
    return next().value;
  }

  // Statements until one of the block keywords in `ends` (left unconsumed, after "{%").
  std::vector<Statement> parse_body(const std::set<std::string>& ends) {
    std::vector<Statement> body;
    while (true) {
      const Token& token = current();
      if (token.kind == TokenKind::end) {
        if (!ends.empty()) {
          std::string closing = ends.count("endif") ? "endif" : ends.count("endfor") ? "endfor" : *ends.rbegin();
          fail_at(shared_, token.offset, fmt::format("missing '{{% {} %}}'", closing));
        }
        return body;
      }
      if (token.kind == TokenKind::text) {
        body.push_back(make_statement(StatementKind::text, token.offset, token.value));
        ++pos_;
      } else if (token.kind == TokenKind::variable_begin) {
        ++pos_;
        Statement output = make_statement(StatementKind::output, token.offset);
        output.expression = parse_tuple(true);
        if (current().kind != TokenKind::variable_end) fail_at(shared_, current().offset, "expected '}}'");
        ++pos_;
        body.push_back(std::move(output));
      } else if (token.kind == TokenKind::block_begin) {
        const Token& keyword = peek();
        if (keyword.kind == TokenKind::name && ends.count(keyword.value)) return body;
        ++pos_;
        body.push_back(parse_statement());
      } else {
        fail_at(shared_, token.offset, "unexpected token");
      }
    }
  }

  Statement parse_statement() {
    Nesting nested(*this, current().offset);
    Token keyword = current();
    if (keyword.kind != TokenKind::name) fail_at(shared_, keyword.offset, "expected a statement name");
    if (keyword.value == "if") return parse_if();
    if (keyword.value == "for") return parse_for();
    if (keyword.value == "set") return parse_set();
    fail_at(shared_, keyword.offset, fmt::format("unsupported Jinja statement '{{% {} %}}'", keyword.value));
  }

  Statement parse_if() {
    Statement chain = make_statement(StatementKind::if_chain, current().offset);
    ++pos_;  // "if"
    while (true) {
      NodePtr condition = parse_tuple(true);
      expect_block_end();
      std::vector<Statement> body = parse_body({"elif", "else", "endif"});
      chain.branches.emplace_back(std::move(condition), std::move(body));
      ++pos_;  // block_begin
      std::string keyword = next().value;
      if (keyword == "elif") continue;
      if (keyword == "else") {
        expect_block_end();
        std::vector<Statement> else_body = parse_body({"endif"});
        chain.branches.emplace_back(nullptr, std::move(else_body));
        pos_ += 2;  // "{%" "endif"
      }
      expect_block_end();
      return chain;
    }
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> names;
    bool parenthesised = skip_op("(");
    do {
      names.push_back(expect_name());
    } while (skip_op(","));
    if (parenthesised) expect_op(")");
    return names;
  }

  Statement parse_for() {
    Statement loop = make_statement(StatementKind::for_loop, current().offset);
    ++pos_;  // "for"
    loop.targets = parse_targets();
    if (!skip_name("in")) fail_at(shared_, current().offset, "expected 'in'");
    loop.expression = parse_tuple(false);
    if (skip_name("if")) loop.loop_filter = parse_tuple(true);
    if (at_name("recursive")) fail_at(shared_, current().offset, "unsupported Jinja construct 'recursive' loops");
    expect_block_end();
    loop.body = parse_body({"else", "endfor"});
    ++pos_;
    if (next().value == "else") {
      expect_block_end();
      loop.else_body = parse_body({"endfor"});
      pos_ += 2;
    }
    expect_block_end();
    return loop;
  }

  Statement parse_set() {
    Statement set = make_statement(StatementKind::set_value, current().offset);
    ++pos_;  // "set"
    if (current().kind == TokenKind::name && peek().kind == TokenKind::op && peek().value == "." && peek(2).kind == TokenKind::name) {
      set.targets.push_back(next().value);
      ++pos_;
      set.attribute = next().value;
    } else {
      set.targets = parse_targets();
    }
    if (skip_op("=")) {
      set.expression = parse_tuple(true);
      expect_block_end();
      return set;
    }
    if (at_op("|")) fail_at(shared_, current().offset, "unsupported Jinja construct: filtered block set");
    if (!set.attribute.empty() || set.targets.size() != 1) fail_at(shared_, current().offset, "expected '='");
    expect_block_end();
    set.kind = StatementKind::set_block;
    set.body = parse_body({"endset"});
    pos_ += 2;
    expect_block_end();
    return set;
  }

  // Parsing recurses once per nesting level (brackets, calls, blocks, `not`, signs): deeper
  // than kMaxNesting is refused before the stack could overflow (jinja2 itself stops at 20
  // nested for loops, 75 brackets, 99 ifs).
  struct Nesting {
    Parser& parser;
    Nesting(Parser& p, std::size_t offset) : parser(p) {
      if (++parser.nesting_ > kMaxNesting)
        fail_at(parser.shared_, offset, fmt::format("nested more than {} levels deep; refused", kMaxNesting));
    }
    ~Nesting() { --parser.nesting_; }
    Nesting(const Nesting&) = delete;
    Nesting& operator=(const Nesting&) = delete;
  };

  // Chains (a + b + ..., x|f|g..., a.b.c...) are parsed in loops but make trees as deep as they
  // are long, and rendering and freeing a tree recurse over its depth: bounded too.
  void note_depth(Node& parent, const Node& child) {
    parent.depth = std::max(parent.depth, child.depth + 1);
    if (parent.depth > kMaxExpressionDepth)
      fail_at(shared_, parent.offset, fmt::format("expression more than {} operations deep; refused", kMaxExpressionDepth));
  }
  void attach(Node& parent, NodePtr child) {
    if (child) note_depth(parent, *child);
    parent.args.push_back(std::move(child));
  }

  NodePtr make(NodeKind kind, std::size_t offset) {
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->offset = offset;
    return node;
  }

  NodePtr parse_tuple(bool with_condexpr) {
    std::size_t offset = current().offset;
    std::vector<NodePtr> items;
    bool comma = false;
    while (true) {
      if (!items.empty()) {
        if (!skip_op(",")) break;
        comma = true;
        if (ends_tuple()) break;
      }
      items.push_back(with_condexpr ? parse_expression() : parse_or());
      if (!at_op(",")) break;
    }
    if (!comma && items.size() == 1) return std::move(items[0]);
    auto tuple = make(NodeKind::tuple_literal, offset);
    for (NodePtr& item : items) attach(*tuple, std::move(item));
    return tuple;
  }

  bool ends_tuple() const {
    const Token& t = current();
    return t.kind == TokenKind::variable_end || t.kind == TokenKind::block_end || (t.kind == TokenKind::op && (t.value == ")" || t.value == "]")) ||
           (t.kind == TokenKind::name && t.value == "if");
  }

  NodePtr parse_expression() {
    NodePtr value = parse_or();
    while (at_name("if")) {
      std::size_t offset = next().offset;
      auto conditional = make(NodeKind::conditional, offset);
      NodePtr condition = parse_or();
      NodePtr otherwise = skip_name("else") ? parse_expression() : nullptr;
      attach(*conditional, std::move(condition));
      attach(*conditional, std::move(value));
      attach(*conditional, std::move(otherwise));
      value = std::move(conditional);
    }
    return value;
  }

  NodePtr binary(NodeKind kind, std::size_t offset, std::string op, NodePtr left, NodePtr right) {
    auto node = make(kind, offset);
    node->name = std::move(op);
    attach(*node, std::move(left));
    attach(*node, std::move(right));
    return node;
  }

  NodePtr parse_or() {
    Nesting nested(*this, current().offset);  // every nested expression comes through here
    NodePtr left = parse_and();
    while (at_name("or")) {
      std::size_t offset = next().offset;
      left = binary(NodeKind::logical_or, offset, "or", std::move(left), parse_and());
    }
    return left;
  }
  NodePtr parse_and() {
    NodePtr left = parse_not();
    while (at_name("and")) {
      std::size_t offset = next().offset;
      left = binary(NodeKind::logical_and, offset, "and", std::move(left), parse_not());
    }
    return left;
  }
  NodePtr parse_not() {
    if (at_name("not")) {
      Nesting nested(*this, current().offset);
      auto node = make(NodeKind::logical_not, next().offset);
      attach(*node, parse_not());
      return node;
    }
    return parse_compare();
  }
  NodePtr parse_compare() {
    NodePtr left = parse_math1();
    while (true) {
      const Token& t = current();
      std::string op;
      bool negated = false;
      if (t.kind == TokenKind::op && (t.value == "==" || t.value == "!=" || t.value == "<" || t.value == "<=" || t.value == ">" || t.value == ">=")) {
        op = t.value;
        ++pos_;
      } else if (at_name("in")) {
        op = "in";
        ++pos_;
      } else if (at_name("not") && peek().kind == TokenKind::name && peek().value == "in") {
        op = "in";
        negated = true;
        pos_ += 2;
      } else {
        return left;
      }
      // Chained comparisons (a < b < c) are rare in templates; reject rather than guess.
      if (left->kind == NodeKind::compare) fail_at(shared_, t.offset, "unsupported Jinja construct: chained comparison");
      left = binary(NodeKind::compare, t.offset, op, std::move(left), parse_math1());
      left->negated = negated;
    }
  }
  NodePtr parse_math1() {
    NodePtr left = parse_concat();
    while (at_op("+") || at_op("-")) {
      Token op = next();
      left = binary(NodeKind::binary, op.offset, op.value, std::move(left), parse_concat());
    }
    return left;
  }
  NodePtr parse_concat() {
    NodePtr left = parse_math2();
    while (at_op("~")) {
      Token op = next();
      left = binary(NodeKind::binary, op.offset, "~", std::move(left), parse_math2());
    }
    return left;
  }
  NodePtr parse_math2() {
    NodePtr left = parse_pow();
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      Token op = next();
      left = binary(NodeKind::binary, op.offset, op.value, std::move(left), parse_pow());
    }
    return left;
  }
  NodePtr parse_pow() {
    NodePtr left = parse_unary(true);
    while (at_op("**")) {
      Token op = next();
      left = binary(NodeKind::binary, op.offset, "**", std::move(left), parse_unary(true));
    }
    return left;
  }
  NodePtr parse_unary(bool with_filter) {
    NodePtr node;
    if (at_op("-") || at_op("+")) {
      Nesting nested(*this, current().offset);
      Token op = next();
      node = make(op.value == "-" ? NodeKind::negate : NodeKind::positive, op.offset);
      attach(*node, parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  NodePtr parse_primary() {
    Token t = next();
    switch (t.kind) {
      case TokenKind::name: {
        auto node = make(NodeKind::constant, t.offset);
        if (t.value == "true" || t.value == "True") node->constant = Value::of_bool(true);
        else if (t.value == "false" || t.value == "False") node->constant = Value::of_bool(false);
        else if (t.value == "none" || t.value == "None") node->constant = Value::none();
        else {
          node->kind = NodeKind::name;
          node->name = t.value;
        }
        return node;
      }
      case TokenKind::string: {
        std::string text = t.value;
        while (current().kind == TokenKind::string) text += next().value;  // adjacent literals join
        auto node = make(NodeKind::constant, t.offset);
        node->constant = Value::of_string(text);
        return node;
      }
      case TokenKind::integer: {
        auto node = make(NodeKind::constant, t.offset);
        try {
          node->constant = Value::of_int(std::stoll(t.value));
        } catch (const std::exception&) {
          fail_at(shared_, t.offset, "integer literal out of range");
        }
        return node;
      }
      case TokenKind::real: {
        auto node = make(NodeKind::constant, t.offset);
        node->constant = Value::of_real(std::stod(t.value));
        return node;
      }
      case TokenKind::op:
        if (t.value == "(") {
          if (skip_op(")")) return make(NodeKind::tuple_literal, t.offset);
          NodePtr inner = parse_tuple(true);
          expect_op(")");
          return inner;
        }
        if (t.value == "[") {
          auto list = make(NodeKind::list_literal, t.offset);
          while (!at_op("]")) {
            if (!list->args.empty()) expect_op(",");
            if (at_op("]")) break;
            attach(*list, parse_expression());
          }
          expect_op("]");
          return list;
        }
        if (t.value == "{") {
          auto dict = make(NodeKind::dict_literal, t.offset);
          while (!at_op("}")) {
            if (!dict->args.empty()) expect_op(",");
            if (at_op("}")) break;
            attach(*dict, parse_expression());
            expect_op(":");
            attach(*dict, parse_expression());
          }
          expect_op("}");
          return dict;
        }
        break;
      default:
        break;
    }
    fail_at(shared_, t.offset, t.kind == TokenKind::op ? fmt::format("unexpected '{}'", t.value) : "unexpected end of expression");
  }

  NodePtr parse_postfix(NodePtr node) {
    while (true) {
      if (at_op(".")) {
        Token dot = next();
        auto attr = make(NodeKind::get_attr, dot.offset);
        if (current().kind == TokenKind::name) {
          attr->name = next().value;
          attach(*attr, std::move(node));
        } else if (current().kind == TokenKind::integer) {
          attr->kind = NodeKind::get_item;
          auto index = make(NodeKind::constant, current().offset);
          index->constant = Value::of_int(std::stoll(next().value));
          attach(*attr, std::move(node));
          attach(*attr, std::move(index));
        } else {
          fail_at(shared_, current().offset, "expected an attribute name after '.'");
        }
        node = std::move(attr);
      } else if (at_op("[")) {
        Token open = next();
        auto item = make(NodeKind::get_item, open.offset);
        attach(*item, std::move(node));
        attach(*item, parse_subscript());
        if (at_op(",")) fail_at(shared_, current().offset, "unsupported Jinja construct: tuple subscript");
        expect_op("]");
        node = std::move(item);
      } else if (at_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  NodePtr parse_subscript() {
    std::size_t offset = current().offset;
    NodePtr start, stop, step;
    if (!at_op(":")) {
      start = parse_expression();
      if (!at_op(":")) return start;
    }
    auto slice = make(NodeKind::slice, offset);
    expect_op(":");
    if (!at_op("]") && !at_op(":")) stop = parse_expression();
    if (skip_op(":") && !at_op("]")) step = parse_expression();
    attach(*slice, std::move(start));
    attach(*slice, std::move(stop));
    attach(*slice, std::move(step));
    return slice;
  }

  // "(" args ")" after a callee; the callee becomes args[0].
  NodePtr parse_call(NodePtr callee) {
    Token open = next();
    auto call = make(NodeKind::call, open.offset);
    attach(*call, std::move(callee));
    parse_arguments(*call);
    return call;
  }

  void parse_arguments(Node& call) {
    bool first = true;
    while (!at_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (at_op(")")) break;
      if (at_op("*") || at_op("**")) fail_at(shared_, current().offset, "unsupported Jinja construct: *args / **kwargs");
      if (current().kind == TokenKind::name && peek().kind == TokenKind::op && peek().value == "=") {
        std::string key = next().value;
        ++pos_;
        NodePtr value = parse_expression();
        note_depth(call, *value);
        call.kwargs.emplace_back(key, std::move(value));
      } else {
        if (!call.kwargs.empty()) fail_at(shared_, current().offset, "positional argument after keyword argument");
        attach(call, parse_expression());
      }
    }
    expect_op(")");
  }

  NodePtr parse_filter_expr(NodePtr node) {
    while (true) {
      if (at_op("|")) {
        ++pos_;
        Token name = current();
        std::string filter = expect_name();
        while (skip_op(".")) filter += "." + expect_name();
        if (!known_filters().count(filter)) fail_at(shared_, name.offset, fmt::format("unsupported Jinja filter '{}'", filter));
        auto applied = make(NodeKind::filter, name.offset);
        applied->name = filter;
        attach(*applied, std::move(node));
        if (at_op("(")) {
          ++pos_;
          parse_arguments(*applied);
        }
        node = std::move(applied);
      } else if (at_name("is")) {
        ++pos_;
        auto test = make(NodeKind::test, current().offset);
        test->negated = skip_name("not");
        Token name = current();
        test->name = expect_name();
        if (!known_tests().count(test->name)) fail_at(shared_, name.offset, fmt::format("unsupported Jinja test '{}'", test->name));
        attach(*test, std::move(node));
        if (at_op("(")) {
          ++pos_;
          parse_arguments(*test);
        } else if (current().kind == TokenKind::string || current().kind == TokenKind::integer || current().kind == TokenKind::real ||
                   (current().kind == TokenKind::name && !at_name("and") && !at_name("or") && !at_name("else") && !at_name("if") &&
                    !at_name("is") && !at_name("in") && !at_name("not"))) {
          attach(*test, parse_primary());
        }
        node = std::move(test);
      } else if (at_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  const Template::Shared& shared_;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  int nesting_ = 0;
};

// ============================================================================================
// Evaluation
// ============================================================================================

const char* const kLoopMarker = "\x01loop";

// What one rendering (one template, one row) may build, so that a template cannot exhaust
// memory or time. Far above what a prompt needs; see docs/prompts.md.
constexpr std::int64_t kMaxRangeItems = 100000;            // jinja2's sandbox MAX_RANGE
constexpr std::uint64_t kMaxTextBytes = 64ull << 20;       // one string; xmtf-shard's --max-line-bytes
constexpr std::uint64_t kMaxListItems = 1000000;           // one list
constexpr std::uint64_t kRenderBudgetBytes = 1ull << 30;   // all strings, lists and loop steps made
constexpr std::uint64_t kLoopStepCost = 1024;              // a loop iteration's scope and `loop` object
constexpr int kMaxValueDepth = 100;                        // lists in lists in ...

class Renderer {
 public:
  Renderer(const Template::Shared& shared, const Dict& variables, PythonRandom& rng) : shared_(shared), rng_(rng) {
    scopes_.emplace_back();
    for (const auto& [name, value] : variables) scopes_.back()[name] = value;
  }

  std::string run() {
    std::string out;
    execute(shared_.body, out);
    return out;
  }

 private:
  [[noreturn]] void error(std::size_t offset, const std::string& message) const { fail_at(shared_, offset, message); }

  // ---- limits --------------------------------------------------------------------------------

  // Everything a rendering makes is charged here; past the budget it stops (a runaway loop or
  // a string doubling in a loop ends with an error, not with the machine's memory).
  void charge(std::uint64_t bytes, std::size_t offset) const {
    spent_ += bytes;
    if (spent_ > kRenderBudgetBytes)
      error(offset, fmt::format("rendering would build more than {} (strings, lists and loop steps); refused",
                                format_bytes(static_cast<double>(kRenderBudgetBytes))));
  }
  // Checked before a string of `bytes` is made.
  void check_text_size(std::uint64_t bytes, std::size_t offset) const {
    if (bytes > kMaxTextBytes)
      error(offset, fmt::format("a string of {} bytes would exceed the limit of {}; refused", bytes,
                                format_bytes(static_cast<double>(kMaxTextBytes))));
  }
  void check_list_size(std::uint64_t items, std::size_t offset) const {
    if (items > kMaxListItems) error(offset, fmt::format("a list of {} items would exceed the limit of {}; refused", items, kMaxListItems));
    charge(items * sizeof(Value), offset);
  }
  void append_output(std::string& out, std::string_view text, std::size_t offset) const {
    check_text_size(out.size() + text.size(), offset);
    charge(text.size(), offset);
    out += text;
  }

  // How deeply value nests containers (1 for a list of scalars), counted without recursion and
  // only up to the limit: deeper is an error (printing, comparing and freeing values recurse).
  int nesting_depth(const Value& value, std::size_t offset) const {
    std::vector<std::pair<const Value*, int>> todo{{&value, 0}};
    int deepest = 0;
    while (!todo.empty()) {
      auto [item, depth] = todo.back();
      todo.pop_back();
      charge(sizeof(Value), offset);
      auto visit = [&](const Value& child) { todo.emplace_back(&child, depth + 1); };
      if (item->is_sequence()) {
        for (const Value& child : *item->items) visit(child);
      } else if (item->kind == Value::Kind::dict || item->kind == Value::Kind::name_space) {
        for (const auto& entry : *item->entries) visit(entry.second);
      } else {
        continue;
      }
      deepest = std::max(deepest, depth + 1);
      if (deepest > kMaxValueDepth) error(offset, fmt::format("values nested more than {} levels deep; refused", kMaxValueDepth));
    }
    return deepest;
  }
  Value checked_container(Value value, std::size_t offset) const {
    nesting_depth(value, offset);
    return value;
  }
  static bool contains_namespace(const Value& value) {
    std::vector<const Value*> todo{&value};
    while (!todo.empty()) {
      const Value* item = todo.back();
      todo.pop_back();
      if (item->kind == Value::Kind::name_space) return true;
      if (item->is_sequence())
        for (const Value& child : *item->items) todo.push_back(&child);
      if (item->kind == Value::Kind::dict)
        for (const auto& entry : *item->entries) todo.push_back(&entry.second);
    }
    return false;
  }

  // Python integers do not overflow; int64 does (undefined behaviour in C++): an error instead.
  [[noreturn]] void overflow(std::size_t offset) const { error(offset, "integer overflow (beyond 64 bits)"); }
  std::int64_t add(std::int64_t x, std::int64_t y, std::size_t offset) const {
    std::int64_t r;
    if (__builtin_add_overflow(x, y, &r)) overflow(offset);
    return r;
  }
  std::int64_t subtract(std::int64_t x, std::int64_t y, std::size_t offset) const {
    std::int64_t r;
    if (__builtin_sub_overflow(x, y, &r)) overflow(offset);
    return r;
  }
  std::int64_t multiply(std::int64_t x, std::int64_t y, std::size_t offset) const {
    std::int64_t r;
    if (__builtin_mul_overflow(x, y, &r)) overflow(offset);
    return r;
  }

  // ---- statements ----------------------------------------------------------------------------

  void execute(const std::vector<Statement>& body, std::string& out) {
    for (const Statement& statement : body) execute(statement, out);
  }

  void execute(const Statement& statement, std::string& out) {
    switch (statement.kind) {
      case StatementKind::text: append_output(out, statement.text, statement.offset); break;
      case StatementKind::output: {
        Value value = evaluate(*statement.expression);
        if (value.kind == Value::Kind::callable) error(statement.offset, "printing a function is not supported");
        append_output(out, py_str(value), statement.offset);
        break;
      }
      case StatementKind::if_chain:
        for (const auto& [condition, body] : statement.branches) {
          if (!condition || py_truthy(evaluate(*condition))) {
            execute(body, out);
            break;
          }
        }
        break;
      case StatementKind::for_loop: run_loop(statement, out); break;
      case StatementKind::set_value: assign(statement, evaluate(*statement.expression)); break;
      case StatementKind::set_block: {
        std::string captured;
        execute(statement.body, captured);
        assign(statement, Value::of_string(captured));
        break;
      }
    }
  }

  void assign(const Statement& statement, const Value& value) {
    if (!statement.attribute.empty()) {
      Value target = lookup(statement.targets[0]);
      if (target.kind != Value::Kind::name_space)
        error(statement.offset, "can only assign attributes of a namespace() object");
      // A namespace holding a namespace (itself, or one holding it) could make a cycle.
      if (contains_namespace(value)) error(statement.offset, "assigning a namespace (or a value holding one) to a namespace attribute is not supported");
      for (auto& [name, item] : *target.entries)
        if (name == statement.attribute) {
          item = value;
          return;
        }
      target.entries->emplace_back(statement.attribute, value);
      return;
    }
    bind_targets(statement.targets, value, statement.offset);
  }

  void bind_targets(const std::vector<std::string>& targets, const Value& value, std::size_t offset) {
    if (targets.size() == 1) {
      scopes_.back()[targets[0]] = value;
      return;
    }
    List items = iterate(value, offset);
    if (items.size() != targets.size())
      error(offset, fmt::format("cannot unpack {} values into {} names", items.size(), targets.size()));
    for (std::size_t i = 0; i < targets.size(); ++i) scopes_.back()[targets[i]] = items[i];
  }

  void run_loop(const Statement& loop, std::string& out) {
    List items = iterate(evaluate(*loop.expression), loop.expression->offset);
    if (loop.loop_filter) {
      List kept;
      for (const Value& item : items) {
        charge(kLoopStepCost, loop.offset);
        scopes_.emplace_back();
        bind_targets(loop.targets, item, loop.offset);
        bool keep = py_truthy(evaluate(*loop.loop_filter));
        scopes_.pop_back();
        if (keep) kept.push_back(item);
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      execute(loop.else_body, out);
      return;
    }
    const auto length = static_cast<std::int64_t>(items.size());
    for (std::int64_t i = 0; i < length; ++i) {
      charge(kLoopStepCost, loop.offset);
      scopes_.emplace_back();  // every iteration starts from the enclosing scope, as in jinja2
      Dict info = {{kLoopMarker, Value::of_bool(true)},
                   {"index", Value::of_int(i + 1)},
                   {"index0", Value::of_int(i)},
                   {"revindex", Value::of_int(length - i)},
                   {"revindex0", Value::of_int(length - i - 1)},
                   {"first", Value::of_bool(i == 0)},
                   {"last", Value::of_bool(i == length - 1)},
                   {"length", Value::of_int(length)}};
      scopes_.back()["loop"] = Value::name_space(std::move(info));
      bind_targets(loop.targets, items[i], loop.offset);
      execute(loop.body, out);
      scopes_.pop_back();
    }
  }

  // ---- expressions ---------------------------------------------------------------------------

  Value lookup(const std::string& name) const {
    for (auto scope = scopes_.rbegin(); scope != scopes_.rend(); ++scope) {
      auto found = scope->find(name);
      if (found != scope->end()) return found->second;
    }
    if (name == "zip" || name == "namespace" || name == "range" || name == "dict") return Value::function(name);
    return Value::undefined();
  }

  // Every value an expression makes passes here; strings are copied, so they are charged.
  Value evaluate(const Node& node) {
    Value value = evaluate_node(node);
    if (value.is_string()) charge(value.text.size(), node.offset);
    return value;
  }

  Value evaluate_node(const Node& node) {
    switch (node.kind) {
      case NodeKind::constant: return node.constant;
      case NodeKind::name: return lookup(node.name);
      case NodeKind::get_attr: return get_attribute(evaluate(*node.args[0]), node.name, node);
      case NodeKind::get_item: return get_item(evaluate(*node.args[0]), *node.args[1], node);
      case NodeKind::slice: error(node.offset, "a slice can only be used as a subscript");
      case NodeKind::call: return call(node);
      case NodeKind::filter: return apply_filter(node);
      case NodeKind::test: return Value::of_bool(apply_test(node) != node.negated);
      case NodeKind::negate:
      case NodeKind::positive: return unary(node);
      case NodeKind::binary: return arithmetic(node.name, evaluate(*node.args[0]), evaluate(*node.args[1]), node.offset);
      case NodeKind::compare: return compare(node);
      case NodeKind::logical_and: {
        Value left = evaluate(*node.args[0]);
        return py_truthy(left) ? evaluate(*node.args[1]) : left;
      }
      case NodeKind::logical_or: {
        Value left = evaluate(*node.args[0]);
        return py_truthy(left) ? left : evaluate(*node.args[1]);
      }
      case NodeKind::logical_not: return Value::of_bool(!py_truthy(evaluate(*node.args[0])));
      case NodeKind::conditional:
        if (py_truthy(evaluate(*node.args[0]))) return evaluate(*node.args[1]);
        return node.args[2] ? evaluate(*node.args[2]) : Value::undefined();
      case NodeKind::list_literal:
      case NodeKind::tuple_literal: {
        List items;
        for (const NodePtr& item : node.args) items.push_back(evaluate(*item));
        return checked_container(node.kind == NodeKind::list_literal ? Value::of_list(std::move(items)) : Value::of_tuple(std::move(items)),
                                 node.offset);
      }
      case NodeKind::dict_literal: {
        Dict entries;
        for (std::size_t i = 0; i < node.args.size(); i += 2) {
          Value key = evaluate(*node.args[i]);
          if (!key.is_string()) error(node.args[i]->offset, "only string keys are supported in dict literals");
          Value value = evaluate(*node.args[i + 1]);
          auto existing = std::find_if(entries.begin(), entries.end(), [&](const auto& e) { return e.first == key.text; });
          if (existing != entries.end()) existing->second = value;
          else entries.emplace_back(key.text, value);
        }
        return checked_container(Value::of_dict(std::move(entries)), node.offset);
      }
    }
    error(node.offset, "unsupported expression");
  }

  [[noreturn]] void undefined_error(const Node& node) const {
    const Node* base = &node;
    while ((base->kind == NodeKind::get_attr || base->kind == NodeKind::get_item || base->kind == NodeKind::call) && !base->args.empty())
      base = base->args[0].get();
    error(node.offset, base->kind == NodeKind::name ? fmt::format("'{}' is undefined", base->name) : "undefined value used");
  }

  void require_defined(const Value& value, const Node& node) const {
    if (value.is_undefined()) undefined_error(node);
  }

  static const std::set<std::string>& string_methods() {
    static const std::set<std::string> methods = {"split", "rsplit", "strip", "lstrip", "rstrip", "lower", "upper",
                                                  "replace", "startswith", "endswith", "capitalize", "find", "rfind",
                                                  "count", "join", "splitlines", "isdigit", "isalpha", "isspace",
                                                  "isupper", "islower", "title", "format", "index", "zfill"};
    return methods;
  }

  Value get_attribute(const Value& object, const std::string& name, const Node& node) {
    require_defined(object, *node.args[0]);
    auto bound = [&](const std::string& method) { return Value::function(method, std::make_shared<Value>(object)); };
    switch (object.kind) {
      case Value::Kind::string:
        if (string_methods().count(name)) return bound("str." + name);
        return Value::undefined();
      case Value::Kind::list:
      case Value::Kind::tuple:
        if (name == "index" || name == "count" || (name == "append" && object.kind == Value::Kind::list)) return bound("list." + name);
        return Value::undefined();
      case Value::Kind::dict:
        if (name == "items" || name == "keys" || name == "values" || name == "get") return bound("dict." + name);
        [[fallthrough]];
      case Value::Kind::name_space: {
        if (object.find(kLoopMarker) && !object.find(name))
          error(node.offset, fmt::format("unsupported loop attribute 'loop.{}'", name));
        const Value* found = object.find(name);
        return found ? *found : Value::undefined();
      }
      default:
        return Value::undefined();
    }
  }

  // Python index semantics (negative from the end); nullopt when out of range.
  static std::optional<std::size_t> normalize_index(std::int64_t index, std::size_t size) {
    if (index < 0) index += static_cast<std::int64_t>(size);
    if (index < 0 || index >= static_cast<std::int64_t>(size)) return std::nullopt;
    return static_cast<std::size_t>(index);
  }

  static std::optional<std::int64_t> as_index(const Value& value) {
    if (value.kind == Value::Kind::integer) return value.integer;
    if (value.kind == Value::Kind::boolean) return value.boolean ? 1 : 0;
    return std::nullopt;
  }

  Value get_item(const Value& object, const Node& subscript, const Node& node) {
    require_defined(object, *node.args[0]);
    if (subscript.kind == NodeKind::slice) return slice(object, subscript);
    Value key = evaluate(subscript);
    if (object.is_sequence() || object.is_string()) {
      if (auto index = as_index(key)) {
        if (object.is_string()) {
          std::u32string cps = utf8_decode(object.text);
          auto at = normalize_index(*index, cps.size());
          return at ? Value::of_string(utf8_encode(cps.substr(*at, 1))) : Value::undefined();
        }
        auto at = normalize_index(*index, object.items->size());
        return at ? (*object.items)[*at] : Value::undefined();
      }
    } else if (object.kind == Value::Kind::dict || object.kind == Value::Kind::name_space) {
      if (key.is_string()) {
        if (object.kind == Value::Kind::dict) {
          const Value* found = object.find(key.text);
          return found ? *found : Value::undefined();
        }
      } else {
        return Value::undefined();
      }
    }
    // jinja2 falls back to attribute lookup for string keys.
    if (key.is_string()) return get_attribute(object, key.text, node);
    return Value::undefined();
  }

  Value slice(const Value& object, const Node& subscript) {
    auto bound = [&](const NodePtr& part) -> std::optional<std::int64_t> {
      if (!part) return std::nullopt;
      Value v = evaluate(*part);
      if (v.kind == Value::Kind::none) return std::nullopt;
      auto index = as_index(v);
      if (!index) error(part->offset, "slice indices must be integers");
      return index;
    };
    std::optional<std::int64_t> start = bound(subscript.args[0]), stop = bound(subscript.args[1]), step_opt = bound(subscript.args[2]);
    std::int64_t step = step_opt.value_or(1);
    if (step == 0) error(subscript.offset, "slice step cannot be zero");
    std::u32string cps;
    std::int64_t size;
    if (object.is_string()) {
      cps = utf8_decode(object.text);
      size = static_cast<std::int64_t>(cps.size());
    } else if (object.is_sequence()) {
      size = static_cast<std::int64_t>(object.items->size());
    } else {
      error(subscript.offset, fmt::format("'{}' object is not subscriptable", type_name(object)));
    }
    // CPython's PySlice_AdjustIndices.
    auto adjust = [&](std::optional<std::int64_t> v, std::int64_t fallback) {
      if (!v) return fallback;
      std::int64_t x = *v;
      if (x < 0) {
        x += size;
        if (x < 0) x = step < 0 ? -1 : 0;
      } else if (x >= size) {
        x = step < 0 ? size - 1 : size;
      }
      return x;
    };
    std::int64_t begin = adjust(start, step < 0 ? size - 1 : 0);
    std::int64_t end = adjust(stop, step < 0 ? -1 : size);
    std::vector<std::int64_t> picked;
    for (std::int64_t i = begin; step > 0 ? i < end : i > end; i += step) picked.push_back(i);
    if (object.is_string()) {
      std::u32string out;
      for (auto i : picked) out += cps[i];
      return Value::of_string(utf8_encode(out));
    }
    List out;
    for (auto i : picked) out.push_back((*object.items)[i]);
    return object.kind == Value::Kind::tuple ? Value::of_tuple(std::move(out)) : Value::of_list(std::move(out));
  }

  // A copy (Python iterates the object; our loops keep their own list): charged as one.
  List iterate(const Value& value, std::size_t offset) const {
    switch (value.kind) {
      case Value::Kind::undefined: return {};
      case Value::Kind::list:
      case Value::Kind::tuple: charge(value.items->size() * sizeof(Value), offset); return *value.items;
      case Value::Kind::string: {
        charge(value.text.size() * sizeof(Value), offset);
        List chars;
        for (char32_t cp : utf8_decode(value.text)) chars.push_back(Value::of_string(utf8_encode(std::u32string(1, cp))));
        return chars;
      }
      case Value::Kind::dict: {
        charge(value.entries->size() * sizeof(Value), offset);
        List keys;
        for (const auto& entry : *value.entries) keys.push_back(Value::of_string(entry.first));
        return keys;
      }
      default: error(offset, fmt::format("'{}' object is not iterable", type_name(value)));
    }
  }

  std::int64_t length_of(const Value& value, std::size_t offset) const {
    switch (value.kind) {
      case Value::Kind::undefined: return 0;
      case Value::Kind::string: return static_cast<std::int64_t>(utf8_length(value.text));
      case Value::Kind::list:
      case Value::Kind::tuple: return static_cast<std::int64_t>(value.items->size());
      case Value::Kind::dict:
      case Value::Kind::name_space: return static_cast<std::int64_t>(value.entries->size());
      default: error(offset, fmt::format("object of type '{}' has no len()", type_name(value)));
    }
  }

  // ---- operators -----------------------------------------------------------------------------

  static bool is_integral(const Value& v) { return v.kind == Value::Kind::integer || v.kind == Value::Kind::boolean; }
  static std::int64_t to_int(const Value& v) { return v.kind == Value::Kind::boolean ? (v.boolean ? 1 : 0) : v.integer; }
  static double to_double(const Value& v) { return v.kind == Value::Kind::real ? v.real : static_cast<double>(to_int(v)); }

  Value unary(const Node& node) {
    Value operand = evaluate(*node.args[0]);
    require_defined(operand, *node.args[0]);
    bool negate = node.kind == NodeKind::negate;
    if (is_integral(operand))
      return Value::of_int(negate ? subtract(0, to_int(operand), node.offset) : to_int(operand));
    if (operand.kind == Value::Kind::real) return Value::of_real(negate ? -operand.real : operand.real);
    error(node.offset, fmt::format("bad operand type for unary {}: '{}'", negate ? '-' : '+', type_name(operand)));
  }

  Value arithmetic(const std::string& op, const Value& a, const Value& b, std::size_t offset) {
    if (op == "~") {
      std::string left = py_str(a), right = py_str(b);
      check_text_size(left.size() + right.size(), offset);
      return Value::of_string(left + right);
    }
    if (a.is_undefined() || b.is_undefined()) error(offset, fmt::format("undefined value used with '{}'", op));
    auto type_error = [&]() -> Value {
      error(offset, fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op, type_name(a), type_name(b)));
    };
    if (a.is_number() && b.is_number()) {
      bool integral = is_integral(a) && is_integral(b);
      std::int64_t x = integral ? to_int(a) : 0, y = integral ? to_int(b) : 0;
      if (op == "+") return integral ? Value::of_int(add(x, y, offset)) : Value::of_real(to_double(a) + to_double(b));
      if (op == "-") return integral ? Value::of_int(subtract(x, y, offset)) : Value::of_real(to_double(a) - to_double(b));
      if (op == "*") return integral ? Value::of_int(multiply(x, y, offset)) : Value::of_real(to_double(a) * to_double(b));
      if (op == "/") {
        if (to_double(b) == 0.0) error(offset, "division by zero");
        return Value::of_real(to_double(a) / to_double(b));
      }
      if (op == "//" || op == "%") {
        if (to_double(b) == 0.0) error(offset, "integer division or modulo by zero");
        if (integral) {
          if (x == INT64_MIN && y == -1) overflow(offset);
          std::int64_t q = x / y, r = x % y;
          if (r != 0 && ((r < 0) != (y < 0))) {
            q -= 1;
            r += y;
          }
          return Value::of_int(op == "//" ? q : r);
        }
        double x = to_double(a), y = to_double(b);
        double q = std::floor(x / y);
        return Value::of_real(op == "//" ? q : x - q * y);
      }
      if (op == "**") {
        if (integral && y >= 0) {
          // By squaring: 64 steps at most, and every product checked.
          std::int64_t result = 1, base = x;
          for (std::int64_t exponent = y; exponent > 0; exponent >>= 1) {
            if (exponent & 1) result = multiply(result, base, offset);
            if (exponent > 1) base = multiply(base, base, offset);
          }
          return Value::of_int(result);
        }
        return Value::of_real(std::pow(to_double(a), to_double(b)));
      }
    }
    if (op == "+" && a.is_string() && b.is_string()) {
      check_text_size(a.text.size() + b.text.size(), offset);
      return Value::of_string(a.text + b.text);
    }
    if (op == "+" && a.is_sequence() && a.kind == b.kind) {
      check_list_size(a.items->size() + b.items->size(), offset);
      List joined = *a.items;
      joined.insert(joined.end(), b.items->begin(), b.items->end());
      return a.kind == Value::Kind::tuple ? Value::of_tuple(std::move(joined)) : Value::of_list(std::move(joined));
    }
    if (op == "*" && (a.is_string() || a.is_sequence()) && is_integral(b)) return repeat(a, to_int(b), offset);
    if (op == "*" && (b.is_string() || b.is_sequence()) && is_integral(a)) return repeat(b, to_int(a), offset);
    if (op == "%" && a.is_string()) error(offset, "unsupported Jinja construct: '%' string formatting");
    return type_error();
  }

  Value repeat(const Value& value, std::int64_t times, std::size_t offset) const {
    // Sized before anything is allocated: "x" * 10**12 is an error, not a bad_alloc.
    unsigned __int128 total = static_cast<unsigned __int128>(value.is_string() ? value.text.size() : value.items->size()) *
                              static_cast<std::uint64_t>(std::max<std::int64_t>(times, 0));
    auto size = static_cast<std::uint64_t>(std::min<unsigned __int128>(total, UINT64_MAX));
    if (value.is_string()) check_text_size(size, offset);
    else check_list_size(size, offset);
    if (value.is_string()) {
      std::string out;
      for (std::int64_t i = 0; i < times; ++i) out += value.text;
      return Value::of_string(out);
    }
    List out;
    for (std::int64_t i = 0; i < times; ++i) out.insert(out.end(), value.items->begin(), value.items->end());
    return value.kind == Value::Kind::tuple ? Value::of_tuple(std::move(out)) : Value::of_list(std::move(out));
  }

  // -1, 0, 1 for the orderable pairs Python allows; errors otherwise.
  int order(const Value& a, const Value& b, std::size_t offset) const {
    if (a.is_number() && b.is_number()) {
      if (is_integral(a) && is_integral(b)) return to_int(a) < to_int(b) ? -1 : to_int(a) > to_int(b) ? 1 : 0;
      double x = to_double(a), y = to_double(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.is_string() && b.is_string()) {
      int c = a.text.compare(b.text);  // UTF-8 byte order is code point order
      return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (a.is_sequence() && a.kind == b.kind) {
      std::size_t n = std::min(a.items->size(), b.items->size());
      for (std::size_t i = 0; i < n; ++i)
        if (!py_equal((*a.items)[i], (*b.items)[i])) return order((*a.items)[i], (*b.items)[i], offset);
      return a.items->size() < b.items->size() ? -1 : a.items->size() > b.items->size() ? 1 : 0;
    }
    if (a.is_undefined() || b.is_undefined()) error(offset, "undefined value used in a comparison");
    error(offset, fmt::format("'<' not supported between instances of '{}' and '{}'", type_name(a), type_name(b)));
  }

  bool contains(const Value& container, const Value& item, std::size_t offset) const {
    switch (container.kind) {
      case Value::Kind::string:
        if (!item.is_string()) error(offset, fmt::format("'in <string>' requires string as left operand, not {}", type_name(item)));
        return container.text.find(item.text) != std::string::npos;
      case Value::Kind::list:
      case Value::Kind::tuple:
        return std::any_of(container.items->begin(), container.items->end(), [&](const Value& v) { return py_equal(v, item); });
      case Value::Kind::dict: return item.is_string() && container.find(item.text);
      case Value::Kind::undefined: error(offset, "undefined value used with 'in'");
      default: error(offset, fmt::format("argument of type '{}' is not iterable", type_name(container)));
    }
  }

  Value compare(const Node& node) {
    Value a = evaluate(*node.args[0]);
    Value b = evaluate(*node.args[1]);
    const std::string& op = node.name;
    if (op == "==") return Value::of_bool(py_equal(a, b));
    if (op == "!=") return Value::of_bool(!py_equal(a, b));
    if (op == "in") return Value::of_bool(contains(b, a, node.offset) != node.negated);
    int c = order(a, b, node.offset);
    if (op == "<") return Value::of_bool(c < 0);
    if (op == "<=") return Value::of_bool(c <= 0);
    if (op == ">") return Value::of_bool(c > 0);
    return Value::of_bool(c >= 0);
  }

  // ---- calls, filters, tests -----------------------------------------------------------------

  struct Arguments {
    std::vector<Value> positional;
    std::map<std::string, Value> keyword;
  };

  Arguments evaluate_arguments(const Node& node, std::size_t first) {
    Arguments arguments;
    for (std::size_t i = first; i < node.args.size(); ++i) arguments.positional.push_back(evaluate(*node.args[i]));
    for (const auto& [key, value] : node.kwargs) arguments.keyword[key] = evaluate(*value);
    return arguments;
  }

  // The i-th argument by position or name, or nullopt.
  static std::optional<Value> argument(const Arguments& arguments, std::size_t index, const char* name) {
    if (index < arguments.positional.size()) return arguments.positional[index];
    auto found = arguments.keyword.find(name);
    if (found != arguments.keyword.end()) return found->second;
    return std::nullopt;
  }

  std::string string_argument(const Arguments& arguments, std::size_t index, const char* name, std::size_t offset) const {
    auto value = argument(arguments, index, name);
    if (!value || !value->is_string()) error(offset, fmt::format("argument '{}' must be a string", name));
    return value->text;
  }

  std::int64_t int_argument(const Arguments& arguments, std::size_t index, const char* name, std::int64_t fallback, std::size_t offset) const {
    auto value = argument(arguments, index, name);
    if (!value || value->kind == Value::Kind::none) return fallback;
    if (!is_integral(*value)) error(offset, fmt::format("argument '{}' must be an integer", name));
    return to_int(*value);
  }

  Value call(const Node& node) {
    Value callee = evaluate(*node.args[0]);
    if (callee.kind != Value::Kind::callable) {
      if (callee.is_undefined()) undefined_error(*node.args[0]);
      error(node.offset, fmt::format("'{}' object is not callable", type_name(callee)));
    }
    Arguments arguments = evaluate_arguments(node, 1);
    const std::string& name = callee.text;
    if (name == "namespace" || name == "dict") {
      if (!arguments.positional.empty()) error(node.offset, fmt::format("{}() takes keyword arguments only here", name));
      Dict entries(arguments.keyword.begin(), arguments.keyword.end());
      // Python keeps keyword order; std::map sorted it, so restore the written order.
      Dict ordered;
      for (const auto& [key, unused] : node.kwargs) ordered.emplace_back(key, arguments.keyword[key]);
      return checked_container(name == "namespace" ? Value::name_space(std::move(ordered)) : Value::of_dict(std::move(ordered)), node.offset);
    }
    if (name == "zip") {
      std::vector<List> columns;
      std::size_t n = SIZE_MAX;
      for (const Value& v : arguments.positional) {
        columns.push_back(iterate(v, node.offset));
        n = std::min(n, columns.back().size());
      }
      List rows;
      for (std::size_t i = 0; !columns.empty() && i < n; ++i) {
        List row;
        for (const List& column : columns) row.push_back(column[i]);
        rows.push_back(Value::of_tuple(std::move(row)));
      }
      return checked_container(Value::of_list(std::move(rows)), node.offset);
    }
    if (name == "range") {
      std::int64_t start = 0, stop, step = 1;
      if (arguments.positional.size() == 1) {
        stop = int_argument(arguments, 0, "stop", 0, node.offset);
      } else {
        start = int_argument(arguments, 0, "start", 0, node.offset);
        stop = int_argument(arguments, 1, "stop", 0, node.offset);
        step = int_argument(arguments, 2, "step", 1, node.offset);
      }
      if (step == 0) error(node.offset, "range() arg 3 must not be zero");
      // Counted before it is built (in 128 bits: range(-2**63, 2**63-1) must not overflow).
      __int128 span = step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
      __int128 step_size = step > 0 ? static_cast<__int128>(step) : -static_cast<__int128>(step);
      __int128 count = span <= 0 ? 0 : (span + step_size - 1) / step_size;
      if (count > kMaxRangeItems)
        error(node.offset, fmt::format("range() of {} items is more than the {} allowed (jinja2's sandbox limit); refused",
                                       static_cast<long double>(count), kMaxRangeItems));
      check_list_size(static_cast<std::uint64_t>(count), node.offset);
      List items;
      for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) items.push_back(Value::of_int(i));
      return Value::of_list(std::move(items));
    }
    return call_method(name, *callee.bound_self, arguments, node.offset);
  }

  Value strings_to_list(const std::vector<std::string>& parts, std::size_t offset) const {
    check_list_size(parts.size(), offset);
    List items;
    for (const std::string& part : parts) items.push_back(Value::of_string(part));
    return Value::of_list(std::move(items));
  }

  Value call_method(const std::string& name, const Value& self, const Arguments& args, std::size_t offset) {
    const std::string& s = self.text;
    auto optional_string = [&](std::size_t index, const char* key) -> std::optional<std::string> {
      auto v = argument(args, index, key);
      if (!v || v->kind == Value::Kind::none) return std::nullopt;
      if (!v->is_string()) error(offset, fmt::format("argument '{}' must be a string", key));
      return v->text;
    };
    if (name == "str.split" || name == "str.rsplit") {
      auto sep = optional_string(0, "sep");
      if (sep && sep->empty()) error(offset, "empty separator");
      std::int64_t maxsplit = int_argument(args, 1, "maxsplit", -1, offset);
      return strings_to_list(name == "str.split" ? py_split(s, sep ? &*sep : nullptr, maxsplit) : py_rsplit(s, sep ? &*sep : nullptr, maxsplit), offset);
    }
    if (name == "str.strip" || name == "str.lstrip" || name == "str.rstrip") {
      auto chars = optional_string(0, "chars");
      std::u32string set = chars ? utf8_decode(*chars) : std::u32string();
      return Value::of_string(py_strip(s, name != "str.rstrip", name != "str.lstrip", chars ? &set : nullptr));
    }
    if (name == "str.lower") return Value::of_string(py_lower(s));
    if (name == "str.upper") return Value::of_string(py_upper(s));
    if (name == "str.capitalize") return Value::of_string(capitalize(s));
    if (name == "str.replace")
      return replaced(s, string_argument(args, 0, "old", offset), string_argument(args, 1, "new", offset),
                      int_argument(args, 2, "count", -1, offset), offset);
    if (name == "str.startswith" || name == "str.endswith") {
      auto prefix = argument(args, 0, "prefix");
      if (!prefix) error(offset, "missing argument");
      List candidates = prefix->kind == Value::Kind::tuple ? *prefix->items : List{*prefix};
      for (const Value& candidate : candidates) {
        if (!candidate.is_string()) error(offset, "startswith/endswith arguments must be strings");
        bool match = name == "str.startswith" ? s.compare(0, candidate.text.size(), candidate.text) == 0
                                              : s.size() >= candidate.text.size() && s.compare(s.size() - candidate.text.size(), candidate.text.size(), candidate.text) == 0;
        if (match) return Value::of_bool(true);
      }
      return Value::of_bool(false);
    }
    if (name == "str.find" || name == "str.rfind" || name == "str.index") {
      if (args.positional.size() > 1) error(offset, "find() with start / end is not supported");
      std::string needle = string_argument(args, 0, "sub", offset);
      std::size_t at = name == "str.rfind" ? s.rfind(needle) : s.find(needle);
      if (at == std::string::npos) {
        if (name == "str.index") error(offset, "substring not found");
        return Value::of_int(-1);
      }
      return Value::of_int(static_cast<std::int64_t>(utf8_length(std::string_view(s).substr(0, at))));
    }
    if (name == "str.count") {
      std::string needle = string_argument(args, 0, "sub", offset);
      if (needle.empty()) return Value::of_int(static_cast<std::int64_t>(utf8_length(s) + 1));
      std::int64_t n = 0;
      for (std::size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + needle.size())) ++n;
      return Value::of_int(n);
    }
    if (name == "str.join") {
      auto items = argument(args, 0, "iterable");
      if (!items) error(offset, "join() takes one argument");
      std::string out;
      bool first = true;
      for (const Value& item : iterate(*items, offset)) {
        if (!item.is_string()) error(offset, fmt::format("sequence item: expected str instance, {} found", type_name(item)));
        check_text_size(out.size() + (first ? 0 : s.size()) + item.text.size(), offset);
        if (!first) out += s;
        first = false;
        out += item.text;
      }
      return Value::of_string(out);
    }
    if (name == "str.splitlines") {
      std::vector<std::string> lines;
      std::string line;
      for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\n' || s[i] == '\r') {
          lines.push_back(line);
          line.clear();
          if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
        } else {
          line += s[i];
        }
      }
      if (!line.empty()) lines.push_back(line);
      return strings_to_list(lines, offset);
    }
    if (name == "str.isdigit" || name == "str.isalpha" || name == "str.isspace" || name == "str.isupper" || name == "str.islower") {
      std::u32string cps = utf8_decode(s);
      if (cps.empty()) return Value::of_bool(false);
      for (char32_t cp : cps) {
        if (cp >= 0x80 && name != "str.isspace") error(offset, fmt::format("{}() on non-ASCII text is not supported", name));
        bool ok = name == "str.isdigit" ? (cp >= '0' && cp <= '9')
                  : name == "str.isalpha" ? std::isalpha(static_cast<int>(cp)) != 0
                  : name == "str.isspace" ? py_isspace(cp)
                  : name == "str.isupper" ? !std::islower(static_cast<int>(cp))
                                          : !std::isupper(static_cast<int>(cp));
        if (!ok) return Value::of_bool(false);
      }
      return Value::of_bool(true);
    }
    if (name == "list.append") {
      auto item = argument(args, 0, "object");
      if (!item) error(offset, "append() takes one argument");
      // Only scalars: a container appended to a list could contain the list itself, or build
      // nesting no later check sees.
      if (item->is_sequence() || item->kind == Value::Kind::dict || item->kind == Value::Kind::name_space)
        error(offset, fmt::format("append() of a {} is not supported (only strings, numbers, booleans, None)", type_name(*item)));
      check_list_size(self.items->size() + 1, offset);
      self.items->push_back(*item);
      return Value::none();
    }
    if (name == "list.index" || name == "list.count") {
      auto item = argument(args, 0, "value");
      if (!item) error(offset, fmt::format("{}() takes one argument", name));
      std::int64_t count = 0;
      for (std::size_t i = 0; i < self.items->size(); ++i) {
        if (!py_equal((*self.items)[i], *item)) continue;
        if (name == "list.index") return Value::of_int(static_cast<std::int64_t>(i));
        ++count;
      }
      if (name == "list.index") error(offset, "value is not in list");
      return Value::of_int(count);
    }
    if (name == "dict.items" || name == "dict.keys" || name == "dict.values") {
      List out;
      for (const auto& [key, value] : *self.entries) {
        if (name == "dict.items") out.push_back(Value::of_tuple({Value::of_string(key), value}));
        else out.push_back(name == "dict.keys" ? Value::of_string(key) : value);
      }
      return Value::of_list(std::move(out));
    }
    if (name == "dict.get") {
      std::string key = string_argument(args, 0, "key", offset);
      const Value* found = self.find(key);
      if (found) return *found;
      auto fallback = argument(args, 1, "default");
      return fallback ? *fallback : Value::none();
    }
    error(offset, fmt::format("unsupported method '{}()'", name));
  }

  // str.replace, sized first: each of up to len(s) + 1 replacements may grow the text.
  Value replaced(const std::string& s, const std::string& old, const std::string& replacement, std::int64_t count,
                 std::size_t offset) const {
    if (replacement.size() > old.size()) {
      std::uint64_t n = 0;
      if (old.empty()) {
        n = utf8_length(s) + 1;
      } else {
        for (std::size_t at = s.find(old); at != std::string::npos; at = s.find(old, at + old.size())) ++n;
      }
      if (count >= 0) n = std::min<std::uint64_t>(n, static_cast<std::uint64_t>(count));
      check_text_size(s.size() + n * (replacement.size() - old.size()), offset);
    }
    return Value::of_string(py_replace(s, old, replacement, count));
  }

  static std::string capitalize(const std::string& s) {
    std::u32string cps = utf8_decode(s);
    if (cps.empty()) return s;
    std::string first = py_upper(utf8_encode(cps.substr(0, 1)));
    return first + py_lower(utf8_encode(cps.substr(1)));
  }

  Value apply_filter(const Node& node) {
    Value value = evaluate(*node.args[0]);
    Arguments args = evaluate_arguments(node, 1);
    const std::string& name = node.name;
    std::size_t offset = node.offset;
    if (name == "string") return value.kind == Value::Kind::string ? value : Value::of_string(py_str(value));
    if (name == "truncate") return Value::of_string(truncate(py_str(value), args, offset));
    if (name == "join") {
      if (argument(args, 1, "attribute")) error(offset, "join(attribute=...) is not supported");
      std::string separator = argument(args, 0, "d") ? string_argument(args, 0, "d", offset) : "";
      std::string out;
      bool first = true;
      for (const Value& item : iterate(value, offset)) {
        std::string text = py_str(item);
        check_text_size(out.size() + (first ? 0 : separator.size()) + text.size(), offset);
        if (!first) out += separator;
        first = false;
        out += text;
      }
      return Value::of_string(out);
    }
    if (name == "lower") return Value::of_string(py_lower(py_str(value)));
    if (name == "upper") return Value::of_string(py_upper(py_str(value)));
    if (name == "capitalize") return Value::of_string(capitalize(py_str(value)));
    if (name == "trim") {
      auto chars = argument(args, 0, "chars");
      std::u32string set = chars && chars->is_string() ? utf8_decode(chars->text) : std::u32string();
      return Value::of_string(py_strip(py_str(value), true, true, chars && chars->is_string() ? &set : nullptr));
    }
    if (name == "replace")
      return replaced(py_str(value), py_str(argument(args, 0, "old").value_or(Value())),
                      py_str(argument(args, 1, "new").value_or(Value())), int_argument(args, 2, "count", -1, offset), offset);
    if (name == "length" || name == "count") return Value::of_int(length_of(value, offset));
    if (name == "list") return Value::of_list(iterate(value, offset));
    if (name == "first" || name == "last") {
      List items = iterate(value, offset);
      if (items.empty()) return Value::undefined();
      return name == "first" ? items.front() : items.back();
    }
    if (name == "reverse") {
      if (value.is_string()) {
        std::u32string cps = utf8_decode(value.text);
        std::reverse(cps.begin(), cps.end());
        return Value::of_string(utf8_encode(cps));
      }
      List items = iterate(value, offset);
      std::reverse(items.begin(), items.end());
      return Value::of_list(std::move(items));
    }
    if (name == "default" || name == "d") {
      bool boolean = py_truthy(argument(args, 1, "boolean").value_or(Value::of_bool(false)));
      if (value.is_undefined() || (boolean && !py_truthy(value))) return argument(args, 0, "default_value").value_or(Value::of_string(""));
      return value;
    }
    // jinja2's Undefined raises on int(), float() and abs(); int / float filters do not catch it.
    if ((name == "int" || name == "float" || name == "abs") && value.is_undefined()) undefined_error(*node.args[0]);
    if (name == "int") return to_int_filter(value, args, offset);
    if (name == "float") return to_float_filter(value, args);
    if (name == "abs") {
      if (is_integral(value)) return Value::of_int(to_int(value) < 0 ? subtract(0, to_int(value), offset) : to_int(value));
      if (value.kind == Value::Kind::real) return Value::of_real(std::fabs(value.real));
      error(offset, fmt::format("bad operand type for abs(): '{}'", type_name(value)));
    }
    if (name == "choice" || name == "random") {
      // promptsource's `choice` and jinja2's `random` both call random.choice(seq).
      List items = iterate(value, offset);
      if (items.empty()) error(offset, "cannot choose from an empty sequence");
      return items[rng_.below(items.size())];
    }
    if (name == "most_frequent") return most_frequent(value, offset);
    error(offset, fmt::format("unsupported Jinja filter '{}'", name));
  }

  std::string truncate(const std::string& s, const Arguments& args, std::size_t offset) const {
    // jinja2's do_truncate with the default leeway policy of 5.
    std::int64_t length = int_argument(args, 0, "length", 255, offset);
    bool killwords = py_truthy(argument(args, 1, "killwords").value_or(Value::of_bool(false)));
    std::string end = argument(args, 2, "end") ? string_argument(args, 2, "end", offset) : "...";
    std::int64_t leeway = int_argument(args, 3, "leeway", 5, offset);
    std::u32string cps = utf8_decode(s);
    auto end_length = static_cast<std::int64_t>(utf8_length(end));
    if (length < end_length) error(offset, fmt::format("expected length >= {}, got {}", end_length, length));
    if (static_cast<std::int64_t>(cps.size()) <= length + leeway) return s;
    std::string head = utf8_encode(cps.substr(0, static_cast<std::size_t>(length - end_length)));
    if (killwords) return head + end;
    std::size_t space = head.rfind(' ');
    return (space == std::string::npos ? head : head.substr(0, space)) + end;
  }

  Value to_int_filter(const Value& value, const Arguments& args, std::size_t offset) const {
    Value fallback = argument(args, 0, "default").value_or(Value::of_int(0));
    if (int_argument(args, 1, "base", 10, offset) != 10) error(offset, "int(base=...) is not supported");
    if (is_integral(value)) return Value::of_int(to_int(value));
    if (value.kind == Value::Kind::real) return Value::of_int(static_cast<std::int64_t>(std::trunc(value.real)));
    if (!value.is_string()) return fallback;
    // int(str) accepts surrounding whitespace, a sign and underscores between digits.
    std::string text = py_strip(value.text, true, true);
    std::string digits;
    std::size_t i = 0;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) digits += text[i++];
    bool valid = i < text.size();
    for (; i < text.size(); ++i) {
      if (std::isdigit(static_cast<unsigned char>(text[i]))) digits += text[i];
      else if (text[i] == '_' && i > 0 && std::isdigit(static_cast<unsigned char>(text[i - 1])) && i + 1 < text.size() && std::isdigit(static_cast<unsigned char>(text[i + 1]))) continue;
      else valid = false;
    }
    if (valid) {
      try {
        return Value::of_int(std::stoll(digits));
      } catch (const std::exception&) {
        error(offset, "integer out of range");
      }
    }
    if (auto parsed = parse_python_float(value.text); parsed && std::isfinite(*parsed))
      return Value::of_int(static_cast<std::int64_t>(std::trunc(*parsed)));
    return fallback;
  }

  static std::optional<double> parse_python_float(const std::string& raw) {
    std::string text = py_strip(raw, true, true);
    if (text.empty()) return std::nullopt;
    std::string lowered = py_lower(text);
    std::string body = lowered[0] == '+' || lowered[0] == '-' ? lowered.substr(1) : lowered;
    if (body == "inf" || body == "infinity" || body == "nan") return std::strtod(text.c_str(), nullptr);
    std::size_t i = 0;
    bool digits = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i, digits = true;
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i, digits = true;
    }
    if (!digits) return std::nullopt;
    if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
      ++i;
      if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
      bool exponent_digits = false;
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i, exponent_digits = true;
      if (!exponent_digits) return std::nullopt;
    }
    if (i != text.size()) return std::nullopt;
    return std::strtod(text.c_str(), nullptr);
  }

  Value to_float_filter(const Value& value, const Arguments& args) const {
    Value fallback = argument(args, 0, "default").value_or(Value::of_real(0.0));
    if (is_integral(value)) return Value::of_real(static_cast<double>(to_int(value)));
    if (value.kind == Value::Kind::real) return value;
    if (value.is_string())
      if (auto parsed = parse_python_float(value.text)) return Value::of_real(*parsed);
    return fallback;
  }

  Value most_frequent(const Value& value, std::size_t offset) const {
    // promptsource: the items with the highest count, in first-seen order (Counter.most_common).
    List items = iterate(value, offset);
    if (items.empty()) return Value::none();
    List distinct;
    std::vector<std::int64_t> counts;
    for (const Value& item : items) {
      if (item.is_sequence() || item.kind == Value::Kind::dict) error(offset, "most_frequent needs hashable items");
      auto found = std::find_if(distinct.begin(), distinct.end(), [&](const Value& v) { return py_equal(v, item); });
      if (found == distinct.end()) {
        distinct.push_back(item);
        counts.push_back(1);
      } else {
        ++counts[found - distinct.begin()];
      }
    }
    std::int64_t best = *std::max_element(counts.begin(), counts.end());
    List winners;
    for (std::size_t i = 0; i < distinct.size(); ++i)
      if (counts[i] == best) winners.push_back(distinct[i]);
    return Value::of_list(std::move(winners));
  }

  bool apply_test(const Node& node) {
    const std::string& name = node.name;
    Value value = evaluate(*node.args[0]);
    Arguments args = evaluate_arguments(node, 1);
    if (name == "defined") return !value.is_undefined();
    if (name == "undefined") return value.is_undefined();
    if (name == "none") return value.kind == Value::Kind::none;
    if (name == "string") return value.is_string();
    if (name == "number") return value.is_number();
    if (name == "integer") return value.kind == Value::Kind::integer;
    if (name == "float") return value.kind == Value::Kind::real;
    if (name == "boolean") return value.kind == Value::Kind::boolean;
    if (name == "true") return value.kind == Value::Kind::boolean && value.boolean;
    if (name == "false") return value.kind == Value::Kind::boolean && !value.boolean;
    if (name == "sequence") return value.is_sequence() || value.is_string() || value.kind == Value::Kind::dict;
    if (name == "mapping") return value.kind == Value::Kind::dict;
    if (name == "even" || name == "odd") {
      if (!is_integral(value)) error(node.offset, fmt::format("test '{}' needs an integer", name));
      return (to_int(value) % 2 == 0) == (name == "even");
    }
    if (name == "divisibleby") {
      std::int64_t by = int_argument(args, 0, "num", 1, node.offset);
      if (!is_integral(value) || by == 0) error(node.offset, "divisibleby needs integers");
      return to_int(value) % by == 0;
    }
    if (name == "eq" || name == "equalto" || name == "==") return py_equal(value, argument(args, 0, "other").value_or(Value()));
    if (name == "ne" || name == "!=") return !py_equal(value, argument(args, 0, "other").value_or(Value()));
    if (name == "in") return contains(argument(args, 0, "seq").value_or(Value()), value, node.offset);
    error(node.offset, fmt::format("unsupported Jinja test '{}'", name));
  }

  const Template::Shared& shared_;
  PythonRandom& rng_;
  std::vector<std::map<std::string, Value>> scopes_;
  mutable std::uint64_t spent_ = 0;  // see charge()
};

// jinja2 normalises every newline to "\n" and drops one trailing newline (keep_trailing_newline
// is False by default).
std::string normalize_source(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (std::size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

Template Template::compile(const std::string& source, std::string origin, std::function<std::size_t(std::size_t)> original_offset,
                           std::string original_source) {
  auto shared = std::make_shared<Shared>();
  shared->origin = std::move(origin);
  shared->source = normalize_source(source);
  bool changed = shared->source.size() != source.size() && shared->source.size() + 1 != source.size();
  shared->original_offset = changed ? nullptr : std::move(original_offset);
  shared->original_source = changed ? std::string() : std::move(original_source);
  std::vector<Token> tokens = Lexer(*shared).tokenize();
  shared->body = Parser(*shared, std::move(tokens)).parse_template();
  Template compiled;
  compiled.shared_ = std::move(shared);
  return compiled;
}

const std::string& Template::origin() const { return shared_->origin; }

std::string Template::render(const Dict& variables, PythonRandom& rng) const {
  return Renderer(*shared_, variables, rng).run();
}

}  // namespace xmtf::prompts::jinja
