#pragma once
// The multitask-finetuning loop (any model family of the Model interface, one rank or data
// parallel over many): packed global batches split into
// micro-batches (gradient accumulation), global-norm clipping, AdamW with a warmup + decay
// schedule, periodic validation loss, checkpoints (resumable bit for bit), clean stop on
// SIGTERM / a kill-switch file / a wall-time budget, per-step logs and a JSON-lines metrics file.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ckpt/safetensors.hpp"
#include "dist/communicator.hpp"
#include "train/data_loader.hpp"
#include "train/optimizer.hpp"
#include "train/packing.hpp"

namespace xmtf::train {

struct LanguageFiles {
  std::string name;
  double weight = 1.0;
  std::vector<std::filesystem::path> files;
};

// "LANG:WEIGHT:PATTERN[,PATTERN...]" (PATTERN may use * ? [..] in its file name part).
LanguageFiles parse_data_spec(const std::string& spec);

struct TrainSettings {
  // Model: a config.json (random init with `seed`) and optional initial weights.
  std::filesystem::path model_config;
  std::filesystem::path init_weights;  // HF folder / safetensors file; empty: random init
  std::uint64_t seed = 1234;
  // Data.
  std::vector<LanguageFiles> data;
  std::int64_t seq_len = 2048;
  std::int64_t micro_batch = 1;   // rows per forward/backward
  std::int64_t global_batch = 1;  // rows per optimizer step (a multiple of dp x micro_batch)
  int dp = 1;                     // data-parallel ranks: each takes global_batch / dp rows
  bool norm_target_loss = true;
  bool prefix_lm = false;
  bool append_eos = true;
  double valid_fraction = 0.0;
  // Optimisation.
  std::int64_t steps = 10;
  double lr = 2e-5;
  double min_lr = 0.0;
  std::int64_t warmup_steps = 0;
  std::string decay_style = "constant";
  std::int64_t decay_steps = 0;  // 0: steps
  AdamWSettings adam{0.9, 0.999, 1e-8, 0.0};
  double clip_grad = 1.0;
  // Outputs and control.
  std::filesystem::path checkpoint_dir;
  std::int64_t save_interval = 0;  // 0: only at the end (and on a stop request)
  std::int64_t eval_interval = 0;  // 0: only at the end (when there is validation data)
  std::filesystem::path metrics_path;  // default <checkpoint_dir>/metrics.jsonl
  std::filesystem::path export_dir;    // HF folder written at the end; empty: none
  ckpt::DType export_dtype = ckpt::DType::f32;
  std::filesystem::path kill_switch_path;
  double exit_duration_minutes = 0.0;  // 0: no budget
  // LM head on every position, as Megatron does (same result; for benchmarks). Default: only
  // on the positions that carry loss.
  bool full_logits = false;
  std::string backend = "cpu";  // nn::backend_named: cpu | reference
};

struct TrainResult {
  std::int64_t steps_done = 0;  // the step the run ended at
  bool finished = false;        // reached settings.steps
  bool stopped_early = false;   // SIGTERM / kill switch / wall-time budget
  std::vector<double> losses;   // of the steps run by this invocation
};

// Installs handlers for SIGTERM / SIGINT / SIGUSR1. While the run is loading (config, data,
// weights: nothing to save yet) a signal ends the process at once with a message; once training
// has started it requests a clean stop (a checkpoint at the next step boundary, exit 0).
void install_stop_signal_handlers();
bool stop_requested_by_signal();

// Throws xmtf::Error naming the option (--lr nan, --adam-beta1 1, --steps -1, --valid-fraction
// 1.5, ...) when a setting is outside its domain. run_training calls it first.
void validate_settings(const TrainSettings& settings);

// A non-finite loss or gradient norm stops the run with an error before the optimizer step;
// nothing is saved then, so the last checkpoint stays the last good one.
//
// Over `world` (settings.dp ranks: data parallelism) every rank takes its share of each global
// batch; gradients are summed over the ranks (train/gradient_sum.hpp), so every rank takes the
// same optimizer step and the replicas stay identical; rank 0 writes checkpoints, metrics and
// the export. The losses do not depend on dp (nor on micro_batch). Errors that every rank sees
// alike are thrown on every rank; one rank's own failure makes the others throw too.
TrainResult run_training(const TrainSettings& settings, dist::Communicator& world);
// On this process alone (dp must be 1).
TrainResult run_training(const TrainSettings& settings);

}  // namespace xmtf::train
