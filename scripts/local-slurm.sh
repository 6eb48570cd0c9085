#!/usr/bin/env bash
# local-slurm.sh [start|stop|status|env] - a real single-node SLURM on 127.0.0.1 for the
# scheduler's integration tests: a private munged, slurmctld and slurmd, everything (config,
# munge key and socket, state, logs, pid files) under $XMTF_SLURM_DIR; nothing in /etc.
# Clients find it through SLURM_CONF: eval "$(scripts/local-slurm.sh env)".
# `stop` cancels the cluster's jobs, then stops the daemons by their pid files.
# Knobs: XMTF_SLURM_DIR [/tmp/xmtf-slurm], XMTF_SLURM_PORT [6817; slurmd +1],
#        XMTF_SLURM_CPUS [4; more than the cores is fine, tasks are tiny]
set -euo pipefail
D=${XMTF_SLURM_DIR:-/tmp/xmtf-slurm}
PORT=${XMTF_SLURM_PORT:-6817}
CPUS=${XMTF_SLURM_CPUS:-4}
CONF=$D/etc/slurm.conf
SOCK=$D/munge/munge.socket.2
MEM=$(awk '/MemTotal/ {m=int($2/1024)-1024; if (m<256) m=256; print m}' /proc/meminfo)

log() { printf '[local-slurm %s] %s\n' "$(date +%T)" "$*" >&2; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

can_host() {  # prints why not, when this machine cannot run a local SLURM
  [ "$(id -u)" = 0 ] || { echo "not root (slurmd must run as root)"; return 1; }
  for b in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/munged /usr/bin/sbatch; do
    [ -x "$b" ] || { echo "$b missing (apt-get install slurmctld slurmd slurm-client munge)"; return 1; }
  done
}

write_conf() {
  local extra=""
  [ "$CPUS" -gt "$(nproc)" ] && extra="SlurmdParameters=config_overrides"
  mkdir -p "$D/etc"
  cat > "$CONF" <<CONF
ClusterName=xmtflocal
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$SOCK
CredType=cred/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool/slurmd.%n
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_min_interval=0
MaxArraySize=10001
MaxJobCount=100000
MinJobAge=3600
KillWait=5
InactiveLimit=0
WaitTime=0
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
$extra
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
  why=$(can_host) || { log "cannot host SLURM here: $why"; exit 77; }
  mkdir -p "$D"/{etc,state,spool,log,run,munge}
  chmod 700 "$D/munge"
  [ -s "$D/munge/munge.key" ] || { dd if=/dev/urandom of="$D/munge/munge.key" bs=1024 count=1 status=none; chmod 400 "$D/munge/munge.key"; }
  if ! alive "$D/munge/munged.pid"; then
    /usr/sbin/munged --force --socket="$SOCK" --key-file="$D/munge/munge.key" --pid-file="$D/munge/munged.pid" \
      --log-file="$D/log/munged.log" --seed-file="$D/munge/munged.seed"
    for _ in $(seq 50); do munge -n -S "$SOCK" </dev/null | unmunge -S "$SOCK" >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  write_conf
  alive "$D/run/slurmctld.pid" || /usr/sbin/slurmctld -f "$CONF" -i
  alive "$D/run/slurmd.pid" || SLURM_CONF=$CONF /usr/sbin/slurmd -f "$CONF"
  for _ in $(seq 120); do
    state=$(SLURM_CONF=$CONF sinfo -h -n localhost -o '%T' 2>/dev/null || true)
    case "$state" in
      idle|mixed|allocated) log "SLURM up ($D), node $state"; echo "export SLURM_CONF=$CONF"; return 0 ;;
      drain*|down*|inval*) SLURM_CONF=$CONF scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
  done
  log "node never became idle"; tail -n 20 "$D/log/slurmctld.log" "$D/log/slurmd.log" >&2 || true; exit 1
}

stop_pid() {
  local f=$1 pid
  alive "$f" || { rm -f "$f"; return 0; }
  pid=$(cat "$f"); kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$f"
}

stop() {
  if alive "$D/run/slurmctld.pid"; then
    SLURM_CONF=$CONF scancel --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 50); do [ -n "$(SLURM_CONF=$CONF squeue -h -t R,CG -o %i 2>/dev/null)" ] || break; sleep 0.2; done
  fi
  stop_pid "$D/run/slurmd.pid"
  stop_pid "$D/run/slurmctld.pid"
  stop_pid "$D/munge/munged.pid"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  status) for f in "$D/munge/munged.pid" "$D/run/slurmctld.pid" "$D/run/slurmd.pid"; do
            if alive "$f"; then echo "$(basename "$f" .pid): running ($(cat "$f"))"; else echo "$(basename "$f" .pid): stopped"; fi
          done ;;
  *) echo "usage: $0 [start|stop|status|env]" >&2; exit 2 ;;
esac
