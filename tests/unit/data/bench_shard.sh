#!/usr/bin/env bash
# Benchmark (not part of `make test`): xmtf-shard on a generated ~1 GB xP3-like file, 1 and 2
# ranks, peak RSS per rank (/usr/bin/time -v), against the Python json baseline in the same run.
# Usage: bench_shard.sh XMTF_SHARD [WORK_DIR=/tmp/xmtf-shard-bench] [MIB=1024] [MPIEXEC=mpiexec]
set -euo pipefail
shard=$(realpath "$1") work=${2:-/tmp/xmtf-shard-bench} mib=${3:-1024} mpiexec=${4:-mpiexec}
here=$(cd "$(dirname "$0")" && pwd)
samples=$here/../../data/xp3/samples
python=/usr/bin/python3
[ -x "$python" ] || python=python3
# Peak RSS per process: GNU time if present, else the same line printed from getrusage.
if [ -x /usr/bin/time ] && [ -z "${BENCH_PY_TIMER:-}" ]; then timer=(/usr/bin/time -v); else
  timer=("$python" -c 'import resource, subprocess, sys
code = subprocess.call(sys.argv[1:], close_fds=False)  # MPI: keep the PMI descriptor
print("Maximum resident set size (kbytes): %d" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(code)'); fi
mkdir -p "$work/input/en"
input=$work/input/en/xp3_bench_generated.jsonl
if [ ! -f "$input" ]; then
  # Real sample lines made distinct (a counter in inputs) until the file reaches the size.
  "$python" - "$input" "$mib" "$samples" <<'PY'
import glob, sys
out_path, mib, samples = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = [l for f in sorted(glob.glob(samples + "/*/*.jsonl")) for l in open(f, "rb").read().splitlines()]
target, written, i = mib << 20, 0, 0
with open(out_path, "wb") as out:
    while written < target:
        line = lines[i % len(lines)].replace(b'", "targets"', b' #%d", "targets"' % i, 1) + b"\n"
        out.write(line); written += len(line); i += 1
PY
fi
bytes=$(stat -c %s "$input")
echo "input: $bytes bytes, $(wc -l < "$input") lines"
measure() {  # label command...: prints wall seconds and peak RSS of every rank
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  "$@" > "$work/log.$label" 2>&1
  end=$(date +%s.%N)
  local seconds; seconds=$(awk "BEGIN {printf \"%.2f\", $end - $start}")
  local rss; rss=$(grep "Maximum resident" "$work/log.$label" | awk '{printf "%d MB ", $6/1024}')
  echo "$label: ${seconds}s, $(awk "BEGIN {printf \"%.0f\", $bytes / 1048576 / $seconds}") MiB/s in all, peak RSS per process: $rss"
}
sync
rm -rf "$work/out1" "$work/out2" "$work/out_dedup" "$work/baseline.jsonl"
measure python_json_baseline "${timer[@]}" "$python" "$here/../../reference/data/baseline_validate.py" "$input" "$work/baseline.jsonl"
measure xmtf_shard_1_rank "$mpiexec" -n 1 "${timer[@]}" "$shard" --input "$work/input" --output "$work/out1" --log-level warn
rm -rf "$work/out1"
measure xmtf_shard_2_ranks "$mpiexec" -n 2 "${timer[@]}" "$shard" --input "$work/input" --output "$work/out2" --log-level warn
if [ -n "${BENCH_MORE_RANKS:-}" ]; then
  for ranks in $BENCH_MORE_RANKS; do
    rm -rf "$work/outn"
    measure "xmtf_shard_${ranks}_ranks_chunk_64MiB" "$mpiexec" -n "$ranks" "${timer[@]}" "$shard" --input "$work/input" --output "$work/outn" --chunk-bytes 67108864 --log-level warn
  done
  rm -rf "$work/outn"
fi
cat "$work"/out2/en/part-*.jsonl | cmp - "$work/baseline.jsonl" && echo "xmtf-shard output == Python baseline output"
rm -rf "$work/out2"
measure xmtf_shard_dedup_1_rank "$mpiexec" -n 1 "${timer[@]}" "$shard" --input "$work/input" --output "$work/out_dedup" --dedup --log-level info
grep -h "distinct lines" "$work/log.xmtf_shard_dedup_1_rank" || true
rm -rf "$work/out_dedup" "$work/baseline.jsonl"
