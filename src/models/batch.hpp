#pragma once
// One batch of token rows, for any model: ids, and for the loss the next-token targets and
// per-token weights (0 = no loss). segment_ids / is_input drive the attention mask (see
// nn::AttentionMask); when segment_ids is empty every row is one causal sequence.
#include <cstdint>
#include <vector>

namespace xmtf::models {

struct Batch {
  std::int64_t batch_size = 0;
  std::int64_t seq_len = 0;
  std::vector<std::int32_t> input_ids;    // [batch, seq]
  std::vector<std::int32_t> target_ids;   // [batch, seq]
  std::vector<float> loss_weights;        // [batch, seq]
  std::vector<std::int32_t> segment_ids;  // [batch, seq] or empty
  std::vector<std::uint8_t> is_input;     // [batch, seq] or empty
  bool prefix_lm = false;
};

}  // namespace xmtf::models
