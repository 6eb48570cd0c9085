#include "tok/bpe.hpp"

#include <algorithm>
#include <functional>

#include "core/error.hpp"
#include "tok/unicode.hpp"

namespace xmtf::tok {

void BpeModel::MergeTable::reserve(std::size_t n_merges) {
  std::size_t capacity = 16;
  while (capacity < n_merges * 2) capacity *= 2;
  keys_.assign(capacity, ~0ULL);
  values_.assign(capacity, Merge{0, 0});
  mask_ = capacity - 1;
}

namespace {
inline std::uint64_t mix(std::uint64_t k) {  // splitmix64 finalizer
  k ^= k >> 30;
  k *= 0xbf58476d1ce4e5b9ULL;
  k ^= k >> 27;
  k *= 0x94d049bb133111ebULL;
  return k ^ (k >> 31);
}
}  // namespace

void BpeModel::MergeTable::insert(std::int32_t left, std::int32_t right, Merge merge) {
  std::uint64_t k = key(left, right);
  for (std::uint64_t slot = mix(k) & mask_;; slot = (slot + 1) & mask_) {
    if (keys_[slot] == ~0ULL || keys_[slot] == k) {
      if (keys_[slot] == k) return;  // duplicated merge line: the first (lowest rank) wins
      keys_[slot] = k;
      values_[slot] = merge;
      return;
    }
  }
}

const BpeModel::Merge* BpeModel::MergeTable::find(std::int32_t left, std::int32_t right) const {
  std::uint64_t k = key(left, right);
  for (std::uint64_t slot = mix(k) & mask_;; slot = (slot + 1) & mask_) {
    if (keys_[slot] == k) return &values_[slot];
    if (keys_[slot] == ~0ULL) return nullptr;
  }
}

namespace {

std::string to_symbol_form(std::string_view token, bool byte_mode, bool* ok = nullptr) {
  if (!byte_mode) return std::string(token);
  std::string bytes;
  bool decoded = ByteLevelAlphabet::get().decode(token, bytes);
  if (ok) *ok = decoded;
  return decoded ? bytes : std::string(token);
}

std::string get_string_or_empty(simdjson::dom::element object, const char* key) {
  auto field = object[key];
  if (field.error() || field.is_null()) return "";
  std::string_view value;
  if (field.get(value)) fail("model.{} must be a string or null", key);
  return std::string(value);
}

bool get_bool_or(simdjson::dom::element object, const char* key, bool fallback) {
  auto field = object[key];
  if (field.error() || field.is_null()) return fallback;
  bool value;
  if (field.get(value)) fail("model.{} must be a boolean", key);
  return value;
}

}  // namespace

void BpeModel::load(simdjson::dom::element model, bool byte_mode) {
  byte_mode_ = byte_mode;
  auto dropout = model["dropout"];
  if (!dropout.error() && !dropout.is_null()) {
    double p = 0;
    if (!dropout.get(p) && p > 0) fail("BPE dropout ({}) is not supported: encoding must be deterministic", p);
  }
  simdjson::dom::object vocab;
  if (model["vocab"].get(vocab)) fail("model.vocab must be an object of token -> id");
  std::int32_t max_id = -1;
  const std::int64_t id_bound = max_token_id_for(static_cast<std::int64_t>(vocab.size()));
  token_to_id_.reserve(vocab.size());
  symbol_to_id_.reserve(vocab.size());
  for (auto [key, value] : vocab) {
    std::int64_t id;
    if (value.get(id) || id < 0 || id > INT32_MAX) fail("model.vocab[{:?}] must be a non-negative integer id", key);
    if (id >= id_bound) {
      fail("model.vocab[{:?}] has id {}, far past the vocabulary's {} entries (ids index a table: at most {} here)", key,
           id, vocab.size(), id_bound - 1);
    }
    token_to_id_.emplace(std::string(key), static_cast<std::int32_t>(id));
    max_id = std::max<std::int32_t>(max_id, static_cast<std::int32_t>(id));
  }
  id_to_token_.assign(max_id + 1, std::string());
  id_to_bytes_.assign(max_id + 1, std::string());
  for (const auto& [token, id] : token_to_id_) {
    bool decodable = true;
    std::string symbol = to_symbol_form(token, byte_mode_, &decodable);
    id_to_token_[id] = token;
    id_to_bytes_[id] = symbol;
    if (decodable) symbol_to_id_.emplace(symbol, id);
  }

  continuing_subword_prefix_ = to_symbol_form(get_string_or_empty(model, "continuing_subword_prefix"), byte_mode_);
  end_of_word_suffix_ = to_symbol_form(get_string_or_empty(model, "end_of_word_suffix"), byte_mode_);
  fuse_unk_ = get_bool_or(model, "fuse_unk", false);
  byte_fallback_ = get_bool_or(model, "byte_fallback", false);
  ignore_merges_ = get_bool_or(model, "ignore_merges", false);
  std::string unk = get_string_or_empty(model, "unk_token");
  if (!unk.empty()) {
    auto it = token_to_id_.find(unk);
    if (it == token_to_id_.end()) fail("model.unk_token {:?} is not in the vocabulary", unk);
    unk_id_ = it->second;
  }

  simdjson::dom::array merges;
  if (model["merges"].get(merges)) fail("model.merges must be an array");
  merges_.reserve(merges.size());
  std::int32_t rank = 0;
  std::string left, right;
  const std::size_t prefix_length = get_string_or_empty(model, "continuing_subword_prefix").size();
  for (auto merge : merges) {
    std::string_view line;
    if (!merge.get(line)) {  // "left right"
      auto space = line.find(' ', 1);
      if (space == std::string_view::npos) fail("model.merges[{}] {:?} is not \"left right\"", rank, line);
      left = line.substr(0, space);
      right = line.substr(space + 1);
    } else {  // ["left", "right"] (tokenizers >= 0.20)
      simdjson::dom::array pair;
      std::string_view a, b;
      if (merge.get(pair) || pair.size() != 2 || pair.at(0).get(a) || pair.at(1).get(b))
        fail("model.merges[{}] must be \"left right\" or [left, right]", rank);
      left = a;
      right = b;
    }
    auto l = token_to_id_.find(left), r = token_to_id_.find(right);
    std::string merged = left + right.substr(std::min(right.size(), prefix_length));
    auto m = token_to_id_.find(merged);
    if (l == token_to_id_.end() || r == token_to_id_.end() || m == token_to_id_.end())
      fail("model.merges[{}] ({:?} {:?}) uses a token missing from the vocabulary", rank, left, right);
    merges_.insert(l->second, r->second, Merge{rank, m->second});
    ++rank;
  }

  simple_byte_path_ = byte_mode_ && continuing_subword_prefix_.empty() && end_of_word_suffix_.empty();
  for (int b = 0; b < 256; ++b) {
    auto it = symbol_to_id_.find(std::string(1, static_cast<char>(b)));
    byte_to_id_[b] = it == symbol_to_id_.end() ? -1 : it->second;
    if (byte_to_id_[b] < 0) simple_byte_path_ = false;
  }
  cache_.reserve(kCacheCapacity);
}

std::int32_t BpeModel::find_token(std::string_view token) const {
  auto it = token_to_id_.find(std::string(token));
  return it == token_to_id_.end() ? -1 : it->second;
}

std::int32_t BpeModel::symbol_id(std::string_view symbol) const {
  auto it = symbol_to_id_.find(std::string(symbol));
  return it == symbol_to_id_.end() ? -1 : it->second;
}

void BpeModel::split_into_symbols(std::string_view piece) {
  symbols_.clear();
  auto add = [&](std::int32_t id, std::int32_t byte_length) {
    std::int32_t index = static_cast<std::int32_t>(symbols_.size());
    symbols_.push_back(Symbol{id, index - 1, -1, byte_length});
    if (index > 0) symbols_[index - 1].next = index;
  };
  if (simple_byte_path_) {
    for (unsigned char b : piece) add(byte_to_id_[b], 1);
    return;
  }
  // The general path, as HuggingFace's BPE::merge_word: affixes, byte fallback, unknowns.
  std::int32_t pending_unk_length = 0;
  std::string symbol;
  for (std::size_t pos = 0; pos < piece.size();) {
    std::size_t length = byte_mode_ ? 1 : utf8_sequence_length(static_cast<unsigned char>(piece[pos]));
    length = std::min(length, piece.size() - pos);
    bool first = pos == 0, last = pos + length == piece.size();
    symbol.assign(first ? "" : continuing_subword_prefix_);
    symbol.append(piece.substr(pos, length));
    if (last) symbol += end_of_word_suffix_;
    pos += length;
    std::int32_t id = symbol_id(symbol);
    if (id >= 0) {
      if (pending_unk_length > 0) add(unk_id_, pending_unk_length);
      pending_unk_length = 0;
      add(id, static_cast<std::int32_t>(length));
      continue;
    }
    if (byte_fallback_) {
      std::vector<std::int32_t> byte_ids;
      for (unsigned char b : symbol) {
        std::int32_t byte_id = symbol_id(fmt::format("<0x{:02X}>", b));
        if (byte_id < 0) break;
        byte_ids.push_back(byte_id);
      }
      if (byte_ids.size() == symbol.size()) {
        for (std::int32_t byte_id : byte_ids) add(byte_id, 1);
        continue;
      }
    }
    if (unk_id_ >= 0) {
      if (pending_unk_length > 0 && !fuse_unk_) add(unk_id_, pending_unk_length), pending_unk_length = 0;
      pending_unk_length += static_cast<std::int32_t>(length);
    }
  }
  if (pending_unk_length > 0) add(unk_id_, pending_unk_length);
}

void BpeModel::merge_symbols() {
  // Min-heap of (rank << 32 | position); entries go stale when a neighbour merges and are
  // re-validated on pop, as in HuggingFace's Word::merge_all.
  heap_.clear();
  auto push = [&](std::int32_t position) {
    const Symbol& s = symbols_[position];
    if (s.next < 0) return;
    if (const Merge* m = merges_.find(s.id, symbols_[s.next].id))
    {
      heap_.push_back((static_cast<std::uint64_t>(m->rank) << 32) | static_cast<std::uint32_t>(position));
      std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
    }
  };
  for (std::int32_t i = 0; i + 1 < static_cast<std::int32_t>(symbols_.size()); ++i) push(i);
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
    std::uint64_t top = heap_.back();
    heap_.pop_back();
    auto rank = static_cast<std::int32_t>(top >> 32);
    auto position = static_cast<std::int32_t>(top & 0xFFFFFFFFu);
    Symbol& left = symbols_[position];
    if (left.byte_length == 0 || left.next < 0) continue;
    Symbol& right = symbols_[left.next];
    const Merge* m = merges_.find(left.id, right.id);
    if (!m || m->rank != rank) continue;
    left.id = m->new_id;
    left.byte_length += right.byte_length;
    right.byte_length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols_[right.next].prev = position;
    if (left.prev >= 0) push(left.prev);
    push(position);
  }
}

void BpeModel::tokenize(std::string_view piece, std::vector<std::int32_t>& ids) {
  if (piece.empty()) return;
  std::string key(piece);
  if (auto it = cache_.find(key); it != cache_.end()) {
    ids.insert(ids.end(), it->second.begin(), it->second.end());
    return;
  }
  std::size_t first = ids.size();
  std::int32_t whole = ignore_merges_ ? symbol_id(piece) : -1;
  if (whole >= 0) {
    ids.push_back(whole);
  } else {
    split_into_symbols(piece);
    merge_symbols();
    for (std::int32_t i = symbols_.empty() ? -1 : 0; i >= 0; i = symbols_[i].next) ids.push_back(symbols_[i].id);
  }
  if (cache_.size() < kCacheCapacity) cache_.emplace(std::move(key), std::vector<std::int32_t>(ids.begin() + first, ids.end()));
}

}  // namespace xmtf::tok
