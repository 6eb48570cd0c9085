// MTF packing and loss weights against the PyTorch reference's packing, 10 AdamW steps against
// torch.optim.AdamW, the language-mixture loader, checkpoints and bit-exact resume.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "ckpt/hf_bloom.hpp"
#include "ckpt/safetensors.hpp"
#include "ckpt/training_checkpoint.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "models/bloom.hpp"
#include "train/data_loader.hpp"
#include "train/optimizer.hpp"
#include "train/packing.hpp"
#include "train/trainer.hpp"

using namespace xmtf;
using namespace xmtf::train;

namespace {

const fs::path kData = fs::path(XMTF_TEST_DATA_DIR) / "bloom";
const fs::path kGolden = kData / "golden" / "tiny4h";

std::vector<Sample> golden_samples(const ckpt::SafetensorsFile& golden) {
  const auto inputs = golden.read_i32("sample_inputs");
  const auto targets = golden.read_i32("sample_targets");
  const auto input_lengths = golden.read_i32("sample_input_lengths");
  const auto target_lengths = golden.read_i32("sample_target_lengths");
  std::vector<Sample> samples;
  std::size_t in = 0, tg = 0;
  for (std::size_t i = 0; i < input_lengths.size(); ++i) {
    Sample s;
    s.inputs.assign(inputs.begin() + in, inputs.begin() + in + input_lengths[i]);
    s.targets.assign(targets.begin() + tg, targets.begin() + tg + target_lengths[i]);
    in += input_lengths[i];
    tg += target_lengths[i];
    samples.push_back(std::move(s));
  }
  return samples;
}

// Packs samples in order (no shuffle), as the reference does.
std::vector<PackedRow> pack_in_order(const std::vector<Sample>& samples, std::int64_t seq_len,
                                     std::size_t n_rows, std::int64_t& skipped) {
  RowBuilder builder(seq_len, 3);
  std::vector<PackedRow> rows;
  skipped = 0;
  for (const Sample& s : samples) {
    if (!builder.fits_in_empty_row(s)) {
      ++skipped;
      continue;
    }
    if (!builder.try_append(s)) {
      rows.push_back(builder.finish());
      if (rows.size() == n_rows) return rows;
      builder.try_append(s);
    }
  }
  if (!builder.empty()) rows.push_back(builder.finish());
  return rows;
}

std::vector<Sample> numbered_samples(int n, int first_token, int min_len = 3) {
  std::vector<Sample> samples;
  for (int i = 0; i < n; ++i) {
    Sample s;
    for (int k = 0; k < min_len + i % 5; ++k) s.inputs.push_back(first_token + i);
    s.targets = {first_token + i, first_token + i};
    samples.push_back(std::move(s));
  }
  return samples;
}

LanguageData memory_language(std::string name, double weight, std::vector<Sample> samples) {
  return {name, weight, std::make_unique<MemorySampleSource>(std::move(samples), name)};
}

}  // namespace

