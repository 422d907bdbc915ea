#!/usr/bin/env bash
# Stop the one-node SLURM cluster that start_local_slurm.sh started: cancel its jobs, stop slurmd and
# slurmctld, then munged. Each daemon is stopped through its own pid file; nothing else is touched.
#
# Usage: sudo bash scripts/slurm/stop_local_slurm.sh          (--keep-jobs: leave queued jobs in the state)
set -euo pipefail

say() { echo "[stop_local_slurm] $*"; }
# running PIDFILE NAME: the daemon of PIDFILE is alive (and its pid not reused by another program)
running() { [[ -f $1 ]] && [[ $(cat "/proc/$(cat "$1")/comm" 2>/dev/null) == "$2" ]]; }
stop_pidfile() {  # stop_pidfile NAME FILE: SIGTERM the daemon of FILE and wait up to 15 s
    local name=$1 file=$2 pid
    running "$file" "$name" || return 0
    pid=$(cat "$file")
    say "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    say "$name (pid $pid) still alive after 15 s; sending SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
}

[[ $(id -u) -eq 0 ]] || { echo "[stop_local_slurm] ERROR: must run as root" >&2; exit 1; }

if [[ ${1:-} != --keep-jobs ]] && running /run/slurmctld.pid slurmctld; then
    jobs=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ' || true)
    if [[ -n ${jobs// /} ]]; then
        say "cancelling jobs: $jobs"
        # shellcheck disable=SC2086
        scancel $jobs || true
        for _ in $(seq 1 30); do [[ -z $(squeue -h 2>/dev/null) ]] && break; sleep 1; done
    fi
fi
stop_pidfile slurmd /run/slurmd.pid
stop_pidfile slurmctld /run/slurmctld.pid
stop_pidfile munged /run/munge/munged.pid
say "stopped"
