#include "tok/hf_tokenizer.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "tok/unicode.hpp"

namespace xmtf::tok {

namespace {

// The pre-tokenization regex of GPT-2, used by ByteLevel when use_regex is true.
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

std::string_view get_string(simdjson::dom::element object, const char* key, std::string_view where) {
  std::string_view value;
  if (object[key].get(value)) fail("{}.{} must be a string", where, key);
  return value;
}

bool get_bool(simdjson::dom::element object, const char* key, bool fallback) {
  auto field = object[key];
  if (field.error() || field.is_null()) return fallback;
  bool value;
  if (field.get(value)) fail("{} must be a boolean", key);
  return value;
}

bool is_absent(simdjson::simdjson_result<simdjson::dom::element> field) {
  return field.error() || field.is_null();
}

// A Split / Replace "pattern": {"String": "..."} or {"Regex": "..."}.
std::shared_ptr<Regex> load_pattern(simdjson::dom::element object, std::string_view where) {
  simdjson::dom::element pattern;
  if (object["pattern"].get(pattern)) fail("{}.pattern is missing", where);
  std::string_view text;
  if (!pattern["Regex"].get(text)) return std::make_shared<Regex>(text, false);
  if (!pattern["String"].get(text)) return std::make_shared<Regex>(text, true);
  fail("{}.pattern must be {{\"String\": ...}} or {{\"Regex\": ...}}", where);
}

std::string_view trim_unicode_whitespace(std::string_view text, bool left, bool right) {
  if (left) {
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t next = pos;
      if (!is_unicode_whitespace(next_code_point(text, next))) break;
      pos = next;
    }
    text.remove_prefix(pos);
  }
  if (right) {
    while (!text.empty()) {
      std::size_t start = text.size() - 1;
      while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
      std::size_t pos = start;
      if (!is_unicode_whitespace(next_code_point(text, pos))) break;
      text.remove_suffix(text.size() - start);
    }
  }
  return text;
}

char32_t last_code_point(std::string_view text) {
  std::size_t start = text.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return next_code_point(text, start);
}

}  // namespace

std::unique_ptr<HfTokenizer> HfTokenizer::from_file(const std::filesystem::path& path) {
  return from_json(read_file(path), path.string());
}

std::unique_ptr<HfTokenizer> HfTokenizer::from_json(const std::string& json, const std::string& source) {
  std::unique_ptr<HfTokenizer> tokenizer(new HfTokenizer());
  tokenizer->source_ = source;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(json).get(root)) fail("{}: not valid JSON: {}", source, simdjson::error_message(error));
  try {
    tokenizer->load(root);
  } catch (const Error& e) {
    fail("{}: {}", source, e.what());
  } catch (const simdjson::simdjson_error& e) {
    fail("{}: unexpected tokenizer.json structure: {}", source, e.what());
  }
  return tokenizer;
}

void HfTokenizer::load(simdjson::dom::element root) {
  if (!root.is_object()) fail("a tokenizer.json must hold a JSON object");
  simdjson::dom::element model;
  if (root["model"].get(model)) fail("no \"model\"");
  std::string_view model_type = "BPE";
  if (!is_absent(model["type"])) model_type = get_string(model, "type", "model");
  if (model_type != "BPE") fail("model type {:?} is not supported (only BPE)", model_type);
  if (!is_absent(root["normalizer"])) load_normalizer(root["normalizer"].value());
  if (!is_absent(root["pre_tokenizer"])) load_pre_tokenizer(root["pre_tokenizer"].value());
  // The last ByteLevel step hands raw bytes to the model instead of mapped characters.
  if (!pre_tokenizer_.empty() && pre_tokenizer_.back().type == PreTokenizerStep::Type::byte_level) {
    pre_tokenizer_.back().map_bytes = false;
    byte_mode_ = true;
  }
  model_.load(model, byte_mode_);
  if (!is_absent(root["decoder"])) {
    std::string_view type = get_string(root["decoder"].value(), "type", "decoder");
    if (type != "ByteLevel") fail("decoder type {:?} is not supported (only ByteLevel or null)", type);
    byte_level_decoder_ = true;
  }
  if (!is_absent(root["added_tokens"])) load_added_tokens(root["added_tokens"].value());
}

