// xmtf-eval end to end: a tiny BLOOM trained here by the engine on a synthetic two-choice task
// reaches a known accuracy through the executable; 1 and 2 MPI ranks write identical files;
// bad usage and bad input give clear errors and exit codes; reruns are no-ops.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "core/fs.hpp"
#include "eval_test_util.hpp"
#include "h5/tokenize_job.hpp"
#include "prompts/rows.hpp"
#include "prompts/templates.hpp"
#include "tok/tokenizer.hpp"
#include "train/trainer.hpp"

namespace xmtf::eval {
namespace {

using Json = nlohmann::json;

using testing::kData;
using testing::kModel;
using testing::kTokenizer;
using testing::q;
using testing::run;
const fs::path kXcopaEn = kData / "prompts" / "promptsource" / "pr826" / "xcopa" / "en" / "templates.yaml";
const fs::path kSynthetic = kData / "eval" / "synthetic" / "templates.yaml";
const fs::path kTool = fs::path(XMTF_BIN_DIR) / "xmtf-eval";

std::map<std::string, std::string> files_in(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) files[entry.path().filename().string()] = read_file(entry.path());
  return files;
}

class XmtfEvalTest : public ::testing::Test {
 protected:
  testing::TempDir temp_{"cli_" + testing::test_name()};
  const fs::path& dir_ = temp_.path();
  std::string base_args(const fs::path& data, const fs::path& output, const std::string& dataset = "xcopa",
                        const fs::path& templates = kXcopaEn) const {
    return fmt::format("--model {} --tokenizer {} --dataset {} --data {} --templates {} --output {}", q(kModel), q(kTokenizer),
                       dataset, q(data), q(templates), q(output));
  }
};

TEST_F(XmtfEvalTest, OneAndTwoRanksWriteIdenticalFiles) {
  const std::string args = base_args(kData / "prompts" / "xcopa" / "val.sw.jsonl", "OUT") +
                           " --limit 21 --batch-size 4 --predictions --template best_option --template cause_effect"
                           " --template '\u2026What could happen next, C1 or C2?'";
  auto one = run(fmt::format("{} {}", q(kTool), std::string(args).replace(args.find("OUT"), 3, q(dir_ / "one"))));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  auto two = run(fmt::format("mpiexec -n 2 {} {}", q(kTool), std::string(args).replace(args.find("OUT"), 3, q(dir_ / "two"))));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  const auto a = files_in(dir_ / "one"), b = files_in(dir_ / "two");
  EXPECT_EQ(a.size(), 6u);  // 3 results + 3 predictions
  EXPECT_EQ(a, b);
  EXPECT_TRUE(a.count("xcopa.sw.validation.What_could_happen_next_C1_or_C2.json"));
  // The rerun does nothing.
  auto again = run(fmt::format("mpiexec -n 2 {} {}", q(kTool), std::string(args).replace(args.find("OUT"), 3, q(dir_ / "two"))));
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.output.find("3 of 3 templates up to date"), std::string::npos) << again.output;
  EXPECT_EQ(again.output.find("rank-eval"), std::string::npos) << again.output;
}

TEST_F(XmtfEvalTest, BadUsageAndBadInputGiveClearErrors) {
  const fs::path sw = kData / "prompts" / "xcopa" / "val.sw.jsonl";
  auto help = run(fmt::format("{} --help", q(kTool)));
  EXPECT_EQ(help.exit_code, 0);
  for (const char* option : {"--model", "--dataset", "--data", "--templates", "--template", "--config", "--split", "--prompt-lang",
                             "--tokenizer", "--limit", "--predictions", "--output"})
    EXPECT_NE(help.output.find(option), std::string::npos) << option;
  auto unknown = run(fmt::format("{} {}", q(kTool), base_args(sw, dir_ / "o", "copa")));
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.output.find("copa"), std::string::npos) << unknown.output;
  auto missing = run(fmt::format("{} --model {} --dataset xcopa --data {} --templates {}", q(kTool), q(kModel), q(sw), q(kXcopaEn)));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("--output"), std::string::npos) << missing.output;
  auto language = run(fmt::format("{} {} --prompt-lang FR", q(kTool), base_args(sw, dir_ / "o")));
  EXPECT_EQ(language.exit_code, 2);

  // Data of another dataset: WinoGrande rows given as XCOPA.
  auto other = run(fmt::format("{} {}", q(kTool), base_args(kData / "prompts" / "winogrande" / "dev.jsonl", dir_ / "o")));
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.output.find("dev.jsonl: row 1 has no field 'premise'"), std::string::npos) << other.output;
  // Templates of another dataset.
  const fs::path xnli = kData / "prompts" / "promptsource" / "pr827" / "xnli" / "en" / "templates.yaml";
  auto wrong_templates = run(fmt::format("{} {}", q(kTool), base_args(sw, dir_ / "o", "xcopa", xnli)));
  EXPECT_EQ(wrong_templates.exit_code, 1);
  EXPECT_NE(wrong_templates.output.find("templates for dataset 'xnli', not for xcopa"), std::string::npos) << wrong_templates.output;
  // A misspelt template (one without answer choices: tests/unit/eval/test_rank_eval.cpp).
  auto typo = run(fmt::format("{} {} --template best_optoin", q(kTool), base_args(sw, dir_ / "o")));
  EXPECT_EQ(typo.exit_code, 1);
  EXPECT_NE(typo.output.find("did you mean 'best_option'"), std::string::npos) << typo.output;
  // No file was written by any failed run, under 2 ranks either.
  auto two = run(fmt::format("mpiexec -n 2 {} {}", q(kTool), base_args(kData / "prompts" / "winogrande" / "dev.jsonl", dir_ / "o")));
  EXPECT_EQ(two.exit_code, 1);
  EXPECT_NE(two.output.find("not a xcopa row"), std::string::npos) << two.output;
  EXPECT_FALSE(fs::exists(dir_ / "o") && !fs::is_empty(dir_ / "o"));
}

