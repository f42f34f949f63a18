#!/usr/bin/env bash
# Sets up a fresh machine for `make run` and `make test`: system tools, uv, the locked workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in curl lftp; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]} from Debian packages"
  as_root=()
  [ "$(id -u)" = 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! python3 -m uv --version >/dev/null 2>&1; then
  echo "bootstrap: installing uv from PyPI"
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
fi

# The project uses the machine's Python; uv must never download one.
export UV_PYTHON_DOWNLOADS=never
python3 -m uv sync --frozen --python "$(command -v python3)" --quiet
