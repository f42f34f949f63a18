#!/usr/bin/env bash
# Regenerates the protobuf code into a scratch copy and fails when it differs from what is committed.
set -euo pipefail
out=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$out" "$tmp/committed"
restore() { rm -rf "$out"; cp -r "$tmp/committed" "$out"; }
if ! make -s protos >/dev/null; then
  restore
  echo "protos-check: 'make protos' failed" >&2
  exit 1
fi
if ! diff -r "$tmp/committed" "$out" >"$tmp/diff"; then
  restore
  echo "protos-check: generated protobuf code is out of date with protos/: run 'make protos' and commit" >&2
  head -40 "$tmp/diff" >&2
  exit 1
fi
