#pragma once
// The BPE model of a tokenizer.json ("model": {"type": "BPE", ...}), as HuggingFace tokenizers
// applies it to one pre-tokenized piece: split into symbols, then repeatedly merge the adjacent
// pair with the lowest merge rank (leftmost first on ties) until no pair has a merge.
//
// In byte mode (the pipeline ends with a ByteLevel pre-tokenizer) the model works on raw bytes:
// vocabulary keys are decoded from the GPT-2 byte alphabet once at load time, so encoding never
// builds the "Ġ"-mapped strings. Otherwise the symbols are UTF-8 characters.
#include <simdjson.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace xmtf::tok {

// Ids index dense tables (id -> token), so an id far past the entry count would make a table of
// that size: ids must stay below this bound (4x the entries, plus room for specials), checked
// before anything is allocated. Real vocabularies are dense (BLOOM: 250,680 entries, ids < 250,680).
inline std::int64_t max_token_id_for(std::int64_t n_entries) { return 4 * n_entries + 1024; }

class BpeModel {
 public:
  // model is the "model" object of tokenizer.json; throws xmtf::Error on anything malformed.
  void load(simdjson::dom::element model, bool byte_mode);

  // Appends the ids of one pre-tokenized piece (raw bytes in byte mode, UTF-8 otherwise).
  void tokenize(std::string_view piece, std::vector<std::int32_t>& ids);

  std::int32_t vocab_size() const { return static_cast<std::int32_t>(id_to_token_.size()); }
  // The vocabulary key as written in tokenizer.json ("Ġthe"); empty for unused ids.
  const std::string& id_to_token(std::int32_t id) const { return id_to_token_.at(id); }
  // The bytes a token stands for in byte mode (its key decoded from the byte alphabet).
  const std::string& id_to_bytes(std::int32_t id) const { return id_to_bytes_.at(id); }
  bool has_id(std::int32_t id) const { return id >= 0 && id < vocab_size() && !id_to_token_[id].empty(); }
  std::int32_t find_token(std::string_view token) const;  // by key as written, -1 if absent

 private:
  struct Merge {
    std::int32_t rank;
    std::int32_t new_id;
  };
  // Open-addressing table (left id, right id) -> merge; the hot lookup of encoding.
  class MergeTable {
   public:
    void reserve(std::size_t n_merges);
    void insert(std::int32_t left, std::int32_t right, Merge merge);
    const Merge* find(std::int32_t left, std::int32_t right) const;

   private:
    static std::uint64_t key(std::int32_t l, std::int32_t r) {
      return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(l)) << 32) | static_cast<std::uint32_t>(r);
    }
    std::vector<std::uint64_t> keys_;
    std::vector<Merge> values_;
    std::uint64_t mask_ = 0;
  };
  struct Symbol {
    std::int32_t id;
    std::int32_t prev;
    std::int32_t next;
    std::int32_t byte_length;  // 0 once merged into its left neighbour
  };

  void split_into_symbols(std::string_view piece);
  void merge_symbols();
  std::int32_t symbol_id(std::string_view symbol) const;  // -1 if absent

  bool byte_mode_ = false;
  std::unordered_map<std::string, std::int32_t> symbol_to_id_;  // key in symbol form
  std::unordered_map<std::string, std::int32_t> token_to_id_;   // key as written
  std::vector<std::string> id_to_token_;
  std::vector<std::string> id_to_bytes_;
  std::array<std::int32_t, 256> byte_to_id_{};  // fast path for byte mode without affixes
  bool simple_byte_path_ = false;
  MergeTable merges_;
  std::string continuing_subword_prefix_;  // in symbol form
  std::string end_of_word_suffix_;
  std::int32_t unk_id_ = -1;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;

  // Scratch and cache (why an instance is per thread).
  std::vector<Symbol> symbols_;
  std::vector<std::uint64_t> heap_;
  std::unordered_map<std::string, std::vector<std::int32_t>> cache_;
  static constexpr std::size_t kCacheCapacity = 100000;
};

}  // namespace xmtf::tok
