// Stale tasks end to end through the task wrapper: tasks run (run_task writes their
// fingerprints), then the manifest, an input or a program changes, and find_stale must name
// exactly the tasks that changed and what depends on them, with the reasons a user reads;
// retiring them and running again must rerun those and nothing else.
#include "sched/stale.hpp"

#include <gmock/gmock.h>

#include "core/process.hpp"
#include "core/sha256.hpp"
#include "core/text.hpp"
#include "sched/fingerprint.hpp"
#include "sched/markers.hpp"
#include "sched/task.hpp"
#include "sched_test_util.hpp"

namespace xmtf::sched {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

struct StaleTest : ::testing::Test {
  fs::path dir;
  std::string languages = R"(["en", "sw", "zh"])";
  std::string b_run = "echo b{lang} >> out/b_{lang}.txt";
  std::string a_rerun_on, d_rerun_on = R"(rerun_on = ["options", "inputs"])";
  Plan plan;

  void SetUp() override {
    dir = testing::scratch(::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir / "out");
    fs::create_directories(dir / "bin");
    for (const char* lang : {"en", "sw", "zh"}) write_file_atomic(dir / "data" / (std::string(lang) + ".txt"), "abc\n");
    write_tool("#!/bin/sh\necho \"$1\" >> out/tool_$1.txt\n");
    replan();
  }
  void TearDown() override { fs::remove_all(dir); }

  void write_tool(const std::string& text) {
    write_file_atomic(dir / "bin/tool", text);
    fs::permissions(dir / "bin/tool", fs::perms::owner_all);
  }

  std::string manifest() const {
    return fmt::format(R"TOML([run]
name = "s"
workdir = "{0}"
[languages]
use = {1}
[stages.a]
array = "languages"
run = "cat data/{{lang}}.txt >> out/a_{{lang}}.txt"
inputs = ["data/{{lang}}.txt"]
{3}
[stages.b]
array = "languages"
after = ["a"]
run = "{2}"
[stages.c]
after = ["b"]
run = "echo c >> out/c.txt"
[stages.d]
array = "languages"
argv = ["{0}/bin/tool", "{{lang}}"]
{4}
[stages.e]
argv = ["{0}/bin/tool", "e"]
)TOML",
                       dir.string(), languages, b_run, a_rerun_on, d_rerun_on);
  }

  void replan() {
    plan = make_plan(parse_manifest(manifest(), "m.toml", "."), "/bin/false", false);
    identify_programs(plan);
    write_plan(plan);
  }

  // Every task in dependency order, as an executor would; done tasks skip themselves.
  void run_all() {
    for (const auto& stage : plan.stages)
      for (std::size_t i = 0; i < stage.rows.size(); ++i)
        ASSERT_EQ(run_task({stage.dir / "stage.json", i, true}), 0) << stage.stage->name << "[" << i << "]";
  }

  // Stale task labels per stage, e.g. {"b[en]", "c[0]"}.
  std::vector<std::string> stale_labels(const StaleReport& report) {
    std::vector<std::string> labels;
    for (const auto& s : report.stages)
      for (const auto& t : s.stale) labels.push_back(t.label);
    return labels;
  }

  StaleReport rerun_stale(const RerunPolicy& policy = {}) {
    StaleReport report = find_stale(plan, policy);
    retire_stale(plan, report);
    run_all();
    return report;
  }

  // How many times the task writing `file` ran (each run appends a line).
  std::size_t runs(const std::string& file) {
    std::string text = read_file(dir / "out" / file);
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  }
};

TEST_F(StaleTest, NothingStaleAfterARun) {
  run_all();
  StaleReport report = find_stale(plan);
  EXPECT_EQ(report.done_count(), 11u);
  EXPECT_TRUE(stale_labels(report).empty());
  EXPECT_EQ(format_stale(report), "up to date: the 11 done tasks match their fingerprints\n");
  auto marker = read_marker(plan.run_dir / "a", 1, "done");
  ASSERT_TRUE(marker && marker->fingerprint.is_object());
  Fingerprint f = fingerprint_from_json(marker->fingerprint, "a[1]");
  EXPECT_EQ(f.params.at("lang"), "sw");
  EXPECT_THAT(f.command, ElementsAre("bash", "-c", "cat data/sw.txt >> out/a_sw.txt"));
  ASSERT_EQ(f.inputs.size(), 1u);
  EXPECT_EQ(f.inputs[0].path, "data/sw.txt");
  EXPECT_EQ(f.inputs[0].files[0].size, 4u);
}

