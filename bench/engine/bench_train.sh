#!/usr/bin/env bash
# Benchmark of the training engine (not part of `make test`), measured in this one run:
#   1. the training step of the benchmark model (tests/data/bloom/bench-4l-512.config.json:
#      4 layers, hidden 512, 8 heads, vocab 50,257; seq 512, one row per step, one thread, the LM
#      head on loss positions as by default), for this build and, when given, another build's
#      xmtf-train side by side: ROUNDS interleaved rounds of STEPS steps each, the first step of
#      a run discarded (page faults), the best and the median step time per build, and their ratio;
#   2. data parallelism on this machine: --dp 2 under mpiexec -n 2 (one BLAS thread per rank)
#      against --dp 1 (two BLAS threads), global batch 4 in micro-batches of 1, as a ratio of
#      step times (the same work; the losses agree to float rounding: two BLAS threads split the
#      matrix products differently from one, so they are not byte-identical here).
# Usage: bench_train.sh XMTF_TRAIN [BASELINE_XMTF_TRAIN] [ROUNDS=5] [STEPS=4]
set -euo pipefail
train=$(realpath "$1") baseline=${2:+$(realpath "$2")} rounds=${3:-5} steps=${4:-4}
root=$(cd "$(dirname "$0")/../.." && pwd)
data=$root/tests/data/bloom
work=$(mktemp -d /tmp/xmtf-train-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
python=/usr/bin/python3
[ -x "$python" ] || python=python3

# Step seconds of steps 2..N of one run (metrics.jsonl), one per line.
step_seconds() {
  "$python" -c 'import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if "\"loss\"" in l]
print("\n".join(str(r["step_seconds"]) for r in rows[1:]))' "$1/metrics.jsonl"
}

run_once() {  # binary label extra-env extra-args...
  local binary=$1 label=$2 env=$3; shift 3
  rm -rf "$work/$label"
  env $env "$binary" --model-config "$data/bench-4l-512.config.json" --data "sw:1:$data/mtf/sw.jsonl" \
    --seq-len 512 --lr 1e-4 --steps "$steps" --checkpoint-dir "$work/$label" --log-level warn "$@" >/dev/null
  step_seconds "$work/$label" >>"$work/$label.times"
}

summary() {  # label -> "best median"
  sort -g "$work/$1.times" | "$python" -c 'import sys, statistics
t = [float(x) for x in sys.stdin]
print("%.3f %.3f" % (min(t), statistics.median(t)))'
}

echo "== training step, bench-4l-512, seq 512, batch 1, 1 thread, $rounds interleaved rounds x $((steps - 1)) timed steps"
for round in $(seq "$rounds"); do
  run_once "$train" this OPENBLAS_NUM_THREADS=1 --micro-batch 1 --global-batch 1
  [ -n "$baseline" ] && run_once "$baseline" baseline OPENBLAS_NUM_THREADS=1 --micro-batch 1 --global-batch 1
done
read -r this_best this_median < <(summary this)
echo "this build:     best ${this_best} s/step, median ${this_median} s/step"
if [ -n "$baseline" ]; then
  read -r base_best base_median < <(summary baseline)
  echo "baseline build: best ${base_best} s/step, median ${base_median} s/step"
  "$python" -c "print('this / baseline: best %.3f, median %.3f (below 1: faster)' % ($this_best / $base_best, $this_median / $base_median))"
fi

echo "== data parallelism on $(nproc) cores: global batch 4, micro-batch 1, $rounds interleaved rounds"
for round in $(seq "$rounds"); do
  run_once "$train" dp1 OPENBLAS_NUM_THREADS=$(nproc) --micro-batch 1 --global-batch 4
  rm -rf "$work/dp2"
  OPENBLAS_NUM_THREADS=1 mpiexec -n 2 "$train" --model-config "$data/bench-4l-512.config.json" --data "sw:1:$data/mtf/sw.jsonl" \
    --seq-len 512 --lr 1e-4 --steps "$steps" --checkpoint-dir "$work/dp2" --log-level warn --micro-batch 1 --global-batch 4 \
    --dp 2 >/dev/null
  step_seconds "$work/dp2" >>"$work/dp2.times"
  "$python" -c 'import json, sys
loss = lambda path: [json.loads(l)["loss"] for l in open(path + "/metrics.jsonl") if "\"loss\"" in l]
a, b = loss(sys.argv[1]), loss(sys.argv[2])
worst = max(abs(x - y) / abs(y) for x, y in zip(a, b))
if worst > 1e-5: print("WARNING: dp 1 and dp 2 losses differ by %.2e relative" % worst)' "$work/dp1" "$work/dp2"
done
read -r dp1_best dp1_median < <(summary dp1)
read -r dp2_best dp2_median < <(summary dp2)
echo "dp 1 (2 threads): best ${dp1_best} s/step, median ${dp1_median} s/step"
echo "dp 2 (2 ranks):   best ${dp2_best} s/step, median ${dp2_median} s/step"
"$python" -c "print('dp 2 speed-up over dp 1: best %.2fx, median %.2fx' % ($dp1_best / $dp2_best, $dp1_median / $dp2_median))"
