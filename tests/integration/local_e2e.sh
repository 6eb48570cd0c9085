#!/usr/bin/env bash
# Local executor end to end: a 2-stage aligned array where one task fails on its first attempt
# (until a flag file exists). `xmtf status` must show it; a second `xmtf run` must finish it and
# rerun nothing else; a third must do nothing.
set -uo pipefail
XMTF=$1 MPI_HELLO=$2
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d /tmp/xmtf-local-e2e.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
cat > demo.toml <<TOML
[run]
name = "e2e"
[languages]
use = ["en", "fr", "sw", "zh"]
[stages.first]
array = "languages"
run = "mkdir -p out; if [ {lang} = sw ] && [ ! -e fixed ]; then echo 'sw fails' >&2; exit 7; fi; echo {lang} >> out/first_{lang}.txt"
outputs = ["out/first_{lang}.txt"]
[stages.second]
array = "languages"
after = ["first"]
run = "echo {lang} >> out/second_{lang}.txt"
[stages.ranks]
type = "command"
argv = ["$MPI_HELLO", "ranks.txt"]
mpi = true
ntasks = 2
TOML
# "stage/index count" of wrapper starts ("attempt N on" or "already done" lines) per task log.
starts() {
  for f in jobs/e2e/*/logs/local_*.out; do
    i=${f##*/local_}; i=${i%.out}; s=${f#jobs/e2e/}; s=${s%%/*}
    echo "$s/$i $(grep -cE '\] INFO [a-z]+\[[0-9]+\].* attempt [0-9]+ on |is already done' "$f")"
  done | sort
}
expected_starts() {
  {
    for s in first second; do for i in 0 1 2 3; do echo "$s/$i $([ $s/$i = first/2 ] && echo 2 || echo 1)"; done; done
    echo "ranks/0 1"
  } | sort
}
"$XMTF" run demo.toml > run1.log 2>&1
check "first run fails (exit 1)" test $? = 1
st=$("$XMTF" status e2e)
echo "$st"
check "status: first has 3 done, 1 failed" test "$(done_count "$st" first)/$(failed_count "$st" first)" = 3/1
check "status: second has 3 done" test "$(done_count "$st" second)" = 3
check "status names the failed task, its exit and log" grep -q "first\[2\] lang=sw: exit 7 (attempt 1)" <<<"$st"
check "the log holds the task's stderr" grep -q "sw fails" jobs/e2e/first/logs/local_2.out
check "status --check exits 3 while not done" bash -c "'$XMTF' status e2e --check >/dev/null; test \$? = 3"
touch fixed
"$XMTF" run demo.toml > run2.log 2>&1
check "second run succeeds" test $? = 0
check "the MPI stage ran one program of 2 ranks (mpiexec -n 2)" test "$(cat ranks.txt)" = "ranks=2 sum=3"
check "every output written exactly once" bash -c 'for f in out/*.txt; do [ "$(wc -l < "$f")" = 1 ] || exit 1; done; [ "$(ls out | wc -l)" = 8 ]'
check "the fixed task is attempt 2" grep -q '"attempt": 2' jobs/e2e/first/markers/2.done
# Every start of a task, even one the wrapper skips as done, leaves a line in its log: a
# relaunch of a done task shows as a "skipping" line or a second attempt.
check "the wrapper ran each task once, first[2] twice" test "$(starts)" = "$(expected_starts)"
check "no done task was started again" bash -c '! grep -l "already done" jobs/e2e/*/logs/local_*.out'
"$XMTF" run demo.toml > run3.log 2>&1
check "third run does nothing" grep -q 'all 9 tasks done' run3.log
check "third run started no task" test "$(starts)" = "$(expected_starts)"
check "status --check is 0" "$XMTF" status e2e --check
finish
