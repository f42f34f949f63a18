#!/usr/bin/env bash
# Installs, idempotently, the Prometheus and Alertmanager that tests/e2e/test_monitoring.py runs:
# Debian's prometheus and prometheus-alertmanager packages, unpacked (not installed: no service
# is started, nothing outside the repository changes) into <repo>/.tools/monitoring.
# Prints the directory holding the binaries (prometheus, prometheus-alertmanager, promtool).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${MONITORING_TOOLS_DIR:-$repo/.tools/monitoring}
packages=(prometheus prometheus-alertmanager)

log() { printf 'install-monitoring-tools: %s\n' "$*" >&2; }

if [[ ! -x $dest/usr/bin/prometheus || ! -x $dest/usr/bin/prometheus-alertmanager ]]; then
  command -v apt-get >/dev/null || { log "apt-get not found: cannot fetch Debian's ${packages[*]}"; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  chmod 755 "$work"  # apt's sandbox user must be able to write the download there
  fetch() { (cd "$work" && apt-get download -q "${packages[@]}" >/dev/null 2>&1); }
  if ! fetch; then
    log "apt-get download failed; refreshing the package lists (apt-get update)"
    if [[ $(id -u) -eq 0 ]]; then apt-get update -qq; else sudo apt-get update -qq; fi
    fetch || { log "cannot download Debian's ${packages[*]}"; exit 1; }
  fi
  rm -rf "$dest.new"
  mkdir -p "$dest.new"
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$dest.new"; done
  rm -rf "$dest"
  mv "$dest.new" "$dest"
  log "unpacked $(cd "$work" && echo *.deb) into $dest"
fi
echo "$dest/usr/bin"
