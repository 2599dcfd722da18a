#!/usr/bin/env bash
# Bring up / tear down a REAL single-node Slurm cluster on this machine for the test suite:
# munged, a private MariaDB, slurmdbd, slurmctld and slurmd, all started directly (no systemd).
#
# Usage: tests/slurm/cluster.sh up|down|status
#
# Exit codes:
#   0  success (up: cluster up and idle; down: nothing of ours left running; status: healthy)
#   1  failure (up could not bring the cluster up; status: not healthy)
#   2  usage error
#   3  cannot run here (not root, no apt-get, packages unavailable); a line "SKIP: <reason>" is printed
#
# Environment:
#   CFCOMPILE_SLURM_DIR      lab directory for state, spool, logs and pid files (default /tmp/cfcompile-slurm)
#   CFCOMPILE_SLURM_DB_PORT  TCP port of the private MariaDB on 127.0.0.1 (default 3316)
#   CFCOMPILE_SLURM_TIMEOUT  seconds to wait for the cluster to become ready (default 60)
#   CFCOMPILE_SLURM_MAX_ARRAY_SIZE   MaxArraySize of slurm.conf (default: Slurm's own, 1001)
#   CFCOMPILE_SLURM_MAX_SUBMIT_JOBS  MaxSubmitJobs of root's association, enforced
#                            (AccountingStorageEnforce=limits; default: no limit)
#   A strict site is played with both set (say 50 and 120); `up` restarts slurmctld and slurmd
#   when slurm.conf differs from the running cluster's (MaxArraySize needs a restart) and sets
#   the association limit through sacctmgr. Accounting is always gathered
#   (jobacct_gather/linux, sampled every second), so sacct reports MaxRSS, Elapsed, TotalCPU.
#
# One configuration serves every test (nothing restarts the daemons between feature tests):
#   GPUs    the node has 2 fake GPUs of type "fake" (Gres=gpu:fake:2; gres.conf names two
#           character devices under $LAB/dev), so --gres=gpu:N, --gpus=[fake:]N and
#           --cpus-per-gpu are scheduled for real, Slurm sets CUDA_VISIBLE_DEVICES, and
#           sacct's AllocTRES reports gres/gpu=N and gres/gpu:fake=N.
#   Preemption  PreemptType=preempt/partition_prio, PreemptMode=REQUEUE,
#           SlurmctldParameters=preempt_send_user_signal, three partitions on the one node:
#             debug  the default, as before: PriorityTier=1, PreemptMode=OFF (never preempted)
#             low    PriorityTier=1, PreemptMode=REQUEUE, GraceTime=10: preempted and requeued
#             high   PriorityTier=2, PreemptMode=OFF: preempts low jobs, never debug jobs
#   Measured behaviour (signals, grace, the requeue delay) is in docs/slurm-test-cluster.md and
#   checked by tests/slurm/test_cluster_features.py.
#
# Global side effects (clients need them): /etc/slurm/slurm.conf, /etc/slurm/gres.conf, /etc/slurm/slurmdbd.conf,
# /etc/munge/munge.key (created only if missing), /run/munge. Slurm uses its default ports
# 6817 (slurmctld), 6818 (slurmd), 6819 (slurmdbd); only one such cluster can run per machine.
#
# Lab directory layout:
#   pids/<daemon>.pid   PIDs of the daemons this script started (munged, mariadbd, slurmdbd, slurmctld, slurmd)
#   log/                slurmctld.log slurmd.log slurmdbd.log (owned by slurm)
#   run/                pid files written by the Slurm daemons (owned by slurm)
#   state/ctld          StateSaveLocation (owned by slurm); state/slurmd: SlurmdSpoolDir
#   munge/              munged.log munged.pid (owned by munge)
#   mysql/              my.cnf, data/, mariadbd.{pid,err,sock} (owned by mysql)
#   dev/gpu0, dev/gpu1  the fake GPUs: character devices 1:3 (what /dev/null is)
#   slurm.conf, gres.conf  copies of those in /etc/slurm; apt.log, mariadb-install.log, db.pass (root only)

