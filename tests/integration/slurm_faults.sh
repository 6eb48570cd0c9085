#!/usr/bin/env bash
# Faults under a real single-node SLURM (issue 19): each scenario breaks a run the way users and
# clusters do, then checks that `xmtf status` tells it and one `xmtf resubmit` finishes it with
# every task done exactly once. One private cluster for all scenarios (slurm_lib.sh).
#   1 a task of a whole-stage upstream fails while its siblings still run
#   2 two failed tasks of an aligned array resubmitted one after the other
#   3 two `xmtf resubmit` at once
#   4 a pending task removed with scancel
#   5 squeue cannot reach the controller
#   6 a rank of an MPI task under srun is killed
#   7 state.sqlite deleted while tasks are queued (and with the launch records gone too)
set -uo pipefail
XMTF=$1 SLURM_SCRIPT=$2 MPI_HELLO=$3
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/slurm_lib.sh"
start_slurm "$SLURM_SCRIPT"
W=$SLURM_DIR/work
mkdir -p "$W" && cd "$W" || exit 1

all_done() { "$XMTF" status "$1" --check > /dev/null 2>&1; }
marker_value() { sed -n "s/^  \"$2\": \\(.*\\),\$/\\1/p" "$1" | tr -d '"'; }  # a field of a marker file
manifest() {  # manifest NAME BODY: a SLURM manifest named NAME
  printf '[run]\nname = "%s"\nexecutor = "slurm"\n[slurm]\npartition = "debug"\ntime = "00:03:00"\nlost_after_seconds = 60\n%s\n' "$1" "$2" > "$1.toml"
}
launches() { ls -d jobs/"$1"/"$2"/launch/*/ 2>/dev/null | wc -l; }

echo "== 1: a whole-stage upstream task fails while its siblings still run"
manifest dep '[languages]
use = ["en", "fr", "sw"]
[stages.b]
array = "languages"
run = "mkdir -p out; if [ {lang} = fr ]; then [ -e fixed_b ] || exit 3; else sleep 6; fi; echo {lang} >> out/b_{lang}.txt"
[stages.c]
after = ["b"]
run = "cat out/b_en.txt out/b_fr.txt out/b_sw.txt > out/c.txt"'
"$XMTF" submit dep.toml > dep.submit.log 2>&1
check "1: submit succeeds" test $? = 0
check "1: b[fr] fails while en and sw still run" wait_for 30 test -e jobs/dep/b/markers/1.failed
check "1: ... they are still running" test ! -e jobs/dep/b/markers/0.done
touch fixed_b
"$XMTF" resubmit dep > dep.resubmit.log 2>&1
check "1: resubmit succeeds" test $? = 0
cat dep.resubmit.log
check "1: c waits for the old job and the new one, satisfiable whatever their outcome" \
  grep -qE "c: job [0-9]+ now waits for afterany:[0-9]+:[0-9]+" dep.resubmit.log
check "1: the run finishes" wait_for 60 all_done dep
check "1: c read every b output once" test "$(cat out/c.txt 2>/dev/null | sort | tr '\n' ' ')" = "en fr sw "

echo "== 2: two failed tasks of an aligned array, resubmitted one after the other"
manifest two '[languages]
use = ["en", "fr", "sw", "zh"]
[stages.a]
array = "languages"
run = "mkdir -p out; case {lang} in fr) [ -e fixed_fr ] || exit 3; sleep 8;; sw) sleep 2; [ -e fixed_sw ] || exit 3;; *) sleep 4;; esac; echo {lang} >> out/a2_{lang}.txt"
[stages.b]
array = "languages"
after = ["a"]
run = "cat out/a2_{lang}.txt >> out/b2_{lang}.txt"'
"$XMTF" submit two.toml > two.submit.log 2>&1
check "2: submit succeeds" test $? = 0
check "2: a[fr] fails" wait_for 30 test -e jobs/two/a/markers/1.failed
touch fixed_fr
"$XMTF" resubmit two > two.resubmit1.log 2>&1
check "2: first resubmit succeeds" test $? = 0
check "2: a[sw] fails" wait_for 30 test -e jobs/two/a/markers/2.failed
touch fixed_sw
"$XMTF" resubmit two > two.resubmit2.log 2>&1
check "2: second resubmit succeeds" test $? = 0
cat two.resubmit1.log two.resubmit2.log
check "2: the run finishes" wait_for 90 all_done two
# b[i] ran once (no "not started" attempt before), and started after a[i]'s rerun had ended
ran_once_after_partner() {
  [ "$(marker_value jobs/two/b/markers/$1.done attempt)" = 1 ] &&
    awk -v b="$(marker_value jobs/two/b/markers/$1.done start_time)" -v a="$(marker_value jobs/two/a/markers/$1.done end_time)" \
      'BEGIN { exit !(b >= a) }'
}
check "2: b[fr] ran once, after a[fr]'s rerun ended" ran_once_after_partner 1
check "2: b[sw] ran once, after a[sw]'s rerun ended" ran_once_after_partner 2
check "2: every output written once" bash -c 'for f in out/a2_*.txt out/b2_*.txt; do [ "$(wc -l < "$f")" = 1 ] || exit 1; done'

echo "== 3: two resubmits at once"
manifest twice '[languages]
use = ["en", "fr", "sw"]
[stages.a]
array = "languages"
run = "mkdir -p out; if [ {lang} = fr ] && [ ! -e fixed_twice ]; then exit 3; fi; echo {lang} >> out/twice_{lang}.txt"'
"$XMTF" submit twice.toml > twice.submit.log 2>&1
check "3: a[fr] fails" wait_for 30 test -e jobs/twice/a/markers/1.failed
touch fixed_twice
"$XMTF" resubmit twice > twice.r1.log 2>&1 & p1=$!
"$XMTF" resubmit twice > twice.r2.log 2>&1 & p2=$!
wait $p1; rc1=$?
wait $p2; rc2=$?
cat twice.r1.log twice.r2.log
check "3: both resubmits succeed" test "$rc1/$rc2" = 0/0
check "3: a[fr] was submitted once" test "$(cat twice.r1.log twice.r2.log | grep -c 'a: submitted job')" = 1
check "3: the run finishes" wait_for 60 all_done twice
check "3: a[fr] ran twice in all: its failure and one rerun" test "$(marker_value jobs/twice/a/markers/1.done attempt)" = 2
check "3: its output written once" test "$(cat out/twice_fr.txt)" = fr

echo "== 4: a pending task removed with scancel"
manifest cancelpend '[languages]
use = ["en", "fr", "sw"]
[stages.a]
run = "sleep 4"
[stages.b]
array = "languages"
after = ["a"]
run = "mkdir -p out; echo {lang} >> out/cp_{lang}.txt"'
"$XMTF" submit cancelpend.toml > cancelpend.submit.log 2>&1
B=$(marker_value jobs/cancelpend/b/launch/0001/submission.json job_id)
scancel "${B}_1"
st=$("$XMTF" status cancelpend)
echo "$st"
check "4: status says cancelled at once, not pending" grep -q "b\[1\] lang=fr: cancelled: removed from the queue before it started" <<<"$st"
"$XMTF" resubmit cancelpend > cancelpend.resubmit.log 2>&1
check "4: resubmit takes it at once" grep -q "b: resubmitting 1 task(s): 1" cancelpend.resubmit.log
check "4: the run finishes" wait_for 60 all_done cancelpend
check "4: every output written once" bash -c 'for l in en fr sw; do [ "$(cat out/cp_$l.txt)" = $l ] || exit 1; done'

echo "== 5: squeue cannot reach the controller"
{ sed 's/^SlurmctldPort=.*/SlurmctldPort=1/' "$SLURM_CONF"; echo MessageTimeout=1; } > unreachable.conf
SLURM_CONF=$W/unreachable.conf "$XMTF" status cancelpend > unreachable.out 2> unreachable.err
rc=$?
cat unreachable.err
check "5: status fails (exit 1)" test $rc = 1
check "5: ... naming squeue's error" grep -q "squeue failed (exit 1): .*Unable to contact slurm controller" unreachable.err
check "5: ... and prints no task table" test ! -s unreachable.out
SLURM_CONF=$W/unreachable.conf "$XMTF" resubmit cancelpend > unreachable.resubmit.log 2>&1
rc=$?
check "5: resubmit fails too (exit $rc)" test $rc = 1
check "5: ... submitting nothing" test "$(launches cancelpend b)" = 2

echo "== 6: a rank of an MPI task under srun is killed"
manifest mpidie "[stages.m]
argv = [\"$MPI_HELLO\", \"die.txt\", \"die\"]
mpi = true
ntasks = 2"
"$XMTF" submit mpidie.toml > mpidie.submit.log 2>&1
check "6: the task fails within 60 s (not at the 3 min time limit)" wait_for 60 test -e jobs/mpidie/m/markers/0.failed
check "6: ... with srun --kill-on-bad-exit=1" grep -q "kill-on-bad-exit=1" jobs/mpidie/m/logs/*_0.out

echo "== 7: state.sqlite deleted while tasks are queued"
manifest lost '[languages]
use = ["en", "fr", "sw"]
[stages.a]
array = "languages"
run = "mkdir -p out; sleep 5; echo {lang} >> out/lost_{lang}.txt"
[stages.b]
after = ["a"]
run = "true"'
"$XMTF" submit lost.toml > lost.submit.log 2>&1
rm jobs/lost/state.sqlite
st=$("$XMTF" status lost)
echo "$st"
check "7: status still sees the queued tasks" test "$(( $(queued_count "$st" a) + $(queued_count "$st" b) ))" = 4
"$XMTF" resubmit lost > lost.resubmit.log 2>&1
cat lost.resubmit.log
check "7: resubmit rebuilds the state and submits nothing" bash -c "grep -q 'rebuilt from 2 submission records' lost.resubmit.log && grep -q 'nothing resubmitted' lost.resubmit.log && [ $(launches lost a) = 1 ]"
check "7: the run finishes" wait_for 60 all_done lost
check "7: every output written once" bash -c 'for l in en fr sw; do [ "$(cat out/lost_$l.txt)" = $l ] || exit 1; done'
manifest lost2 '[stages.a]
run = "sleep 10"'
"$XMTF" submit lost2.toml > lost2.submit.log 2>&1
rm jobs/lost2/state.sqlite jobs/lost2/a/launch/0001/submission.json
"$XMTF" resubmit lost2 > lost2.resubmit.log 2>&1
rc=$?
cat lost2.resubmit.log
check "7: without any record, jobs of the run in the queue are refused" bash -c "[ $rc = 1 ] && grep -q 'in the SLURM queue, but no submission record' lost2.resubmit.log && [ $(launches lost2 a) = 1 ]"
"$XMTF" cancel lost2 > /dev/null 2>&1; scancel --name=xmtf.lost2.a 2>/dev/null
finish
