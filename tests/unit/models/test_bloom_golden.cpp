// Parity with the PyTorch reference (tests/reference/bloom/make_golden.py): logits, loss and
// every parameter gradient of two tiny BLOOMs on a decoder-packed batch.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "ckpt/hf_bloom.hpp"
#include "ckpt/safetensors.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "models/bloom.hpp"
#include "nn/kernels.hpp"

using namespace xmtf;

namespace {

const fs::path kGolden = fs::path(XMTF_TEST_DATA_DIR) / "bloom" / "golden";

models::Batch golden_batch(const ckpt::SafetensorsFile& golden) {
  const auto& shape = golden.info("input_ids").shape;
  models::Batch batch;
  batch.batch_size = shape[0];
  batch.seq_len = shape[1];
  batch.input_ids = golden.read_i32("input_ids");
  batch.target_ids = golden.read_i32("target_ids");
  batch.loss_weights = golden.read_f32("loss_weights");
  batch.segment_ids = golden.read_i32("segment_ids");
  for (std::int32_t v : golden.read_i32("is_input")) batch.is_input.push_back(static_cast<std::uint8_t>(v));
  return batch;
}

}  // namespace

class BloomGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(BloomGolden, LogitsLossAndGradientsMatchPyTorch) {
  const fs::path dir = kGolden / GetParam();
  models::BloomModel model(models::load_bloom_config(dir / "config.json"));
  ckpt::load_bloom_weights(dir / "model.safetensors", model);
  ckpt::SafetensorsFile golden(dir / "golden.safetensors");
  models::Batch batch = golden_batch(golden);

  models::BloomActivations activations;
  model.forward(batch, activations);
  const auto expected_logits = golden.read_f32("logits");
  const std::int64_t vocab = model.config().vocab_size;
  double worst = 0;
  for (std::int64_t pos = 0; pos < batch.batch_size * batch.seq_len; ++pos) {
    if (batch.segment_ids[pos] == 0) continue;  // padding: the reference's output there is arbitrary
    for (std::int64_t v = 0; v < vocab; ++v) {
      const double ref = expected_logits[pos * vocab + v];
      const double err = std::abs(activations.logits[pos * vocab + v] - ref) / std::max(1.0, std::abs(ref));
      worst = std::max(worst, err);
    }
  }
  EXPECT_LT(worst, 1e-4) << "logits";

  model.zero_grads();
  const double loss = model.loss_and_backward(batch, activations);
  const double expected_loss = golden.read_f32("loss")[0];
  EXPECT_NEAR(loss, expected_loss, 1e-4 * std::abs(expected_loss)) << "loss";

  for (const models::TensorSpec& spec : model.layout().tensors()) {
    const auto expected = golden.read_f32("grad." + spec.name);
    const auto actual = model.layout().view(model.grads(), spec.name);
    double max_ref = 1e-8, max_err = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      max_ref = std::max(max_ref, std::abs(static_cast<double>(expected[i])));
      max_err = std::max(max_err, std::abs(static_cast<double>(actual[i]) - expected[i]));
    }
    EXPECT_LT(max_err / max_ref, 1e-3) << spec.name << " max_err " << max_err << " max_ref " << max_ref;
  }
}

TEST_P(BloomGolden, MicroBatchAccumulationEqualsFullBatch) {
  const fs::path dir = kGolden / GetParam();
  models::BloomModel model(models::load_bloom_config(dir / "config.json"));
  ckpt::load_bloom_weights(dir / "model.safetensors", model);
  ckpt::SafetensorsFile golden(dir / "golden.safetensors");
  const models::Batch full = golden_batch(golden);
  model.zero_grads();
  models::BloomActivations activations;
  double loss = 0;
  for (std::int64_t row = 0; row < full.batch_size; ++row) {
    models::Batch one;
    one.batch_size = 1;
    one.seq_len = full.seq_len;
    auto slice = [&](const auto& v) {
      using V = std::decay_t<decltype(v)>;
      return V(v.begin() + row * full.seq_len, v.begin() + (row + 1) * full.seq_len);
    };
    one.input_ids = slice(full.input_ids);
    one.target_ids = slice(full.target_ids);
    one.loss_weights = slice(full.loss_weights);
    one.segment_ids = slice(full.segment_ids);
    one.is_input = slice(full.is_input);
    model.forward(one, activations);
    loss += model.loss_and_backward(one, activations);
  }
  const double expected_loss = golden.read_f32("loss")[0];
  EXPECT_NEAR(loss, expected_loss, 1e-4 * std::abs(expected_loss));
  const auto expected = golden.read_f32("grad.word_embeddings.weight");
  const auto actual = model.layout().view(model.grads(), "word_embeddings.weight");
  double max_ref = 1e-8, max_err = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    max_ref = std::max(max_ref, std::abs(static_cast<double>(expected[i])));
    max_err = std::max(max_err, std::abs(static_cast<double>(actual[i]) - expected[i]));
  }
  EXPECT_LT(max_err / max_ref, 1e-3);
}