// ---- A model that learnt something, end to end ---------------------------------------------

// XCOPA-shaped rows of a task only a model that read the premise can solve: the colour in the
// premise decides the answer (red -> stop, green -> go, ...), the other choice is another answer,
// in random order.
std::vector<Json> synthetic_rows(std::size_t n, std::uint32_t seed) {
  const std::vector<std::pair<std::string, std::string>> rules = {
      {"red", "stop"}, {"green", "go"}, {"blue", "swim"}, {"yellow", "wait"}};
  const std::vector<std::string> nouns = {"light", "car", "sign", "ball", "box", "door", "kite", "cup", "hat", "flag"};
  std::mt19937 generator(seed);
  std::vector<Json> rows;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t rule = generator() % rules.size();
    std::size_t other = generator() % (rules.size() - 1);
    other += other >= rule ? 1 : 0;
    const int label = static_cast<int>(generator() % 2);
    const std::string& right = rules[rule].second;
    const std::string& wrong = rules[other].second;
    rows.push_back({{"premise", fmt::format("The {} is {}.", nouns[generator() % nouns.size()], rules[rule].first)},
                    {"choice1", label == 0 ? right : wrong},
                    {"choice2", label == 0 ? wrong : right},
                    {"question", "effect"},
                    {"label", label},
                    {"idx", i}});
  }
  return rows;
}

void write_jsonl(const fs::path& path, const std::vector<Json>& rows) {
  std::string text;
  for (const Json& row : rows) text += row.dump() + "\n";
  write_file_atomic(path, text);
}

TEST_F(XmtfEvalTest, ATinyModelTrainedOnASyntheticTaskReachesAKnownAccuracy) {
  // Training data: a promptsource template for the task (tests/data/eval/synthetic) over 256
  // rows, tokenized as xmtf-tokenize does (" " + target + EOS), trained by the engine.
  const auto file = prompts::load_template_file(kSynthetic);
  ASSERT_EQ(file.templates.size(), 1u);
  prompts::CompiledTemplate compiled(file, file.templates[0]);
  prompts::PythonRandom rng(0);
  auto tokenizer = tok::load_tokenizer(kTokenizer);
  h5::SampleEncoder encoder(*tokenizer, h5::TokenizeOptions{}, kTokenizer.string());
  std::string train_lines;
  std::vector<std::int32_t> input_ids, target_ids;
  for (const Json& row : synthetic_rows(256, 1)) {
    auto rendered = compiled.apply(*prompts::parse_json(row.dump()).entries, rng);
    ASSERT_EQ(rendered.targets.size(), 1u);
    encoder.encode(*tokenizer, rendered.input, rendered.targets[0], input_ids, target_ids);
    train_lines += Json{{"input_ids", input_ids}, {"target_ids", target_ids}}.dump() + "\n";
  }
  write_file_atomic(dir_ / "train.jsonl", train_lines);
  Json config = Json::parse(read_file(kModel / "config.json"));
  config["hidden_size"] = 32;
  config["n_head"] = 4;
  write_file_atomic(dir_ / "config.json", config.dump(2));
  train::TrainSettings settings;
  settings.model_config = dir_ / "config.json";
  settings.seed = 3;
  settings.data.push_back(train::parse_data_spec("en:1:" + (dir_ / "train.jsonl").string()));
  settings.seq_len = 160;
  settings.micro_batch = 4;
  settings.global_batch = 4;
  settings.steps = 120;
  settings.lr = 1e-2;
  settings.warmup_steps = 10;
  settings.decay_style = "cosine";
  settings.checkpoint_dir = dir_ / "checkpoints";
  settings.export_dir = dir_ / "model";
  const auto trained = train::run_training(settings);
  ASSERT_TRUE(trained.finished);
  EXPECT_LT(trained.losses.back(), 0.3);  // from 10.8 at step 1
  fs::copy(kTokenizer, dir_ / "model" / "tokenizer.json");

  // Held-out rows through xmtf-eval: the trained model gets all 40 right (its smallest margin is
  // 0.3 nats, far above float noise); the random tiny model of the other tests does not.
  write_jsonl(dir_ / "val.en.jsonl", synthetic_rows(40, 2));
  auto evaluate = [&](const fs::path& model, const fs::path& out) {
    auto result = run(fmt::format("{} --model {} --tokenizer {} --dataset xcopa --data {} --templates {} --config en "
                                  "--output {} --predictions",
                                  q(kTool), q(model), q(kTokenizer), q(dir_ / "val.en.jsonl"), q(kSynthetic), q(out)));
    EXPECT_EQ(result.exit_code, 0) << result.output;
    return Json::parse(read_file(out / "xcopa.en.validation.colour_rule.json"));
  };
  const Json learnt = evaluate(dir_ / "model", dir_ / "learnt");
  EXPECT_EQ(learnt["n"], 40);
  EXPECT_EQ(learnt["correct"], 40) << learnt.dump(2);
  EXPECT_DOUBLE_EQ(learnt["evaluation"]["accuracy"].get<double>(), 1.0);
  const Json untrained = evaluate(kModel, dir_ / "untrained");
  EXPECT_LT(untrained["correct"].get<int>(), 36) << untrained.dump(2);
}

}  // namespace
}  // namespace xmtf::eval

