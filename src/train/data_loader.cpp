#include "train/data_loader.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>

#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/log.hpp"

namespace xmtf::train {

namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::uint64_t mix(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  std::uint64_t state = a;
  std::uint64_t h = splitmix64(state);
  state = h ^ b;
  h = splitmix64(state);
  state = h ^ c;
  return splitmix64(state);
}

constexpr std::uint64_t kSplitStream = 0x5b11700000000000ull;

}  // namespace

void seeded_shuffle(std::vector<std::int64_t>& values, std::uint64_t seed) {
  std::uint64_t state = seed;
  for (std::size_t i = values.size(); i > 1; --i) {
    const std::size_t j = splitmix64(state) % i;
    std::swap(values[i - 1], values[j]);
  }
}

std::string DataState::to_json() const {
  nlohmann::json object;
  object["rows"] = rows;
  object["languages"] = nlohmann::json::array();
  for (std::size_t i = 0; i < per_language.size(); ++i) {
    const LanguageState& s = per_language[i];
    object["languages"].push_back({{"name", languages[i]}, {"epoch", s.epoch}, {"cursor", s.cursor},
                                   {"rows", s.rows}, {"samples", s.samples}, {"skipped", s.skipped}});
  }
  return object.dump();
}

DataState DataState::from_json(const std::string& text) {
  DataState state;
  try {
    const auto object = nlohmann::json::parse(text);
    state.rows = object.at("rows").get<std::int64_t>();
    for (const auto& entry : object.at("languages")) {
      state.languages.push_back(entry.at("name").get<std::string>());
      LanguageState s;
      s.epoch = entry.at("epoch").get<std::int64_t>();
      s.cursor = entry.at("cursor").get<std::int64_t>();
      s.rows = entry.at("rows").get<std::int64_t>();
      s.samples = entry.at("samples").get<std::int64_t>();
      s.skipped = entry.at("skipped").get<std::int64_t>();
      state.per_language.push_back(s);
    }
  } catch (const nlohmann::json::exception& e) {
    fail("data position is not valid: {}", e.what());
  }
  return state;
}

MtfDataLoader::MtfDataLoader(std::vector<LanguageData> languages, DataSettings settings)
    : languages_(std::move(languages)), settings_(settings) {
  if (languages_.empty()) fail("no training languages");
  double total_weight = 0;
  for (const LanguageData& language : languages_) {
    if (!(language.weight > 0)) fail("language '{}': weight must be positive, got {}", language.name, language.weight);
    total_weight += language.weight;
  }
  for (std::size_t d = 0; d < languages_.size(); ++d) {
    const LanguageData& language = languages_[d];
    shares_.push_back(language.weight / total_weight);
    const std::int64_t n = language.source->n_samples();
    std::vector<std::int64_t> all(n);
    std::iota(all.begin(), all.end(), 0);
    seeded_shuffle(all, mix(settings_.seed, d, kSplitStream));
    const auto n_valid = static_cast<std::int64_t>(std::llround(settings_.valid_fraction * static_cast<double>(n)));
    std::vector<std::int64_t> valid(all.begin(), all.begin() + n_valid);
    std::vector<std::int64_t> train(all.begin() + n_valid, all.end());
    std::sort(valid.begin(), valid.end());
    std::sort(train.begin(), train.end());
    if (train.empty()) fail("language '{}' ({}): no training samples left ({} samples, {} held out)", language.name, language.source->describe(), n, n_valid);
    train_.push_back(std::move(train));
    valid_.push_back(std::move(valid));
    state_.languages.push_back(language.name);
    state_.per_language.push_back({});
    log::info("language {}: {} samples ({} train, {} validation), share {:.4f}", language.name, n,
              train_.back().size(), valid_.back().size(), shares_.back());
  }
  order_.resize(languages_.size());
  order_epoch_.assign(languages_.size(), -1);
}

void MtfDataLoader::restore(const DataState& state) {
  if (state.languages != state_.languages) {
    fail("checkpoint data position is for languages [{}], this run has [{}]",
         fmt::format("{}", fmt::join(state.languages, ", ")), fmt::format("{}", fmt::join(state_.languages, ", ")));
  }
  state_ = state;
}

std::vector<std::int64_t> MtfDataLoader::epoch_order(std::size_t language, std::int64_t epoch) const {
  std::vector<std::int64_t> order = train_[language];
  seeded_shuffle(order, mix(settings_.seed, language, static_cast<std::uint64_t>(epoch)));
  return order;
}

std::size_t MtfDataLoader::pick_language() const {
  // Megatron's blending: the language furthest below its share of the rows served so far.
  std::size_t best = 0;
  double best_error = -1e300;
  const double served = static_cast<double>(state_.rows + 1);
  for (std::size_t d = 0; d < languages_.size(); ++d) {
    const double error = shares_[d] * served - static_cast<double>(state_.per_language[d].rows);
    if (error > best_error) {
      best_error = error;
      best = d;
    }
  }
  return best;
}

void MtfDataLoader::read_sample(std::size_t language, std::int64_t index, Sample& sample) const {
  languages_[language].source->read(index, sample);
  if (settings_.append_eos && (sample.targets.empty() || sample.targets.back() != settings_.eos_id)) {
    sample.targets.push_back(settings_.eos_id);
  }
}

PackedRow MtfDataLoader::next_row_of(std::size_t language) {
  LanguageState& s = state_.per_language[language];
  RowBuilder builder(settings_.seq_len, settings_.pad_id);
  Sample sample;
  std::int64_t looked_at = 0;
  const auto epoch_size = static_cast<std::int64_t>(train_[language].size());
  while (true) {
    if (s.cursor >= epoch_size) {
      ++s.epoch;
      s.cursor = 0;
    }
    if (order_epoch_[language] != s.epoch) {
      order_[language] = epoch_order(language, s.epoch);
      order_epoch_[language] = s.epoch;
    }
    read_sample(language, order_[language][s.cursor], sample);
    if (!builder.fits_in_empty_row(sample)) {
      ++s.skipped;
      ++s.cursor;
      if (++looked_at > epoch_size && builder.empty()) {
        fail("language '{}': every sample is longer than a row of {} tokens", languages_[language].name, settings_.seq_len + 1);
      }
      continue;
    }
    if (!builder.try_append(sample)) break;
    ++s.samples;
    ++s.cursor;
  }
  ++s.rows;
  ++state_.rows;
  return builder.finish();
}

PackedRow MtfDataLoader::next_row() { return next_row_of(pick_language()); }

std::vector<PackedRow> MtfDataLoader::next_rows(std::int64_t count) {
  std::vector<PackedRow> rows;
  for (std::int64_t i = 0; i < count; ++i) rows.push_back(next_row());
  return rows;
}

std::vector<PackedRow> MtfDataLoader::validation_rows() const {
  std::vector<PackedRow> rows;
  RowBuilder builder(settings_.seq_len, settings_.pad_id);
  Sample sample;
  for (std::size_t d = 0; d < languages_.size(); ++d) {
    for (std::int64_t index : valid_[d]) {
      read_sample(d, index, sample);
      if (!builder.fits_in_empty_row(sample)) continue;
      if (!builder.try_append(sample)) {
        rows.push_back(builder.finish());
        builder.try_append(sample);
      }
    }
  }
  if (!builder.empty()) rows.push_back(builder.finish());
  return rows;
}

}  // namespace xmtf::train
