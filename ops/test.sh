#!/usr/bin/env bash
# The whole test suite on real services: a throwaway MariaDB holds the events
# database, a throwaway PostgreSQL is a third ODBC engine, the cron daemon runs,
# Chromium drives the browser tests. Whatever this script starts, it stops,
# also on failure.
set -uo pipefail
cd "$(dirname "$0")/.."
export MLF_TEST_MARIADB_BASE=${MLF_TEST_MARIADB_BASE:-/tmp/mlframework-ci/mariadb}
export MLF_TEST_MARIADB_PORT=${MLF_TEST_MARIADB_PORT:-13306}
export MLF_TEST_MARIADB_PASSWORD=apppass   # the throwaway server's own user
export MLF_TEST_POSTGRES_BASE=${MLF_TEST_POSTGRES_BASE:-/tmp/mlframework-ci/postgres}
export MLF_TEST_POSTGRES_PORT=${MLF_TEST_POSTGRES_PORT:-15432}
export MLF_TEST_POSTGRES_PASSWORD=apppass
export MLF_TEST_VAR=$(mktemp -d /tmp/mlframework-test.XXXXXX)
export MLFRAMEWORK_CONFIG=$PWD/mlframework/tests/config.test.yaml
export MLF_REQUIRE_SERVICES=1
export MLF_TEST_CRON_TAG=mlframework-test-$$
# A one-node Slurm, accounting in the MariaDB above; squeue forgets finished
# jobs after 10 s so the tests reach the sacct and completion-log fallbacks.
export MLF_TEST_SLURM_BASE=${MLF_TEST_SLURM_BASE:-/tmp/mlframework-ci/slurm}
export SLURM_CONF=$MLF_TEST_SLURM_BASE/slurm.conf
started_cron=""

cleanup() {
  # Crontab lines this run's tests left behind (a test that died mid-way).
  crontab -l 2>/dev/null | grep -v -- "$MLF_TEST_CRON_TAG" | crontab - 2>/dev/null || true
  BASE=$MLF_TEST_SLURM_BASE bash ops/slurm_down.sh || true
  BASE=$MLF_TEST_MARIADB_BASE bash ops/mariadb_down.sh || true
  BASE=$MLF_TEST_POSTGRES_BASE bash ops/postgres_down.sh || true
  [ -n "$started_cron" ] && kill "$started_cron" 2>/dev/null
  rm -rf "$MLF_TEST_VAR"
}
trap cleanup EXIT INT TERM

BASE=$MLF_TEST_MARIADB_BASE PORT=$MLF_TEST_MARIADB_PORT bash ops/mariadb_up.sh || exit 1
BASE=$MLF_TEST_POSTGRES_BASE PORT=$MLF_TEST_POSTGRES_PORT \
  PASSWORD=$MLF_TEST_POSTGRES_PASSWORD bash ops/postgres_up.sh || exit 1
BASE=$MLF_TEST_SLURM_BASE ACCT=1 MIN_JOB_AGE=10 DBPORT=$MLF_TEST_MARIADB_PORT \
  DBSOCK=$MLF_TEST_MARIADB_BASE/run/mysqld.sock bash ops/slurm_up.sh || exit 1
if ! pgrep -x cron >/dev/null; then
  cron -f & started_cron=$!
  echo "cron started (pid $started_cron)"
fi
.venv/bin/ruff check . && .venv/bin/ruff format --check . || exit 1
# make test runs the tests not marked slow (under 20 minutes on 2 cores);
# MLF_TEST_ALL=1 (what .ci/run sets) runs every test.
marks=()
if [ "${MLF_TEST_ALL:-}" != "1" ]; then marks=(-m "not slow"); fi
.venv/bin/python -m pytest "${marks[@]}" --durations=25 "$@"
