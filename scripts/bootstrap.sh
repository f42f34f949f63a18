#!/usr/bin/env bash
# Sets up a fresh machine for `make run` and `make test`: system tools, uv, the locked workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in curl lftp; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# The SFTP adapter's tests start their own unprivileged OpenSSH server (Debian's openssh-server).
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]} from Debian packages"
  as_root=()
  [ "$(id -u)" = 0 ] || as_root=(sudo)
  # Installing openssh-server must not start a system-wide sshd on port 22: a policy-rc.d that
  # forbids service starts (unless the machine already has one) keeps the package inert.
  policy=()
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${as_root[@]}" chmod 755 /usr/sbin/policy-rc.d
    policy=(/usr/sbin/policy-rc.d)
  fi
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  ((${#policy[@]})) && "${as_root[@]}" rm -f "${policy[@]}"
  if [[ " ${missing[*]} " == *" openssh-server "* ]] && command -v systemctl >/dev/null 2>&1; then
    "${as_root[@]}" systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
  fi
fi

if ! python3 -m uv --version >/dev/null 2>&1; then
  echo "bootstrap: installing uv from PyPI"
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
fi

# The SFTP tests run sshd without privileges, as an account of its own that can log in only
# with the tests' keys (no password, no shell); created when the tests run as root.
if [ "$(id -u)" = 0 ] && ! id gateway-sftp >/dev/null 2>&1; then
  echo "bootstrap: adding the system account gateway-sftp for the SFTP tests' sshd"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin gateway-sftp
fi

# The project uses the machine's Python; uv must never download one.
export UV_PYTHON_DOWNLOADS=never
# --all-packages: every workspace member, so a new adapter folder is installed without further edits.
python3 -m uv sync --frozen --all-packages --python "$(command -v python3)" --quiet