void HfTokenizer::load_normalizer(simdjson::dom::element normalizer) {
  std::string_view type = get_string(normalizer, "type", "normalizer");
  using T = NormalizerStep::Type;
  if (type == "Sequence") {
    simdjson::dom::array steps;
    if (normalizer["normalizers"].get(steps)) fail("normalizer Sequence needs \"normalizers\"");
    for (auto step : steps) load_normalizer(step);
  } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD" || type == "Lowercase") {
    T t = type == "NFC" ? T::nfc : type == "NFD" ? T::nfd : type == "NFKC" ? T::nfkc : type == "NFKD" ? T::nfkd : T::lowercase;
    normalizer_.push_back(NormalizerStep{t, "", nullptr});
  } else if (type == "Strip") {
    NormalizerStep step{T::strip, "", nullptr};
    step.strip_left = get_bool(normalizer, "strip_left", false);
    step.strip_right = get_bool(normalizer, "strip_right", false);
    normalizer_.push_back(step);
  } else if (type == "Prepend") {
    normalizer_.push_back(NormalizerStep{T::prepend, std::string(get_string(normalizer, "prepend", "normalizer")), nullptr});
  } else if (type == "Replace") {
    normalizer_.push_back(NormalizerStep{T::replace, std::string(get_string(normalizer, "content", "normalizer")),
                                         load_pattern(normalizer, "normalizer")});
  } else {
    fail("normalizer type {:?} is not supported", type);
  }
}

void HfTokenizer::load_pre_tokenizer(simdjson::dom::element pre_tokenizer) {
  std::string_view type = get_string(pre_tokenizer, "type", "pre_tokenizer");
  if (type == "Sequence") {
    simdjson::dom::array steps;
    if (pre_tokenizer["pretokenizers"].get(steps)) fail("pre_tokenizer Sequence needs \"pretokenizers\"");
    for (auto step : steps) load_pre_tokenizer(step);
  } else if (type == "Split") {
    PreTokenizerStep step{PreTokenizerStep::Type::split, load_pattern(pre_tokenizer, "pre_tokenizer Split")};
    std::string_view behavior = get_string(pre_tokenizer, "behavior", "pre_tokenizer Split");
    if (behavior == "Removed") step.behavior = SplitBehavior::removed;
    else if (behavior == "Isolated") step.behavior = SplitBehavior::isolated;
    else if (behavior == "MergedWithPrevious") step.behavior = SplitBehavior::merged_with_previous;
    else if (behavior == "MergedWithNext") step.behavior = SplitBehavior::merged_with_next;
    else if (behavior == "Contiguous") step.behavior = SplitBehavior::contiguous;
    else fail("pre_tokenizer Split behavior {:?} is unknown", behavior);
    step.invert = get_bool(pre_tokenizer, "invert", false);
    pre_tokenizer_.push_back(std::move(step));
  } else if (type == "ByteLevel") {
    PreTokenizerStep step{PreTokenizerStep::Type::byte_level, nullptr};
    step.add_prefix_space = get_bool(pre_tokenizer, "add_prefix_space", true);
    if (get_bool(pre_tokenizer, "use_regex", true)) step.pattern = std::make_shared<Regex>(kGpt2Pattern, false);
    pre_tokenizer_.push_back(std::move(step));
  } else {
    fail("pre_tokenizer type {:?} is not supported (Sequence, Split, ByteLevel)", type);
  }
}

void HfTokenizer::load_added_tokens(simdjson::dom::element added_tokens) {
  simdjson::dom::array tokens;
  if (added_tokens.get(tokens)) fail("added_tokens must be an array");
  for (auto entry : tokens) {
    auto token = std::make_unique<AddedToken>();
    std::int64_t id;
    if (entry["id"].get(id) || id < 0 || id > INT32_MAX) fail("added_tokens[].id must be a non-negative integer");
    // The id sets vocab_size(), which sizes models' embedding checks and tables downstream.
    const std::int64_t id_bound = max_token_id_for(model_.vocab_size());
    if (id >= id_bound) {
      fail("added_tokens[] id {} is far past the vocabulary's {} ids (at most {} here)", id, model_.vocab_size(), id_bound - 1);
    }
    token->id = static_cast<std::int32_t>(id);
    token->original_content = get_string(entry, "content", "added_tokens[]");
    token->single_word = get_bool(entry, "single_word", false);
    token->lstrip = get_bool(entry, "lstrip", false);
    token->rstrip = get_bool(entry, "rstrip", false);
    token->special = get_bool(entry, "special", false);
    token->normalized = get_bool(entry, "normalized", !token->special);
    token->content = token->normalized ? normalize(token->original_content) : token->original_content;
    if (token->content.empty()) continue;
    (token->normalized ? normalized_matcher_ : raw_matcher_).add(token.get());
    added_by_id_[token->id] = token.get();
    added_tokens_.push_back(std::move(token));
  }
}

void HfTokenizer::AddedTokenMatcher::add(const AddedToken* token) {
  tokens_.push_back(token);
  first_byte_[static_cast<unsigned char>(token->content[0])] = true;
}