set -uo pipefail
export LC_ALL=C
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

LAB=${CFCOMPILE_SLURM_DIR:-/tmp/cfcompile-slurm}
DB_PORT=${CFCOMPILE_SLURM_DB_PORT:-3316}
TIMEOUT=${CFCOMPILE_SLURM_TIMEOUT:-60}
CLUSTER=cfcompile
NODE=localhost
PARTITION=debug
SLURM_ETC=/etc/slurm
SLURM_CONF=$SLURM_ETC/slurm.conf
SLURMDBD_CONF=$SLURM_ETC/slurmdbd.conf
GRES_CONF=$SLURM_ETC/gres.conf
export SLURM_CONF
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)
STOPPED=0
GPUS_MADE=0 # 1 once make_fake_gpus created a device file: a running slurmd must read them again
MAX_ARRAY_SIZE=${CFCOMPILE_SLURM_MAX_ARRAY_SIZE:-}
MAX_SUBMIT_JOBS=${CFCOMPILE_SLURM_MAX_SUBMIT_JOBS:-}
MYDIR=$LAB/mysql
MYCNF=$MYDIR/my.cnf
MUNGE_DIR=$LAB/munge
GPU_TYPE=fake
FAKE_GPUS=("$LAB/dev/gpu0" "$LAB/dev/gpu1")

log() { echo "cluster.sh: $*"; }
err() { echo "cluster.sh: ERROR: $*" >&2; }
skip() { echo "SKIP: $*"; exit 3; }

# ---------------------------------------------------------------- process helpers

# alive PID NAME: PID is a live (non-zombie) process whose command name is NAME.
alive() {
    local pid=$1 name=$2 comm st
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == "$name" ]] || return 1
    st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ $st != Z && $st != X ]]
}

recorded_pid() { cat "$LAB/pids/$1.pid" 2>/dev/null; }

running() { # running NAME: the daemon we recorded is alive
    local pid
    pid=$(recorded_pid "$1") || return 1
    alive "$pid" "$1"
}

# wait_pidfile FILE NAME SECONDS: wait for a daemon-written pid file naming a live NAME; record it.
wait_pidfile() {
    local file=$1 name=$2 deadline=$((SECONDS + $3)) pid
    while ((SECONDS < deadline)); do
        pid=$(cat "$file" 2>/dev/null | tr -dc 0-9)
        if [[ -n $pid ]] && alive "$pid" "$name"; then
            echo "$pid" >"$LAB/pids/$name.pid"
            return 0
        fi
        sleep 0.1
    done
    err "$name did not start (no live pid in $file)"
    return 1
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

ctld_up() { scontrol ping 2>/dev/null | grep -q 'is UP'; }

node_state() { sinfo -h -p "$PARTITION" -o %t 2>/dev/null | head -n1; }

node_ok() {
    case "$(node_state)" in
        idle | mix | alloc | comp) return 0 ;;
        *) return 1 ;;
    esac
}

tcp_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

healthy() {
    local d
    for d in mariadbd slurmdbd slurmctld slurmd; do running "$d" || return 1; done
    munge_works || return 1
    ctld_up && node_ok
}

show_logs() {
    local f
    for f in "$LAB/log/slurmctld.log" "$LAB/log/slurmd.log" "$LAB/log/slurmdbd.log" \
        "$MYDIR/mariadbd.err" "$MYDIR/mariadbd.out" "$MUNGE_DIR/munged.log"; do
        [[ -s $f ]] || continue
        echo "----- tail of $f" >&2
        tail -n 25 "$f" >&2
    done
}

# ---------------------------------------------------------------- packages

pkg_installed() { [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]; }

POLICY=/usr/sbin/policy-rc.d
POLICY_BAK=$POLICY.cfcompile-bak
POLICY_ACTION=none

policy_install() {
    if [[ -e $POLICY ]]; then
        if [[ -x $POLICY ]] && grep -qE '^[[:space:]]*exit[[:space:]]+101' "$POLICY"; then
            POLICY_ACTION=none # an existing one already forbids starting services
            return
        fi
        mv -f "$POLICY" "$POLICY_BAK"
        POLICY_ACTION=restore
    else
        POLICY_ACTION=remove
    fi
    printf '#!/bin/sh\n# written by cfcompile tests/slurm/cluster.sh: apt must not start services\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
}

