#!/usr/bin/env bash
# Installs, idempotently, the FTPS clients that the interop suite (tests/e2e/interop) drives:
#   Debian packages  curl, lftp, a JDK (javac) with Apache Commons Net (libcommons-net-java),
#                    Perl's Net::FTP with IO::Socket::SSL (libio-socket-ssl-perl), Node.js and npm
#   npm              basic-ftp, pinned, into <repo>/.tools/interop/node (git-ignored)
# aioftp comes from PyPI with the project's dev dependencies (uv.lock). Runs as root on a fresh
# Debian 12 (apt-get update first); each step is skipped when what it installs is already there.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${INTEROP_TOOLS_DIR:-$repo/.tools/interop}
BASIC_FTP_VERSION=6.2.6

log() { printf 'install-interop-clients: %s\n' "$*" >&2; }

missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v lftp >/dev/null 2>&1 || missing+=(lftp)
command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
[[ -f /usr/share/java/commons-net.jar ]] || missing+=(libcommons-net-java)
perl -MIO::Socket::SSL -MNet::FTP -e 1 >/dev/null 2>&1 || missing+=(libio-socket-ssl-perl)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  log "installing ${missing[*]} from Debian packages"
  as_root=()
  [[ $(id -u) == 0 ]] || as_root=(sudo)
  # Other installs may hold the dpkg lock for a while (CI images, parallel set-ups): wait for it.
  apt_opts=(-o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends)
  "${as_root[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install "${apt_opts[@]}" "${missing[@]}" >/dev/null
fi

node_dir=$tools/node
if [[ ! -f $node_dir/node_modules/basic-ftp/package.json ]] \
  || ! grep -q "\"version\": \"$BASIC_FTP_VERSION\"" "$node_dir/node_modules/basic-ftp/package.json"; then
  log "installing basic-ftp $BASIC_FTP_VERSION from npm into $node_dir"
  mkdir -p "$node_dir"
  npm install --loglevel=error --no-audit --no-fund --prefix "$node_dir" "basic-ftp@$BASIC_FTP_VERSION"
fi
log "ready"
