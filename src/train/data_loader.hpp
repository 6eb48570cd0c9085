#pragma once
// The multitask training stream: per language, its samples split once into disjoint validation
// and training sets; the training set shuffled per epoch (seeded) and decoder-packed into rows;
// rows of the languages blended by their mixture weights. The position (rows served, and per
// language epoch + cursor) is a small state that a checkpoint stores, so a resumed run sees
// exactly the rows the uninterrupted run would have seen.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "train/packing.hpp"
#include "train/sample_source.hpp"

namespace xmtf::train {

struct LanguageData {
  std::string name;
  double weight = 1.0;  // mixture weight; normalised over languages
  std::unique_ptr<SampleSource> source;
};

struct DataSettings {
  std::int64_t seq_len = 2048;
  std::int32_t pad_id = 3;
  std::int32_t eos_id = 2;
  bool append_eos = true;        // close each target with EOS unless it already ends with it
  double valid_fraction = 0.0;   // of each language's samples, held out from training
  std::uint64_t seed = 1234;
};

struct LanguageState {
  std::int64_t epoch = 0;
  std::int64_t cursor = 0;        // next training sample (index into this epoch's order)
  std::int64_t rows = 0;          // rows served from this language
  std::int64_t samples = 0;       // samples packed
  std::int64_t skipped = 0;       // samples longer than a row
};

struct DataState {
  std::int64_t rows = 0;
  std::vector<std::string> languages;
  std::vector<LanguageState> per_language;
  std::string to_json() const;
  static DataState from_json(const std::string& text);
};

class MtfDataLoader {
 public:
  MtfDataLoader(std::vector<LanguageData> languages, DataSettings settings);

  PackedRow next_row();
  std::vector<PackedRow> next_rows(std::int64_t count);
  // Every validation sample of every language, packed in order (deterministic).
  std::vector<PackedRow> validation_rows() const;

  const DataState& state() const { return state_; }
  // Throws xmtf::Error when the state's languages differ from this loader's.
  void restore(const DataState& state);

  std::size_t n_languages() const { return languages_.size(); }
  const std::vector<std::int64_t>& train_indices(std::size_t language) const { return train_[language]; }
  const std::vector<std::int64_t>& valid_indices(std::size_t language) const { return valid_[language]; }
  const std::vector<double>& shares() const { return shares_; }

 private:
  std::size_t pick_language() const;
  PackedRow next_row_of(std::size_t language);
  void read_sample(std::size_t language, std::int64_t index, Sample& sample) const;
  std::vector<std::int64_t> epoch_order(std::size_t language, std::int64_t epoch) const;

  std::vector<LanguageData> languages_;
  DataSettings settings_;
  std::vector<double> shares_;
  std::vector<std::vector<std::int64_t>> train_, valid_;
  std::vector<std::vector<std::int64_t>> order_;  // current epoch's order per language
  std::vector<std::int64_t> order_epoch_;
  DataState state_;
};

// Deterministic, library-independent shuffle (splitmix64-driven Fisher-Yates).
void seeded_shuffle(std::vector<std::int64_t>& values, std::uint64_t seed);

}  // namespace xmtf::train
