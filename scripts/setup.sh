#!/usr/bin/env bash
# Installs what the demo and the test suite need on a fresh Debian/Ubuntu
# machine: the real components (Caddy, PostgreSQL) when run as root, then the
# npm packages from the lockfile. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v caddy >/dev/null 2>&1 || need+=(caddy)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v systemd >/dev/null 2>&1 || need+=(systemd)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v ansible-playbook >/dev/null 2>&1 || need+=(ansible-core)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "setup: missing ${need[*]}; install them (as root: apt-get install ${need[*]})" >&2
    echo "setup: without them the real-component test suites are skipped (and fail in CI)" >&2
  fi
fi

npm ci --no-audit --no-fund
