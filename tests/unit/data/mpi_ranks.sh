#!/usr/bin/env bash
# xmtf-shard under mpiexec: the output must be byte-identical with 1, 2 and 3 ranks (plain and
# with every option; 1 or 2 threads per rank; --dedup in memory or spilled), a rerun must change nothing, and a run killed half-way must finish on
# rerun with the same output.
# Usage: mpi_ranks.sh MPIEXEC XMTF_SHARD TEST_DATA_XP3 WORK_DIR
set -euo pipefail
mpiexec=$1 shard=$2 data=$3
# A folder of this run alone under WORK_DIR's parent: two test runs at once never meet.
mkdir -p "$(dirname "$4")"
work=$(mktemp -d "$4.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/input"
# Real samples plus the bad-line fixture (as language "bad") in one input tree.
cp -r "$data/samples/." "$work/input/"
cp -r "$data/bad_input/sw" "$work/input/bad"

fail() { echo "FAIL: $*" >&2; exit 1; }
run() {  # run RANKS OUTPUT [options...]
  local ranks=$1 out=$2; shift 2
  "$mpiexec" -n "$ranks" "$shard" --input "$work/input" --output "$out" --log-level warn \
    --chunk-bytes 4000 --max-shard-bytes 25000 --max-bad-fraction 0.5 "$@"
}
snapshot() { (cd "$1" && find . -type f ! -name '.index.lock' -printf '%P %s %T@\n' | sort); }

for options in "" "--dedup --shuffle-seed 5 --validation-fraction 0.2 --max-per-prompt 150 --upsample zh=2"; do
  for ranks in 1 2 3; do
    # Nor may threads per rank or a --dedup table spilled to disk change a byte.
    case $ranks in
      1) extra="--threads 1" ;;
      2) extra="--threads 2" ;;
      3) extra=$([[ "$options" == *--dedup* ]] && echo "--dedup-memory 4096" || true) ;;
    esac
    run "$ranks" "$work/out$ranks" $options $extra
  done
  for ranks in 2 3; do
    diff -r -x .xmtf-shard.done "$work/out1" "$work/out$ranks" > /dev/null || fail "1 rank and $ranks ranks differ (options: '$options')"
  done
  [ "$(ls "$work/out1/zh" | grep -c '^part-')" -ge 2 ] || fail "expected several parts for zh"
  echo "ok: identical output for 1, 2, 3 ranks (options: '$options')"

  # Rerun with unchanged inputs: nothing is rewritten (same sizes and mtimes).
  before=$(snapshot "$work/out2")
  run 2 "$work/out2" $options
  [ "$before" == "$(snapshot "$work/out2")" ] || fail "rerun rewrote files (options: '$options')"
  echo "ok: rerun is a no-op"

  # A run killed after its 3rd chunk, then after its 1st part: the rerun finishes the job.
  for crash in chunks:3 parts:1; do
    rm -rf "$work/crashed"
    if XMTF_SHARD_TEST_CRASH=$crash run 2 "$work/crashed" $options 2> /dev/null; then fail "crash injection did not crash"; fi
    [ ! -f "$work/crashed/zh/index.json" ] || [ "$crash" == parts:1 ] || fail "index written before the crash point"
    run 3 "$work/crashed" $options
    diff -r -x .xmtf-shard.done "$work/out1" "$work/crashed" > /dev/null || fail "resume after crash ($crash) differs"
  done
  echo "ok: resume after a crash gives the same output"
  rm -rf "$work"/out* "$work/crashed"
done
# One array task per language, all at once, as the scheduler runs them: the run-wide index
# (rewritten under a file lock) must end up with every language and the upsampling factor.
pids=()
for language in et sw zh; do
  "$shard" --input "$work/input" --output "$work/tasks" --languages "$language" --upsample zh=1.3 --log-level warn &
  pids+=($!)
done
for pid in "${pids[@]}"; do  # each task's own exit status (a bare `wait` returns 0 whatever they did)
  wait "$pid" || fail "a concurrent per-language task (pid $pid) failed"
done
/usr/bin/python3 - "$work/tasks/index.json" <<'PY' || fail "run-wide index after concurrent tasks"
import json, sys
index = json.load(open(sys.argv[1]))["languages"]
assert sorted(index) == ["et", "sw", "zh"], sorted(index)
total = sum(entry["train"]["bytes"] for entry in index.values())
for language, entry in index.items():
    share = entry["train"]["bytes"] / total
    assert abs(entry["byte_share"] - share) < 1e-12, (language, entry)
    assert abs(entry["weight"] - share * (1.3 if language == "zh" else 1.0)) < 1e-12, (language, entry)
PY
echo "ok: concurrent per-language tasks build one run-wide index"
rm -rf "$work"
