#!/bin/bash
# From shared/recipes: stops what ops/slurm_up.sh started under $BASE, by PID.
BASE=${BASE:-/tmp/ci/slurm}
for f in run/slurmd.pid run/slurmctld.pid run/slurmdbd.pid munge/munged.pid; do
  PID=$(cat "$BASE/$f" 2>/dev/null) || continue
  kill -TERM "$PID" 2>/dev/null; for i in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
done
