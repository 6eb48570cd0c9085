// The engine seam (issue 11): the whole BLOOM against the PyTorch golden on the reference
// backend too; forward/backward as pieces (a two-stage pipeline handing the stream over gives
// the whole model's loss and gradients); the sharded parameter specs of DeepSpeed's universal
// checkpoint rules, and slices read from global tensors for any tensor-parallel rank.
#include <gtest/gtest.h>

#include <cmath>

#include "ckpt/hf_model.hpp"
#include "ckpt/safetensors.hpp"
#include "ckpt/sharded_io.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "models/bloom.hpp"
#include "models/model.hpp"

using namespace xmtf;
using namespace xmtf::models;

namespace {

const fs::path kGolden = fs::path(XMTF_TEST_DATA_DIR) / "bloom" / "golden";

Batch golden_batch(const ckpt::SafetensorsFile& golden) {
  const auto& shape = golden.info("input_ids").shape;
  Batch batch;
  batch.batch_size = shape[0];
  batch.seq_len = shape[1];
  batch.input_ids = golden.read_i32("input_ids");
  batch.target_ids = golden.read_i32("target_ids");
  batch.loss_weights = golden.read_f32("loss_weights");
  batch.segment_ids = golden.read_i32("segment_ids");
  for (std::int32_t v : golden.read_i32("is_input")) batch.is_input.push_back(static_cast<std::uint8_t>(v));
  return batch;
}

std::unique_ptr<Model> golden_model(const std::string& name, const nn::Backend& backend) {
  auto model = create_model(*load_model_config(kGolden / name / "config.json"), backend);
  ckpt::load_hf_weights(kGolden / name / "model.safetensors", *model);
  return model;
}

double max_relative_error(std::span<const float> actual, const std::vector<float>& expected) {
  double max_ref = 1e-8, max_err = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    max_ref = std::max(max_ref, std::abs(static_cast<double>(expected[i])));
    max_err = std::max(max_err, std::abs(static_cast<double>(actual[i]) - expected[i]));
  }
  return max_err / max_ref;
}

}  // namespace

class ModelOnBackend : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

// The torch golden of the whole model (logits, loss, every gradient), on each backend.
TEST_P(ModelOnBackend, MatchesPyTorch) {
  const auto [name, backend] = GetParam();
  auto model = golden_model(name, nn::backend_named(backend));
  EXPECT_EQ(model->backend().name(), backend);
  ckpt::SafetensorsFile golden(kGolden / name / "golden.safetensors");
  const Batch batch = golden_batch(golden);
  auto activations = model->make_activations();
  model->forward(batch, *activations);
  const auto expected_logits = golden.read_f32("logits");
  const std::int64_t vocab = model->config().vocab_size;
  double worst = 0;
  for (std::int64_t pos = 0; pos < batch.batch_size * batch.seq_len; ++pos) {
    if (batch.segment_ids[pos] == 0) continue;  // padding: the reference's output there is arbitrary
    for (std::int64_t v = 0; v < vocab; ++v) {
      const double ref = expected_logits[pos * vocab + v];
      worst = std::max(worst, std::abs(activations->logits[pos * vocab + v] - ref) / std::max(1.0, std::abs(ref)));
    }
  }
  EXPECT_LT(worst, 1e-4) << "logits";
  model->zero_grads();
  const double loss = model->loss_and_backward(batch, *activations);
  const double expected_loss = golden.read_f32("loss")[0];
  EXPECT_NEAR(loss, expected_loss, 1e-4 * std::abs(expected_loss));
  for (const TensorSpec& spec : model->layout().tensors()) {
    EXPECT_LT(max_relative_error(model->layout().view(model->grads(), spec.name), golden.read_f32("grad." + spec.name)), 1e-3)
        << spec.name;
  }
}

INSTANTIATE_TEST_SUITE_P(GoldenModels, ModelOnBackend,
                         ::testing::Combine(::testing::Values("tiny4h", "tiny3h"), ::testing::Values("cpu", "reference")));

TEST(ModelBackends, CpuAndReferenceAgreeOnLossAndGradients) {
  auto cpu = golden_model("tiny4h", nn::cpu_backend());
  auto reference = golden_model("tiny4h", nn::reference_backend());
  ckpt::SafetensorsFile golden(kGolden / "tiny4h" / "golden.safetensors");
  const Batch batch = golden_batch(golden);
  double losses[2];
  Model* models[2] = {cpu.get(), reference.get()};
  for (int i = 0; i < 2; ++i) {
    auto activations = models[i]->make_activations();
    models[i]->zero_grads();
    models[i]->forward(batch, *activations, /*loss_rows_only=*/true);
    losses[i] = models[i]->loss_and_backward(batch, *activations);
  }
  EXPECT_NEAR(losses[0], losses[1], 1e-5 * std::abs(losses[1]));
  EXPECT_LT(max_relative_error(cpu->grads(), reference->grads()), 1e-4);
}

