#!/bin/bash
# From shared/recipes: a one-node Slurm 22.05 (Debian 12) on localhost, no systemd.
# Accounting (ACCT=1) through slurmdbd into the MariaDB at DBSOCK/DBPORT; ACCT=0
# leaves only squeue and the job-completion log (jobcomp/filetxt).
# Its ports (16817-16819) and munge's /run/munge socket are fixed: one per machine.
set -euo pipefail
BASE=${BASE:-/tmp/ci/slurm}; ACCT=${ACCT:-1}
# How long squeue remembers a finished job; the tests lower it to reach the
# sacct and job-completion-log fallbacks within seconds.
MIN_JOB_AGE=${MIN_JOB_AGE:-300}
DBPORT=${DBPORT:-13306}; DBSOCK=${DBSOCK:-/tmp/ci/mariadb/run/mysqld.sock}
# Only with a config: without one, scontrol ping waits a minute for nothing.
if [ -f "$BASE/slurm.conf" ] && SLURM_CONF="$BASE/slurm.conf" timeout 15 scontrol ping 2>/dev/null | grep -q UP; then
  echo "Slurm already up: export SLURM_CONF=$BASE/slurm.conf"; exit 0
fi
mkdir -p "$BASE"/{state,spool/localhost,log,run,munge}
# --- munge: key + daemon. Default socket path /run/munge/munge.socket.2 is used on purpose:
#     slurmctld/sacctmgr -> slurmdbd connections ignore AuthInfo=socket=... in 22.05.
[ -f "$BASE/munge/munge.key" ] || mungekey --create --keyfile="$BASE/munge/munge.key"
chown -R munge:munge "$BASE/munge"; chmod 700 "$BASE/munge"; chmod 600 "$BASE/munge/munge.key"
install -d -o munge -g munge -m 755 /run/munge
runuser -u munge -- munged -F --key-file="$BASE/munge/munge.key" --pid-file="$BASE/munge/munged.pid" \
   --log-file="$BASE/munge/munged.log" --seed-file="$BASE/munge/munged.seed" > "$BASE/log/munged.stdout" 2>&1 &
for i in $(seq 1 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
cat > "$BASE/slurm.conf" <<CONF
ClusterName=ci
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool/%n
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
# Memory is a consumable resource, so a job's --mem is its limit (jobs that
# ask none get DefMemPerCPU).
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MpiDefault=none
ReturnToService=2
ScronParameters=enable
JobCompType=jobcomp/filetxt
JobCompLoc=$BASE/log/jobcomp.txt
MinJobAge=$MIN_JOB_AGE
# Steps over their --mem are killed (OUT_OF_MEMORY) without cgroups, which a
# container may not offer; usage is read every second.
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
# A job in "urgent" cancels a "debug" job that holds the CPUs it needs (PREEMPTED).
PreemptType=preempt/partition_prio
PreemptMode=CANCEL
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP PriorityTier=1
PartitionName=urgent Nodes=ALL MaxTime=INFINITE State=UP PriorityTier=10
CONF
export SLURM_CONF="$BASE/slurm.conf"
if [ "$ACCT" = 1 ]; then
  mariadb --no-defaults --socket="$DBSOCK" -uroot -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmpass'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
  cat > "$BASE/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=16819
CommunicationParameters=NoInAddrAny
SlurmUser=root
PidFile=$BASE/run/slurmdbd.pid
LogFile=$BASE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DBPORT
StorageUser=slurm
StoragePass=slurmpass
StorageLoc=slurm_acct_db
CONF
  chmod 600 "$BASE/slurmdbd.conf"            # slurmdbd refuses a world-readable conf
  printf 'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\nAccountingStoragePort=16819\n' >> "$BASE/slurm.conf"
  slurmdbd -D -s > "$BASE/log/slurmdbd.stdout" 2>&1 &   # finds slurmdbd.conf next to $SLURM_CONF
  for i in $(seq 1 100); do sacctmgr -n show cluster >/dev/null 2>&1 && break; sleep 0.2; done
  # Must exist before slurmctld registers; a kept accounting database has it already.
  sacctmgr -n -P show cluster format=cluster 2>/dev/null | grep -qx ci \
    || sacctmgr -i add cluster ci >/dev/null
fi
slurmctld -D -f "$SLURM_CONF" > "$BASE/log/slurmctld.stdout" 2>&1 &
for i in $(seq 1 150); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
slurmd -D -N localhost -f "$SLURM_CONF" > "$BASE/log/slurmd.stdout" 2>&1 &
for i in $(seq 1 150); do sinfo -h -N -o '%T' 2>/dev/null | grep -qx idle && break; sleep 0.2; [ "$i" = 150 ] && { sinfo; exit 1; }; done
echo "Slurm up: export SLURM_CONF=$SLURM_CONF"
