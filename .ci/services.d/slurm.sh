#!/usr/bin/env bash
# Install and start a single-node Slurm cluster (munged, slurmctld, slurmd) for the Slurm tests of
# `vleval slurm` (tests/runner). Recipe: shared/notes/slurm-single-node.md (tested on Debian 12).
# Idempotent: a cluster that is already up is left alone; daemons are started only when missing.
# Needs root. The daemons keep running after this script exits; their PIDs are in $SLURM_CI_DIR/pids.
set -euo pipefail
SLURM_CI_DIR=${SLURM_CI_DIR:-/tmp/slurm-ci}
# Advertised CPUs: more than the machine has (config_overrides), so a multi-task job never pends forever.
SLURM_CI_CPUS=${SLURM_CI_CPUS:-16}
export DEBIAN_FRONTEND=noninteractive

cluster_idle() { [ "$(sinfo -h -N -o %t 2>/dev/null | head -n1)" = idle ]; }

if command -v sinfo >/dev/null 2>&1 && cluster_idle; then
    echo "slurm: cluster already up"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "slurm: not root; cannot install or start the cluster (the Slurm tests will skip)" >&2
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sinfo >/dev/null \
    || ! command -v munged >/dev/null; then
    pkgs="slurmctld slurmd slurm-client munge"
    if ! apt-get install -y --no-install-recommends $pkgs >/tmp/slurm-ci-apt.log 2>&1; then
        apt-get update >>/tmp/slurm-ci-apt.log 2>&1
        apt-get install -y --no-install-recommends $pkgs >>/tmp/slurm-ci-apt.log 2>&1
    fi
fi

if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
mkdir -p "$SLURM_CI_DIR"/{spool,log}
touch "$SLURM_CI_DIR/pids"

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { sed -n "s/^$1=//p" "$SLURM_CI_DIR/pids" | tail -n1; }
record() { grep -v "^$1=" "$SLURM_CI_DIR/pids" >"$SLURM_CI_DIR/pids.new" || true; echo "$1=$2" >>"$SLURM_CI_DIR/pids.new"; mv "$SLURM_CI_DIR/pids.new" "$SLURM_CI_DIR/pids"; }

if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    setsid setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F \
        >"$SLURM_CI_DIR/log/munged.out" 2>&1 </dev/null &
    record munged_pid $!
    for _ in $(seq 1 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi

H=$(hostname -s)
MEM=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
cat >/etc/slurm/slurm.conf <<CONF
ClusterName=ci
SlurmctldHost=$H(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MailProg=/bin/true
StateSaveLocation=$SLURM_CI_DIR/state
SlurmdSpoolDir=$SLURM_CI_DIR/spool
SlurmctldPidFile=$SLURM_CI_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_CI_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_CI_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_CI_DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$H NodeAddr=127.0.0.1 CPUs=$SLURM_CI_CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$H Default=YES MaxTime=INFINITE State=UP
CONF

if ! alive "$(pid_of slurmctld_pid)"; then
    # A fresh state directory: a node once drained would otherwise stay drained.
    rm -rf "$SLURM_CI_DIR/state" && mkdir -p "$SLURM_CI_DIR/state"
    setsid /usr/sbin/slurmctld -D -i >"$SLURM_CI_DIR/log/slurmctld.out" 2>&1 </dev/null &
    record slurmctld_pid $!
fi
if ! alive "$(pid_of slurmd_pid)"; then
    setsid /usr/sbin/slurmd -D >"$SLURM_CI_DIR/log/slurmd.out" 2>&1 </dev/null &
    record slurmd_pid $!
fi
for i in $(seq 1 120); do
    cluster_idle && break
    # a node left drained/down by an earlier job or daemon restart: put it back in service
    if [ $((i % 10)) = 0 ] && sinfo -h -N -o %t 2>/dev/null | grep -Eq 'drain|down|inval|fail'; then
        scontrol update nodename="$H" state=resume >/dev/null 2>&1 || true
    fi
    sleep 0.5
done
if cluster_idle; then
    timeout 30 srun -N1 -n2 bash -c 'echo "slurm: task $SLURM_PROCID/$SLURM_NTASKS on $SLURM_NODELIST"'
else
    echo "slurm: cluster did not reach idle; see $SLURM_CI_DIR/log" >&2
    sinfo -N >&2 || true
    exit 1
fi
