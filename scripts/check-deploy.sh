#!/usr/bin/env bash
# Static checks of everything that deploys the gateway (no cluster, no Docker, no network):
#   1. helm lint --strict (Helm v4 SDK) with the default values and every values file below
#   2. helm template with each, and offline validation of the manifests against the
#      Kubernetes JSON schemas (kubernetes-validate --strict); the rendered PrometheusRule
#      goes through promtool, the dashboard ConfigMap through a JSON parser
#   3. promtool check rules + promtool test rules (files/alerts.test.yaml)
#   4. hadolint on services/Dockerfile; shellcheck on scripts/*.sh and the helm test script
#   5. scripts/check-observability.py with the project's .venv: metric names of alerts and
#      dashboard exist in gateway_common.metrics; each alert has a firing test and a runbook entry
# Install the tools first: scripts/install-deploy-tools.sh. Exits non-zero on any failure.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${DEPLOY_TOOLS_DIR:-$repo/.tools}
chart=$repo/charts/ftps-gateway
venv=$tools/venv
py=$venv/bin/python
promtool=$tools/prometheus/usr/bin/promtool
project_py=${PROJECT_PYTHON:-$repo/.venv/bin/python}
kube_versions=${KUBE_VERSIONS:-"1.27.0 1.30.0 1.33.0"}
value_sets=(
  "default:"
  "full:$chart/ci/full-values.yaml"
  "dev:$chart/examples/values-dev.yaml"
  "production:$chart/examples/values-production.yaml"
  "minimal:$chart/examples/values-minimal.yaml"
)

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failures=()
started=$(date +%s)

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; failures+=("$*"); }
pass() { printf 'ok: %s\n' "$*"; }

for tool in "$py" "$promtool" "$venv/bin/hadolint" "$venv/bin/kubernetes-validate" "$venv/bin/shellcheck"; do
  if [[ ! -x $tool ]]; then
    echo "check-deploy: $tool is missing: run scripts/install-deploy-tools.sh" >&2
    exit 2
  fi
done
if [[ ! -x $project_py ]]; then
  echo "check-deploy: $project_py is missing: create the project venv (make bootstrap, or uv sync --frozen)" >&2
  exit 2
fi

# ---------------------------------------------------------------- 1-2. helm lint, template, validate
for set in "${value_sets[@]}"; do
  name=${set%%:*}
  file=${set#*:}
  args=()
  [[ -n $file ]] && args=(-f "$file")

  step "helm lint --strict ($name values)"
  if "$py" "$repo/scripts/helm.py" lint "$chart" "${args[@]}" --strict >"$out/lint-$name.log" 2>&1; then
    pass "helm lint ($name)"
  else
    cat "$out/lint-$name.log"; fail "helm lint ($name values)"
  fi

  step "helm template + kubernetes-validate ($name values)"
  manifests=$out/$name.yaml
  if ! "$py" "$repo/scripts/helm.py" template "$chart" "${args[@]}" --name gw --namespace ftps >"$manifests" 2>"$out/template-$name.log"; then
    cat "$out/template-$name.log"; fail "helm template ($name values)"; continue
  fi
  if ! "$py" "$repo/scripts/helm.py" template "$chart" "${args[@]}" --notes >"$out/notes-$name.txt" 2>&1; then
    cat "$out/notes-$name.txt"; fail "NOTES.txt does not render ($name values)"
  fi
  for version in $kube_versions; do
    # CRD kinds (ServiceMonitor, PodMonitor, PrometheusRule, RabbitmqCluster) have no schema in
    # kubernetes-validate: they only warn, and are checked below by what reads them.
    if "$venv/bin/kubernetes-validate" --strict --quiet --no-warn -k "$version" "$manifests" >"$out/validate.log" 2>&1; then
      pass "$(grep -c '^kind:' "$manifests") manifests valid for Kubernetes $version ($name)"
    else
      cat "$out/validate.log"; fail "kubernetes-validate $version ($name values)"
    fi
  done
  # The PrometheusRule as rendered must still be valid Prometheus rules; the dashboard valid JSON.
  if ! "$py" - "$manifests" "$out/$name" <<'PY'
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "PrometheusRule":
        with open(sys.argv[2] + "-rules.yaml", "w") as f:
            yaml.safe_dump(d["spec"], f)
    if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-test-heartbeat"):
        with open(sys.argv[2] + "-round-trip.sh", "w") as f:
            f.write(d["data"]["round-trip.sh"])
    if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard"):
        for key, text in d["data"].items():
            json.loads(text)
PY
  then
    fail "rendered dashboard or PrometheusRule unreadable ($name)"
  fi
  if [[ -f $out/$name-rules.yaml ]]; then
    if "$promtool" check rules "$out/$name-rules.yaml" >"$out/promtool.log" 2>&1; then
      pass "rendered PrometheusRule passes promtool ($name)"
    else
      cat "$out/promtool.log"; fail "rendered PrometheusRule ($name)"
    fi
  fi
done

# ---------------------------------------------------------------- 3. promtool
step "promtool check rules + test rules"
if (cd "$chart/files" && "$promtool" check rules alerts.rules.yaml && "$promtool" test rules alerts.test.yaml) >"$out/promtool.log" 2>&1; then
  cat "$out/promtool.log"; pass "alert rules and their unit tests"
else
  cat "$out/promtool.log"; fail "promtool"
fi

# ---------------------------------------------------------------- 4. hadolint
step "hadolint services/Dockerfile"
if "$venv/bin/hadolint" --failure-threshold style "$repo/services/Dockerfile"; then
  pass "hadolint"
else
  fail "hadolint services/Dockerfile"
fi

step "shellcheck scripts/*.sh and the helm test script"
if "$venv/bin/shellcheck" "$repo"/scripts/*.sh "$out"/*-round-trip.sh; then
  pass "shellcheck"
else
  fail "shellcheck"
fi

# ---------------------------------------------------------------- 5. metric names, tests, runbook
step "metric names in alerts and dashboard exist in gateway_common.metrics"
if "$project_py" "$repo/scripts/check-observability.py"; then
  pass "observability cross-check"
else
  fail "observability cross-check"
fi

printf '\ncheck-deploy: %ss\n' "$(( $(date +%s) - started ))"
if (( ${#failures[@]} )); then
  printf 'check-deploy: %d check(s) FAILED:\n' "${#failures[@]}"
  printf '  - %s\n' "${failures[@]}"
  exit 1
fi
echo "check-deploy: all checks passed"