TEST(Packing, RowsSegmentsAndLossWeightsMatchReference) {
  ckpt::SafetensorsFile golden(kGolden / "golden.safetensors");
  const auto& shape = golden.info("packed_tokens").shape;
  std::int64_t skipped = 0;
  const auto rows = pack_in_order(golden_samples(golden), shape[1] - 1, shape[0], skipped);
  ASSERT_GE(rows.size(), static_cast<std::size_t>(shape[0]));
  const auto tokens = golden.read_i32("packed_tokens");
  const auto segments = golden.read_i32("packed_segment_ids");
  const auto is_input = golden.read_i32("packed_is_input");
  for (std::int64_t r = 0; r < shape[0]; ++r) {
    for (std::int64_t t = 0; t < shape[1]; ++t) {
      EXPECT_EQ(rows[r].tokens[t], tokens[r * shape[1] + t]) << r << "," << t;
      EXPECT_EQ(rows[r].segment_ids[t], segments[r * shape[1] + t]) << r << "," << t;
      EXPECT_EQ(rows[r].is_input[t], is_input[r * shape[1] + t]) << r << "," << t;
    }
  }
  EXPECT_EQ(skipped, golden.read_i32("skipped")[0]);
  const std::vector<PackedRow> batch_rows(rows.begin(), rows.begin() + shape[0]);
  const auto expected = golden.read_f32("loss_weights");
  const auto batch = make_batch(batch_rows, LossNormalization::per_target, false);
  ASSERT_EQ(batch.loss_weights.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_FLOAT_EQ(batch.loss_weights[i], expected[i]) << i;
  EXPECT_EQ(batch.input_ids, golden.read_i32("input_ids"));
  EXPECT_EQ(batch.target_ids, golden.read_i32("target_ids"));
  const auto token_mean = golden.read_f32("token_mean_weights");
  const auto mean_batch = make_batch(batch_rows, LossNormalization::token_mean, false);
  for (std::size_t i = 0; i < token_mean.size(); ++i) EXPECT_FLOAT_EQ(mean_batch.loss_weights[i], token_mean[i]) << i;
}

TEST(Packing, LossOnlyOnTargetsIncludingEosNeverAcrossSegments) {
  RowBuilder builder(9, 3);
  ASSERT_TRUE(builder.try_append({{10, 11}, {20, 2}}));
  ASSERT_TRUE(builder.try_append({{12}, {21, 22, 2}}));
  EXPECT_FALSE(builder.try_append({{13, 13}, {2}}));  // 6 + 3 > 10: does not fit
  const PackedRow row = builder.finish();
  EXPECT_EQ(row.tokens, (std::vector<std::int32_t>{10, 11, 20, 2, 12, 21, 22, 2, 3, 3}));
  const auto batch = make_batch({row}, LossNormalization::per_target, false);
  // predicted tokens: 11 20 2 12 21 22 2 3 3 -> targets 20, 2 (1/2 each), 21, 22, 2 (1/3 each); / 2 targets
  const std::vector<float> expected = {0, 0.25f, 0.25f, 0, 1.0f / 6, 1.0f / 6, 1.0f / 6, 0, 0};
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_FLOAT_EQ(batch.loss_weights[i], expected[i]) << i;
}

TEST(AdamW, TenStepsMatchTorchLosses) {
  const auto settings = nlohmann::json::parse(read_file(kGolden / "adam.json"));
  models::BloomModel model(models::load_bloom_config(kGolden / "config.json"));
  ckpt::load_bloom_weights(kGolden / "model.safetensors", model);
  ckpt::SafetensorsFile golden(kGolden / "golden.safetensors");
  models::Batch batch;
  batch.batch_size = golden.info("input_ids").shape[0];
  batch.seq_len = golden.info("input_ids").shape[1];
  batch.input_ids = golden.read_i32("input_ids");
  batch.target_ids = golden.read_i32("target_ids");
  batch.loss_weights = golden.read_f32("loss_weights");
  batch.segment_ids = golden.read_i32("segment_ids");
  AdamW optimizer(model.layout(), {settings["beta1"], settings["beta2"], settings["eps"], settings["weight_decay"]});
  LrSchedule schedule{settings["max_lr"], settings["min_lr"], settings["warmup"], settings["steps"], DecayStyle::cosine};
  const auto losses = golden.read_f32("adam_losses");
  const auto lrs = golden.read_f32("adam_lrs");
  const auto norms = golden.read_f32("adam_grad_norms");
  models::BloomActivations activations;
  for (std::int64_t step = 1; step <= settings["steps"].get<std::int64_t>(); ++step) {
    model.zero_grads();
    model.forward(batch, activations);
    const double loss = model.loss_and_backward(batch, activations);
    const double norm = clip_grad_norm(model.grads(), settings["clip"]);
    const double lr = schedule.at(step);
    optimizer.update(model.params(), model.grads(), lr);
    EXPECT_NEAR(loss, losses[step - 1], 1e-4 * std::abs(losses[step - 1])) << "step " << step;
    EXPECT_NEAR(lr, lrs[step - 1], 1e-9) << "step " << step;
    EXPECT_NEAR(norm, norms[step - 1], 1e-3 * norms[step - 1]) << "step " << step;
  }
  EXPECT_LT(losses[9], losses[0]);  // the reference does learn
}

TEST(LrSchedule, WarmupThenDecayStyles) {
  LrSchedule s{1.0, 0.1, 4, 14, DecayStyle::linear};
  EXPECT_DOUBLE_EQ(s.at(1), 0.25);
  EXPECT_DOUBLE_EQ(s.at(4), 1.0);
  EXPECT_DOUBLE_EQ(s.at(9), 0.55);
  EXPECT_DOUBLE_EQ(s.at(14), 0.1);
  EXPECT_DOUBLE_EQ(s.at(20), 0.1);
  s.style = DecayStyle::cosine;
  EXPECT_NEAR(s.at(9), 0.55, 1e-12);
  s.style = DecayStyle::constant;
  EXPECT_DOUBLE_EQ(s.at(9), 1.0);
}

TEST(AdamW, NoDecayOnBiasesAndNorms) {
  models::BloomConfig config;
  config.vocab_size = 8;
  config.hidden_size = 4;
  config.n_head = 2;
  config.n_layer = 1;
  models::BloomModel model(config);
  model.init_random(1);
  const auto before = model.params();
  AdamW optimizer(model.layout(), {0.9, 0.999, 1e-8, 0.5});
  optimizer.update(model.params(), std::vector<float>(before.size(), 0.0f), 0.1);  // zero grads: decay only
  for (const auto& spec : model.layout().tensors()) {
    const auto after = model.layout().view(model.params(), spec.name);
    const auto was = model.layout().view(before, spec.name);
    for (std::size_t i = 0; i < after.size(); ++i) {
      EXPECT_FLOAT_EQ(after[i], spec.weight_decay ? was[i] * 0.95f : was[i]) << spec.name;
    }
  }
}

TEST(Loader, ValidationAndTrainingNeverOverlap) {
  std::vector<LanguageData> languages;
  languages.push_back(memory_language("a", 1.0, numbered_samples(40, 10)));
  languages.push_back(memory_language("b", 1.0, numbered_samples(25, 100)));
  DataSettings settings;
  settings.seq_len = 31;
  settings.valid_fraction = 0.2;
  MtfDataLoader loader(std::move(languages), settings);
  for (std::size_t d = 0; d < loader.n_languages(); ++d) {
    std::set<std::int64_t> train(loader.train_indices(d).begin(), loader.train_indices(d).end());
    std::set<std::int64_t> valid(loader.valid_indices(d).begin(), loader.valid_indices(d).end());
    EXPECT_EQ(train.size() + valid.size(), d == 0 ? 40u : 25u);
    for (std::int64_t v : valid) EXPECT_EQ(train.count(v), 0u);
    EXPECT_EQ(valid.size(), d == 0 ? 8u : 5u);
  }
  // Tokens of validation samples (each sample's tokens are its own number) never reach training rows,
  // over several epochs.
  std::set<std::int32_t> valid_tokens;
  for (const PackedRow& row : loader.validation_rows()) {
    for (std::size_t t = 0; t < row.tokens.size(); ++t) if (row.segment_ids[t] != 0) valid_tokens.insert(row.tokens[t]);
  }
  EXPECT_EQ(valid_tokens.size(), 8u + 5u + 1u);  // + EOS
  for (const PackedRow& row : loader.next_rows(60)) {
    for (std::size_t t = 0; t < row.tokens.size(); ++t) {
      if (row.segment_ids[t] != 0 && row.tokens[t] != 2) {
        EXPECT_EQ(valid_tokens.count(row.tokens[t]), 0u) << row.tokens[t];
      }
    }
  }
}

TEST(Loader, BlendingKeepsEveryPrefixClosestToTheShares) {
  std::vector<LanguageData> languages;
  languages.push_back(memory_language("en", 5.0, numbered_samples(20, 10)));
  languages.push_back(memory_language("fr", 3.0, numbered_samples(20, 40)));
  languages.push_back(memory_language("sw", 2.0, numbered_samples(20, 70)));
  DataSettings settings;
  settings.seq_len = 15;
  MtfDataLoader loader(std::move(languages), settings);
  const std::vector<double> shares = {0.5, 0.3, 0.2};
  for (int n = 1; n <= 100; ++n) {
    loader.next_row();
    for (std::size_t d = 0; d < 3; ++d) {
      EXPECT_LE(std::abs(loader.state().per_language[d].rows - shares[d] * n), 1.0) << "after " << n << " rows";
    }
  }
  EXPECT_EQ(loader.state().per_language[0].rows, 50);
  EXPECT_EQ(loader.state().per_language[1].rows, 30);
  EXPECT_EQ(loader.state().per_language[2].rows, 20);
}

TEST(Loader, RestoredPositionContinuesTheSameStream) {
  auto make = [] {
    std::vector<LanguageData> languages;
    languages.push_back(memory_language("a", 2.0, numbered_samples(13, 10)));
    languages.push_back(memory_language("b", 1.0, numbered_samples(7, 50)));
    DataSettings settings;
    settings.seq_len = 20;
    settings.seed = 77;
    return MtfDataLoader(std::move(languages), settings);
  };
  MtfDataLoader reference = make();
  reference.next_rows(9);
  const std::string saved = reference.state().to_json();
  const auto expected = reference.next_rows(15);  // crosses epochs
  MtfDataLoader resumed = make();
  resumed.restore(DataState::from_json(saved));
  const auto actual = resumed.next_rows(15);
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(actual[i].tokens, expected[i].tokens) << i;
}

TEST(Loader, SkipsSamplesLongerThanARowAndCountsThem) {
  std::vector<Sample> samples = numbered_samples(6, 10);
  samples[2].inputs.assign(50, 7);
  std::vector<LanguageData> languages;
  languages.push_back(memory_language("a", 1.0, samples));
  DataSettings settings;
  settings.seq_len = 15;
  MtfDataLoader loader(std::move(languages), settings);
  loader.next_rows(3);
  EXPECT_GE(loader.state().per_language[0].skipped, 1);
  for (const PackedRow& row : loader.next_rows(3)) {
    for (std::int32_t token : row.tokens) EXPECT_NE(token, 7);
  }
}

namespace {

TrainSettings tiny_settings(const fs::path& dir, std::int64_t steps) {
  TrainSettings s;
  s.model_config = kData / "tiny-bloom.config.json";
  s.data.push_back(parse_data_spec("sw:0.6:" + (kData / "mtf" / "sw.jsonl").string()));
  s.data.push_back(parse_data_spec("zh:0.4:" + (kData / "mtf" / "zh.jsonl").string()));
  s.seq_len = 256;
  s.micro_batch = 1;
  s.global_batch = 2;
  s.steps = steps;
  s.lr = 3e-3;
  s.warmup_steps = 1;
  s.decay_style = "cosine";
  s.decay_steps = 6;
  s.adam.weight_decay = 0.1;
  s.valid_fraction = 0.1;
  s.checkpoint_dir = dir;
  s.save_interval = 2;
  return s;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("xmtf_train_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

}  // namespace

TEST(Trainer, ResumeReproducesTheUninterruptedRunBitForBit) {
  const fs::path straight = fresh_dir("straight");
  const fs::path interrupted = fresh_dir("interrupted");
  const TrainResult full = run_training(tiny_settings(straight, 6));
  ASSERT_EQ(full.losses.size(), 6u);
  EXPECT_LT(full.losses.back(), full.losses.front());
  const TrainResult first = run_training(tiny_settings(interrupted, 3));
  ASSERT_EQ(first.losses.size(), 3u);
  const TrainResult second = run_training(tiny_settings(interrupted, 6));  // resumes from step 3
  ASSERT_EQ(second.losses.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(first.losses[i], full.losses[i]) << i;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(second.losses[i], full.losses[i + 3]) << i + 3;
  // The final weights are identical too.
  const auto a = read_file(straight / "step-00000006" / "model.safetensors");
  const auto b = read_file(interrupted / "step-00000006" / "model.safetensors");
  EXPECT_TRUE(a == b);
  // A finished run is a no-op.
  EXPECT_TRUE(run_training(tiny_settings(interrupted, 6)).losses.empty());
  // Metrics read like one run: one training record per step.
  std::ifstream metrics(interrupted / "metrics.jsonl");
  std::string line;
  int training_records = 0;
  while (std::getline(metrics, line)) training_records += nlohmann::json::parse(line).contains("loss");
  EXPECT_EQ(training_records, 6);
  fs::remove_all(straight);
  fs::remove_all(interrupted);
}

TEST(Trainer, KillSwitchSavesAndStopsCleanly) {
  const fs::path dir = fresh_dir("kill");
  fs::create_directories(dir);
  TrainSettings s = tiny_settings(dir, 6);
  s.kill_switch_path = dir / "STOP";
  write_file_atomic(s.kill_switch_path, "");
  const TrainResult result = run_training(s);
  EXPECT_TRUE(result.stopped_early);
  EXPECT_EQ(result.steps_done, 0);
  EXPECT_TRUE(ckpt::latest_checkpoint(dir).has_value());
  fs::remove_all(dir);
}

TEST(Trainer, WallTimeBudgetStopsWithACheckpointAndARerunResumes) {
  const fs::path dir = fresh_dir("walltime");
  TrainSettings s = tiny_settings(dir, 4);
  s.exit_duration_minutes = 1e-9;  // spent before the first step
  const TrainResult stopped = run_training(s);
  EXPECT_TRUE(stopped.stopped_early);
  EXPECT_EQ(stopped.steps_done, 0);
  s.exit_duration_minutes = 0;
  const TrainResult resumed = run_training(s);
  EXPECT_TRUE(resumed.finished);
  EXPECT_EQ(resumed.losses.size(), 4u);
  fs::remove_all(dir);
}

TEST(Checkpoint, CorruptOrMismatchedCheckpointsAreRejectedClearly) {
  const fs::path dir = fresh_dir("corrupt");
  run_training(tiny_settings(dir, 2));
  const auto folder = ckpt::latest_checkpoint(dir);
  ASSERT_TRUE(folder.has_value());
  models::BloomModel model(models::load_bloom_config(kData / "tiny-bloom.config.json"));
  std::vector<float> m, v;
  ckpt::TrainingBuffers buffers{&model.params(), &m, &v};
  EXPECT_EQ(ckpt::load_training_checkpoint(*folder, model.layout(), buffers).step, 2);
  // Another model shape.
  models::BloomConfig other = model.config();
  other.hidden_size = 32;
  models::BloomModel small(other);
  ckpt::TrainingBuffers small_buffers{&small.params(), &m, &v};
  EXPECT_THROW(ckpt::load_training_checkpoint(*folder, small.layout(), small_buffers), Error);
  // Flip one byte of the weights.
  {
    std::fstream f(*folder / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-5, std::ios::end);
    f.put('\x7f');
  }
  try {
    ckpt::load_training_checkpoint(*folder, model.layout(), buffers);
    FAIL() << "corruption not detected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}
