#!/usr/bin/env bash
# A real two-node Slurm cluster on this one machine, for the Slurm tests of `vleval slurm`
# (tests/runner/test_slurm_*.py, marker `slurm`).
#
#   bash .ci/services.d/slurm.sh          install (Debian packages) and start; idempotent
#   bash .ci/services.d/slurm.sh stop     stop what it started (by recorded PID) and undo /etc/hosts
#
# Layout: one slurmctld, one private munged and one slurmd per node (`slurmd -N <node>`, Slurm's
# "run as this node" option). Every node is registered at 127.0.0.1 with its own Port= (slurm.conf
# accepts several NodeName lines for one NodeHostname/NodeAddr), and every slurmd runs in its own
# UTS namespace (`unshare --uts` + `hostname <node>`), so inside a job `hostname` and
# $SLURMD_NODENAME name the node, as on a real cluster. The node names resolve to 127.0.0.1 through
# one tagged /etc/hosts line, because a distributed job uses the first node's name as MASTER_ADDR.
# What stays shared by the "nodes": the network stack, the file system and the PID space.
#
# slurm.conf goes to /etc/slurm/slurm.conf (where sinfo/sbatch/srun look without SLURM_CONF). Its
# settings follow Slurm's slurm.conf(5) (Slurm 22.05, Debian 12 `slurmctld`/`slurmd`):
# - SlurmdParameters=config_overrides: every node advertises VLEVAL_SLURM_CPUS CPUs whatever the
#   hardware has, so several small test jobs (of several engineers, or CI) run side by side.
# - EnforcePartLimits=ALL + MaxNodes: a job asking for more than the cluster has is refused at
#   submission instead of pending forever.
# - ReturnToService=2: a node that was down comes back by itself when its slurmd registers.
# Needs root; without it the script says so and the Slurm tests skip.
set -euo pipefail

DIR=${VLEVAL_SLURM_DIR:-/tmp/vleval-slurm}
NODES=${VLEVAL_SLURM_NODES:-2}
PREFIX=${VLEVAL_SLURM_PREFIX:-vlnode}
CPUS=${VLEVAL_SLURM_CPUS:-8}
CTLD_PORT=${VLEVAL_SLURM_CTLD_PORT:-6817}
NODE_PORT0=${VLEVAL_SLURM_NODE_PORT0:-6821}
CONF=/etc/slurm/slurm.conf
HOSTS_TAG="# vleval-slurm:$DIR"
NODE_NAMES=()
for i in $(seq 1 "$NODES"); do NODE_NAMES+=("$PREFIX$i"); done

say() { echo "slurm: $*"; }

stop_cluster() {
    if [ -f "$DIR/pids" ]; then
        # cancel our jobs first so their step daemons end on their own
        if command -v scancel >/dev/null 2>&1; then
            timeout 10 scancel --quiet --full $(timeout 10 squeue -h -o %i 2>/dev/null) 2>/dev/null || true
        fi
        pids=$(cut -d= -f2 "$DIR/pids" | tr '\n' ' ')
        # all at once: one by one costs about 2 s per daemon
        for pid in $pids; do kill "$pid" 2>/dev/null || true; done
        for _ in $(seq 1 100); do
            alive=""
            for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
            [ -z "$alive" ] && break
            sleep 0.1
        done
        for pid in ${alive:-}; do kill -9 "$pid" 2>/dev/null || true; done
        rm -f "$DIR/pids"
    fi
    if grep -qF "$HOSTS_TAG" /etc/hosts 2>/dev/null; then
        # rewrite in place (same inode: /etc/hosts may be a bind mount)
        grep -vF "$HOSTS_TAG" /etc/hosts >"$DIR.hosts.tmp" || true
        cat "$DIR.hosts.tmp" >/etc/hosts && rm -f "$DIR.hosts.tmp"
    fi
}

nodes_up() {  # every node idle, mixed or allocated
    [ "$(timeout 10 sinfo -h -N -o '%N %t' 2>/dev/null | grep -cE "^$PREFIX[0-9]+ (idle|mix|alloc)")" = "$NODES" ]
}

all_pids_alive() {
    [ -s "$DIR/pids" ] || return 1
    for pid in $(cut -d= -f2 "$DIR/pids"); do kill -0 "$pid" 2>/dev/null || return 1; done
}

if [ "${1:-}" = stop ]; then
    stop_cluster
    say "stopped"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    say "not root; cannot install or start the cluster (the Slurm tests will skip)" >&2
    exit 0
fi
if command -v sinfo >/dev/null 2>&1 && all_pids_alive && nodes_up; then
    say "cluster already up ($NODES nodes)"
    exit 0
fi
stop_cluster  # leftovers of an earlier start (daemons that died, a stale hosts line)

