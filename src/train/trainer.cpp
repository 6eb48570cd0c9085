#include "train/trainer.hpp"

#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ckpt/hf_bloom.hpp"
#include "ckpt/training_checkpoint.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "models/bloom.hpp"

namespace xmtf::train {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int signal_number) { g_stop_signal = signal_number; }

std::vector<fs::path> expand_pattern(const std::string& pattern) {
  const fs::path path(pattern);
  const std::string name = path.filename().string();
  if (name.find_first_of("*?[") == std::string::npos) {
    if (!fs::exists(path)) fail("data file {} does not exist", pattern);
    return {path};
  }
  const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::vector<fs::path> matches;
  if (fs::is_directory(folder)) {
    for (const auto& entry : fs::directory_iterator(folder)) {
      if (entry.is_regular_file() && glob_match(name, entry.path().filename().string())) matches.push_back(entry.path());
    }
  }
  std::sort(matches.begin(), matches.end());
  if (matches.empty()) fail("no data file matches {}", pattern);
  return matches;
}

std::unique_ptr<SampleSource> open_language(const LanguageFiles& language) {
  std::vector<std::unique_ptr<SampleSource>> parts;
  for (const fs::path& file : language.files) parts.push_back(open_sample_file(file));
  return std::make_unique<ConcatSampleSource>(std::move(parts));
}

std::int64_t count_real_tokens(const models::Batch& batch) {
  std::int64_t n = 0;
  for (std::int32_t segment : batch.segment_ids) n += segment != 0;
  return n;
}

// Rewrites the metrics file keeping only records of steps <= step (a resumed run appends from
// there, so the file reads like the uninterrupted run's).
void truncate_metrics(const fs::path& path, std::int64_t step) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    try {
      if (Json::parse(line).value("step", std::int64_t{0}) <= step) kept += line + "\n";
    } catch (const Json::exception&) {
      // a torn last line from a crash: drop it
    }
  }
  write_file_atomic(path, kept);
}

void append_metrics(const fs::path& path, const Json& record) {
  std::ofstream out(path, std::ios::app);
  out << record.dump() << "\n";
  out.flush();
  if (!out) fail("{}: cannot append metrics", path.string());
}

}  // namespace

void install_stop_signal_handlers() {
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGUSR1, on_stop_signal);
}

bool stop_requested_by_signal() { return g_stop_signal != 0; }

LanguageFiles parse_data_spec(const std::string& spec) {
  const auto parts = split(spec, ':');
  if (parts.size() < 3) fail("--data '{}': expected LANG:WEIGHT:PATTERN[,PATTERN...]", spec);
  LanguageFiles language;
  language.name = parts[0];
  try {
    language.weight = std::stod(parts[1]);
  } catch (const std::exception&) {
    fail("--data '{}': weight '{}' is not a number", spec, parts[1]);
  }
  std::string patterns = parts[2];
  for (std::size_t i = 3; i < parts.size(); ++i) patterns += ":" + parts[i];
  for (const std::string& pattern : split(patterns, ',')) {
    for (fs::path& file : expand_pattern(pattern)) language.files.push_back(std::move(file));
  }
  return language;
}

namespace {

class Trainer {
 public:
  explicit Trainer(const TrainSettings& settings)
      : s_(settings),
        config_(models::load_bloom_config(settings.model_config)),
        model_(config_),
        optimizer_(model_.layout(), settings.adam),
        loader_(open_data(settings, config_), data_settings(settings, config_)) {
    schedule_.max_lr = s_.lr;
    schedule_.min_lr = s_.min_lr;
    schedule_.warmup_steps = s_.warmup_steps;
    schedule_.total_steps = s_.decay_steps > 0 ? s_.decay_steps : s_.steps;
    schedule_.style = parse_decay_style(s_.decay_style);
    if (s_.global_batch % s_.micro_batch != 0) {
      fail("global_batch {} is not a multiple of micro_batch {}", s_.global_batch, s_.micro_batch);
    }
    metrics_path_ = s_.metrics_path.empty() ? s_.checkpoint_dir / "metrics.jsonl" : s_.metrics_path;
  }

  TrainResult run();