// Pipeline parallelism's building block: stage A runs the embedding and block 0, stage B
// receives the stream, runs block 1, the head and the loss, and hands the stream gradient back.
TEST(ModelPieces, ATwoStagePipelineEqualsTheWholeModel) {
  auto whole = golden_model("tiny4h", nn::cpu_backend());
  auto first = golden_model("tiny4h", nn::cpu_backend());
  auto last = golden_model("tiny4h", nn::cpu_backend());
  ckpt::SafetensorsFile golden(kGolden / "tiny4h" / "golden.safetensors");
  const Batch batch = golden_batch(golden);
  ASSERT_EQ(whole->n_blocks(), 2);

  auto whole_activations = whole->make_activations();
  whole->zero_grads();
  whole->forward(batch, *whole_activations, true);
  const double whole_loss = whole->loss_and_backward(batch, *whole_activations);

  auto a = first->make_activations();
  auto b = last->make_activations();
  first->zero_grads();
  last->zero_grads();
  first->prepare(batch, *a);
  last->prepare(batch, *b);
  first->embed_forward(batch, *a);
  first->block_forward(0, batch, *a);
  std::span<float> sent = first->stream(*a, 1), received = last->stream(*b, 1);  // send / recv
  std::copy(sent.begin(), sent.end(), received.begin());
  last->block_forward(1, batch, *b);
  last->head_forward(batch, *b, true);
  const double loss = last->head_loss_backward(batch, *b);
  last->block_backward(1, batch, *b);
  std::span<float> d_sent = last->stream_gradient(*b), d_received = first->stream_gradient(*a);
  std::copy(d_sent.begin(), d_sent.end(), d_received.begin());
  first->block_backward(0, batch, *a);
  first->embed_backward(batch, *a);

  EXPECT_EQ(loss, whole_loss);
  // Each stage's gradients are exactly the whole model's for the tensors it owns.
  for (const TensorSpec& spec : whole->layout().tensors()) {
    const bool on_last = spec.name.rfind("h.1.", 0) == 0 || spec.name.rfind("ln_f.", 0) == 0;
    const bool shared = spec.name == "word_embeddings.weight";  // tied: summed over both stages
    const auto expected = whole->layout().view(whole->grads(), spec.name);
    const auto got_first = first->layout().view(first->grads(), spec.name);
    const auto got_last = last->layout().view(last->grads(), spec.name);
    for (std::size_t i = 0; i < expected.size(); ++i) {
      const float got = shared ? got_first[i] + got_last[i] : on_last ? got_last[i] : got_first[i];
      ASSERT_NEAR(got, expected[i], 1e-6f * std::max(1.0f, std::abs(expected[i]))) << spec.name << "[" << i << "]";
    }
  }
}

TEST(ShardedSpecs, BloomFollowsDeepSpeedsUniversalCheckpointRules) {
  BloomConfig config = parse_bloom_config(read_file(kGolden / "tiny4h" / "config.json"), "tiny4h");
  config.vocab_size = 300;  // not a multiple of 128: padded
  const ParameterLayout one = bloom_parameter_layout(config);
  const TensorSpec& wte1 = one.spec("word_embeddings.weight");
  EXPECT_EQ(wte1.global_shape, (std::vector<std::int64_t>{300, 64}));
  EXPECT_EQ(wte1.shape, (std::vector<std::int64_t>{384, 64}));  // padded to a multiple of 128 x 1
  EXPECT_EQ(wte1.held_size(), 300);
  EXPECT_TRUE(wte1.holds_whole_tensor());
  for (int rank = 0; rank < 2; ++rank) {
    const ParameterLayout two = bloom_parameter_layout(config, {rank, 2});
    const TensorSpec& wte = two.spec("word_embeddings.weight");
    EXPECT_EQ(wte.split_dim, 0);
    EXPECT_EQ(wte.slice_size, 256);  // 300 padded to 512 = 128 x 2
    EXPECT_EQ(wte.slice_begin, 256 * rank);
    EXPECT_EQ(wte.held_size(), rank == 0 ? 256 : 44);
    EXPECT_FALSE(wte.holds_whole_tensor());
    EXPECT_EQ(two.spec("h.0.self_attention.query_key_value.weight").shape, (std::vector<std::int64_t>{96, 64}));
    EXPECT_EQ(two.spec("h.0.self_attention.query_key_value.bias").split_dim, 0);
    EXPECT_EQ(two.spec("h.0.mlp.dense_h_to_4h.weight").shape, (std::vector<std::int64_t>{128, 64}));
    EXPECT_EQ(two.spec("h.0.mlp.dense_h_to_4h.bias").shape, (std::vector<std::int64_t>{128}));
    EXPECT_EQ(two.spec("h.0.self_attention.dense.weight").shape, (std::vector<std::int64_t>{64, 32}));
    EXPECT_EQ(two.spec("h.0.self_attention.dense.weight").split_dim, 1);
    EXPECT_EQ(two.spec("h.0.mlp.dense_4h_to_h.weight").shape, (std::vector<std::int64_t>{64, 128}));
    for (const char* replicated : {"h.0.self_attention.dense.bias", "h.0.mlp.dense_4h_to_h.bias", "h.1.input_layernorm.weight",
                                   "h.1.post_attention_layernorm.bias", "ln_f.weight", "word_embeddings_layernorm.bias"}) {
      EXPECT_EQ(two.spec(replicated).split_dim, -1) << replicated;
      EXPECT_EQ(two.spec(replicated).shape, two.spec(replicated).global_shape) << replicated;
    }
  }
  config.n_head = 4;
  EXPECT_THROW(bloom_parameter_layout(config, {0, 3}), Error);  // heads are not divided
}

