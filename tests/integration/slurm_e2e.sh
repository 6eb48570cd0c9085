#!/usr/bin/env bash
# Real SLURM end to end. Starts a single-node SLURM on 127.0.0.1 (scripts/local-slurm.sh, in a
# folder and on ports of this test run alone: slurm_lib.sh), submits a 3-stage manifest of aligned arrays with one task that fails
# on its first attempt, checks `xmtf status`, runs `xmtf resubmit`, checks that every task of
# every stage completed exactly once (markers and outputs), and stops the daemons it started.
set -uo pipefail
XMTF=$1 SLURM_SCRIPT=$2 MPI_HELLO=$3
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/slurm_lib.sh"
start_slurm "$SLURM_SCRIPT"
W=$SLURM_DIR/work   # removed with the cluster's folder on exit
mkdir -p "$W"
cd "$W"
cat > pipeline.toml <<TOML
[run]
name = "slurm-e2e"
executor = "slurm"
[slurm]
partition = "debug"
time = "00:05:00"
max_concurrent = 4
setup = ["export XMTF_E2E_SETUP=yes"]
lost_after_seconds = 60
[languages]
use = ["en", "fr", "sw"]
[stages.prep]
array = "languages"
run = "mkdir -p out; if [ {lang} = fr ] && [ ! -e fixed ]; then echo 'fr fails' >&2; exit 3; fi; echo \"\$XMTF_E2E_SETUP {lang}\" >> out/prep_{lang}.txt"
outputs = ["out/prep_{lang}.txt"]
[stages.encode]
array = "languages"
after = ["prep"]
run = "cat out/prep_{lang}.txt >> out/encode_{lang}.txt"
inputs = ["out/prep_{lang}.txt"]
[stages.fit]
array = "languages"
after = ["encode"]
run = "cat out/encode_{lang}.txt >> out/fit_{lang}.txt"
[stages.ranks]
argv = ["$MPI_HELLO", "ranks.txt"]
mpi = true
ntasks = 2
TOML
"$XMTF" submit pipeline.toml > submit.log 2>&1
check "submit succeeds" test $? = 0
cat submit.log
[ "$fail" = 0 ] || { finish; exit 1; }
check "aligned stages chained task-to-task" grep -q "dependency=aftercorr:" submit.log
# shard settles (fr fails); tokenize[fr] and train[fr] stay pending, never satisfied
for _ in $(seq 90); do
  st=$("$XMTF" status slurm-e2e)
  [ "$(done_count "$st" fit)" = 2 ] && [ "$(failed_count "$st" prep)" = 1 ] && break
  sleep 1
done
echo "$st"
check "status: prep 2 done, 1 failed" test "$(done_count "$st" prep)/$(failed_count "$st" prep)" = 2/1
check "status: fit 2 done (en, sw went through)" test "$(done_count "$st" fit)" = 2
check "status names the failed task and its log" grep -q "prep\[1\] lang=fr: exit 3 (attempt 1)" <<<"$st"
check "the failed task's log holds its stderr" bash -c "grep -q 'fr fails' jobs/slurm-e2e/prep/logs/*_1.out"
touch fixed
"$XMTF" resubmit slurm-e2e > resubmit.log 2>&1
check "resubmit succeeds" test $? = 0
cat resubmit.log
check "resubmit sends exactly the failed index" grep -q "submitted job [0-9]* --array=1%4" resubmit.log
check "resubmit re-points the waiting dependents" grep -q "encode: job [0-9]* now waits for aftercorr:" resubmit.log
for _ in $(seq 90); do "$XMTF" status slurm-e2e --check >/dev/null 2>&1 && break; sleep 1; done
st=$("$XMTF" status slurm-e2e)
echo "$st"
check "status --check: every task done" "$XMTF" status slurm-e2e --check
check "10 done markers" test "$(ls jobs/slurm-e2e/*/markers/*.done | wc -l)" = 10
check "the MPI stage ran one program of 2 ranks (srun --mpi=pmi2 -n 2)" test "$(cat ranks.txt)" = "ranks=2 sum=3"
check "every output written exactly once" bash -c 'for f in out/*.txt; do [ "$(wc -l < "$f")" = 1 ] || exit 1; done; [ "$(ls out | wc -l)" = 9 ]'
check "setup lines ran inside the job" grep -q "^yes fr$" out/fit_fr.txt
check "the resubmitted task is attempt 2" grep -q '"attempt": 2' jobs/slurm-e2e/prep/markers/1.done
"$XMTF" resubmit slurm-e2e > resubmit2.log 2>&1
check "a second resubmit finds nothing to do" grep -q "nothing resubmitted" resubmit2.log
# a changed input: encode[sw] reads out/prep_sw.txt; it and fit[sw] are stale, resubmitted like failed ones
echo "edited" >> out/prep_sw.txt
st=$("$XMTF" status slurm-e2e)
check "status: the changed input makes encode[sw] and fit[sw] stale" \
  bash -c "grep -q 'encode\[sw\]: out/prep_sw.txt changed (size ' <<<'$st' && grep -q 'fit\[sw\]: upstream encode\[sw\] reruns' <<<'$st'"
"$XMTF" resubmit slurm-e2e > resubmit3.log 2>&1
cat resubmit3.log
check "resubmit sends exactly the stale index of each stage" \
  bash -c "[ \$(grep -c 'submitted job [0-9]* --array=2%4' resubmit3.log) = 2 ] && [ \$(grep -c 'submitted job' resubmit3.log) = 2 ]"
for _ in $(seq 90); do "$XMTF" status slurm-e2e --check >/dev/null 2>&1 && break; sleep 1; done
check "status --check: done and up to date again" "$XMTF" status slurm-e2e --check
# lines: encode en, fr 1 + sw 1 + 2 (prep_sw twice); fit en, fr 1 + sw 1 + 3; prep en, fr 1 + sw 2
check "only the stale tasks reran" test "$(cat out/encode_*.txt out/fit_*.txt out/prep_*.txt | wc -l)" = $((5 + 6 + 4))
# cancel: a run with a long task; `xmtf cancel` must stop it and status must say so
cat > slow.toml <<'TOML'
[run]
name = "slurm-cancel"
executor = "slurm"
[stages.wait]
run = "sleep 120"
[stages.after_wait]
after = ["wait"]
run = "true"
TOML
"$XMTF" submit slow.toml > slow.log 2>&1
for _ in $(seq 30); do grep -q " 1 " <<<"$("$XMTF" status slurm-cancel | awk '$1=="wait" {print " "$4" "}')" && break; sleep 0.5; done
"$XMTF" cancel slurm-cancel > cancel.log 2>&1
check "cancel names the jobs it cancelled" grep -q "cancelled 2 job(s)" cancel.log
for _ in $(seq 30); do st=$("$XMTF" status slurm-cancel); [ "$(awk '$1=="wait" {print $4}' <<<"$st")" = 0 ] && break; sleep 0.5; done
echo "$st"
check "after cancel nothing runs or waits" test "$(( $(queued_count "$st" wait) + $(queued_count "$st" after_wait) ))" = 0
check "the cancelled task is failed" test "$(failed_count "$st" wait)" = 1
finish
