#!/usr/bin/env bash
# Regenerates golden_js_cache_layout.txt: the cache that @huggingface/hub 2.17.5's snapshotDownload
# builds from the mock hub serving tests/data/hub, listed by list_cache.sh. The C++ test
# FetchReference.CacheLayoutMatchesHuggingfaceJs builds the same cache with xmtf-fetch and compares.
# Needs node + npm (registry access) and a build of xmtf-mock-hub. Usage:
#   tests/reference/hub/make_golden.sh BIN_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data="$here/../../data/hub"
bin_dir=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
npm install --silent --no-audit --no-fund --prefix "$work/npm" @huggingface/hub@2.17.5 >/dev/null
NODE_PATH="$work/npm/node_modules" "$bin_dir/xmtf-mock-hub" -q \
  --model "bigscience/bloomz-560m=$data/bloomz-560m" --dataset "bigscience/xP3=$data/xp3-mini" \
  -- node "$here/snapshot_js.cjs" "$work/cache" model:bigscience/bloomz-560m dataset:bigscience/xP3
"$here/list_cache.sh" "$work/cache" > "$here/golden_js_cache_layout.txt"
cat "$here/golden_js_cache_layout.txt"
