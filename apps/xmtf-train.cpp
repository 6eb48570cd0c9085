// xmtf-train: multitask finetuning of BLOOM (CPU, fp32; one process, or --dp N under mpiexec).
// Settings come from the command line and/or the [stages.<stage>] table of a manifest
// (--manifest); the command line wins. See docs/engine.md.
#include <toml++/toml.h>

#include <cstdlib>

#include "core/cli.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "dist/grid.hpp"
#include "dist/world.hpp"
#include "nn/backend.hpp"
#include "train/trainer.hpp"

using namespace xmtf;

namespace {

// Keys of a manifest stage that belong to the scheduler, not to the trainer.
bool is_scheduler_key(const std::string& key) {
  for (const char* k : {"after", "array", "nodes", "ntasks", "ntasks_per_node", "gpus_per_node", "gpus_per_task",
                        "time", "partition", "account", "cpus_per_task", "mem", "type", "run", "argv", "mpi",
                        "outputs", "env", "options"}) {
    if (key == k) return true;
  }
  return false;
}

// The stage table as "--key=value" arguments (placed before the real ones so the command line
// overrides the manifest).
std::vector<std::string> manifest_arguments(const std::string& path, const std::string& stage,
                                            const CLI::App& app) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    fail("{}:{}:{}: {}", path, e.source().begin.line, e.source().begin.column, e.description());
  }
  const toml::table* table = root["stages"][stage].as_table();
  if (table == nullptr) fail("{}: no [stages.{}] table", path, stage);
  // The scheduler's layout: trainer settings under `options`; else the stage table itself.
  if (const toml::table* options = (*table)["options"].as_table()) table = options;
  std::vector<std::string> args;
  for (const auto& [key_node, value] : *table) {
    const std::string key(key_node.str());
    std::string option = "--" + key;
    for (char& c : option) c = c == '_' ? '-' : c;
    if (is_scheduler_key(key)) continue;
    bool known = false;
    try {
      app.get_option(option);
      known = true;
    } catch (const CLI::OptionNotFound&) {
    }
    if (!known) fail("{}:{}: [stages.{}] key '{}' is not an xmtf-train setting (see --help)", path,
                     key_node.source().begin.line, stage, key);
    auto emit = [&](const toml::node& node) {
      if (node.is_string()) args.push_back(option + "=" + *node.value<std::string>());
      else if (node.is_boolean()) args.push_back(option + "=" + (*node.value<bool>() ? "true" : "false"));
      else if (node.is_integer()) args.push_back(option + "=" + std::to_string(*node.value<std::int64_t>()));
      else if (node.is_floating_point()) args.push_back(option + "=" + fmt::format("{}", *node.value<double>()));
      else fail("{}: [stages.{}] key '{}' has an unsupported type", path, stage, key);
    };
    if (const toml::array* array = value.as_array()) {
      for (const toml::node& element : *array) emit(element);
    } else {
      emit(value);
    }
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Multitask finetuning of BLOOM on decoder-packed (inputs, targets) samples.\n"
               "Resumes from <checkpoint-dir>/latest when present; a finished run is a no-op.",
               "xmtf-train"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)->always_capture_default();
  add_logging_options(app);
  train::TrainSettings s;
  std::string manifest, stage = "train", decay_style = "constant", export_dtype = "f32";
  std::vector<std::string> data_specs;
  app.add_option("--manifest", manifest, "read settings from this manifest's [stages.<stage>] table (keys = option names with _)");
  app.add_option("--stage", stage, "manifest stage to read (default train)");
  app.add_option("--model-config", s.model_config, "BLOOM config.json (HF; old key names accepted)")->required();
  app.add_option("--init-weights", s.init_weights, "initial weights: HF folder or .safetensors (default: random init)");
  app.add_option("--seed", s.seed, "seed of the init, the validation split and the shuffles");
  app.add_option("--data", data_specs, "LANG:WEIGHT:PATTERN[,PATTERN] (repeatable): tokenized .h5 shards or .jsonl with input_ids/target_ids")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--seq-len", s.seq_len, "tokens per packed row (rows hold seq_len + 1)");
  app.add_option("--micro-batch", s.micro_batch, "rows per forward/backward");
  app.add_option("--global-batch", s.global_batch, "rows per optimizer step (multiple of --micro-batch)");
  app.add_flag("--norm-target-loss,!--no-norm-target-loss", s.norm_target_loss,
               "weight each target 1/its length, mean over targets (default); --no-...: token mean");
  app.add_flag("--prefix-lm", s.prefix_lm, "attend bidirectionally over each sample's input");
  app.add_flag("--append-eos,!--no-append-eos", s.append_eos, "close targets with EOS unless they already end with it (default)");
  app.add_option("--valid-fraction", s.valid_fraction, "share of each language held out for the validation loss (never trained on)");
  app.add_option("--steps", s.steps, "optimizer steps");
  app.add_option("--lr", s.lr, "peak learning rate");
  app.add_option("--min-lr", s.min_lr, "learning rate at the end of the decay");
  app.add_option("--warmup-steps", s.warmup_steps, "linear warmup steps");
  app.add_option("--decay-style", decay_style, "constant, linear or cosine")->check(CLI::IsMember({"constant", "linear", "cosine"}));
  app.add_option("--decay-steps", s.decay_steps, "steps at which the decay ends (default --steps)");
  app.add_option("--adam-beta1", s.adam.beta1, "AdamW beta1");
  app.add_option("--adam-beta2", s.adam.beta2, "AdamW beta2");
  app.add_option("--adam-eps", s.adam.eps, "AdamW epsilon");
  app.add_option("--weight-decay", s.adam.weight_decay, "decoupled weight decay (not on biases and LayerNorms)");
  app.add_option("--clip-grad", s.clip_grad, "global gradient-norm clip (0: off)");
  app.add_option("--checkpoint-dir", s.checkpoint_dir, "checkpoints (step-N/, latest) and metrics.jsonl")->required();
  app.add_option("--save-interval", s.save_interval, "checkpoint every N steps (0: at the end only)");
  app.add_option("--eval-interval", s.eval_interval, "validation loss every N steps (0: at the end only)");
  app.add_option("--metrics", s.metrics_path, "JSON-lines metrics file (default <checkpoint-dir>/metrics.jsonl)");
  app.add_option("--export-dir", s.export_dir, "write an HF folder (model.safetensors + config.json) at the end");
  app.add_option("--export-dtype", export_dtype, "f32, bf16 or f16")->check(CLI::IsMember({"f32", "bf16", "f16"}));
  app.add_option("--kill-switch-path", s.kill_switch_path, "stop cleanly (checkpoint, exit 0) when this file appears");
  app.add_option("--backend", s.backend, "kernels: cpu (BLAS, default) or reference (plain loops, the oracle; slow)")
      ->check(CLI::IsMember({"cpu", "reference"}));
  app.add_flag("--full-logits", s.full_logits, "compute the LM head on every position, not only where loss is taken (same result, slower; for benchmarks)");
  int tp = 1, pp = 1, dp = 1;
  app.add_option("--tp", tp, "tensor-parallel ranks (only 1 in this version)");
  app.add_option("--pp", pp, "pipeline-parallel ranks (only 1 in this version)");
  app.add_option("--dp", dp, "data-parallel ranks: start with mpiexec -n N (or srun); each takes global-batch / N rows, "
                             "gradients are summed over the ranks, rank 0 writes; the losses do not depend on N");
  app.add_option("--exit-duration-in-mins", s.exit_duration_minutes, "stop cleanly before this wall-time budget runs out");

  // A manifest's settings are parsed first, then the real command line over them.
  std::vector<std::string> arguments(argv + 1, argv + argc);
  for (std::size_t i = 0; i + 1 < arguments.size(); ++i) {
    if (arguments[i] == "--manifest") manifest = arguments[i + 1];
    if (arguments[i] == "--stage") stage = arguments[i + 1];
  }
  for (const std::string& a : arguments) {
    if (a.rfind("--manifest=", 0) == 0) manifest = a.substr(11);
    if (a.rfind("--stage=", 0) == 0) stage = a.substr(8);
  }
  std::vector<std::string> all;
  try {
    if (!manifest.empty()) all = manifest_arguments(manifest, stage, app);
  } catch (const Error& e) {
    log::set_program("xmtf-train");
    log::error("{}", e.what());
    return 2;
  }
  all.insert(all.end(), arguments.begin(), arguments.end());
  std::vector<char*> full_argv{argv[0]};
  for (std::string& a : all) full_argv.push_back(a.data());

  return run_main(app, static_cast<int>(full_argv.size()), full_argv.data(), [&]() -> int {
    dist::World world(argc, argv);
    s.dp = dp;
    s.decay_style = decay_style;
    s.export_dtype = export_dtype == "bf16" ? ckpt::DType::bf16 : export_dtype == "f16" ? ckpt::DType::f16 : ckpt::DType::f32;
    // Errors found alike on every rank (each exits, rank 0 says why): out-of-domain settings are
    // bad usage (2); missing data and layouts this version or the launch cannot run, 1.
    try {
      train::validate_settings(s);
    } catch (const Error& e) {
      if (world.is_root()) log::error("{}", e.what());
      return 2;
    }
    try {
      if (tp != 1 || pp != 1) {
        fail("--tp {} --pp {}: tensor and pipeline parallelism are not in this version (data parallelism is: --dp N "
             "under mpiexec -n N)", tp, pp);
      }
      dist::ProcessGrid grid(world.communicator(), {tp, pp, dp});
      for (const std::string& spec : data_specs) s.data.push_back(train::parse_data_spec(spec));
    } catch (const Error& e) {
      if (world.is_root()) log::error("{}", e.what());
      return 1;
    }
    // The cores this rank has to itself (ranks of a node share it), unless the user chose.
    if (std::getenv("OPENBLAS_NUM_THREADS") == nullptr) nn::backend_named(s.backend).set_threads(world.cores_per_rank());
    train::install_stop_signal_handlers();
    return world.run([&] {
      const train::TrainResult result = train::run_training(s, world.communicator());
      if (world.is_root()) {
        if (result.stopped_early) log::info("stopped at step {}; rerun to resume", result.steps_done);
        else log::info("done: step {}", result.steps_done);
      }
      return 0;
    });
  });
}
