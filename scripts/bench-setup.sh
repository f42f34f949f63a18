#!/usr/bin/env bash
# What `make bench` (and its smoke run in `make test`) needs beyond the Python workspace: vsftpd,
# the peer the gateway is compared with. Idempotent; installs on a fresh Debian 12 as root.
set -euo pipefail
if ! command -v vsftpd >/dev/null 2>&1 && [ ! -x /usr/sbin/vsftpd ]; then
  echo "bench-setup: installing vsftpd from Debian packages (the bench starts its own, on loopback)"
  as_root=()
  [ "$(id -u)" = 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  # policy-rc.d keeps the package from starting a system-wide vsftpd on port 21; the bench runs
  # its own on a free loopback port. An existing policy (containers have one) is left alone.
  policy=/usr/sbin/policy-rc.d
  added=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
    "${as_root[@]}" chmod 755 "$policy"
    added=1
  fi
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends vsftpd >/dev/null
  [ -z "$added" ] || "${as_root[@]}" rm -f "$policy"
fi