 private:
  static std::vector<LanguageData> open_data(const TrainSettings& s, const models::BloomConfig&) {
    if (s.data.empty()) fail("no training data: give at least one --data LANG:WEIGHT:PATTERN");
    std::vector<LanguageData> languages;
    for (const LanguageFiles& files : s.data) languages.push_back({files.name, files.weight, open_language(files)});
    return languages;
  }
  static DataSettings data_settings(const TrainSettings& s, const models::BloomConfig& config) {
    DataSettings d;
    d.seq_len = s.seq_len;
    d.pad_id = config.pad_token_id;
    d.eos_id = config.eos_token_id;
    d.append_eos = s.append_eos;
    d.valid_fraction = s.valid_fraction;
    d.seed = s.seed;
    return d;
  }

  std::int64_t start_or_resume();
  double train_step(std::int64_t step, double& grad_norm, std::int64_t& tokens);
  std::optional<double> validation_loss();
  void save(std::int64_t step);
  std::string stop_reason(Clock::time_point start, double last_step_seconds) const;
  void finish_export();

  TrainSettings s_;
  models::BloomConfig config_;
  models::BloomModel model_;
  AdamW optimizer_;
  MtfDataLoader loader_;
  LrSchedule schedule_;
  models::BloomActivations activations_;
  fs::path metrics_path_;
};

std::int64_t Trainer::start_or_resume() {
  ckpt::TrainingBuffers buffers{&model_.params(), &optimizer_.exp_avg(), &optimizer_.exp_avg_sq()};
  if (auto latest = ckpt::latest_checkpoint(s_.checkpoint_dir)) {
    const ckpt::TrainingState state = ckpt::load_training_checkpoint(*latest, model_.layout(), buffers);
    const Json trainer = Json::parse(state.trainer_json);
    if (trainer.value("seq_len", std::int64_t{0}) != s_.seq_len ||
        trainer.value("global_batch", std::int64_t{0}) != s_.global_batch ||
        trainer.value("seed", std::uint64_t{0}) != s_.seed) {
      fail("{}: checkpoint was made with seq_len {}, global_batch {}, seed {}; this run has {}, {}, {}: "
           "use another --checkpoint-dir or the same settings", latest->string(), trainer.value("seq_len", 0),
           trainer.value("global_batch", 0), trainer.value("seed", 0), s_.seq_len, s_.global_batch, s_.seed);
    }
    loader_.restore(DataState::from_json(trainer.at("data").dump()));
    optimizer_.set_step(state.step);
    truncate_metrics(metrics_path_, state.step);
    log::info("resuming at step {} from {}", state.step, latest->string());
    return state.step;
  }
  if (!s_.init_weights.empty()) {
    ckpt::load_bloom_weights(s_.init_weights, model_);
  } else {
    model_.init_random(s_.seed);
    log::info("random init (seed {}), {} parameters", s_.seed, model_.n_parameters());
  }
  truncate_metrics(metrics_path_, 0);
  return 0;
}

double Trainer::train_step(std::int64_t step, double& grad_norm, std::int64_t& tokens) {
  const models::Batch batch = make_batch(
      loader_.next_rows(s_.global_batch),
      s_.norm_target_loss ? LossNormalization::per_target : LossNormalization::token_mean, s_.prefix_lm);
  tokens = count_real_tokens(batch);
  model_.zero_grads();
  double loss = 0.0;
  for (std::int64_t first = 0; first < s_.global_batch; first += s_.micro_batch) {
    const models::Batch micro = slice_batch(batch, first, s_.micro_batch);
    model_.forward(micro, activations_, /*loss_rows_only=*/!s_.full_logits);
    loss += model_.loss_and_backward(micro, activations_);
  }
  grad_norm = clip_grad_norm(model_.grads(), s_.clip_grad);
  optimizer_.update(model_.params(), model_.grads(), schedule_.at(step));
  return loss;
}

std::optional<double> Trainer::validation_loss() {
  const std::vector<PackedRow> rows = loader_.validation_rows();
  if (rows.empty()) return std::nullopt;
  const models::Batch batch = make_batch(
      rows, s_.norm_target_loss ? LossNormalization::per_target : LossNormalization::token_mean, s_.prefix_lm);
  double loss = 0.0;
  for (std::int64_t first = 0; first < batch.batch_size; first += s_.micro_batch) {
    const models::Batch micro = slice_batch(batch, first, std::min(s_.micro_batch, batch.batch_size - first));
    loss += model_.evaluate_loss(micro, activations_);
  }
  return loss;
}

void Trainer::save(std::int64_t step) {
  Json trainer;
  trainer["seq_len"] = s_.seq_len;
  trainer["global_batch"] = s_.global_batch;
  trainer["micro_batch"] = s_.micro_batch;
  trainer["seed"] = s_.seed;
  trainer["adam_step"] = optimizer_.step();
  trainer["data"] = Json::parse(loader_.state().to_json());
  ckpt::TrainingBuffers buffers{&model_.params(), &optimizer_.exp_avg(), &optimizer_.exp_avg_sq()};
  ckpt::save_training_checkpoint(s_.checkpoint_dir, model_.layout(), buffers,
                                 {step, models::bloom_config_to_json(config_), trainer.dump()});
}

std::string Trainer::stop_reason(Clock::time_point start, double last_step_seconds) const {
  if (stop_requested_by_signal()) return "stop signal received";
  if (!s_.kill_switch_path.empty() && fs::exists(s_.kill_switch_path)) {
    return fmt::format("kill switch {} exists", s_.kill_switch_path.string());
  }
  if (s_.exit_duration_minutes > 0) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    // Stop while one more step and a checkpoint still fit in the budget.
    if (elapsed + 2 * last_step_seconds > s_.exit_duration_minutes * 60.0) {
      return fmt::format("wall-time budget of {} min nearly spent", s_.exit_duration_minutes);
    }
  }
  return {};
}

