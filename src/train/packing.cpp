#include "train/packing.hpp"

#include <algorithm>
#include <map>

#include "core/error.hpp"

namespace xmtf::train {

RowBuilder::RowBuilder(std::int64_t seq_len, std::int32_t pad_id)
    : row_tokens_(seq_len + 1), pad_id_(pad_id) {
  if (seq_len < 1) fail("seq_len must be at least 1, got {}", seq_len);
}

bool RowBuilder::try_append(const Sample& sample) {
  if (used_ + sample.length() > row_tokens_) return false;
  const std::int32_t segment = ++row_.n_segments;
  for (std::int32_t id : sample.inputs) {
    row_.tokens.push_back(id);
    row_.segment_ids.push_back(segment);
    row_.is_input.push_back(1);
  }
  for (std::int32_t id : sample.targets) {
    row_.tokens.push_back(id);
    row_.segment_ids.push_back(segment);
    row_.is_input.push_back(0);
  }
  used_ += sample.length();
  return true;
}

PackedRow RowBuilder::finish() {
  row_.tokens.resize(row_tokens_, pad_id_);
  row_.segment_ids.resize(row_tokens_, 0);
  row_.is_input.resize(row_tokens_, 0);
  PackedRow done = std::move(row_);
  row_ = PackedRow{};
  used_ = 0;
  return done;
}

models::Batch make_batch(const std::vector<PackedRow>& rows, LossNormalization normalization,
                         bool prefix_lm) {
  if (rows.empty()) fail("make_batch: no rows");
  const auto seq_len = static_cast<std::int64_t>(rows[0].tokens.size()) - 1;
  models::Batch batch;
  batch.batch_size = static_cast<std::int64_t>(rows.size());
  batch.seq_len = seq_len;
  batch.prefix_lm = prefix_lm;
  std::int64_t n_target_tokens = 0;
  std::int64_t n_targets = 0;
  for (const PackedRow& row : rows) {
    if (static_cast<std::int64_t>(row.tokens.size()) != seq_len + 1) fail("make_batch: rows of different lengths");
    std::map<std::int32_t, std::int64_t> target_length;  // per segment
    for (std::int64_t t = 0; t < seq_len; ++t) {
      batch.input_ids.push_back(row.tokens[t]);
      batch.target_ids.push_back(row.tokens[t + 1]);
      batch.segment_ids.push_back(row.segment_ids[t]);
      batch.is_input.push_back(row.is_input[t]);
      const bool label_is_target = row.segment_ids[t + 1] != 0 && row.is_input[t + 1] == 0;
      if (label_is_target) {
        ++target_length[row.segment_ids[t + 1]];
        ++n_target_tokens;
      }
    }
    n_targets += static_cast<std::int64_t>(target_length.size());
    for (std::int64_t t = 0; t < seq_len; ++t) {
      const bool label_is_target = row.segment_ids[t + 1] != 0 && row.is_input[t + 1] == 0;
      float weight = 0.0f;
      if (label_is_target && normalization == LossNormalization::per_target) {
        weight = 1.0f / static_cast<float>(target_length[row.segment_ids[t + 1]]);
      } else if (label_is_target) {
        weight = 1.0f;
      }
      batch.loss_weights.push_back(weight);
    }
  }
  const auto denominator = static_cast<float>(
      normalization == LossNormalization::per_target ? n_targets : n_target_tokens);
  if (denominator > 0) {
    for (float& w : batch.loss_weights) w /= denominator;
  }
  return batch;
}

models::Batch slice_batch(const models::Batch& batch, std::int64_t first, std::int64_t count) {
  if (first < 0 || count <= 0 || first + count > batch.batch_size) fail("slice_batch: rows out of range");
  models::Batch out;
  out.batch_size = count;
  out.seq_len = batch.seq_len;
  out.prefix_lm = batch.prefix_lm;
  const std::int64_t begin = first * batch.seq_len;
  const std::int64_t end = (first + count) * batch.seq_len;
  auto cut = [&](const auto& v) {
    using V = std::decay_t<decltype(v)>;
    return v.empty() ? V{} : V(v.begin() + begin, v.begin() + end);
  };
  out.input_ids = cut(batch.input_ids);
  out.target_ids = cut(batch.target_ids);
  out.loss_weights = cut(batch.loss_weights);
  out.segment_ids = cut(batch.segment_ids);
  out.is_input = cut(batch.is_input);
  return out;
}

}  // namespace xmtf::train