TEST_F(StaleTest, AnEditedOptionRerunsThatStageAndItsDependentsOnly) {
  run_all();
  b_run = "echo B{lang} >> out/b_{lang}.txt";
  replan();
  StaleReport report = find_stale(plan);
  EXPECT_THAT(stale_labels(report), ElementsAre("b[en]", "b[sw]", "b[zh]", "c[0]"));
  std::string text = format_stale(report);
  EXPECT_THAT(text, HasSubstr("stale: 4 of 11 done tasks changed since they ran"));
  EXPECT_THAT(text, HasSubstr("    b[sw]: run line 'echo bsw >> out/b_sw.txt' -> 'echo Bsw >> out/b_sw.txt'\n"));
  EXPECT_THAT(text, HasSubstr("    c[0]: upstream b reruns 3 of 3 tasks (b[en], b[sw], b[zh])\n"));
  retire_stale(plan, report);
  EXPECT_TRUE(fs::exists(marker_path(plan.run_dir / "b", 0, "stale")));
  EXPECT_FALSE(fs::exists(marker_path(plan.run_dir / "b", 0, "done")));
  run_all();
  EXPECT_EQ(runs("a_en.txt"), 1u);
  EXPECT_EQ(runs("b_en.txt"), 2u);
  EXPECT_EQ(runs("c.txt"), 2u);
  EXPECT_EQ(runs("tool_sw.txt"), 1u);
  EXPECT_FALSE(fs::exists(marker_path(plan.run_dir / "b", 0, "stale")));  // replaced by the new done marker
  EXPECT_TRUE(stale_labels(find_stale(plan)).empty());
}

TEST_F(StaleTest, AChangedInputRerunsOnlyTheTasksThatReadItAndTheirDependents) {
  run_all();
  write_file_atomic(dir / "data/sw.txt", "abcde\n");
  write_file_atomic(dir / "data/en.txt", "abc\n");  // rewritten, same bytes: the hash says unchanged
  StaleReport report = find_stale(plan);
  EXPECT_THAT(stale_labels(report), ElementsAre("a[sw]", "b[sw]", "c[0]"));
  std::string text = format_stale(report);
  EXPECT_THAT(text, HasSubstr("    a[sw]: data/sw.txt changed (size 4 -> 6)\n"));
  EXPECT_THAT(text, HasSubstr("    b[sw]: upstream a[sw] reruns\n"));
  retire_stale(plan, report);
  run_all();
  EXPECT_EQ(runs("a_sw.txt"), 2u);
  EXPECT_EQ(runs("a_en.txt"), 1u);
  EXPECT_EQ(runs("b_sw.txt"), 2u);
  EXPECT_EQ(runs("b_zh.txt"), 1u);
  EXPECT_EQ(runs("c.txt"), 2u);
  EXPECT_TRUE(stale_labels(find_stale(plan)).empty());
}

TEST_F(StaleTest, ARebuiltProgramRerunsOnlyWhereProgramIsATrigger) {
  run_all();
  write_tool("#!/bin/sh\n# rebuilt\necho \"$1\" >> out/tool_$1.txt\n");
  replan();
  StaleReport report = find_stale(plan);
  EXPECT_THAT(stale_labels(report), ElementsAre("e[0]"));  // d: rerun_on = ["options", "inputs"]
  EXPECT_THAT(format_stale(report), HasSubstr("    e[0]: tool rebuilt (sha256 "));
  d_rerun_on = "";  // every trigger
  replan();
  EXPECT_THAT(stale_labels(find_stale(plan)), ElementsAre("d[en]", "d[sw]", "d[zh]", "e[0]"));
  EXPECT_THAT(format_stale(find_stale(plan)), HasSubstr("    d[en], d[sw], d[zh]: tool rebuilt"));  // one line
}