TEST_P(BloomGolden, LossRowsOnlyForwardGivesTheSameLossAndGradients) {
  const fs::path dir = kGolden / GetParam();
  models::BloomModel model(models::load_bloom_config(dir / "config.json"));
  ckpt::load_bloom_weights(dir / "model.safetensors", model);
  ckpt::SafetensorsFile golden(dir / "golden.safetensors");
  const models::Batch batch = golden_batch(golden);
  models::BloomActivations activations;
  model.zero_grads();
  model.forward(batch, activations, /*loss_rows_only=*/true);
  const double loss = model.loss_and_backward(batch, activations);
  const double expected_loss = golden.read_f32("loss")[0];
  EXPECT_NEAR(loss, expected_loss, 1e-4 * std::abs(expected_loss));
  EXPECT_NEAR(model.evaluate_loss(batch, activations), expected_loss, 1e-4 * std::abs(expected_loss));
  for (const models::TensorSpec& spec : model.layout().tensors()) {
    const auto expected = golden.read_f32("grad." + spec.name);
    const auto actual = model.layout().view(model.grads(), spec.name);
    double max_ref = 1e-8, max_err = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      max_ref = std::max(max_ref, std::abs(static_cast<double>(expected[i])));
      max_err = std::max(max_err, std::abs(static_cast<double>(actual[i]) - expected[i]));
    }
    EXPECT_LT(max_err / max_ref, 1e-3) << spec.name;
  }
}

INSTANTIATE_TEST_SUITE_P(TinyModels, BloomGolden, ::testing::Values("tiny4h", "tiny3h"));

TEST(Alibi, SlopesMatchTorchForOneToThirtyTwoHeads) {
  const auto slopes = nlohmann::json::parse(read_file(kGolden / "alibi_slopes.json"));
  for (auto& [heads, expected] : slopes.items()) {
    const auto actual = nn::alibi_slopes(std::stoll(heads));
    ASSERT_EQ(actual.size(), expected.size()) << heads;
    for (std::size_t h = 0; h < actual.size(); ++h) {
      EXPECT_FLOAT_EQ(actual[h], expected[h].get<float>()) << heads << " heads, head " << h;
    }
  }
}

TEST(BloomConfig, ReadsBloomz560mOldKeyNames) {
  const auto config = models::load_bloom_config(fs::path(XMTF_TEST_DATA_DIR) / "bloom" / "bloomz-560m.config.json");
  EXPECT_EQ(config.hidden_size, 1024);
  EXPECT_EQ(config.n_head, 16);
  EXPECT_EQ(config.n_layer, 24);
  EXPECT_EQ(config.vocab_size, 250880);
  EXPECT_DOUBLE_EQ(config.layer_norm_epsilon, 1e-5);
  EXPECT_EQ(config.eos_token_id, 2);
  // 559,214,592 parameters: bloom-560m's published count.
  std::int64_t n_parameters = 0;
  const auto layout = models::bloom_parameter_layout(config);  // named: tensors() refers into it
  for (const auto& spec : layout.tensors()) n_parameters += spec.numel;
  EXPECT_EQ(n_parameters, 559214592);
}

TEST(BloomConfig, RejectsBadShapesWithTheFileName) {
  try {
    models::parse_bloom_config(R"({"vocab_size": 10, "hidden_size": 10, "n_layer": 1, "n_head": 3})", "x.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.json"), std::string::npos);
  }
  EXPECT_THROW(models::parse_bloom_config(R"({"vocab_size": 10})", "y.json"), Error);
}
