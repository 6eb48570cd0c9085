#!/usr/bin/env bash
# Faults of local runs (issue 19 items 8-10): two `xmtf run` at once, kill -9 of a task wrapper
# and of `xmtf run`, a program that ignores SIGTERM and outlives its run, SIGTERM to `xmtf run`,
# and more MPI ranks than cores. After each: no task ran twice, no process was left behind.
set -uo pipefail
XMTF=$1 MPI_HELLO=$2
. "$(dirname "$0")/lib.sh"
W=$(mktemp -d /tmp/xmtf-local-faults.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1

marker_value() { sed -n "s/^  \"$2\": \\(.*\\),\$/\\1/p" "$1" | tr -d '"'; }
wait_for() {  # wait_for SECONDS COMMAND...
  local end=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done
}
group_alive() { kill -0 -- "-$1" 2>/dev/null; }
group_gone() { ! group_alive "$1"; }
# wrapper starts of a task ("attempt N on" or "already done" lines in its log)
starts_of() { grep -cE 'attempt [0-9]+ on |is already done' "jobs/$1/logs/local_$2.out" 2>/dev/null || echo 0; }
manifest() {  # manifest NAME BODY
  printf '[run]\nname = "%s"\n%s\n' "$1" "$2" > "$1.toml"
}

echo "== 8: two xmtf run of one manifest at once"
manifest twice '[languages]
use = ["en", "fr"]
[stages.a]
array = "languages"
run = "sleep 1; echo {lang} >> twice_{lang}.txt"'
"$XMTF" run twice.toml > twice.1.log 2>&1 & first=$!
wait_for 10 test -e jobs/twice/a/markers/0.running
"$XMTF" run twice.toml > twice.2.log 2>&1
rc=$?
wait $first
check "8: the first run succeeds" test $? = 0
check "8: the second is refused (exit 1)" test $rc = 1
check "8: ... naming the run holding the lock" grep -q "run twice is being changed by \`xmtf run .*twice.toml\` (pid $first " twice.2.log
check "8: every task ran once" bash -c '[ "$(cat twice_en.txt)" = en ] && [ "$(cat twice_fr.txt)" = fr ]'

echo "== 9a: kill -9 of a task wrapper"
manifest wrapkill '[stages.a]
run = "sleep 30; echo wrapkill-task"'
alive() { pgrep -f "$1" > /dev/null; }  # a process whose command line holds this text
gone() { ! alive "$1"; }
"$XMTF" run wrapkill.toml > wrapkill.log 2>&1 & run_pid=$!
check "9a: the task runs" wait_for 10 alive "sleep 30; echo wrapkill-task"
check "9a: its running marker names the program's process group" \
  wait_for 10 grep -qE '"program_pid": [1-9]' jobs/wrapkill/a/markers/0.running
kill -9 "$(marker_value jobs/wrapkill/a/markers/0.running pid)"
check "9a: the program dies with its wrapper" wait_for 5 gone "sleep 30; echo wrapkill-task"
wait $run_pid
check "9a: the run reports the task failed (exit 1)" test $? = 1

echo "== 9a': kill -9 of the wrapper of an MPI task (mpiexec, its proxy and 2 ranks)"
manifest mpikill "[stages.m]
argv = [\"$MPI_HELLO\", \"$W/mpikill.txt\", \"hang\"]
mpi = true
ntasks = 2"
ranks_of_mpikill() { pgrep -fc "^$MPI_HELLO $W/mpikill.txt hang"; }  # the ranks' own command lines
two_ranks() { [ "$(ranks_of_mpikill)" = 2 ]; }
ranks_gone() { [ "$(ranks_of_mpikill)" = 0 ]; }
"$XMTF" run mpikill.toml > mpikill.log 2>&1 & run_pid=$!
check "9a': the 2 MPI ranks run" wait_for 10 two_ranks
wait_for 10 bash -c 'grep -qE "\"program_pid\": [1-9]" jobs/mpikill/m/markers/0.running'
kill -9 "$(marker_value jobs/mpikill/m/markers/0.running pid)"
check "9a': launcher and ranks die with the wrapper" wait_for 10 ranks_gone
wait $run_pid

echo "== 9b: kill -9 of xmtf run"
manifest runkill '[languages]
use = ["en", "fr"]
[stages.a]
array = "languages"
run = "sleep 30; echo runkill-{lang}"'
"$XMTF" run runkill.toml > runkill.log 2>&1 & run_pid=$!
both_runkill() { alive "sleep 30; echo runkill-en" && alive "sleep 30; echo runkill-fr"; }
check "9b: both tasks run" wait_for 10 both_runkill
kill -9 "$run_pid"
wait $run_pid 2>/dev/null
check "9b: every task's program dies with the run" wait_for 5 gone "sleep 30; echo runkill-"
check "9b: ... and is recorded as stopped by SIGTERM" wait_for 5 grep -q '"reason": "killed by signal 15' jobs/runkill/a/markers/0.failed

echo "== 9c: a program that ignores SIGTERM outlives its killed run; the rerun does not start it again"
manifest orphan '[stages.a]
run = "trap \"\" TERM; sleep 3; echo once >> orphan.txt"
[stages.b]
after = ["a"]
run = "cat orphan.txt > orphan_b.txt"'
"$XMTF" run orphan.toml > orphan.1.log 2>&1 & run_pid=$!
wait_for 10 bash -c 'grep -qE "\"program_pid\": [1-9]" jobs/orphan/a/markers/0.running 2>/dev/null'
program=$(marker_value jobs/orphan/a/markers/0.running program_pid)
kill -9 "$run_pid"
wait $run_pid 2>/dev/null
check "9c: the program survives its run's death (it ignores SIGTERM)" group_alive "$program"
"$XMTF" run orphan.toml > orphan.2.log 2>&1
check "9c: the rerun succeeds" test $? = 0
check "9c: ... saying it waited for the previous attempt" grep -q "a\[0\]: its previous attempt is still running" orphan.2.log
check "9c: a ran once" bash -c '[ "$(cat orphan.txt)" = once ]'
check "9c: the rerun started no second a" test "$(starts_of orphan/a 0)" = 1
check "9c: b ran after it" test "$(cat orphan_b.txt)" = once

echo "== 9d: SIGTERM to xmtf run stops its tasks"
manifest term '[languages]
use = ["en", "fr"]
[stages.a]
array = "languages"
run = "sleep 30; echo {lang} >> term_{lang}.txt"'
"$XMTF" run term.toml > term.1.log 2>&1 & run_pid=$!
both_term() { alive "sleep 30; echo en >> term_en.txt" && alive "sleep 30; echo fr >> term_fr.txt"; }
check "9d: both tasks run" wait_for 10 both_term
started=$SECONDS
kill -TERM "$run_pid"
wait $run_pid
rc=$?
check "9d: the run exits 143 (SIGTERM) within 10 s" bash -c "[ $rc = 143 ] && [ $((SECONDS - started)) -le 10 ]"
check "9d: no program is left" wait_for 2 gone "sleep 30; echo .. >> term_"
check "9d: each task is recorded as stopped" bash -c 'grep -q "killed by signal 15" jobs/term/a/markers/0.failed && grep -q "killed by signal 15" jobs/term/a/markers/1.failed'
check "9d: the log says how to go on" grep -q "stopped by signal 15; \`xmtf run\` again reruns what did not finish" term.1.log

echo "== 10: more MPI ranks than cores"
manifest ranks '[stages.m]
argv = ["true"]
mpi = true
ntasks = 100000'
"$XMTF" plan ranks.toml > ranks.log 2>&1
rc=$?
cat ranks.log
check "10: plan refuses (exit 1)" test $rc = 1
check "10: ... saying why" grep -q "stage 'm': 100000 MPI ranks x cpus_per_task 1 need 100000 cores, but this machine has $(nproc)" ranks.log
finish