TEST_F(StaleTest, ReorderedArrayNamesTheTaskParameters) {
  run_all();
  languages = R"(["sw", "en", "zh"])";
  replan();
  StaleReport report = find_stale(plan);
  std::vector<std::string> labels = stale_labels(report);
  for (const char* expected : {"a[sw]", "a[en]", "b[sw]", "d[sw]"})
    EXPECT_NE(std::find(labels.begin(), labels.end(), expected), labels.end()) << expected;
  EXPECT_EQ(std::find(labels.begin(), labels.end(), "a[zh]"), labels.end());
  EXPECT_THAT(format_stale(report), HasSubstr("a[sw]: task is now lang=sw (was en)"));
}

TEST_F(StaleTest, MarkersOfThePreviousFormatAreFingerprintUnknown) {
  run_all();
  for (const auto& stage : plan.stages)
    for (std::size_t i = 0; i < stage.rows.size(); ++i) {
      auto marker = read_marker(stage.dir, i, "done");
      ASSERT_TRUE(marker.has_value());
      marker->fingerprint = nullptr;
      write_marker(stage.dir, *marker);
      EXPECT_THAT(read_file(marker_path(stage.dir, i, "done")), Not(HasSubstr("fingerprint")));
    }
  StaleReport report = find_stale(plan);
  EXPECT_EQ(report.stale_count(), 11u);
  EXPECT_THAT(format_stale(report), HasSubstr("    e[0]: fingerprint unknown (done before fingerprints were recorded)\n"));
  rerun_stale();
  EXPECT_EQ(runs("a_en.txt"), 2u);  // once more, with a fingerprint now
  EXPECT_TRUE(stale_labels(find_stale(plan)).empty());
}

TEST_F(StaleTest, NoTriggerNeverStale) {
  a_rerun_on = "rerun_on = []";
  replan();
  run_all();
  write_file_atomic(dir / "data/sw.txt", "abcde\n");
  EXPECT_TRUE(stale_labels(find_stale(plan)).empty());
}

TEST_F(StaleTest, ForceAndNoRerunStale) {
  run_all();
  write_file_atomic(dir / "data/sw.txt", "abcde\n");
  RerunPolicy keep{false, {"e"}};
  StaleReport report = find_stale(plan, keep);
  EXPECT_THAT(stale_labels(report), ElementsAre("a[sw]", "b[sw]", "c[0]", "e[0]"));
  EXPECT_THAT(format_stale(report), HasSubstr("kept by --no-rerun-stale, except forced ones"));
  EXPECT_THAT(format_stale(report), HasSubstr("    e[0]: forced (--force e)\n"));
  EXPECT_EQ(retire_stale(plan, report), 1u);  // only the forced one
  run_all();
  EXPECT_EQ(runs("tool_e.txt"), 2u);
  EXPECT_EQ(runs("a_sw.txt"), 1u);
  EXPECT_THAT(stale_labels(find_stale(plan)), ElementsAre("a[sw]", "b[sw]", "c[0]"));
  EXPECT_THROW(find_stale(plan, {true, {"nope"}}), Error);
}

TEST_F(StaleTest, DryRunListsWhatWouldRun) {
  run_all();
  write_file_atomic(dir / "data/zh.txt", "abcdef");
  fs::remove(marker_path(plan.run_dir / "d", 0, "done"));
  StaleReport report = find_stale(plan);
  RunStatus status = query_status(run_info_of(plan));
  std::string text = describe_pending_work(plan, report, status);
  EXPECT_THAT(text, HasSubstr("dry run: would run 4 tasks:\n"));
  EXPECT_THAT(text, HasSubstr("  a      1  a[zh] (stale)\n"));
  EXPECT_THAT(text, HasSubstr("  d      1  d[en]\n"));
  EXPECT_TRUE(fs::exists(marker_path(plan.run_dir / "a", 2, "done")));  // nothing retired
}

