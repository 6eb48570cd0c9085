# Shared by the real-SLURM tests: start_slurm starts a private single-node SLURM for this test
# run alone (its own folder from mktemp, its own ports, chosen free at start) and stops it on
# exit, by the pid files in that folder: two test runs on one machine never meet.
# Exits 77 (skipped) where this machine cannot host SLURM (not root, packages missing).
# Usage: . slurm_lib.sh; start_slurm SCRIPTS_LOCAL_SLURM_SH; then $SLURM_DIR, $SLURM_CONF.

port_in_use() { ss -Htan 2>/dev/null | awk '{print $4}' | grep -qE "[:.]$1\$"; }

# Two consecutive free TCP ports (slurmctld, slurmd) in 20000-59999.
free_port_pair() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    port_in_use "$p" || port_in_use $((p + 1)) || { echo "$p"; return 0; }
  done
  return 1
}

start_slurm() {
  LOCAL_SLURM=$1
  SLURM_DIR=$(mktemp -d /tmp/xmtf-slurm-test.XXXXXX)
  export XMTF_SLURM_DIR=$SLURM_DIR XMTF_SLURM_CPUS=${XMTF_SLURM_CPUS:-4}
  trap stop_slurm EXIT
  local rc=1
  for _ in 1 2 3; do  # another process may take the ports between the check and the bind
    XMTF_SLURM_PORT=$(free_port_pair) || { echo "FAIL - no free port pair"; exit 1; }
    export XMTF_SLURM_PORT
    "$LOCAL_SLURM" start > "$SLURM_DIR/start.log" 2>&1
    rc=$?
    [ $rc = 0 ] && break
    [ $rc = 77 ] && break
    "$LOCAL_SLURM" stop > /dev/null 2>&1
  done
  if [ $rc = 77 ]; then
    cat "$SLURM_DIR/start.log"
    echo "SKIPPED: this machine cannot host a local SLURM"
    exit 77
  fi
  if [ $rc != 0 ]; then
    cat "$SLURM_DIR/start.log"
    echo "FAIL - local SLURM did not start (exit $rc)"
    exit 1
  fi
  eval "$("$LOCAL_SLURM" env)"
  echo "local SLURM in $SLURM_DIR, ports $XMTF_SLURM_PORT-$((XMTF_SLURM_PORT + 1))"
}

stop_slurm() {
  local rc=$?
  if [ -n "${SLURM_DIR:-}" ] && [ -d "$SLURM_DIR" ]; then
    "$LOCAL_SLURM" stop > /dev/null 2>&1
    rm -rf "$SLURM_DIR"
  fi
  exit $rc
}

# wait_for SECONDS COMMAND...: polls COMMAND every 0.5 s until it succeeds; 1 on timeout.
wait_for() {
  local seconds=$1; shift
  local end=$((SECONDS + seconds))
  until "$@"; do
    [ $SECONDS -ge $end ] && return 1
    sleep 0.5
  done
}
