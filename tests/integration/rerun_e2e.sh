#!/usr/bin/env bash
# Manifest edits and changed inputs rerun what they change (docs/scheduler.md, "Fingerprints and
# stale tasks"), through the real binaries as a user runs them.
#   1. command stages: plan's reasons, --dry-run, --force, --no-rerun-stale, status --check,
#      markers of the previous format, a rebuilt program under rerun_on;
#   2. the data path with the real programs (xmtf-shard, xmtf-tokenize, xmtf-train on two xP3
#      languages): more steps continue the checkpoint, one language's cut input reruns that
#      language's shard and tokenize tasks and the trainer (in a new checkpoint folder), a new
#      learning rate starts another folder.
# How often a task ran is counted in its log (the wrapper logs one "attempt N on" line per run).
set -uo pipefail
XMTF=$1 SRC=$2
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d /tmp/xmtf-rerun-e2e.XXXXXX)
trap "rm -rf \"$W\"" EXIT
cd "$W"
runs() { grep -c " attempt [0-9]* on " "jobs/$1/$2/logs/local_$3.out"; }

# ---------------------------------------------------------------- 1. command stages
mkdir -p data bin
for l in en sw zh; do echo "$l text" > data/$l.txt; done
printf '#!/bin/sh\necho "$1" >> out_tool.txt\n' > bin/tool && chmod +x bin/tool
write_manifest() {  # $1: second stage's run line, $2: extra line for stage tool
  cat > c.toml <<TOML
[run]
name = "c"
[languages]
use = ["en", "sw", "zh"]
[stages.first]
array = "languages"
run = "mkdir -p out; cat data/{lang}.txt >> out/first_{lang}.txt"
inputs = ["data/{lang}.txt"]
[stages.second]
array = "languages"
after = ["first"]
run = "$1"
[stages.third]
after = ["second"]
run = "cat out/second_*.txt > out/third.txt"
[stages.tool]
argv = ["bin/tool", "x"]
$2
TOML
}
write_manifest "echo {lang} >> out/second_{lang}.txt" 'rerun_on = ["options", "inputs"]'
"$XMTF" run c.toml > c1.log 2>&1
check "command stages: first run succeeds" test $? = 0
out=$("$XMTF" plan c.toml)
check "plan: nothing stale after a run" grep -q "up to date: the 8 done tasks match their fingerprints" <<<"$out"

write_manifest "echo {lang}! >> out/second_{lang}.txt" 'rerun_on = ["options", "inputs"]'
out=$("$XMTF" plan c.toml)
echo "$out" | sed -n '/^stale/,$p'
check "plan: an edited run line makes that stage and its dependent stale" grep -q "stale: 4 of 8 done tasks" <<<"$out"
check "plan prints the reason per task" grep -q "second\[sw\]: run line 'echo sw >> out/second_sw.txt' -> 'echo sw! >> out/second_sw.txt'" <<<"$out"
check "plan prints why the dependent is stale" grep -q "third\[0\]: upstream second reruns 3 of 3 tasks" <<<"$out"
"$XMTF" status c --check > st.log; rc=$?
check "status --check exits 3 while tasks are stale" test $rc = 3
check "status lists the stale tasks" grep -q "second  3 of 3 stale" st.log
dry=$("$XMTF" run c.toml --dry-run)
check "--dry-run lists what would run" grep -q "dry run: would run 4 tasks" <<<"$dry"
check "--dry-run runs nothing" test "$(runs c second 1)" = 1
"$XMTF" run c.toml > c2.log 2>&1
check "the edited stage and its dependent reran, nothing else" \
  test "$(runs c first 0)$(runs c first 1)$(runs c second 0)$(runs c second 1)$(runs c second 2)$(runs c third 0)$(runs c tool 0)" = 1122221
check "the dependent saw the new outputs" grep -q "sw!" out/third.txt

echo "sw text, longer now" > data/sw.txt
echo "en text" > data/en.txt  # rewritten with the same bytes: not a change
out=$("$XMTF" plan c.toml)
check "plan: the changed input names its file and size" grep -q "first\[sw\]: data/sw.txt changed (size 8 -> 20)" <<<"$out"
"$XMTF" run c.toml > c3.log 2>&1
check "a changed input reruns only the task that reads it and its dependents" \
  test "$(runs c first 0)$(runs c first 1)$(runs c first 2)$(runs c second 0)$(runs c second 1)$(runs c third 0)" = 121233

printf '#!/bin/sh\n# rebuilt\necho "$1" >> out_tool.txt\n' > bin/tool
out=$("$XMTF" plan c.toml)
check "a rebuilt program is no trigger where rerun_on excludes program" grep -q "up to date" <<<"$out"
write_manifest "echo {lang}! >> out/second_{lang}.txt" ""
out=$("$XMTF" plan c.toml)
check "and is one where program is a trigger" grep -q "tool\[0\]: tool rebuilt (sha256 " <<<"$out"
"$XMTF" run c.toml --no-rerun-stale > c4.log 2>&1
check "--no-rerun-stale leaves it" test "$(runs c tool 0)" = 1
"$XMTF" run c.toml --force first --no-rerun-stale > c5.log 2>&1
check "--force reruns the stage (and, by its new executions, its dependents) even with --no-rerun-stale" \
  test "$(runs c first 0)$(runs c first 2)$(runs c second 2)$(runs c tool 0)" = 2221
