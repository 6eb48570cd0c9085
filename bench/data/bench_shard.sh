#!/usr/bin/env bash
# Benchmark of xmtf-shard (not part of `make test`): a generated ~1 GiB xP3-like file, against
# the Python json baseline (tests/reference/data/baseline_validate.py: the same validation, the
# same output bytes, checked with cmp), all measured in this one run:
#   - the disk's own O_DIRECT write speed (dd), the bound for any writer that syncs its output;
#   - 1 and 2 ranks with default options (threads per rank chosen by cores per rank);
#   - 1 and 2 ranks with --threads 1 (one core's work per rank);
#   - 1 and 2 ranks bound to one core each (mpiexec -bind-to core), output in /dev/shm: the CPU
#     scaling without the disk;
#   - --dedup with its table in memory and spilled to disk (--dedup-memory 64 MiB).
# Peak RSS per rank by /usr/bin/time -v. Each measurement starts after `sync`, so no run pays
# for an earlier one's dirty pages.
# Usage: bench_shard.sh XMTF_SHARD [WORK_DIR=/tmp/xmtf-shard-bench] [MIB=1024] [MPIEXEC=mpiexec]
set -euo pipefail
shard=$(realpath "$1") work=${2:-/tmp/xmtf-shard-bench} mib=${3:-1024} mpiexec=${4:-mpiexec}
root=$(cd "$(dirname "$0")/../.." && pwd)
samples=$root/tests/data/xp3/samples
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
cat "$input" > /dev/null  # in the page cache, as it is for every run below
echo "input: $bytes bytes, $(wc -l < "$input") lines; $(nproc) cores; $(uname -r)"

declare -A seconds
measure() {  # label ranks command...: wall seconds, MiB/s in all and per rank, peak RSS per rank
  local label=$1 ranks=$2; shift 2
  sync
  local start end
  start=$(date +%s.%N)
  "$@" > "$work/log.$label" 2>&1 || { echo "$label: FAILED"; cat "$work/log.$label"; exit 1; }
  end=$(date +%s.%N)
  seconds[$label]=$(awk "BEGIN {printf \"%.2f\", $end - $start}")
  local rss; rss=$(grep "Maximum resident" "$work/log.$label" | awk '{printf "%d MB ", $6/1024}' || true)
  awk -v l="$label" -v s="${seconds[$label]}" -v b="$bytes" -v r="$ranks" -v m="$rss" \
    'BEGIN {printf "%-34s %6.2f s %6.0f MiB/s in all %6.0f MiB/s per rank   peak RSS per rank: %s\n", l":", s, b/1048576/s, b/1048576/s/r, m}'
}
ratio() { awk "BEGIN {printf \"%.2f\", ${seconds[$1]} / ${seconds[$2]}}"; }
clean() { rm -rf "$work/out" /dev/shm/xmtf-shard-bench-out; }

clean
rm -f "$work/dd.bin"
measure disk_odirect_write_dd 1 dd if=/dev/zero of="$work/dd.bin" bs=4M count=$(( (bytes + 4194303) / 4194304 )) oflag=direct conv=fsync
rm -f "$work/dd.bin"
measure python_json_baseline 1 "${timer[@]}" "$python" "$root/tests/reference/data/baseline_validate.py" "$input" "$work/baseline.jsonl"
run() {  # label ranks [mpiexec options] -- xmtf-shard options
  local label=$1 ranks=$2; shift 2
  local mpi_options=()
  while [ "$1" != "--" ]; do mpi_options+=("$1"); shift; done; shift
  clean
  measure "$label" "$ranks" "$mpiexec" "${mpi_options[@]}" -n "$ranks" "${timer[@]}" "$shard" --input "$work/input" "$@"
}
run xmtf_shard_1_rank 1 -- --output "$work/out" --log-level warn
run xmtf_shard_2_ranks 2 -- --output "$work/out" --log-level warn
cat "$work"/out/en/part-*.jsonl | cmp - "$work/baseline.jsonl" && echo "xmtf-shard output == Python baseline output"
rm -f "$work/baseline.jsonl"
run xmtf_shard_1_rank_threads_1 1 -- --output "$work/out" --threads 1 --log-level warn
run xmtf_shard_2_ranks_threads_1 2 -- --output "$work/out" --threads 1 --log-level warn
if [ -d /dev/shm ]; then
  run xmtf_shard_1_rank_1_core_shm 1 -bind-to core -- --output /dev/shm/xmtf-shard-bench-out --log-level warn
  run xmtf_shard_2_ranks_1_core_shm 2 -bind-to core -- --output /dev/shm/xmtf-shard-bench-out --log-level warn
fi
run xmtf_shard_dedup_in_memory 1 -- --output "$work/out" --dedup --log-level info
grep -h "distinct lines" "$work/log.xmtf_shard_dedup_in_memory" || true
run xmtf_shard_dedup_spilled_64MiB 1 -- --output "$work/out" --dedup --dedup-memory 67108864 --log-level info
grep -h "distinct lines" "$work/log.xmtf_shard_dedup_spilled_64MiB" || true
clean

echo "--- ratios (same run)"
echo "1 rank vs Python json:                 $(ratio python_json_baseline xmtf_shard_1_rank)x"
echo "1 rank --threads 1 vs Python json:     $(ratio python_json_baseline xmtf_shard_1_rank_threads_1)x"
echo "2 ranks vs 1 rank (default threads):   $(ratio xmtf_shard_1_rank xmtf_shard_2_ranks)x"
echo "2 ranks vs 1 rank (--threads 1):       $(ratio xmtf_shard_1_rank_threads_1 xmtf_shard_2_ranks_threads_1)x"
if [ -n "${seconds[xmtf_shard_2_ranks_1_core_shm]:-}" ]; then
  echo "2 ranks vs 1 rank (1 core each, shm):  $(ratio xmtf_shard_1_rank_1_core_shm xmtf_shard_2_ranks_1_core_shm)x"
fi
echo "2 ranks' write rate vs the disk's (dd): $(awk "BEGIN {printf \"%.2f\", ${seconds[disk_odirect_write_dd]} / ${seconds[xmtf_shard_2_ranks_threads_1]}}") (1.00 = as fast as the disk takes O_DIRECT writes)"