namespace xmtf::eval {
namespace {

TEST_F(XmtfEvalTest, HumanEvalWritesPassAtKPerTemperatureAndTheSameFilesOnTwoRanks) {
  const fs::path templates = kData / "prompts" / "promptsource" / "pr827" / "openai_humaneval" / "templates.yaml";
  const std::string args = fmt::format(
      "--model {} --tokenizer {} --dataset humaneval --data {} --templates {} --limit 3 --samples 2 --temperatures 0,0.8 "
      "--max-new-tokens 8 --predictions --jobs 2",
      q(kModel), q(kTokenizer), q(kData / "eval" / "humaneval" / "HumanEval.jsonl.gz"), q(templates));
  auto one = run(fmt::format("{} {} --output {}", q(kTool), args, q(dir_ / "one")));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  auto two = run(fmt::format("mpiexec -n 2 {} {} --output {}", q(kTool), args, q(dir_ / "two")));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_EQ(files_in(dir_ / "one"), files_in(dir_ / "two"));
  const Json result = Json::parse(read_file(dir_ / "one" / "humaneval.None.test.prompt.json"));
  EXPECT_EQ(result["dataset_name"], "openai_humaneval");
  EXPECT_TRUE(result["dataset_config_name"].is_null());
  EXPECT_TRUE(result["template_name"].is_null());
  EXPECT_EQ(result["split"], "test");
  EXPECT_EQ(result["n"], 3);
  ASSERT_TRUE(result["evaluation"].contains("pass@1"));
  EXPECT_FALSE(result["evaluation"].contains("pass@10"));  // only k <= samples
  ASSERT_EQ(result["per_temperature"].size(), 2u);
  EXPECT_EQ(result["per_temperature"][0]["temperature"], 0.0);
  EXPECT_EQ(result["settings"]["samples"], 2);
  const auto predictions = testing::read_jsonl(dir_ / "one" / "humaneval.None.test.prompt.jsonl");
  ASSERT_EQ(predictions.size(), 12u);  // 2 temperatures x 3 problems x 2 samples
  EXPECT_EQ(predictions[0]["task_id"], "HumanEval/0");
  // Greedy samples of one problem are the same completion.
  EXPECT_EQ(predictions[0]["completion"], predictions[1]["completion"]);
  for (const Json& p : predictions) {
    EXPECT_TRUE(p["finish"] == "stop" || p["finish"] == "eos" || p["finish"] == "length") << p.dump();
    EXPECT_EQ(p["passed"], p["result"] == "passed") << p.dump();
  }
  // A template renders the prompt instead.
  auto templated = run(fmt::format("{} {} --output {} --template 'function body generation'", q(kTool), args, q(dir_ / "t")));
  ASSERT_EQ(templated.exit_code, 0) << templated.output;
  const Json t = Json::parse(read_file(dir_ / "t" / "humaneval.None.test.function_body_generation.json"));
  EXPECT_EQ(t["template_name"], "function body generation");
}

}  // namespace
}  // namespace xmtf::eval