// A train stage's checkpoint folder across reruns, through the wrapper, with a stand-in trainer
// that records its command line.
struct TrainLineageTest : ::testing::Test {
  fs::path dir;
  std::string steps = "60", lr = "0.003", rerun_on;
  Plan plan;
  void SetUp() override {
    dir = testing::scratch("train-lineage");
    fs::create_directories(dir / "bin");
    write_trainer("first build");
    write_file_atomic(dir / "data.h5", "tokens");
  }
  void TearDown() override { fs::remove_all(dir); }
  void replan() {
    std::string manifest = fmt::format(R"TOML([run]
name = "t"
workdir = "{}"
[stages.train]
data = ["xx:1:data.h5"]
steps = {}
lr = {}
checkpoint_dir = "ckpt"
{}
)TOML",
                                       dir.string(), steps, lr, rerun_on);
    plan = make_plan(parse_manifest(manifest, "m.toml", "."), dir / "bin/xmtf", false);
    identify_programs(plan);
    write_plan(plan);
  }
  std::string rerun() {
    replan();
    StaleReport report = find_stale(plan);
    retire_stale(plan, report);
    EXPECT_EQ(run_task({plan.run_dir / "train/stage.json", 0, true}), 0);
    return format_stale(report);
  }
  void write_trainer(const std::string& comment) {
    write_file_atomic(dir / "bin/xmtf-train", "#!/bin/sh\n# " + comment +
                                                  "\n[ \"$1\" = --version ] && { echo 'xmtf-train 0.1.0'; exit 0; }\n"
                                                  "echo \"$@\" >> calls.txt\n");
    fs::permissions(dir / "bin/xmtf-train", fs::perms::owner_all);
  }
  std::string last_call() {
    auto lines = split(std::string(trim(read_file(dir / "calls.txt"))), '\n');
    return lines.back();
  }
};

TEST_F(TrainLineageTest, MoreStepsContinueANewLearningRateOrDataStartsANewFolder) {
  rerun();
  EXPECT_THAT(last_call(), HasSubstr("--checkpoint-dir ckpt"));
  steps = "80";
  std::string text = rerun();
  EXPECT_THAT(text, HasSubstr("train[0]: steps 60 -> 80; continues from its checkpoint in ckpt\n"));
  EXPECT_THAT(last_call(), HasSubstr("--steps 80 --lr 0.003 --checkpoint-dir ckpt"));
  fs::create_directories(dir / "ckpt");
  lr = "0.001";
  text = rerun();
  EXPECT_THAT(text, HasSubstr("train[0]: lr 0.003 -> 0.001; starts a new checkpoint folder ckpt-2"));
  EXPECT_THAT(last_call(), HasSubstr("--lr 0.001 --checkpoint-dir ckpt-2"));
  steps = "90";
  text = rerun();
  EXPECT_THAT(text, HasSubstr("continues from its checkpoint in ckpt-2"));
  EXPECT_THAT(last_call(), HasSubstr("--checkpoint-dir ckpt-2"));
  fs::create_directories(dir / "ckpt-2");
  write_file_atomic(dir / "data.h5", "other tokens");
  text = rerun();
  EXPECT_THAT(text, HasSubstr("train[0]: data.h5 changed (size 6 -> 12); starts a new checkpoint folder ckpt-3"));
  EXPECT_THAT(last_call(), HasSubstr("--checkpoint-dir ckpt-3"));
  auto marker = read_marker(plan.run_dir / "train", 0, "done");
  Fingerprint f = fingerprint_from_json(marker->fingerprint, "train");
  ASSERT_TRUE(f.train.has_value());
  EXPECT_EQ(f.train->checkpoint_dir, "ckpt-3");
  EXPECT_EQ(f.train->configured_dir, "ckpt");
}

TEST_F(TrainLineageTest, ARebuiltProgramWithTheSameVersionRerunsOnlyWhereProgramIsATrigger) {
  rerun();
  auto f = fingerprint_from_json(read_marker(plan.run_dir / "train", 0, "done")->fingerprint, "train");
  EXPECT_EQ(f.program.version, "xmtf-train 0.1.0");
  EXPECT_EQ(f.program.sha256, sha256_file(dir / "bin/xmtf-train"));
  write_trainer("rebuilt, same version");
  rerun_on = R"(rerun_on = ["options", "inputs"])";
  replan();
  EXPECT_EQ(find_stale(plan).stale_count(), 0u);
  rerun_on = "";
  replan();
  StaleReport report = find_stale(plan);
  ASSERT_EQ(report.stale_count(), 1u);
  EXPECT_THAT(format_stale(report), HasSubstr("train[0]: xmtf-train rebuilt (sha256 "));
  EXPECT_THAT(format_stale(report), HasSubstr(", version xmtf-train 0.1.0 unchanged); continues from its checkpoint in ckpt"));
}

}  // namespace
}  // namespace xmtf::sched
