#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine (munge + slurmctld + slurmd on loopback), for the
# SLURM end-to-end test and for trying `hydra/launcher=slurm` without a real cluster.
#
# Idempotent, as root: installs Debian's slurm-wlm and munge when missing, writes /etc/slurm/slurm.conf
# for this host (only a file this script wrote before is ever replaced), starts the daemons that are not
# running and waits until `sinfo` shows the node idle. Stop with scripts/slurm/stop_local_slurm.sh.
#
# Usage: sudo bash scripts/slurm/start_local_slurm.sh        (env CPUS=N overrides the CPU count)
# Exit codes: 0 ready, 1 error (see the message and /var/log/slurm/), 3 slurm cannot be installed here.
set -euo pipefail

MARKER="# Written by reid-lightning scripts/slurm/start_local_slurm.sh"
CONF=/etc/slurm/slurm.conf
LOG_DIR=/var/log/slurm
WAIT_S=${WAIT_S:-60}

say() { echo "[start_local_slurm] $*"; }
die() { echo "[start_local_slurm] ERROR: $*" >&2; exit 1; }
# running PIDFILE NAME: the daemon of PIDFILE is alive (and its pid not reused by another program)
running() { [[ -f $1 ]] && [[ $(cat "/proc/$(cat "$1")/comm" 2>/dev/null) == "$2" ]]; }

[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and starts daemons); try: sudo bash $0"

# --- 1. packages ------------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null; then
    cannot_install() { echo "[start_local_slurm] CANNOT INSTALL: $*" >&2; exit 3; }
    command -v apt-get >/dev/null || cannot_install "slurm is not installed and there is no apt-get"
    say "installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || cannot_install "apt-get update failed"
    # no recommends: the daemons and client tools are all we need (9 packages instead of 43)
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null \
        || cannot_install "apt-get install slurm-wlm munge failed"
fi

# --- 2. munge: the shared secret every SLURM message is signed with ----------------------------------
if [[ ! -s /etc/munge/munge.key ]]; then
    say "creating /etc/munge/munge.key"
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
if running /run/munge/munged.pid munged; then
    say "munged already running (pid $(cat /run/munge/munged.pid))"
else
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged --force
fi
for _ in $(seq 1 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
munge -n | unmunge >/dev/null || die "munge does not work: see /var/log/munge/munged.log"

# --- 3. slurm.conf for this one node ---------------------------------------------------------------
NODE=$(hostname -s)
# slurmd -C prints this machine's layout, e.g. "NodeName=vm CPUs=2 Boards=1 ... RealMemory=24105"
HW=$(slurmd -C | head -1)
CPUS=${CPUS:-$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$HW")}
CPUS=${CPUS:-$(nproc)}
MEM_MB=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$HW")
MEM_MB=${MEM_MB:-1000}

NEW_CONF=$(cat <<EOF
$MARKER
# A one-node cluster on loopback for tests; see that script for why each line is here.
ClusterName=localcluster
SlurmctldHost=${NODE}(127.0.0.1)
# root runs the daemons: no slurm user permissions to set up in a throw-away sandbox
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# a requeued job waits cred_expire seconds before it may start again (default 120 s: too slow for tests)
AuthInfo=cred_expire=10
# where jobs and node state survive daemon restarts
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${LOG_DIR}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups in a container: track processes through /proc, no CPU binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# cores are the consumable resource, so several 1-CPU jobs share the node
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# look at pending jobs every 5 s (defaults 60 s and 30 s): a requeued job starts soon after its wait
SchedulerParameters=sched_interval=5,bf_interval=5
# no slurmdbd: sacct is unavailable (submitit then waits for result files instead)
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
# requeued jobs (scontrol requeue, preemption, submitit timeouts) run again
JobRequeue=1
# a node that was down (e.g. after a machine restart) returns to service when slurmd registers
ReturnToService=2
# seconds between SIGTERM and SIGKILL when a job is cancelled, requeued or times out
KillWait=5
# finished jobs stay visible to squeue/scontrol for 10 minutes
MinJobAge=600
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEM_MB} State=UNKNOWN
PartitionName=debug Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP
EOF
)

CHANGED=0
if [[ -f $CONF ]] && ! grep -qxF "$MARKER" "$CONF"; then
    die "$CONF exists and was not written by this script; move it away to use a local test cluster"
fi
if [[ ! -f $CONF ]] || [[ "$(cat "$CONF")" != "$NEW_CONF" ]]; then
    say "writing $CONF (node $NODE, $CPUS CPUs, $MEM_MB MB)"
    mkdir -p /etc/slurm
    printf '%s\n' "$NEW_CONF" >"$CONF"
    CHANGED=1
fi
mkdir -p /var/spool/slurmctld /var/spool/slurmd "$LOG_DIR"

# --- 4. daemons ------------------------------------------------------------------------------------
if [[ $CHANGED -eq 1 ]] && { running /run/slurmctld.pid slurmctld || running /run/slurmd.pid slurmd; }; then
    # a restart, not `scontrol reconfigure`: some settings (AuthInfo) are only read at start-up
    say "slurm.conf changed: restarting the daemons (queued jobs are kept)"
    for daemon in slurmd slurmctld; do
        pidfile=/run/$daemon.pid
        running "$pidfile" "$daemon" || continue
        pid=$(cat "$pidfile")
        kill "$pid"
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    done
fi
if running /run/slurmctld.pid slurmctld; then
    say "slurmctld already running (pid $(cat /run/slurmctld.pid))"
else
    say "starting slurmctld"
    /usr/sbin/slurmctld
fi
if running /run/slurmd.pid slurmd; then
    say "slurmd already running (pid $(cat /run/slurmd.pid))"
else
    say "starting slurmd"
    /usr/sbin/slurmd
fi

# --- 5. wait for an idle (or busy) node --------------------------------------------------------------
deadline=$((SECONDS + WAIT_S))
while :; do
    state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -1 || true)
    case "$state" in
        idle | mixed | allocated | completing) break ;;
        down* | drain* | drained*) scontrol update nodename="$NODE" state=resume 2>/dev/null || true ;;
    esac
    ((SECONDS < deadline)) || die "node $NODE is '${state:-unknown}' after ${WAIT_S}s; see $LOG_DIR/slurmctld.log"
    sleep 1
done
say "ready: node $NODE ($CPUS CPUs, $MEM_MB MB) is $state in partition debug"