"$XMTF" run c.toml > c6.log 2>&1
check "then a plain run reruns what was kept stale" test "$(runs c second 2)$(runs c third 0)$(runs c tool 0)" = 342

# Markers of the previous format: no "fingerprint" key.
for m in jobs/c/*/markers/*.done; do perl -0pi -e 's/,\n  "fingerprint": .*\n\}/\n}/' "$m"; done
check "markers stripped to the previous format" bash -c '! grep -q fingerprint jobs/c/*/markers/*.done && jq -e . jobs/c/first/markers/0.done >/dev/null'
out=$("$XMTF" plan c.toml)
check "previous-format markers are 'fingerprint unknown'" grep -q "first\[en\], first\[sw\], first\[zh\]: fingerprint unknown" <<<"$out"
"$XMTF" run c.toml > c7.log 2>&1
check "they rerun once, then carry a fingerprint" bash -c "'$XMTF' plan c.toml | grep -q 'up to date: the 8 done tasks'"

# ---------------------------------------------------------------- 2. the data path
mkdir -p data/xp3
cp -r "$SRC/tests/data/xp3/samples/et" "$SRC/tests/data/xp3/samples/sw" data/xp3/
write_pipeline() {  # $1 steps, $2 lr
  cat > p.toml <<TOML
[run]
name = "p"
[languages]
use = ["et", "sw"]
[stages.shard]
array = "languages"
ntasks = 1
input = "data/xp3"
output = "shards"
languages = "{lang}"
outputs = ["shards/{lang}/index.json"]
[stages.tokenize]
array = "languages"
after = ["shard"]
tokenizer = "$SRC/tests/data/tokenizers/bloomstyle_gpt2vocab.tokenizer.json"
input = "shards/{lang}"
output = "shards"
name = "bloom"
[stages.train]
after = ["tokenize"]
model_config = "$SRC/tests/data/bloom/tiny-bloom-50261.config.json"
data = ["et:0.5:shards/et/part-*.bloom.h5", "sw:0.5:shards/sw/part-*.bloom.h5"]
seq_len = 64
micro_batch = 2
global_batch = 2
steps = $1
lr = $2
save_interval = 1
checkpoint_dir = "ckpt"
export_dir = "model"
outputs = ["model/model.safetensors"]
TOML
}
write_pipeline 2 0.001
"$XMTF" run p.toml > p1.log 2>&1
check "pipeline: first run succeeds" test $? = 0 || tail -30 p1.log
write_pipeline 4 0.001
out=$("$XMTF" plan p.toml)
echo "$out" | sed -n '/^stale/,$p'
check "plan: more steps continue the checkpoint" grep -q "train\[0\]: steps 2 -> 4; continues from its checkpoint in ckpt" <<<"$out"
"$XMTF" run p.toml > p2.log 2>&1
check "the trainer resumed at step 2 and trained to 4" bash -c "grep -q 'resuming at step 2 from ckpt/step-00000002' jobs/p/train/logs/local_0.out && test -d ckpt/step-00000004"
check "nothing else reran" test "$(runs p shard 0)$(runs p shard 1)$(runs p tokenize 0)$(runs p tokenize 1)$(runs p train 0)" = 11112

et_file=data/xp3/et/xp3_xcopa_et_validation.jsonl
sw_samples=$(jq '.totals.train.samples' shards/sw/index.json)
before=$(stat -c %s $et_file)
head -n 10 $et_file > cut && mv cut $et_file
out=$("$XMTF" plan p.toml)
echo "$out" | sed -n '/^stale/,$p'
check "plan: the cut file, for its language only" \
  grep -q "shard\[et\]: data/xp3/et/xp3_xcopa_et_validation.jsonl changed (size $before -> $(stat -c %s $et_file))" <<<"$out"
check "plan: tokenize[et] follows, sw does not" bash -c "grep -q 'tokenize\[et\]: upstream shard\[et\] reruns' <<<'$out' && ! grep -q 'sw\]' <<<'$out'"
"$XMTF" run p.toml > p3.log 2>&1
check "a changed input reruns that language's tasks and the trainer only" \
  test "$(runs p shard 0)$(runs p shard 1)$(runs p tokenize 0)$(runs p tokenize 1)$(runs p train 0)" = 21213
check "the shard of et holds the 10 lines now, sw's is untouched" \
  test "$(jq '.totals.train.samples' shards/et/index.json)/$(jq '.totals.train.samples' shards/sw/index.json)" = "10/$sw_samples"
check "other data: the trainer started a new checkpoint folder from scratch" \
  bash -c "grep -q 'starts a new checkpoint folder ckpt-2' jobs/p/train/logs/local_0.out && test -d ckpt-2/step-00000004 && test \$(grep -c 'random init' jobs/p/train/logs/local_0.out) = 2"
write_pipeline 4 0.002
out=$("$XMTF" plan p.toml)
check "plan: a new learning rate starts a new folder" grep -q "train\[0\]: lr 0.001 -> 0.002; starts a new checkpoint folder ckpt-3" <<<"$out"
"$XMTF" run p.toml > p4.log 2>&1
check "and the trainer trains there, nothing else reran" test -d ckpt-3/step-00000004 -a "$(runs p shard 0)$(runs p tokenize 1)" = 21
check "nothing stale at the end" bash -c "'$XMTF' plan p.toml | grep -q 'up to date: the 5 done tasks'"
finish