# ---- packages -----------------------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null || ! command -v unshare >/dev/null; then
    pkgs="slurmctld slurmd slurm-client munge util-linux"
    if ! apt-get install -y --no-install-recommends $pkgs >/tmp/vleval-slurm-apt.log 2>&1; then
        apt-get update >>/tmp/vleval-slurm-apt.log 2>&1
        apt-get install -y --no-install-recommends $pkgs >>/tmp/vleval-slurm-apt.log 2>&1 \
            || { cat /tmp/vleval-slurm-apt.log >&2; exit 1; }
    fi
fi

# ---- munge: a private munged on its own socket (never collides with a system one) ---------------
if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi
rm -rf "$DIR"
mkdir -p "$DIR"/{state,log}
install -d -o munge -g munge -m 0755 "$DIR/munge"
SOCK=$DIR/munge/munge.socket
setsid setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F \
    --socket="$SOCK" --pid-file="$DIR/munge/munged.pid" --seed-file="$DIR/munge/munged.seed" \
    --log-file="$DIR/munge/munged.log" >"$DIR/log/munged.out" 2>&1 </dev/null &
echo "munged=$!" >"$DIR/pids"
for _ in $(seq 1 100); do
    munge -n -S "$SOCK" 2>/dev/null | unmunge -S "$SOCK" >/dev/null 2>&1 && break
    sleep 0.1
done
munge -n -S "$SOCK" | unmunge -S "$SOCK" >/dev/null || { cat "$DIR/log/munged.out" >&2; exit 1; }

# ---- node names resolve (MASTER_ADDR = first node of the job) -----------------------------------
unresolved=()
for n in "${NODE_NAMES[@]}"; do getent hosts "$n" >/dev/null || unresolved+=("$n"); done
if [ ${#unresolved[@]} -gt 0 ]; then
    echo "127.0.0.1 ${unresolved[*]} $HOSTS_TAG" >>/etc/hosts
fi

# ---- slurm.conf ---------------------------------------------------------------------------------
H=$(hostname -s)
MEM=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
MEM=$((MEM / NODES))
mkdir -p "$(dirname "$CONF")"
{
    cat <<CONF
# written by vleval's .ci/services.d/slurm.sh: $NODES nodes on one machine
ClusterName=vleval
SlurmctldHost=$H(127.0.0.1)
SlurmctldPort=$CTLD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
SlurmUser=root
SlurmdUser=root
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
EnforcePartLimits=ALL
MailProg=/bin/true
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.%n.log
SlurmctldDebug=info
SlurmdDebug=info
CONF
    for i in $(seq 1 "$NODES"); do
        echo "NodeName=$PREFIX$i NodeHostname=$H NodeAddr=127.0.0.1 Port=$((NODE_PORT0 + i - 1)) CPUs=$CPUS RealMemory=$MEM State=UNKNOWN"
    done
    echo "PartitionName=debug Nodes=$PREFIX[1-$NODES] MaxNodes=$NODES Default=YES MaxTime=INFINITE State=UP"
} >"$CONF"

# ---- daemons ------------------------------------------------------------------------------------
setsid /usr/sbin/slurmctld -D -i -f "$CONF" >"$DIR/log/slurmctld.out" 2>&1 </dev/null &
echo "slurmctld=$!" >>"$DIR/pids"
own_uts=1
unshare --uts true 2>/dev/null || {
    own_uts=0
    say "warning: no UTS namespaces here (unshare --uts failed): every node's hostname is $H" >&2
}
for n in "${NODE_NAMES[@]}"; do
    mkdir -p "$DIR/spool/$n"  # slurmd does not create its spool folder
    # Own UTS namespace: jobs on this node see `hostname` = $n. unshare without --fork and bash's
    # exec keep one PID, so $! is slurmd's PID.
    if [ $own_uts = 1 ]; then
        setsid unshare --uts /bin/bash -c 'hostname "$1" && exec /usr/sbin/slurmd -D -N "$1" -f "$2"' _ "$n" "$CONF" \
            >"$DIR/log/slurmd.$n.out" 2>&1 </dev/null &
    else
        setsid /usr/sbin/slurmd -D -N "$n" -f "$CONF" >"$DIR/log/slurmd.$n.out" 2>&1 </dev/null &
    fi
    echo "slurmd_$n=$!" >>"$DIR/pids"
done
for _ in $(seq 1 240); do
    nodes_up && break
    sleep 0.25
done
if ! nodes_up; then
    say "nodes did not come up; logs in $DIR/log" >&2
    sinfo -N >&2 || true
    tail -n 20 "$DIR"/log/*.log >&2 || true
    exit 1
fi

# ---- smoke test: one task per node, each reports its own host name ------------------------------
hosts=$(timeout 60 srun -N "$NODES" --ntasks-per-node=1 hostname | sort -u | tr '\n' ' ')
if [ $own_uts = 1 ] && [ "$(echo "$hosts" | wc -w)" != "$NODES" ]; then
    say "smoke test failed: srun -N $NODES saw host names: $hosts" >&2
    exit 1
fi
say "$NODES nodes up: $hosts(slurm.conf $CONF, logs $DIR/log; stop: bash $0 stop)"
