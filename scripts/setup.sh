#!/usr/bin/env bash
# Installs what the demo and the test suite need on a fresh Debian/Ubuntu
# machine: the real components (Caddy, PostgreSQL, systemd, podman with
# netavark and aardvark-dns, sudo) and what the packaging needs and is tested
# with (osslsigncode, qemu-user-static) when run as root, then the npm
# packages from the lockfile. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v caddy >/dev/null 2>&1 || need+=(caddy)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v systemd >/dev/null 2>&1 || need+=(systemd)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v ansible-playbook >/dev/null 2>&1 || need+=(ansible-core)
# The real shape of a Linux host (packages/lab/src/harness/podman.ts) and the real system manager
# (packages/lab/src/harness/systemdSystemManager.ts: systemd as PID 1 of a rootful podman container,
# nested podman inside it): rootful podman with runc (podman's dependency "crun | runc" picks crun,
# which refuses this kind of machine's hybrid cgroup layout), netavark and aardvark-dns (only
# recommended, and --no-install-recommends would leave the CNI plugins: no DNS aliases), iptables
# (netavark's firewall driver), ip (the harness picks a free subnet from the host's routes), sudo for
# the non-root operator, setpriv/nsenter and curl to run commands inside.
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || need+=(runc)
{ [ -x /usr/lib/podman/netavark ] || [ -x /usr/libexec/podman/netavark ]; } || need+=(netavark)
{ [ -x /usr/lib/podman/aardvark-dns ] || [ -x /usr/libexec/podman/aardvark-dns ]; } || need+=(aardvark-dns)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
[ -x /usr/bin/sudo ] || need+=(sudo)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v curl >/dev/null 2>&1 || need+=(curl)
# npm run package (packages/cli/scripts/package.mjs): osslsigncode checks node.exe's Authenticode signature
# before anything is injected into it; dpkg-deb builds the .debs. The arm64 executable's test runs it under
# qemu user emulation, with Debian's arm64 cross libraries (what the embedded Node links) as its root.
command -v osslsigncode >/dev/null 2>&1 || need+=(osslsigncode)
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
for lib in libc6-arm64-cross libstdc++6-arm64-cross libatomic1-arm64-cross libgcc-s1-arm64-cross; do
  dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q 'install ok installed' || need+=("$lib")
done

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

# The system manager's PostgreSQL is Debian's own cluster `main` (postgresql@<v>-main), which the
# package creates on install; make it if someone removed it. Only the container ever runs it.
if [ "$(id -u)" = 0 ] && ! ls /etc/postgresql/*/main/postgresql.conf >/dev/null 2>&1 && command -v pg_createcluster >/dev/null 2>&1; then
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  echo "setup: creating the PostgreSQL cluster $version/main"
  pg_createcluster "$version" main >/dev/null
fi

npm ci --no-audit --no-fund