void Trainer::finish_export() {
  if (s_.export_dir.empty()) return;
  ckpt::export_bloom_hf(model_, s_.export_dir, s_.export_dtype);
}

TrainResult Trainer::run() {
  const auto start = Clock::now();
  TrainResult result;
  std::int64_t step = start_or_resume();
  if (step >= s_.steps) {
    log::info("already trained to step {} (>= {} steps): nothing to do", step, s_.steps);
    if (!s_.export_dir.empty() && !fs::exists(s_.export_dir / "model.safetensors")) finish_export();
    result.steps_done = step;
    result.finished = true;
    return result;
  }
  double last_step_seconds = 0.0;
  while (step < s_.steps) {
    const std::string reason = stop_reason(start, last_step_seconds);
    if (!reason.empty()) {
      log::warn("{}: saving a checkpoint at step {} and stopping", reason, step);
      save(step);
      result.stopped_early = true;
      result.steps_done = step;
      return result;
    }
    ++step;
    const auto step_start = Clock::now();
    double grad_norm = 0.0;
    std::int64_t tokens = 0;
    const double loss = train_step(step, grad_norm, tokens);
    last_step_seconds = std::chrono::duration<double>(Clock::now() - step_start).count();
    const double lr = schedule_.at(step);
    const double tokens_per_second = tokens / std::max(last_step_seconds, 1e-9);
    log::info("step {}/{} loss {:.6f} lr {:.3e} grad_norm {:.4f} tokens/s {:.0f} ({:.2f} s)", step, s_.steps,
              loss, lr, grad_norm, tokens_per_second, last_step_seconds);
    append_metrics(metrics_path_, {{"step", step}, {"loss", loss}, {"lr", lr}, {"grad_norm", grad_norm},
                                   {"tokens", tokens}, {"tokens_per_s", tokens_per_second},
                                   {"step_seconds", last_step_seconds}});
    result.losses.push_back(loss);
    const bool last = step == s_.steps;
    if ((s_.eval_interval > 0 && step % s_.eval_interval == 0) || last) {
      if (auto valid = validation_loss()) {
        log::info("step {} validation loss {:.6f}", step, *valid);
        append_metrics(metrics_path_, {{"step", step}, {"valid_loss", *valid}});
      }
    }
    if ((s_.save_interval > 0 && step % s_.save_interval == 0) || last) save(step);
  }
  finish_export();
  result.steps_done = step;
  result.finished = true;
  return result;
}

}  // namespace

TrainResult run_training(const TrainSettings& settings) {
  if (settings.checkpoint_dir.empty()) fail("a checkpoint folder is required (--checkpoint-dir)");
  if (settings.micro_batch < 1 || settings.global_batch < 1) fail("micro_batch and global_batch must be >= 1");
  fs::create_directories(settings.checkpoint_dir);
  Trainer trainer(settings);
  return trainer.run();
}

}  // namespace xmtf::train