void HfTokenizer::AddedTokenMatcher::split(
    std::string_view text, std::vector<std::pair<std::int32_t, std::pair<std::size_t, std::size_t>>>& out) const {
  out.clear();
  std::size_t start_offset = 0;
  for (std::size_t pos = 0; pos < text.size() && !tokens_.empty();) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    const AddedToken* best = nullptr;  // leftmost-longest
    for (const AddedToken* token : tokens_)
      if (text.compare(pos, token->content.size(), token->content) == 0 &&
          (!best || token->content.size() > best->content.size()))
        best = token;
    if (!best) {
      ++pos;
      continue;
    }
    std::size_t start = pos, stop = pos + best->content.size();
    pos = stop;  // the search resumes after the match, whatever happens to it
    if (best->single_word) {
      bool space_before = start == 0 || !is_word_char(last_code_point(text.substr(0, start)));
      std::size_t after = stop;
      bool space_after = stop == text.size() || !is_word_char(next_code_point(text, after));
      if (!space_before || !space_after) continue;
    }
    if (best->lstrip) {
      std::string_view before = trim_unicode_whitespace(text.substr(0, start), false, true);
      start = std::max(before.size(), start_offset);
    }
    if (best->rstrip) {
      std::string_view rest = text.substr(stop);
      stop += rest.size() - trim_unicode_whitespace(rest, true, false).size();
    }
    if (start_offset < start) out.push_back({-1, {start_offset, start}});
    out.push_back({best->id, {start, stop}});
    start_offset = stop;
  }
  if (start_offset < text.size()) out.push_back({-1, {start_offset, text.size()}});
}

std::string HfTokenizer::normalize(std::string_view text) const {
  std::string result(text);
  using T = NormalizerStep::Type;
  for (const NormalizerStep& step : normalizer_) {
    switch (step.type) {
      case T::nfc: result = normalize_unicode(result, NormalizationForm::nfc); break;
      case T::nfd: result = normalize_unicode(result, NormalizationForm::nfd); break;
      case T::nfkc: result = normalize_unicode(result, NormalizationForm::nfkc); break;
      case T::nfkd: result = normalize_unicode(result, NormalizationForm::nfkd); break;
      case T::lowercase: result = lowercase_unicode(result); break;
      case T::strip: result = std::string(trim_unicode_whitespace(result, step.strip_left, step.strip_right)); break;
      case T::prepend:
        if (!result.empty()) result = step.content + result;
        break;
      case T::replace: {
        std::vector<std::pair<std::size_t, std::size_t>> matches;
        step.pattern->find_all(result, matches);
        std::string replaced;
        std::size_t previous = 0;
        for (auto [start, end] : matches) {
          replaced.append(result, previous, start - previous);
          replaced += step.content;
          previous = end;
        }
        replaced.append(result, previous);
        result = std::move(replaced);
        break;
      }
    }
  }
  return result;
}

