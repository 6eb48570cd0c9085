#!/usr/bin/env bash
# Download throughput of xmtf-fetch against `curl -o` of the same file from the same local mock
# hub in the same run (issue 3's benchmark). Usage:
#   bench/hub/bench_fetch.sh BIN_DIR [SIZE_MIB=1024] [JOBS=8]
# BIN_DIR holds xmtf-fetch and xmtf-mock-hub (e.g. build/bin). Prints one line per client with
# seconds and MiB/s, then the ratios xmtf-fetch / curl (above 1: faster than curl).
set -euo pipefail
bin_dir=$1
size_mib=${2:-1024}
jobs=${3:-8}
work=$(mktemp -d "${TMPDIR:-/tmp}/xmtf-bench-hub.XXXXXX")
cleanup() { exec 4>&- 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# The server runs until its stdin (our fd 4) closes.
mkfifo "$work/stdin"
"$bin_dir/xmtf-mock-hub" --size-mib "$size_mib" -q <"$work/stdin" >"$work/server.out" &
exec 4>"$work/stdin"
for _ in $(seq 600); do grep -q '^SHA256' "$work/server.out" 2>/dev/null && break; sleep 0.1; done
endpoint=$(awk '/^ENDPOINT/ {print $2}' "$work/server.out")
cdn_url=$(awk '/^CDN_URL/ {print $2}' "$work/server.out")
sha=$(awk '/^SHA256/ {print $2}' "$work/server.out")

seconds() { local start=$1 end=$2; awk -v s="$start" -v e="$end" 'BEGIN {printf "%.3f", e - s}'; }
report() { awk -v name="$1" -v t="$2" -v mib="$size_mib" 'BEGIN {printf "%-28s %8.2f s %9.1f MiB/s\n", name, t, mib / t}'; }

start=$(date +%s.%N); curl -sS -o "$work/curl.bin" "$cdn_url"; end=$(date +%s.%N)
t_curl=$(seconds "$start" "$end")
[ "$(sha256sum "$work/curl.bin" | cut -d' ' -f1)" = "$sha" ] || { echo "curl download corrupt" >&2; exit 1; }
rm -f "$work/curl.bin"
report "curl -o" "$t_curl"

elapsed=0
run_fetch() {  # name, extra args...; sets elapsed
  local name=$1; shift
  rm -rf "$work/cache"
  local start end
  start=$(date +%s.%N)
  env HF_ENDPOINT="$endpoint" "$bin_dir/xmtf-fetch" --repo bench/big --cache "$work/cache" -q "$@" >/dev/null
  end=$(date +%s.%N)
  elapsed=$(seconds "$start" "$end")
  report "$name" "$elapsed"
}
run_fetch "xmtf-fetch --jobs 1" --jobs 1
t_one=$elapsed
run_fetch "xmtf-fetch --jobs $jobs (ranges)" --jobs "$jobs" --parallel-min-size 1
t_par=$elapsed
awk -v c="$t_curl" -v a="$t_one" -v b="$t_par" -v j="$jobs" 'BEGIN {
  printf "throughput ratio xmtf-fetch / curl: jobs 1: %.2f   jobs %d: %.2f\n", c / a, j, c / b }'
echo "(xmtf-fetch times include the sha256 verification of the blob and the cache rename; curl's do not)"
