#!/usr/bin/env bash
# Rank-classification throughput on XCOPA: xmtf-eval against the same scoring in PyTorch 1.13
# (bench_rank_torch.py: the lm-evaluation-harness way, and xmtf's algorithm) on the same small
# random BLOOM (bloom-4l-512.config.json: 4 layers, hidden 512, vocab 50,261; 38.3 M parameters),
# the same examples (the paper's five English XCOPA prompts over the shipped validation rows),
# the same thread count. One run each. Needs /usr/bin/python3 with torch, node and
# tests/reference/tok/node_modules (npm ci there).
# Usage: bench/eval/bench_rank_eval.sh [BIN_DIR (build/bin)] [THREADS (1)] [LANGUAGES (sw)]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${1:-$ROOT/build/bin}"
THREADS="${2:-1}"
LANGS="${3:-sw}"
BATCH=8
WORK="$(mktemp -d "${TMPDIR:-/tmp}/xmtf-bench-eval.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
TOKENIZER="$ROOT/tests/data/tokenizers/bloomstyle_gpt2vocab.tokenizer.json"
TEMPLATES="$ROOT/tests/data/prompts/promptsource/pr826/xcopa/en/templates.yaml"

# The model: random weights (seed 1) in HF layout, written by the reference code.
/usr/bin/python3 - "$ROOT" "$WORK/model" <<'PY'
import json, os, sys
sys.path.insert(0, os.path.join(sys.argv[1], "tests", "reference", "bloom"))
from make_golden import make_params, save_safetensors
cfg = json.load(open(os.path.join(sys.argv[1], "bench", "eval", "bloom-4l-512.config.json")))
os.makedirs(sys.argv[2])
params = make_params(cfg, 1)
save_safetensors(os.path.join(sys.argv[2], "model.safetensors"), {"transformer." + k: v.contiguous() for k, v in params.items()},
                 {"format": "pt"})
json.dump(cfg, open(os.path.join(sys.argv[2], "config.json"), "w"), indent=2)
PY

predictions=()
total=0
seconds=0
for lang in $LANGS; do
  log="$WORK/xmtf-$lang.log"
  OPENBLAS_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" "$BIN/xmtf-eval" --model "$WORK/model" --tokenizer "$TOKENIZER" \
    --dataset xcopa --data "$ROOT/tests/data/prompts/xcopa/val.$lang.jsonl" --templates "$TEMPLATES" \
    --template best_option --template "C1 or C2? premise, so/because…" --template i_am_hesitating \
    --template cause_effect --template plausible_alternatives --batch-size "$BATCH" --predictions --output "$WORK/out-$lang" \
    2> "$log"
  line="$(grep 'rank done' "$log")"
  n="$(sed -E 's/.*rank done: ([0-9]+) examples in ([0-9.]+)s.*/\1/' <<<"$line")"
  s="$(sed -E 's/.*rank done: ([0-9]+) examples in ([0-9.]+)s.*/\2/' <<<"$line")"
  total=$((total + n))
  seconds="$(python3 -c "print($seconds + $s)")"
  predictions+=("$WORK"/out-"$lang"/*.jsonl)
done
xmtf_rate="$(python3 -c "print(round($total / $seconds, 2))")"
echo "xmtf-eval: $total examples in ${seconds}s: $xmtf_rate examples/s ($THREADS thread(s), batch $BATCH)"
torch_out="$(OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" /usr/bin/python3 "$ROOT/bench/eval/bench_rank_torch.py" \
  "$WORK/model" "$TOKENIZER" "$THREADS" "$BATCH" "${predictions[@]}")"
echo "$torch_out" | sed 's/^/torch 1.13: /'
python3 - "$xmtf_rate" <<PY
import json, sys
xmtf = float(sys.argv[1])
for line in """$torch_out""".splitlines():
    r = json.loads(line)
    ok = "same scores" if r["max_abs_diff_vs_xmtf"] < 1e-3 else "SCORES DIFFER"
    print(f"ratio xmtf / torch-{r['mode']}: {xmtf / r['examples_per_s']:.2f}x ({ok}: max |diff| {r['max_abs_diff_vs_xmtf']:.2e})")
PY
