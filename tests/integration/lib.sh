# Shared by the end-to-end tests: tiny assertion helpers that print what they checked.
pass=0 fail=0
ok()  { echo "ok   - $*"; pass=$((pass + 1)); }
bad() { echo "FAIL - $*"; fail=$((fail + 1)); }
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; }
# the "done" column of a stage in `xmtf status` output
done_count() { awk -v s="$2" '$1==s {print $2}' <<<"$1"; }
failed_count() { awk -v s="$2" '$1==s {print $3}' <<<"$1"; }
# running + pending + blocked of a stage
queued_count() { awk -v s="$2" '$1==s {print $4 + $5 + $6}' <<<"$1"; }
