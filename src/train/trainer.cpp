#include "train/trainer.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ckpt/hf_model.hpp"
#include "ckpt/temporaries.hpp"
#include "dist/grid.hpp"
#include "dist/local_communicator.hpp"
#include "train/gradient_sum.hpp"
#include "ckpt/training_checkpoint.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "models/model.hpp"
#include "nn/memory.hpp"

namespace xmtf::train {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
// Until the first step nothing is worth saving, and loading (a big vocabulary, many shards) can
// take minutes: a stop signal then ends the process at once instead of waiting for a step.
volatile std::sig_atomic_t g_loading = 1;

extern "C" void on_stop_signal(int signal_number) {
  if (g_loading) {
    static const char message[] = "xmtf-train: stop signal while loading: exiting (nothing to save yet)\n";
    [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(128 + signal_number);
  }
  g_stop_signal = signal_number;
}

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

std::unique_ptr<SampleSource> open_language(const LanguageFiles& language, std::int64_t vocab_size) {
  std::vector<std::unique_ptr<SampleSource>> parts;
  for (const fs::path& file : language.files) parts.push_back(open_sample_file(file, vocab_size));
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
  Trainer(const TrainSettings& settings, dist::Communicator& data_parallel)
      : s_(settings),
        dp_(data_parallel),
        backend_(nn::backend_named(settings.backend)),
        config_(models::load_model_config(settings.model_config)),
        model_(models::create_model(*config_, backend_)),
        optimizer_(model_->layout(), settings.adam, backend_),
        loader_(open_data(settings, *config_), data_settings(settings, *config_)),
        activations_(model_->make_activations()),
        gradient_sum_(model_->params().size(), data_parallel) {
    schedule_.max_lr = s_.lr;
    schedule_.min_lr = s_.min_lr;
    schedule_.warmup_steps = s_.warmup_steps;
    schedule_.total_steps = s_.decay_steps > 0 ? s_.decay_steps : s_.steps;
    schedule_.style = parse_decay_style(s_.decay_style);
    metrics_path_ = s_.metrics_path.empty() ? s_.checkpoint_dir / "metrics.jsonl" : s_.metrics_path;
  }

  TrainResult run();

 private:
  static std::vector<LanguageData> open_data(const TrainSettings& s, const models::ModelConfig& config) {
    if (s.data.empty()) fail("no training data: give at least one --data LANG:WEIGHT:PATTERN");
    std::vector<LanguageData> languages;
    for (const LanguageFiles& files : s.data) {
      languages.push_back({files.name, files.weight, open_language(files, config.vocab_size)});
    }
    return languages;
  }
  static DataSettings data_settings(const TrainSettings& s, const models::ModelConfig& config) {
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

  bool is_root() const { return dp_.rank() == 0; }
  // The rank's rows of every global batch: [first_row_, first_row_ + rows_per_rank_).
  std::int64_t rows_per_rank() const { return s_.global_batch / dp_.size(); }

  TrainSettings s_;
  dist::Communicator& dp_;
  const nn::Backend& backend_;
  std::unique_ptr<models::ModelConfig> config_;
  std::unique_ptr<models::Model> model_;
  AdamW optimizer_;
  MtfDataLoader loader_;
  LrSchedule schedule_;
  std::unique_ptr<models::Activations> activations_;
  GradientSum gradient_sum_;
  fs::path metrics_path_;
};

std::int64_t Trainer::start_or_resume() {
  ckpt::TrainingBuffers buffers{&model_->params(), &optimizer_.exp_avg(), &optimizer_.exp_avg_sq()};
  if (auto latest = ckpt::latest_checkpoint(s_.checkpoint_dir)) {
    const ckpt::TrainingState state = ckpt::load_training_checkpoint(*latest, model_->layout(), buffers);
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
    if (is_root()) truncate_metrics(metrics_path_, state.step);
    log::info("resuming at step {} from {}", state.step, latest->string());
    return state.step;
  }
  if (!s_.init_weights.empty()) {
    ckpt::load_hf_weights(s_.init_weights, *model_);
  } else {
    model_->init_random(s_.seed);
    log::info("random init (seed {}), {} parameters", s_.seed, model_->n_parameters());
  }
  if (is_root()) truncate_metrics(metrics_path_, 0);
  return 0;
}

// Crash injection for the fault tests: XMTF_TRAIN_TEST_CRASH="RANK:STEP" ends data-parallel rank
// RANK abruptly in the middle of step STEP (after its first forward), as a killed process would.
void maybe_crash(int rank, std::int64_t step) {
  static const char* spec = std::getenv("XMTF_TRAIN_TEST_CRASH");
  if (spec != nullptr && fmt::format("{}:{}", rank, step) == spec) {
    log::warn("XMTF_TRAIN_TEST_CRASH: rank {} exiting abruptly in step {}", rank, step);
    std::_Exit(137);
  }
}

double Trainer::train_step(std::int64_t step, double& grad_norm, std::int64_t& tokens) {
  // Every rank packs the whole global batch (the loss weights are normalised over all of it)
  // and takes its share of the rows; data parallelism changes who computes a micro-batch, not
  // what it holds.
  const models::Batch batch = make_batch(
      loader_.next_rows(s_.global_batch),
      s_.norm_target_loss ? LossNormalization::per_target : LossNormalization::token_mean, s_.prefix_lm);
  tokens = count_real_tokens(batch);
  const std::int64_t first_row = dp_.rank() * rows_per_rank();
  model_->zero_grads();
  gradient_sum_.begin_step();
  double loss = 0.0;
  for (std::int64_t first = first_row; first < first_row + rows_per_rank(); first += s_.micro_batch) {
    if (first != first_row) {
      gradient_sum_.add(model_->grads());
      model_->zero_grads();
    }
    const models::Batch micro = slice_batch(batch, first, s_.micro_batch);
    model_->forward(micro, *activations_, /*loss_rows_only=*/!s_.full_logits);
    maybe_crash(dp_.rank(), step);
    loss += model_->loss_and_backward(micro, *activations_);
  }
  gradient_sum_.finish(model_->grads());
  loss = dp_.all_reduce(loss, dist::ReduceOp::sum);
  grad_norm = clip_grad_norm(model_->grads(), s_.clip_grad, backend_);
  // fp32 has no loss scaler whose job it would be to skip such a step: it is an error, raised
  // before the update so that neither the weights nor any checkpoint see it. The loss and the
  // norm are the same on every rank, so every rank stops here.
  if (!std::isfinite(loss) || !std::isfinite(grad_norm)) {
    fail("step {}: the loss ({}) or the gradient norm ({}) is not finite; stopping without saving (the last "
         "checkpoint is kept). Lower --lr, check --adam-* and the data, then rerun", step, loss, grad_norm);
  }
  optimizer_.update(model_->params(), model_->grads(), schedule_.at(step));
  return loss;
}

std::optional<double> Trainer::validation_loss() {
  const std::vector<PackedRow> rows = loader_.validation_rows();
  if (rows.empty()) return std::nullopt;
  const models::Batch batch = make_batch(
      rows, s_.norm_target_loss ? LossNormalization::per_target : LossNormalization::token_mean, s_.prefix_lm);
  // Micro-batch k is computed by rank k % dp; the partial sums are added over the ranks.
  double loss = 0.0;
  for (std::int64_t first = 0, k = 0; first < batch.batch_size; first += s_.micro_batch, ++k) {
    if (k % dp_.size() != dp_.rank()) continue;
    const models::Batch micro = slice_batch(batch, first, std::min(s_.micro_batch, batch.batch_size - first));
    loss += model_->evaluate_loss(micro, *activations_);
  }
  return dp_.all_reduce(loss, dist::ReduceOp::sum);
}

void Trainer::save(std::int64_t step) {
  Json trainer;
  trainer["seq_len"] = s_.seq_len;
  trainer["global_batch"] = s_.global_batch;
  trainer["micro_batch"] = s_.micro_batch;
  trainer["dp"] = dp_.size();  // informational: a checkpoint resumes at any dp
  trainer["seed"] = s_.seed;
  trainer["adam_step"] = optimizer_.step();
  trainer["data"] = Json::parse(loader_.state().to_json());
  ckpt::TrainingBuffers buffers{&model_->params(), &optimizer_.exp_avg(), &optimizer_.exp_avg_sq()};
  // The replicas are identical: rank 0 writes; the others wait, so that none runs ahead of a
  // checkpoint that might still fail.
  dist::agree_or_throw(dp_, [&] {
    if (is_root()) ckpt::save_training_checkpoint(s_.checkpoint_dir, model_->layout(), buffers, {step, config_->to_json(), trainer.dump()});
  });
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
  dist::agree_or_throw(dp_, [&] {
    if (is_root()) ckpt::export_hf(*model_, s_.export_dir, s_.export_dtype);
  });
}

TrainResult Trainer::run() {
  const auto start = Clock::now();
  TrainResult result;
  std::int64_t step = start_or_resume();
  g_loading = 0;
  if (step >= s_.steps) {
    log::info("already trained to step {} (>= {} steps): nothing to do", step, s_.steps);
    if (!s_.export_dir.empty() && dp_.all_reduce<std::int32_t>(ckpt::hf_export_complete(s_.export_dir) ? 0 : 1, dist::ReduceOp::max) == 1) {
      finish_export();
    }
    result.steps_done = step;
    result.finished = true;
    return result;
  }
  double last_step_seconds = 0.0;
  while (step < s_.steps) {
    // Every rank stops at the same step: any rank's reason stops them all.
    std::string reason = stop_reason(start, last_step_seconds);
    if (dp_.all_reduce<std::int32_t>(reason.empty() ? 0 : 1, dist::ReduceOp::max) == 1 && reason.empty()) {
      reason = "another rank was asked to stop";
    }
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
    if (is_root()) append_metrics(metrics_path_, {{"step", step}, {"loss", loss}, {"lr", lr}, {"grad_norm", grad_norm},
                                   {"tokens", tokens}, {"tokens_per_s", tokens_per_second},
                                   {"step_seconds", last_step_seconds}});
    result.losses.push_back(loss);
    const bool last = step == s_.steps;
    if ((s_.eval_interval > 0 && step % s_.eval_interval == 0) || last) {
      if (auto valid = validation_loss()) {
        if (!std::isfinite(*valid)) fail("step {}: the validation loss is {}; stopping without saving", step, *valid);
        log::info("step {} validation loss {:.6f}", step, *valid);
        if (is_root()) append_metrics(metrics_path_, {{"step", step}, {"valid_loss", *valid}});
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

void validate_settings(const TrainSettings& s) {
  auto require = [](bool ok, std::string_view option, auto value, std::string_view domain) {
    if (!ok) fail("--{} {}: {}", option, value, domain);
  };
  auto finite = [](double x) { return std::isfinite(x); };
  require(s.seq_len >= 1, "seq-len", s.seq_len, "must be at least 1");
  require(s.micro_batch >= 1, "micro-batch", s.micro_batch, "must be at least 1");
  require(s.global_batch >= 1, "global-batch", s.global_batch, "must be at least 1");
  require(s.steps >= 1, "steps", s.steps, "must be at least 1");
  require(s.dp >= 1, "dp", s.dp, "must be at least 1");
  require(finite(s.lr) && s.lr >= 0, "lr", s.lr, "must be a finite number >= 0");
  require(finite(s.min_lr) && s.min_lr >= 0 && s.min_lr <= s.lr, "min-lr", s.min_lr, "must be finite, >= 0 and <= --lr");
  require(s.warmup_steps >= 0, "warmup-steps", s.warmup_steps, "must be >= 0");
  require(s.decay_steps >= 0, "decay-steps", s.decay_steps, "must be >= 0 (0: --steps)");
  require(finite(s.adam.beta1) && s.adam.beta1 >= 0 && s.adam.beta1 < 1, "adam-beta1", s.adam.beta1, "must be in [0, 1)");
  require(finite(s.adam.beta2) && s.adam.beta2 >= 0 && s.adam.beta2 < 1, "adam-beta2", s.adam.beta2, "must be in [0, 1)");
  require(finite(s.adam.eps) && s.adam.eps > 0, "adam-eps", s.adam.eps, "must be a finite number > 0");
  require(finite(s.adam.weight_decay) && s.adam.weight_decay >= 0, "weight-decay", s.adam.weight_decay, "must be a finite number >= 0");
  require(finite(s.clip_grad) && s.clip_grad >= 0, "clip-grad", s.clip_grad, "must be a finite number >= 0 (0: off)");
  require(finite(s.valid_fraction) && s.valid_fraction >= 0 && s.valid_fraction < 1, "valid-fraction", s.valid_fraction,
          "must be in [0, 1)");
  require(s.save_interval >= 0, "save-interval", s.save_interval, "must be >= 0 (0: at the end only)");
  require(s.eval_interval >= 0, "eval-interval", s.eval_interval, "must be >= 0 (0: at the end only)");
  require(finite(s.exit_duration_minutes) && s.exit_duration_minutes >= 0, "exit-duration-in-mins", s.exit_duration_minutes,
          "must be a finite number >= 0 (0: no budget)");
  for (const LanguageFiles& language : s.data) {
    require(finite(language.weight) && language.weight > 0, "data", language.name + ":" + fmt::format("{}", language.weight),
            "a language's weight must be a finite number > 0");
  }
  if (s.checkpoint_dir.empty()) fail("a checkpoint folder is required (--checkpoint-dir)");
  nn::backend_named(s.backend);  // throws naming the known backends
}

namespace {

// Weights, gradients and the two Adam moments (16 bytes per parameter) and one micro-batch's
// activations must fit in memory; checked before any of it is allocated.
void check_training_fits_in_memory(const models::ModelConfig& config, const TrainSettings& s) {
  const double memory = static_cast<double>(nn::host_memory_bytes());
  const double state_bytes = 16.0 * static_cast<double>(config.n_parameters());
  if (state_bytes > memory) {
    fail("{}: {}: training needs {} (weights, gradients, Adam moments: 16 bytes per parameter), more than the {} of "
         "memory here", config.origin, config.size_text(), format_bytes(state_bytes), format_bytes(memory));
  }
  // The activations of a model of this config (no weights allocated: only the formula is used).
  const double activations = config.activation_bytes(s.micro_batch, s.seq_len);
  if (state_bytes + activations > memory) {
    fail("--seq-len {} --micro-batch {}: the activations of one micro-batch take {} (attention grows with seq_len^2, "
         "the logits with the {}-token vocabulary), which with the {} of training state is more than the {} of memory "
         "here; lower --micro-batch or --seq-len", s.seq_len, s.micro_batch, format_bytes(activations), config.vocab_size,
         format_bytes(state_bytes), format_bytes(memory));
  }
}

// One trainer per checkpoint folder: a second one (a resubmitted task while the first still
// runs) would interleave metrics and race on checkpoints. Held for the process's lifetime.
class CheckpointFolderLock {
 public:
  explicit CheckpointFolderLock(const fs::path& folder) : path_(folder / ".lock") {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("{}: cannot open: {}", path_.string(), errno_text(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const std::string holder(trim(read_file(path_)));
      ::close(fd_);
      fail("{}: another xmtf-train ({}) is training in this checkpoint folder; wait for it or stop it first",
           folder.string(), holder.empty() ? "pid unknown" : "pid " + holder);
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
      log::debug("{}: could not record the pid", path_.string());
    }
  }
  ~CheckpointFolderLock() { ::close(fd_); }  // closing releases the flock
  CheckpointFolderLock(const CheckpointFolderLock&) = delete;
  CheckpointFolderLock& operator=(const CheckpointFolderLock&) = delete;

 private:
  fs::path path_;
  int fd_ = -1;
};

// What a killed run left (checkpoint being written, temporaries of latest / metrics / export).
void remove_stale_temporaries(const TrainSettings& s) {
  std::vector<fs::path> removed = ckpt::remove_temporaries(s.checkpoint_dir);
  if (!s.metrics_path.empty()) {
    for (fs::path& path : ckpt::remove_temporaries(s.metrics_path.has_parent_path() ? s.metrics_path.parent_path() : ".",
                                                   s.metrics_path.filename().string())) {
      removed.push_back(std::move(path));
    }
  }
  if (!s.export_dir.empty()) {
    for (fs::path& path : ckpt::remove_export_temporaries(s.export_dir)) removed.push_back(std::move(path));
  }
  for (const fs::path& path : removed) log::info("removed {}, left by an interrupted run", path.string());
}

}  // namespace

TrainResult run_training(const TrainSettings& settings, dist::Communicator& world) {
  g_loading = 1;
  // Checks every rank makes alike, so they all fail the same way without talking.
  validate_settings(settings);
  dist::ProcessGrid grid(world, {1, 1, settings.dp});
  if (settings.global_batch % (settings.dp * settings.micro_batch) != 0) {
    fail("--global-batch {} is not a multiple of --dp {} x --micro-batch {}: every rank takes the same number of whole "
         "micro-batches", settings.global_batch, settings.dp, settings.micro_batch);
  }
  check_training_fits_in_memory(*models::load_model_config(settings.model_config), settings);
  // One rank owns the checkpoint folder: its lock, its leftovers.
  std::unique_ptr<CheckpointFolderLock> lock;
  dist::agree_or_throw(world, [&] {
    if (world.rank() != 0) return;
    fs::create_directories(settings.checkpoint_dir);
    lock = std::make_unique<CheckpointFolderLock>(settings.checkpoint_dir);
    remove_stale_temporaries(settings);
  });
  std::unique_ptr<Trainer> trainer;
  dist::agree_or_throw(world, [&] { trainer = std::make_unique<Trainer>(settings, grid.dp()); });
  return trainer->run();
}

TrainResult run_training(const TrainSettings& settings) {
  dist::LocalCommunicator one_rank;
  return run_training(settings, one_rank);
}

}  // namespace xmtf::train