// Every tensor-parallel rank reads its slices of the global tensors; put back together they are
// the global tensors (the query_key_value slices are whole heads: [head][q, k, v][head_dim]).
TEST(ShardedSpecs, SlicesReadFromGlobalTensorsReassembleThem) {
  const BloomConfig config = load_bloom_config(kGolden / "tiny4h" / "config.json");
  ckpt::SafetensorsFile file(kGolden / "tiny4h" / "model.safetensors");
  const ParameterLayout global_layout = bloom_parameter_layout(config);  // named: tensors() refers into it
  for (int tp : {2, 4}) {
    for (const TensorSpec& global : global_layout.tensors()) {
      const std::vector<float> whole = file.read_f32("transformer." + global.name);
      std::vector<float> reassembled(whole.size(), NAN);
      for (int rank = 0; rank < tp; ++rank) {
        const ParameterLayout layout = bloom_parameter_layout(config, {rank, tp});
        const TensorSpec& spec = layout.spec(global.name);
        std::vector<float> local(static_cast<std::size_t>(spec.numel), 0.0f);
        ckpt::read_slice(file, "transformer." + spec.name, spec, local);
        if (spec.split_dim < 0) {
          EXPECT_EQ(local, whole) << spec.name;
          reassembled = local;
          continue;
        }
        const std::int64_t columns = spec.global_shape.size() > 1 ? spec.global_shape[1] : 1;
        for (std::int64_t i = 0; i < spec.numel; ++i) {
          const std::int64_t row = spec.split_dim == 0 ? spec.slice_begin + i / columns : i / spec.slice_size;
          const std::int64_t column = spec.split_dim == 0 ? i % columns : spec.slice_begin + i % spec.slice_size;
          if (spec.split_dim == 0 && row >= spec.global_shape[0]) continue;  // padding
          reassembled[static_cast<std::size_t>(row * columns + column)] = local[static_cast<std::size_t>(i)];
        }
      }
      EXPECT_EQ(reassembled, whole) << global.name << " over " << tp << " ranks";
    }
  }
  // Writing a slice as a whole tensor is refused, naming it.
  const ParameterLayout two = bloom_parameter_layout(config, {1, 2});
  const TensorSpec& spec = two.spec("h.0.self_attention.dense.weight");
  std::vector<float> local(static_cast<std::size_t>(spec.numel));
  EXPECT_THROW(ckpt::whole_tensor(spec, local), Error);
}

TEST(ModelFactory, ReadsTheFamilyFromModelType) {
  const fs::path dir = fs::temp_directory_path() / ("xmtf_model_factory_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  write_file_atomic(dir / "config.json", R"({"model_type": "gpt_neox", "vocab_size": 10})");
  try {
    load_model_config(dir / "config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model_type 'gpt_neox' is not supported"), std::string::npos) << e.what();
  }
  auto config = load_model_config(kGolden / "tiny3h" / "config.json");  // old BLOOM keys, no model_type needed
  EXPECT_EQ(config->family(), "bloom");
  EXPECT_EQ(config->n_parameters(), create_model(*config)->n_parameters());
  fs::remove_all(dir);
}
