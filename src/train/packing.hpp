#pragma once
// Decoder packing for multitask finetuning, as Megatron-DeepSpeed's t0loading branch built it for
// BLOOMZ: a row holds seq_len + 1 tokens; (inputs, targets) samples are appended one after
// another until the next one does not fit (never truncated: a sample longer than a row is
// skipped and counted), then the rest is padding. Each token carries a segment id (1, 2, ... per
// sample in the row, 0 for padding) and an is-input flag. The model reads tokens[0..seq_len)
// and predicts tokens[1..seq_len]; loss is taken only where the predicted token is a target
// token (so the EOS closing each target counts, and the first input of the next sample not).
#include <cstdint>
#include <vector>

#include "models/batch.hpp"

namespace xmtf::train {

struct Sample {
  std::vector<std::int32_t> inputs;
  std::vector<std::int32_t> targets;
  std::int64_t length() const { return static_cast<std::int64_t>(inputs.size() + targets.size()); }
};

struct PackedRow {
  std::vector<std::int32_t> tokens;       // [seq_len + 1]
  std::vector<std::int32_t> segment_ids;  // [seq_len + 1], 0 = padding
  std::vector<std::uint8_t> is_input;     // [seq_len + 1]
  std::int32_t n_segments = 0;
};

class RowBuilder {
 public:
  RowBuilder(std::int64_t seq_len, std::int32_t pad_id);
  // True when the sample fits entirely in the remaining space (and was appended).
  bool try_append(const Sample& sample);
  bool fits_in_empty_row(const Sample& sample) const { return sample.length() <= row_tokens_; }
  bool empty() const { return used_ == 0; }
  // The finished row (padded); the builder starts a new empty row.
  PackedRow finish();

 private:
  std::int64_t row_tokens_;
  std::int32_t pad_id_;
  PackedRow row_;
  std::int64_t used_ = 0;
};

enum class LossNormalization {
  // Each target's tokens weighted 1 / its length, all divided by the number of targets in the
  // batch (Megatron's --norm-target-loss): every example counts the same, whatever its length.
  per_target,
  // Plain mean over all target tokens of the batch.
  token_mean,
};

// The model batch of packed rows, with loss weights normalised over `rows` (the whole global
// batch: slice it into micro-batches afterwards and the micro-batch losses sum to the batch's).
models::Batch make_batch(const std::vector<PackedRow>& rows, LossNormalization normalization,
                         bool prefix_lm);
// Rows [first, first + count) of a batch made by make_batch.
models::Batch slice_batch(const models::Batch& batch, std::int64_t first, std::int64_t count);

}  // namespace xmtf::train
