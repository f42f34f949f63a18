#!/usr/bin/env bash
# Installs, idempotently, what the container test (tests/containers) needs on a Debian 12 machine:
#   - podman, runc, slirp4netns, debootstrap from Debian packages (as root, or through sudo)
#   - .tools/containers/containers.conf: runc instead of crun, and no default ulimits, because
#     on these machines `crun` and the default RLIMIT_NOFILE both fail with "Operation not
#     permitted"; the test points CONTAINERS_CONF at it
#   - two local stand-ins for the Dockerfile's base images, which no registry serves here:
#       localhost/ftps-gateway-standin/python:3.11-bookworm  debootstrap --variant=minbase
#           bookworm with Debian's python3 (3.11) and curl (for the helm test pod),
#           /usr/local/bin/python3 pointing at it
#       localhost/ftps-gateway-standin/uv:<version>  the static uv binary from the uv wheel
#           on PyPI, at /uv like ghcr.io/astral-sh/uv
# The real tags stay the Dockerfile's defaults; the test passes the stand-ins as build args.
# Prints the stand-in tags as KEY=VALUE lines on stdout (the test reads them).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${DEPLOY_TOOLS_DIR:-$repo/.tools}/containers
uv_version=$(sed -n 's/^ARG UV_IMAGE=.*uv:\([0-9.]*\).*/\1/p' "$repo/services/Dockerfile")
python_tag=localhost/ftps-gateway-standin/python:3.11-bookworm
uv_tag=localhost/ftps-gateway-standin/uv:$uv_version

log() { printf 'install-container-tools: %s\n' "$*" >&2; }
as_root=()
[[ $(id -u) -eq 0 ]] || as_root=(sudo)

missing=()
# catatonit: the pause process of the pods `podman kube play` makes.
for pair in podman:podman runc:runc slirp4netns:slirp4netns debootstrap:debootstrap catatonit:catatonit; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || [[ -x /usr/sbin/${pair%%:*} ]] || missing+=("${pair#*:}")
done
if (( ${#missing[@]} )); then
  log "installing ${missing[*]} from Debian packages"
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" containernetworking-plugins uidmap iptables >/dev/null
fi

mkdir -p "$dir"
cat >"$dir/containers.conf.new" <<'CONF'
# Written by scripts/install-container-tools.sh for the container test.
[containers]
# The default RLIMIT_NOFILE cannot be set on these machines ("Operation not permitted").
default_ulimits = []

[engine]
# crun fails the same way; Debian's runc works.
runtime = "runc"
CONF
mv "$dir/containers.conf.new" "$dir/containers.conf"
export CONTAINERS_CONF=$dir/containers.conf

if ! podman image exists "$python_tag"; then
  log "making $python_tag (debootstrap minbase bookworm + python3, curl)"
  rootfs=$(mktemp -d "$dir/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  "${as_root[@]}" debootstrap --variant=minbase --include=python3,curl bookworm "$rootfs" \
    http://deb.debian.org/debian >"$dir/debootstrap.log" 2>&1 \
    || { tail -20 "$dir/debootstrap.log" >&2; exit 1; }
  # The official python images have their interpreter there; the Dockerfile relies on it.
  ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python3"
  "${as_root[@]}" rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  "${as_root[@]}" tar -C "$rootfs" -c . | podman import --quiet - "$python_tag" >/dev/null
  "${as_root[@]}" rm -rf "$rootfs"
  trap - EXIT
fi

if ! podman image exists "$uv_tag"; then
  log "making $uv_tag (the uv $uv_version binary from its PyPI wheel)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$work" "uv==$uv_version"
  python3 -m zipfile -e "$work"/uv-*.whl "$work/wheel"
  install -m 0755 "$work"/wheel/uv-*.data/scripts/uv "$work/uv"
  printf 'FROM scratch\nCOPY uv /uv\n' >"$work/Containerfile"
  podman build --quiet --network none -t "$uv_tag" -f "$work/Containerfile" "$work" >/dev/null
  rm -rf "$work"
  trap - EXIT
fi

echo "CONTAINERS_CONF=$dir/containers.conf"
echo "PYTHON_IMAGE=$python_tag"
echo "UV_IMAGE=$uv_tag"
