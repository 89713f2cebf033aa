#!/usr/bin/env bash
# Footprint of the published packages (docs/dependencies.md): for each
# workspace, its `npm pack` size, and the packages `npm install` of its
# tarball (plus our own tarballs it depends on) brings into an empty project.
# usage: bash scripts/package-footprint.sh REPO PKG...   (e.g. . core cli testing)
set -euo pipefail
repo=$1; shift
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
declare -A tgz
for p in core cli testing; do
  [ -f "$repo/packages/$p/package.json" ] || continue
  out=$(cd "$repo/packages/$p" && npm pack --silent --json --pack-destination "$work")
  f=$(node -e 'const j=JSON.parse(process.argv[1]);console.log(j[0].filename)' "$out")
  size=$(node -e 'const j=JSON.parse(process.argv[1]);console.log(j[0].size, j[0].unpackedSize, j[0].entryCount)' "$out")
  tgz[$p]="$work/$f"
  echo "pack $p: size unpacked entries = $size"
done
for p in "$@"; do
  d=$(mktemp -d -p "$work"); echo '{"name":"scratch","private":true}' > "$d/package.json"
  deps=("${tgz[$p]}")
  if grep -q '"@tamanu-lifecycle/core"' "$repo/packages/$p/package.json"; then deps+=("${tgz[core]}"); fi
  if grep -q '"@tamanu-lifecycle/cli"' "$repo/packages/$p/package.json"; then deps+=("${tgz[cli]}"); fi
  (cd "$d" && npm install --prefer-offline --no-audit --no-fund --ignore-scripts "${deps[@]}" >/dev/null 2>&1)
  n=$(node -e 'const l=require(process.argv[1]);console.log(Object.keys(l.packages).filter(k=>k!=="").length)' "$d/package-lock.json")
  du=$(du -sk "$d/node_modules" | cut -f1)
  echo "install $p: $n packages, node_modules ${du} kB"
done