policy_restore() {
    case $POLICY_ACTION in
        remove) rm -f "$POLICY" ;;
        restore) mv -f "$POLICY_BAK" "$POLICY" ;;
    esac
    POLICY_ACTION=none
}

ensure_packages() {
    local missing=() p rc
    for p in "${PACKAGES[@]}"; do pkg_installed "$p" || missing+=("$p"); done
    ((${#missing[@]})) || return 0
    command -v apt-get >/dev/null || skip "Slurm packages missing (${missing[*]}) and no apt-get to install them"
    mkdir -p "$LAB"
    log "installing ${missing[*]} (log: $LAB/apt.log)"
    policy_install
    trap 'policy_restore' EXIT
    apt-get update >"$LAB/apt.log" 2>&1
    if [[ -z $(apt-cache policy slurmctld 2>/dev/null | awk '/Candidate:/ {print $2}' | grep -v '(none)') ]]; then
        policy_restore
        tail -n 5 "$LAB/apt.log"
        skip "apt cannot find the Slurm packages (no network or no Debian/Ubuntu repositories?)"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}" >>"$LAB/apt.log" 2>&1
    rc=$?
    policy_restore
    trap - EXIT
    if ((rc != 0)); then
        tail -n 20 "$LAB/apt.log" >&2
        err "apt-get install failed (exit $rc)"
        exit 1
    fi
}

ensure_users() {
    local u
    for u in slurm munge mysql; do
        getent passwd "$u" >/dev/null ||
            useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$u"
    done
}

# ---------------------------------------------------------------- configuration

setup_dirs() {
    install -d -m 755 -o root -g root "$LAB" "$LAB/pids" "$LAB/state" "$LAB/state/slurmd" "$SLURM_ETC"
    install -d -m 755 -o slurm -g slurm "$LAB/run" "$LAB/log" "$LAB/state/ctld"
    install -d -m 755 -o munge -g munge "$MUNGE_DIR" /run/munge
    install -d -m 750 -o mysql -g mysql "$MYDIR"
    local u d
    for u in slurm:"$LAB/log" munge:"$MUNGE_DIR" mysql:"$MYDIR"; do
        d=${u#*:}
        if ! runuser -u "${u%%:*}" -- test -w "$d"; then
            err "user ${u%%:*} cannot write $d (is a parent of $LAB not traversable?)"
            return 1
        fi
    done
}

real_memory() {
    local m
    m=$(slurmd -C 2>/dev/null | tr ' ' '\n' | sed -n 's/^RealMemory=//p' | head -n1)
    [[ $m =~ ^[0-9]+$ ]] || m=$(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo)
    echo "$m"
}

# make_fake_gpus: the device files gres.conf names (FAKE_GPUS). slurmd wants character or block
# devices: on a plain file it logs "... is not a valid character or block device, fix your
# gres.conf" and then sets no CUDA_VISIBLE_DEVICES (the GPUs are still counted and allocated).
# Each is a character device with /dev/null's numbers (1:3), harmless to open; where mknod is
# not allowed (a container without CAP_MKNOD), a plain file, with a warning.
make_fake_gpus() {
    local f
    install -d -m 755 -o root -g root "$LAB/dev"
    for f in "${FAKE_GPUS[@]}"; do
        [[ -c $f ]] && continue
        if mknod -m 666 "$f.new" c 1 3 2>/dev/null && mv -f "$f.new" "$f"; then
            GPUS_MADE=1
        elif [[ ! -e $f ]]; then
            rm -f "$f.new"
            install -m 666 /dev/null "$f" || { err "cannot create the fake GPU device $f"; return 1; }
            log "WARNING: mknod not allowed here: $f is a plain file, so jobs get no CUDA_VISIBLE_DEVICES"
            GPUS_MADE=1
        fi
    done
}

# write_slurm_conf: the configuration into $LAB/slurm.conf and $LAB/gres.conf, installed; returns
# 0 when it differs from the one installed before (the running cluster's) or a fake GPU device
# had to be made, 1 when it is the same.
write_slurm_conf() {
    local mem array_line=""
    make_fake_gpus || exit 1
    mem=$(real_memory)
    if [[ -n $MAX_ARRAY_SIZE ]]; then
        [[ $MAX_ARRAY_SIZE =~ ^[0-9]+$ ]] || { err "CFCOMPILE_SLURM_MAX_ARRAY_SIZE must be a number"; exit 2; }
        array_line="MaxArraySize=$MAX_ARRAY_SIZE"
    fi
    cat >"$LAB/slurm.conf" <<EOF
# Written by cfcompile tests/slurm/cluster.sh (lab directory $LAB). Do not edit.
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$LAB/state/ctld
SlurmdSpoolDir=$LAB/state/slurmd
SlurmctldPidFile=$LAB/run/slurmctld.pid
SlurmdPidFile=$LAB/run/slurmd.pid
SlurmctldLogFile=$LAB/log/slurmctld.log
SlurmdLogFile=$LAB/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MinJobAge=300
ReturnToService=2
MailProg=/bin/true
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageEnforce=limits
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobCompType=jobcomp/none
$array_line
SlurmdParameters=config_overrides
GresTypes=gpu
AccountingStorageTRES=gres/gpu,gres/gpu:$GPU_TYPE
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
NodeName=$NODE CPUs=4 RealMemory=$mem Gres=gpu:$GPU_TYPE:${#FAKE_GPUS[@]} State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=OFF
PartitionName=low Nodes=$NODE MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE GraceTime=10
PartitionName=high Nodes=$NODE MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF
EOF
    local files
    files=$(IFS=,; echo "${FAKE_GPUS[*]}")
    cat >"$LAB/gres.conf" <<EOF
# Written by cfcompile tests/slurm/cluster.sh (lab directory $LAB). Do not edit.
NodeName=$NODE Name=gpu Type=$GPU_TYPE File=$files
EOF
    if ((GPUS_MADE == 0)) && cmp -s "$LAB/slurm.conf" "$SLURM_CONF" && cmp -s "$LAB/gres.conf" "$GRES_CONF"; then
        return 1
    fi
    install -m 644 -o root -g root "$LAB/gres.conf" "$GRES_CONF"
    install -m 644 -o root -g root "$LAB/slurm.conf" "$SLURM_CONF"
    return 0
}

# apply_limits: root's association limit (CFCOMPILE_SLURM_MAX_SUBMIT_JOBS, or none).
apply_limits() {
    local n=${MAX_SUBMIT_JOBS:--1} got
    [[ $n =~ ^-?[0-9]+$ ]] || { err "CFCOMPILE_SLURM_MAX_SUBMIT_JOBS must be a number"; return 1; }
    sacctmgr -i modify user where name=root cluster="$CLUSTER" set MaxSubmitJobs="$n" >/dev/null 2>&1
    got=$(sacctmgr -n -P show assoc where user=root cluster="$CLUSTER" format=MaxSubmit 2>/dev/null | head -n1)
    if [[ $n == -1 && -n $got ]] || [[ $n != -1 && $got != "$n" ]]; then
        err "root's MaxSubmitJobs is '${got}', not ${MAX_SUBMIT_JOBS:-unlimited}"
        return 1
    fi
}

# restart_slurm: slurmctld and slurmd again, on the configuration just installed.
restart_slurm() {
    log "configuration changed (slurm.conf, gres.conf or the fake GPU devices): restarting slurmctld and slurmd"
    cancel_jobs
    stop_group 8 slurmd slurmctld
    start_slurmctld || return 1
    start_slurmd || return 1
    wait_ready "$TIMEOUT"
}

db_pass() {
    if [[ ! -s $LAB/db.pass ]]; then
        (umask 077 && head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$LAB/db.pass")
    fi
    cat "$LAB/db.pass"
}

write_slurmdbd_conf() {
    local tmp
    tmp=$(mktemp "$SLURM_ETC/.slurmdbd.conf.XXXXXX")
    cat >"$tmp" <<EOF
# Written by cfcompile tests/slurm/cluster.sh (lab directory $LAB). Do not edit.
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
LogFile=$LAB/log/slurmdbd.log
PidFile=$LAB/run/slurmdbd.pid
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$(db_pass)
StorageLoc=slurm_acct_db
EOF
    chown slurm:slurm "$tmp"
    chmod 600 "$tmp"
    mv -f "$tmp" "$SLURMDBD_CONF"
}

write_my_cnf() {
    cat >"$MYCNF" <<EOF
# Private MariaDB for slurmdbd, written by cfcompile tests/slurm/cluster.sh.
[client]
socket=$MYDIR/mariadbd.sock
user=root

[mysqld]
user=mysql
datadir=$MYDIR/data
socket=$MYDIR/mariadbd.sock
pid-file=$MYDIR/mariadbd.pid
log-error=$MYDIR/mariadbd.err
bind-address=127.0.0.1
port=$DB_PORT
skip-name-resolve
performance_schema=OFF
innodb_buffer_pool_size=64M
innodb_log_file_size=64M
innodb_lock_wait_timeout=900
max_allowed_packet=16M
EOF
    chown mysql:mysql "$MYCNF"
    chmod 644 "$MYCNF"
}

# ---------------------------------------------------------------- daemons

start_munge() {
    if munge_works; then
        running munged || {
            rm -f "$LAB/pids/munged.pid"
            log "munged: using the one already running"
        }
        return 0
    fi
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        install -d -m 700 -o munge -g munge /etc/munge
        (umask 077 && dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none)
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    rm -f "$MUNGE_DIR/munged.pid"
    if ! runuser -u munge -- munged --pid-file="$MUNGE_DIR/munged.pid" --log-file="$MUNGE_DIR/munged.log" \
        </dev/null >>"$MUNGE_DIR/munged.out" 2>&1; then
        cat "$MUNGE_DIR/munged.out" >&2
        err "munged failed to start"
        return 1
    fi
    wait_pidfile "$MUNGE_DIR/munged.pid" munged 10 || return 1
    local deadline=$((SECONDS + 10))
    until munge_works; do
        ((SECONDS < deadline)) || { err "munge does not work"; return 1; }
        sleep 0.1
    done
}

mysql_q() { mariadb --defaults-file="$MYCNF" -N -B "$@"; }

start_mariadb() {
    write_my_cnf
    if [[ ! -d $MYDIR/data/mysql ]]; then
        log "initialising MariaDB data directory $MYDIR/data"
        rm -rf "$MYDIR/data"
        if ! mariadb-install-db --defaults-file="$MYCNF" --user=mysql --skip-test-db \
            >"$LAB/mariadb-install.log" 2>&1; then
            tail -n 20 "$LAB/mariadb-install.log" >&2
            err "mariadb-install-db failed"
            return 1
        fi
    fi
    rm -f "$MYDIR/mariadbd.pid"
    setsid mariadbd --defaults-file="$MYCNF" </dev/null >>"$MYDIR/mariadbd.out" 2>&1 &
    wait_pidfile "$MYDIR/mariadbd.pid" mariadbd 30 || return 1
    local deadline=$((SECONDS + 30))
    until mariadb-admin --defaults-file="$MYCNF" ping >/dev/null 2>&1; do
        ((SECONDS < deadline)) && running mariadbd || { err "MariaDB does not answer"; return 1; }
        sleep 0.1
    done
    local pw
    pw=$(db_pass)
    mysql_q <<EOF || { err "could not create the slurm database user"; return 1; }
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF
}

start_slurmdbd() {
    write_slurmdbd_conf
    rm -f "$LAB/run/slurmdbd.pid"
    slurmdbd </dev/null || { err "slurmdbd failed to start"; return 1; }
    wait_pidfile "$LAB/run/slurmdbd.pid" slurmdbd 20 || return 1
    local deadline=$((SECONDS + 30))
    until tcp_open 6819; do
        ((SECONDS < deadline)) && running slurmdbd || { err "slurmdbd does not listen on 6819"; return 1; }
        sleep 0.1
    done
}

register_accounting() {
    # slurmdbd answers sacctmgr directly, so this works before slurmctld starts.
    if ! sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null || { err "sacctmgr add cluster failed"; return 1; }
    fi
    if ! sacctmgr -n -P list account format=account 2>/dev/null | grep -qx root; then
        sacctmgr -i add account root cluster="$CLUSTER" description=root organization=root >/dev/null ||
            { err "sacctmgr add account failed"; return 1; }
    fi
    if ! sacctmgr -n -P list assoc cluster="$CLUSTER" user=root format=user 2>/dev/null | grep -qx root; then
        sacctmgr -i add user root account=root defaultaccount=root cluster="$CLUSTER" >/dev/null ||
            { err "sacctmgr add user failed"; return 1; }
    fi
}

# start_slurmctld: up to 3 tries. Right after a restart, a new slurmctld sometimes exits at
# once (the previous one's listening socket or state files not released yet): try again.
start_slurmctld() {
    local try
    for try in 1 2 3; do
        start_slurmctld_once && return 0
        log "slurmctld did not come up (try $try of 3)"
        stop_group 8 slurmctld
        sleep 2
    done
    err "slurmctld does not answer scontrol ping"
    return 1
}

start_slurmctld_once() {
    rm -f "$LAB/run/slurmctld.pid"
    slurmctld -i </dev/null || return 1
    wait_pidfile "$LAB/run/slurmctld.pid" slurmctld 20 || return 1
    local deadline=$((SECONDS + TIMEOUT))
    until ctld_up; do
        ((SECONDS < deadline)) && running slurmctld || return 1
        sleep 0.2
    done
}

start_slurmd() {
    rm -f "$LAB/run/slurmd.pid"
    slurmd </dev/null || { err "slurmd failed to start"; return 1; }
    wait_pidfile "$LAB/run/slurmd.pid" slurmd 20
}

# wait_ready SECONDS: wait for slurmctld to answer and the node to be idle, resuming a drained node.
wait_ready() {
    local deadline=$((SECONDS + $1)) st last_resume=-10
    while ((SECONDS < deadline)); do
        if ctld_up; then
            st=$(node_state)
            case $st in
                idle | mix | alloc) return 0 ;;
                drain* | drng* | down* | fail* | inval*)
                    if ((SECONDS - last_resume >= 2)); then
                        scontrol update nodename="$NODE" state=resume >/dev/null 2>&1
                        last_resume=$SECONDS
                    fi
                    ;;
            esac
        fi
        for d in slurmctld slurmd; do
            running "$d" || { err "$d died"; return 1; }
        done
        sleep 0.2
    done
    err "node $NODE not idle after $1 s (state: ${st:-unknown})"
    return 1
}

# ---------------------------------------------------------------- commands

limits_said() {
    echo " MaxArraySize=${MAX_ARRAY_SIZE:-default} MaxSubmitJobs=${MAX_SUBMIT_JOBS:-none}"
}

# stop_group SECONDS NAME...: SIGTERM our recorded daemons NAME..., wait, then SIGKILL leftovers.
stop_group() {
    local wait=$1 d pid pids=() names=() deadline left
    shift
    for d in "$@"; do
        if running "$d"; then
            pid=$(recorded_pid "$d")
            kill -TERM "$pid" 2>/dev/null && { pids+=("$pid"); names+=("$d"); }
        else
            rm -f "$LAB/pids/$d.pid"
        fi
    done
    ((${#pids[@]})) || return 0
    deadline=$((SECONDS + wait))
    while :; do
        left=0
        for i in "${!pids[@]}"; do alive "${pids[$i]}" "${names[$i]}" && left=1; done
        ((left)) || break
        if ((SECONDS >= deadline)); then
            for i in "${!pids[@]}"; do
                if alive "${pids[$i]}" "${names[$i]}"; then
                    log "${names[$i]} (pid ${pids[$i]}) did not exit; killing it"
                    kill -KILL "${pids[$i]}" 2>/dev/null
                fi
            done
            sleep 0.2
            break
        fi
        sleep 0.1
    done
    STOPPED=1
    for i in "${!pids[@]}"; do
        log "stopped ${names[$i]} (pid ${pids[$i]})"
        rm -f "$LAB/pids/${names[$i]}.pid"
    done
}

cancel_jobs() {
    running slurmctld && ctld_up || return 0
    local ids deadline
    ids=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ')
    [[ -n ${ids// /} ]] || return 0
    log "cancelling jobs: $ids"
    # shellcheck disable=SC2086
    scancel $ids 2>/dev/null
    deadline=$((SECONDS + 5))
    while ((SECONDS < deadline)) && [[ -n $(squeue -h -t R,CG,S -o %A 2>/dev/null) ]]; do sleep 0.2; done
}

do_down() {
    [[ -d $LAB/pids ]] || { log "nothing to stop"; return 0; }
    cancel_jobs
    stop_group 8 slurmd slurmctld
    stop_group 5 slurmdbd
    stop_group 5 mariadbd
    stop_group 3 munged
    ((STOPPED)) || log "nothing of ours was running"
    return 0
}

fail_up() {
    show_logs
    err "cluster did not come up; stopping what was started (logs stay in $LAB)"
    do_down >&2
    exit 1
}

do_up() {
    local t0=$SECONDS
    ((EUID == 0)) || skip "must run as root to start a Slurm cluster (uid $EUID)"
    if ! command -v apt-get >/dev/null; then
        local have=1 p
        for p in "${PACKAGES[@]}"; do pkg_installed "$p" || have=0; done
        ((have)) || skip "no apt-get on this machine (needs Debian/Ubuntu)"
    fi
    ensure_packages
    ensure_users

    if [[ -d $LAB/pids ]] && healthy; then
        if write_slurm_conf; then
            restart_slurm || fail_up
        fi
        apply_limits || fail_up
        log "cluster already up and healthy (lab dir $LAB)$(limits_said)"
        return 0
    fi
    if running slurmctld && running slurmd && running slurmdbd && running mariadbd && munge_works &&
        wait_ready 15 2>/dev/null; then
        if write_slurm_conf; then
            restart_slurm || fail_up
        fi
        apply_limits || fail_up
        log "cluster was up; node resumed (lab dir $LAB)$(limits_said)"
        return 0
    fi
    local d any=0
    for d in "${DAEMONS[@]}"; do running "$d" && any=1; done
    if ((any)); then
        log "cluster partly up; restarting it"
        do_down
    fi

    setup_dirs || fail_up
    write_slurm_conf
    start_munge || fail_up
    start_mariadb || fail_up
    start_slurmdbd || fail_up
    register_accounting || fail_up
    start_slurmctld || fail_up
    start_slurmd || fail_up
    wait_ready "$TIMEOUT" || fail_up
    apply_limits || fail_up
    log "cluster up in $((SECONDS - t0)) s: cluster=$CLUSTER partition=$PARTITION node=$NODE lab=$LAB$(limits_said)"
    sinfo
}

do_status() {
    local d ok=0 pid
    for d in "${DAEMONS[@]}"; do
        if running "$d"; then
            printf '%-10s running (pid %s)\n' "$d" "$(recorded_pid "$d")"
        elif [[ $d == munged ]] && munge_works; then
            printf '%-10s running (not started by this script)\n' "$d"
        else
            printf '%-10s not running\n' "$d"
            ok=1
        fi
    done
    if command -v scontrol >/dev/null && [[ -r $SLURM_CONF ]]; then
        scontrol ping 2>&1 | sed 's/^/scontrol ping: /'
        sinfo 2>&1
    fi
    if ((ok == 0)) && ctld_up && node_ok; then
        echo "status: healthy"
        return 0
    fi
    echo "status: NOT healthy"
    return 1
}

case ${1:-} in
    up) do_up ;;
    down) do_down ;;
    status) do_status ;;
    *)
        echo "usage: $0 up|down|status" >&2
        exit 2
        ;;
esac
