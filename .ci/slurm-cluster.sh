#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for CI and for trying the
# slurm/ profile without a cluster. Debian's slurm-wlm and munge; run as root.
#
#   .ci/slurm-cluster.sh up      install (if missing), configure, start, wait until the node is idle
#   .ci/slurm-cluster.sh down    cancel leftover jobs, stop the daemons this script started
#   .ci/slurm-cluster.sh status  sinfo and squeue
#
# The node declares two fake GPUs (gres gpu:2 backed by /dev/null and
# /dev/zero): jobs that ask for a GPU get one allocated, so GPU requests are
# checked by SLURM, but the code runs on CPU. Two partitions share the node,
# `cpu` (default) and `gpu`, so that the profile's partition mapping is
# exercised. No accounting (use `--slurm-status-command squeue`); finished
# jobs stay visible to squeue/scontrol for MinJobAge (1 h).
set -euo pipefail

CONF_DIR=/etc/slurm
STATE=/run/subliminal-slurm          # pid files of the daemons started here
MARK="# written by subliminal .ci/slurm-cluster.sh"
NODE=$(hostname -s)

log() { echo "slurm-cluster: $*" >&2; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return
    fi
    log "installing slurm-wlm and munge (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

write_config() {
    if [[ -e $CONF_DIR/slurm.conf ]] && ! grep -qF "$MARK" "$CONF_DIR/slurm.conf"; then
        log "$CONF_DIR/slurm.conf exists and was not written by this script: using it as it is"
        return
    fi
    local hw
    # the node as slurmd sees the hardware (CPUs, sockets, cores, threads), memory as configured below
    hw=$(slurmd -C | head -1 | sed -e 's/^NodeName=[^ ]* //' -e 's/ RealMemory=[0-9]*//')
    mkdir -p "$CONF_DIR" /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
    cat >"$CONF_DIR/slurm.conf" <<EOF
$MARK
ClusterName=subliminal-ci
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=3600
# jobs are not requeueable unless submitted with --requeue (many clusters'
# default), so the tests see that the profile's slurm-requeue reaches sbatch
JobRequeue=0
# memory is not a consumable resource here (CR_Core) and the node is taken as
# configured: requests that grow with the attempt number still fit
SlurmdParameters=config_overrides
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 $hw RealMemory=262144 Gres=gpu:2 State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE Default=NO MaxTime=INFINITE State=UP
EOF
    cat >"$CONF_DIR/gres.conf" <<EOF
$MARK
AutoDetect=off
Name=gpu File=/dev/null
Name=gpu File=/dev/zero
EOF
    # no cgroup.conf: proctrack/linuxproc and task/none need none
}

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_daemons() {
    mkdir -p "$STATE" /run/munge
    chown munge:munge /run/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create --keyfile /etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    if ! alive /run/munge/munged.pid; then
        log "starting munged"
        runuser -u munge -- /usr/sbin/munged
        cp /run/munge/munged.pid "$STATE/munged.pid"
    fi
    if ! alive "$STATE/slurmctld.pid"; then
        log "starting slurmctld"
        /usr/sbin/slurmctld -c   # -c: a clean start, no jobs from an earlier cluster
    fi
    if ! alive "$STATE/slurmd.pid"; then
        log "starting slurmd"
        /usr/sbin/slurmd
    fi
}

wait_idle() {
    local state=""
    for _ in $(seq 60); do
        state=$(sinfo -h -N -n "$NODE" -o %T 2>/dev/null | sort -u | head -1 || true)
        case $state in
            idle|mixed|allocated) log "node $NODE is $state"; return 0 ;;
            drain*|down*|inval*)
                scontrol update nodename="$NODE" state=resume 2>/dev/null || true ;;
        esac
        sleep 1
    done
    log "node $NODE did not become idle (state: ${state:-none})"
    sinfo -R >&2 || true
    tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
    return 1
}

stop_daemon() {  # name pidfile
    if alive "$2"; then
        log "stopping $1"
        kill "$(cat "$2")"
        for _ in $(seq 20); do alive "$2" || break; sleep 0.5; done
    fi
    rm -f "$2"
}

case ${1:-} in
    up)
        install_packages
        write_config
        start_daemons
        wait_idle
        ;;
    down)
        if alive "$STATE/slurmctld.pid"; then
            scancel --full --quiet --user "$(id -un)" 2>/dev/null || true
        fi
        stop_daemon slurmd "$STATE/slurmd.pid"
        stop_daemon slurmctld "$STATE/slurmctld.pid"
        stop_daemon munged "$STATE/munged.pid"
        ;;
    status)
        sinfo
        squeue
        ;;
    *)
        echo "usage: $0 up|down|status" >&2
        exit 2
        ;;
esac