void HfTokenizer::split_piece(const PreTokenizerStep& step, const std::string& piece, std::vector<std::string>& out) {
  // (start, end, is_match) ranges covering the piece, as HuggingFace's Pattern::find_matches.
  struct Range {
    std::size_t start, end;
    bool is_match;
  };
  step.pattern->find_all(piece, matches_);
  std::vector<Range> ranges;
  ranges.reserve(matches_.size() * 2 + 1);
  std::size_t previous = 0;
  for (auto [start, end] : matches_) {
    if (previous != start) ranges.push_back({previous, start, false});
    ranges.push_back({start, end, true});
    previous = end;
  }
  if (previous != piece.size()) ranges.push_back({previous, piece.size(), false});
  if (step.invert)
    for (Range& r : ranges) r.is_match = !r.is_match;

  std::vector<Range> kept;
  bool previous_match = false;
  switch (step.behavior) {
    case SplitBehavior::removed:
      for (const Range& r : ranges)
        if (!r.is_match) kept.push_back(r);
      break;
    case SplitBehavior::isolated:
      kept = ranges;
      break;
    case SplitBehavior::merged_with_previous:
      for (const Range& r : ranges) {
        if (r.is_match && !previous_match && !kept.empty()) kept.back().end = r.end;
        else kept.push_back(r);
        previous_match = r.is_match;
      }
      break;
    case SplitBehavior::merged_with_next:
      for (auto it = ranges.rbegin(); it != ranges.rend(); ++it) {
        if (it->is_match && !previous_match && !kept.empty()) kept.back().start = it->start;
        else kept.push_back(*it);
        previous_match = it->is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    case SplitBehavior::contiguous:
      for (const Range& r : ranges) {
        if (r.is_match == previous_match && !kept.empty()) kept.back().end = r.end;
        else kept.push_back(r);
        previous_match = r.is_match;
      }
      break;
  }
  for (const Range& r : kept)
    if (r.end > r.start) out.emplace_back(piece, r.start, r.end - r.start);
}

void HfTokenizer::pre_tokenize(std::string_view text) {
  pieces_.clear();
  if (!text.empty()) pieces_.emplace_back(text);
  const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::get();
  for (const PreTokenizerStep& step : pre_tokenizer_) {
    next_pieces_.clear();
    for (std::string& piece : pieces_) {
      if (step.type == PreTokenizerStep::Type::split) {
        split_piece(step, piece, next_pieces_);
        continue;
      }
      // ByteLevel: prefix space per piece, optional GPT-2 split, then the byte alphabet.
      if (step.add_prefix_space && piece[0] != ' ') piece.insert(piece.begin(), ' ');
      std::size_t first = next_pieces_.size();
      if (step.pattern) {
        PreTokenizerStep isolated{PreTokenizerStep::Type::split, step.pattern};
        split_piece(isolated, piece, next_pieces_);
      } else {
        next_pieces_.push_back(std::move(piece));
      }
      if (step.map_bytes)
        for (std::size_t i = first; i < next_pieces_.size(); ++i) next_pieces_[i] = alphabet.encode(next_pieces_[i]);
    }
    std::swap(pieces_, next_pieces_);
  }
}

void HfTokenizer::encode_normalized_segment(std::string_view segment, std::vector<std::int32_t>& ids) {
  pre_tokenize(segment);
  for (const std::string& piece : pieces_) model_.tokenize(piece, ids);
}

void HfTokenizer::encode(std::string_view text, std::vector<std::int32_t>& ids) {
  std::string repaired;
  if (!is_valid_utf8(text)) {
    repaired = repair_utf8(text);
    text = repaired;
  }
  std::vector<std::pair<std::int32_t, std::pair<std::size_t, std::size_t>>> raw_parts, normalized_parts;
  raw_matcher_.split(text, raw_parts);
  for (auto [id, range] : raw_parts) {
    if (id >= 0) {
      ids.push_back(id);
      continue;
    }
    std::string_view part = text.substr(range.first, range.second - range.first);
    std::string normalized;
    if (!normalizer_.empty()) {
      normalized = normalize(part);
      part = normalized;
    }
    if (normalized_matcher_.empty()) {
      encode_normalized_segment(part, ids);
      continue;
    }
    normalized_matcher_.split(part, normalized_parts);
    for (auto [inner_id, inner] : normalized_parts) {
      if (inner_id >= 0) ids.push_back(inner_id);
      else encode_normalized_segment(part.substr(inner.first, inner.second - inner.first), ids);
    }
  }
}

std::string HfTokenizer::decode(std::span<const std::int32_t> ids) const {
  const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::get();
  std::string bytes;
  std::vector<std::string> tokens;
  for (std::int32_t id : ids) {
    auto found = added_by_id_.find(id);
    const AddedToken* added = found == added_by_id_.end() ? nullptr : found->second;
    if (!added && !model_.has_id(id)) continue;  // unknown ids are dropped, as HuggingFace does
    const std::string& token = added ? added->original_content : model_.id_to_token(id);
    if (!byte_level_decoder_) {
      tokens.push_back(token);
    } else if (!added && byte_mode_) {
      bytes += model_.id_to_bytes(id);
    } else if (!alphabet.decode(token, bytes)) {
      bytes += token;  // a token outside the byte alphabet stands for its own UTF-8
    }
  }
  if (!byte_level_decoder_) {
    std::string joined;
    for (std::size_t i = 0; i < tokens.size(); ++i) joined += (i ? " " : "") + tokens[i];
    return joined;
  }
  return is_valid_utf8(bytes) ? bytes : repair_utf8(bytes);
}

std::optional<std::int32_t> HfTokenizer::token_to_id(std::string_view token) const {
  for (const auto& t : added_tokens_)
    if (t->original_content == token) return t->id;
  std::int32_t id = model_.find_token(token);
  if (id >= 0) return id;
  return std::nullopt;
}

std::int32_t HfTokenizer::vocab_size() const {
  std::int32_t size = model_.vocab_size();
  for (const auto& t : added_tokens_) size = std::max(size, t->id + 1);
  return size;
}

std::optional<std::int32_t> HfTokenizer::eos_id() const {
  for (const char* candidate : {"</s>", "<|endoftext|>", "<eos>", "<|end_of_text|>"})
    if (auto id = token_to_id(candidate)) return id;
  return std::nullopt;
}

}  // namespace xmtf::tok
