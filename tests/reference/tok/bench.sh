#!/usr/bin/env bash
# Single-core tokenizer throughput, ours against HuggingFace tokenizers (Rust, via node) in the
# same run, on the same texts, then the ratio.
#   tests/reference/tok/bench.sh BUILD_BIN_DIR [TOKENIZER.json] [TEXTS.jsonl]
# TEXTS.jsonl: one JSON string per line (default: inputs and " "+targets of tests/data's shards).
# Needs `npm install @anush008/tokenizers@0.6.0` in this folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:?build bin dir (with xmtf-tokenize)}
tokenizer=${2:-$here/../../data/tokenizers/bloomstyle_gpt2vocab.tokenizer.json}
texts=${3:-}
if [ -z "$texts" ]; then
  texts=$(mktemp --suffix=.jsonl)
  trap 'rm -f "$texts"' EXIT
  /usr/bin/python3 - "$here/../../data/tokenizers/shards" > "$texts" <<'PY'
import glob, json, sys
for p in sorted(glob.glob(sys.argv[1] + "/*/*.jsonl")):
    for line in open(p, encoding="utf-8"):
        row = json.loads(line)
        print(json.dumps(row["inputs"], ensure_ascii=False)); print(json.dumps(" " + row["targets"], ensure_ascii=False))
PY
fi
export RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
hf=$(taskset -c 0 node "$here/bench_hf.js" "$tokenizer" "$texts" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_second"])')
ours=$(taskset -c 0 "$bin/xmtf-tokenize" --tokenizer "$tokenizer" --encode < "$texts" 2>&1 >/dev/null |
       sed -n 's/.*(\([0-9]*\) tokens\/s).*/\1/p')
/usr/bin/python3 -c "print(f'HF tokenizers {float($hf):,.0f} tokens/s, xmtf {float($ours):,.0f} tokens/s, ratio {float($ours)/float($hf):.2f}x')"
