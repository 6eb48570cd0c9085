#!/bin/bash
# A rank that dies while the others wait in an all-reduce: under a launcher that does not clean
# up (mpiexec -disable-auto-cleanup, like srun without --kill-on-bad-exit) the survivors must end
# within seconds, naming the dead rank, instead of spinning until a time limit.
set -u
mpiexec=$1 check=$2
log=$(mktemp)
start=$(date +%s)
timeout 60 "$mpiexec" -disable-auto-cleanup -n 3 "$check" --die-rank 1 >"$log" 2>&1
code=$?
elapsed=$(( $(date +%s) - start ))
cat "$log"
grep -q "rank 1 (pid [0-9]*) is gone while this rank waited in an all-reduce" "$log" || { echo "FAIL: no message naming rank 1"; exit 1; }
[ "$code" -ne 0 ] && [ "$code" -ne 124 ] || { echo "FAIL: exit $code (124: hung until the timeout)"; exit 1; }
[ "$elapsed" -le 15 ] || { echo "FAIL: took ${elapsed}s"; exit 1; }
rm -f "$log"
echo "PASS: survivors ended after ${elapsed}s with exit $code"
