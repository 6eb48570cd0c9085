// Training on the reference backend (plain loops) gives the cpu backend's numbers: 10 AdamW steps
// against torch's, and the trainer's losses and weights over 3 steps (issue 11 item 4).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "ckpt/hf_model.hpp"
#include "ckpt/safetensors.hpp"
#include "core/fs.hpp"
#include "models/model.hpp"
#include "train/optimizer.hpp"
#include "train/trainer.hpp"

using namespace xmtf;
using namespace xmtf::train;

namespace {
const fs::path kData = fs::path(XMTF_TEST_DATA_DIR) / "bloom";
const fs::path kGolden = kData / "golden" / "tiny4h";
}  // namespace

TEST(TrainBackends, TenAdamWStepsMatchTorchOnTheReferenceBackend) {
  const auto settings = nlohmann::json::parse(read_file(kGolden / "adam.json"));
  const nn::Backend& backend = nn::reference_backend();
  auto model = models::create_model(*models::load_model_config(kGolden / "config.json"), backend);
  ckpt::load_hf_weights(kGolden / "model.safetensors", *model);
  ckpt::SafetensorsFile golden(kGolden / "golden.safetensors");
  models::Batch batch;
  batch.batch_size = golden.info("input_ids").shape[0];
  batch.seq_len = golden.info("input_ids").shape[1];
  batch.input_ids = golden.read_i32("input_ids");
  batch.target_ids = golden.read_i32("target_ids");
  batch.loss_weights = golden.read_f32("loss_weights");
  batch.segment_ids = golden.read_i32("segment_ids");
  AdamW optimizer(model->layout(), {settings["beta1"], settings["beta2"], settings["eps"], settings["weight_decay"]}, backend);
  LrSchedule schedule{settings["max_lr"], settings["min_lr"], settings["warmup"], settings["steps"], DecayStyle::cosine};
  const auto losses = golden.read_f32("adam_losses");
  auto activations = model->make_activations();
  for (std::int64_t step = 1; step <= settings["steps"].get<std::int64_t>(); ++step) {
    model->zero_grads();
    model->forward(batch, *activations);
    const double loss = model->loss_and_backward(batch, *activations);
    clip_grad_norm(model->grads(), settings["clip"], backend);
    optimizer.update(model->params(), model->grads(), schedule.at(step));
    EXPECT_NEAR(loss, losses[step - 1], 1e-4 * std::abs(losses[step - 1])) << "step " << step;
  }
}

TEST(TrainBackends, TheTrainerGivesTheSameLossesAndWeightsOnBothBackends) {
  auto run = [&](const std::string& backend) {
    TrainSettings s;
    s.model_config = kData / "tiny-bloom.config.json";
    s.data.push_back(parse_data_spec("sw:1:" + (kData / "mtf" / "sw.jsonl").string()));
    s.seq_len = 256;
    s.global_batch = 2;
    s.steps = 3;
    s.lr = 1e-3;
    s.backend = backend;
    s.checkpoint_dir = fs::temp_directory_path() / ("xmtf_train_backend_" + backend + "_" + std::to_string(::getpid()));
    fs::remove_all(s.checkpoint_dir);
    const TrainResult result = run_training(s);
    ckpt::SafetensorsFile weights(s.checkpoint_dir / "step-00000003" / "model.safetensors");
    std::vector<float> params;
    for (const auto& [name, info] : weights.tensors()) {
      const auto values = weights.read_f32(name);
      params.insert(params.end(), values.begin(), values.end());
    }
    fs::remove_all(s.checkpoint_dir);
    return std::make_pair(result.losses, params);
  };
  const auto [cpu_losses, cpu_params] = run("cpu");
  const auto [reference_losses, reference_params] = run("reference");
  ASSERT_EQ(cpu_losses.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_NEAR(cpu_losses[i], reference_losses[i], 1e-5 * std::abs(cpu_losses[i])) << i;
  ASSERT_EQ(cpu_params.size(), reference_params.size());
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < cpu_params.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(cpu_params[i]) - reference_params[i]));
    scale = std::max(scale, std::abs(static_cast<double>(reference_params[i])));
  }
  EXPECT_LT(worst / scale, 1e-5);
}
