#!/usr/bin/env bash
# Install the Debian/Ubuntu packages the platform needs, if any are missing.
# As root (or with sudo) it runs apt-get; otherwise it prints the command.
#   ops/install_system.sh          runtime packages
#   ops/install_system.sh --test   plus MariaDB, PostgreSQL, Chromium and nginx for the tests
set -euo pipefail

runtime=(build-essential pkg-config default-libmysqlclient-dev
         unixodbc unixodbc-dev libsqliteodbc odbc-mariadb odbc-postgresql procps
         gettext)
# The distribution's Python only when the one on PATH cannot make a venv.
python3 -c "import venv, ensurepip" 2>/dev/null || runtime+=(python3 python3-venv)
python3 -c "import sysconfig, os, sys; sys.exit(not os.path.exists(
  os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" 2>/dev/null \
  || runtime+=(python3-dev)
norecommends=(cron)
test=(mariadb-server mariadb-client postgresql chromium nginx)
# The one-node test cluster (without recommends, a mail server comes along).
test_nr=(slurmctld slurmd slurm-client munge slurmdbd)
[ "${1:-}" = "--test" ] && runtime+=("${test[@]}") && norecommends+=("${test_nr[@]}")

missing() {
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
      || echo "$package"
  done
}
need=($(missing "${runtime[@]}"))
need_nr=($(missing "${norecommends[@]}"))
[ ${#need[@]} -eq 0 ] && [ ${#need_nr[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=""
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"
else
  echo "Missing system packages. Run this, then try again:" >&2
  [ ${#need[@]} -gt 0 ] && echo "  sudo apt-get install -y ${need[*]}" >&2
  [ ${#need_nr[@]} -gt 0 ] && echo "  sudo apt-get install -y --no-install-recommends ${need_nr[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "Installing system packages: ${need[*]} ${need_nr[*]}"
$sudo apt-get update -q
[ ${#need[@]} -gt 0 ] && $sudo apt-get install -y -q "${need[@]}"
[ ${#need_nr[@]} -gt 0 ] && $sudo apt-get install -y -q --no-install-recommends "${need_nr[@]}"
exit 0
