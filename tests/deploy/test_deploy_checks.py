"""The deployment artefacts: chart, alerts, dashboard, Dockerfile.

``test_check_deploy`` installs the deploy tools (scripts/install-deploy-tools.sh: PyPI and
Debian packages into .tools/, idempotent) and runs scripts/check-deploy.sh. The other tests
render the chart with Helm's SDK (when the tools are there) and assert what every production
install relies on: hardened, probed, resourced containers and a passive-port layout in which a
data connection can only reach the replica that opened it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from gateway_common.adapter import AdapterSettings
from gateway_common.registry import installed_adapters
from gateway_common.settings import ServiceSettings
from gateway_ingress.settings import IngressSettings
from gateway_router.settings import RouterSettings
from gateway_status.settings import StatusSettings
from pydantic import ValidationError
from pydantic_settings import SettingsError

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "ftps-gateway"
TOOLS = Path(os.environ.get("DEPLOY_TOOLS_DIR", REPO / ".tools"))
TOOLS_PY = TOOLS / "venv" / "bin" / "python"
FULL = CHART / "ci" / "full-values.yaml"


@pytest.fixture(scope="module")
def tools() -> Path:
    if os.environ.get("DEPLOY_TOOLS_SKIP_INSTALL") != "1":
        result = subprocess.run(
            [str(REPO / "scripts" / "install-deploy-tools.sh")],
            check=False,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, f"install-deploy-tools.sh failed:\n{result.stdout}\n{result.stderr}"
    if not TOOLS_PY.exists():
        pytest.skip("deploy tools are not installed (.tools/venv)")
    return TOOLS_PY


def render(tools: Path, *values: Path | dict[str, Any], expect_error: bool = False) -> list[dict[str, Any]] | str:
    args = [
        str(tools),
        str(REPO / "scripts" / "helm.py"),
        "template",
        str(CHART),
        "--name",
        "gw",
        "--namespace",
        "ftps",
    ]
    tmp_files = []
    for index, given in enumerate(values):
        value = given
        if isinstance(value, dict):
            path = Path(os.environ.get("TMPDIR", "/tmp")) / f"deploy-test-values-{os.getpid()}-{index}.yaml"
            path.write_text(yaml.safe_dump(value), encoding="utf-8")
            tmp_files.append(path)
            value = path
        args += ["-f", str(value)]
    try:
        result = subprocess.run(args, check=False, capture_output=True, text=True, timeout=120)
    finally:
        for path in tmp_files:
            path.unlink(missing_ok=True)
    if expect_error:
        assert result.returncode != 0, "the render should have failed"
        return result.stderr
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]
        elif doc["kind"] == "Pod":
            yield f"Pod/{doc['metadata']['name']}", doc["spec"]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


# ---------------------------------------------------------------------------- the whole check


def test_check_deploy(tools: Path) -> None:
    result = subprocess.run(
        [str(REPO / "scripts" / "check-deploy.sh")],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"check-deploy.sh failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    assert "check-deploy: all checks passed" in result.stdout


# ---------------------------------------------------------------------------- every container


@pytest.mark.parametrize("values", ["default", "full", "dev"])
def test_every_container_is_hardened_probed_and_resourced(tools: Path, values: str) -> None:
    files = {"default": [], "full": [FULL], "dev": [CHART / "examples" / "values-dev.yaml"]}[values]
    docs = render(tools, *files)
    assert isinstance(docs, list)
    seen = 0
    for where, spec in pod_specs(docs):
        pod_ctx = spec.get("securityContext", {})
        assert pod_ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        assert spec.get("automountServiceAccountToken") is False, where
        is_test_pod = where.startswith("Pod/")
        for container in spec["containers"] + spec.get("initContainers", []):
            seen += 1
            name = f"{where}/{container['name']}"
            ctx = container.get("securityContext", {})
            assert ctx.get("readOnlyRootFilesystem") is True, name
            assert ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is True, name
            assert ctx.get("allowPrivilegeEscalation") is False, name
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], name
            assert not ctx.get("capabilities", {}).get("add"), name
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(kind, {})), f"{name}: {kind}"
            if not is_test_pod:
                assert "livenessProbe" in container, name
                assert "readinessProbe" in container, name
    assert seen >= 5


def test_every_workload_has_a_service_account_and_no_token(tools: Path) -> None:
    docs = render(tools, FULL)
    assert isinstance(docs, list)
    accounts = {doc["metadata"]["name"] for doc in by_kind(docs, "ServiceAccount")}
    for deployment in by_kind(docs, "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        if deployment["metadata"]["labels"]["app.kubernetes.io/component"] == "rabbitmq":
            continue
        assert spec["serviceAccountName"] in accounts, deployment["metadata"]["name"]
    assert all(doc["automountServiceAccountToken"] is False for doc in by_kind(docs, "ServiceAccount"))


# ---------------------------------------------------------------------------- FTPS exposure


def test_each_ingress_replica_owns_its_service_and_passive_range(tools: Path) -> None:
    """The answer to 'the data connection reaches another replica': each replica has its own
    LoadBalancer Service holding the control port and a passive range no other replica uses,
    and advertises that Service's address in PASV."""
    docs = render(tools, FULL)
    assert isinstance(docs, list)
    full = yaml.safe_load(FULL.read_text())
    addresses = full["ingress"]["exposure"]["replicaAddresses"]
    deployments = {
        d["metadata"]["name"]: d
        for d in by_kind(docs, "Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "ingress"
    }
    services = [s for s in by_kind(docs, "Service") if s["spec"].get("type") == "LoadBalancer"]
    assert len(deployments) == len(services) == full["ingress"]["replicas"] == len(addresses)
    taken: set[int] = set()
    for service in services:
        spec = service["spec"]
        assert spec["externalTrafficPolicy"] == "Local"
        matching = [
            d
            for d in deployments.values()
            if all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in spec["selector"].items())
        ]
        assert len(matching) == 1, f"{service['metadata']['name']} must select exactly one replica"
        deployment = matching[0]
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"]["type"] == "Recreate"
        env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        low, high = (int(p) for p in env["GATEWAY_PASSIVE_PORTS"].split("-"))
        passive = {p["port"] for p in spec["ports"] if p["name"].startswith("pasv-")}
        assert passive == set(range(low, high + 1))
        assert all(p["targetPort"] == p["port"] for p in spec["ports"] if p["name"].startswith("pasv-"))
        assert not passive & taken, "passive ranges of two replicas overlap"
        taken |= passive
        replica = int(service["metadata"]["labels"]["ftps-gateway/replica"])
        assert env["GATEWAY_MASQUERADE_ADDRESS"] == addresses[replica]
        assert spec.get("loadBalancerIP") == addresses[replica]
        assert env["GATEWAY_PROXY_PROTOCOL"] == "v2"
        assert env["GATEWAY_PROXY_TRUSTED_CIDRS"] == "10.0.0.0/16"
        assert {"name": "ftps", "port": 6371, "targetPort": "ftps", "protocol": "TCP"} in spec["ports"]


def test_shared_exposure_with_several_replicas_is_refused(tools: Path) -> None:
    error = render(tools, {"ingress": {"replicas": 2, "exposure": {"mode": "shared"}}}, expect_error=True)
    assert "another replica" in error
    docs = render(
        tools,
        {
            "ingress": {
                "replicas": 1,
                "exposure": {"mode": "shared", "masqueradeAddress": "198.51.100.7"},
            }
        },
    )
    assert isinstance(docs, list)
    (service,) = [s for s in by_kind(docs, "Service") if s["spec"].get("type") == "LoadBalancer"]
    assert service["spec"]["sessionAffinity"] == "ClientIP"


def test_proxy_protocol_needs_trusted_load_balancers(tools: Path) -> None:
    error = render(tools, {"ingress": {"proxyProtocol": {"mode": "v1"}}}, expect_error=True)
    assert "trustedCIDRs" in error


# ---------------------------------------------------------------------------- values


def test_schema_rejects_unknown_keys_and_bad_enums(tools: Path) -> None:
    assert "additional properties" in render(tools, {"ingress": {"replica": 3}}, expect_error=True)
    assert "rabbitmq" in render(tools, {"rabbitmq": {"mode": "embedded"}}, expect_error=True)


def test_adding_an_adapter_is_one_values_block(tools: Path) -> None:
    docs = render(tools, FULL)
    assert isinstance(docs, list)
    names = {d["metadata"]["name"] for d in by_kind(docs, "Deployment")}
    assert "gw-ftps-gateway-adapter-cpr" in names
    (cpr,) = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "gw-ftps-gateway-adapter-cpr"]
    container = cpr["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.org/ftps-gateway/cpr-team/ftps-gateway-adapter-cpr:1.4.2"
    assert {"name": "GATEWAY_HTTP_PORT", "value": "9110"} in container["env"]
    hpas = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind(docs, "HorizontalPodAutoscaler")}
    assert {
        "gw-ftps-gateway-router",
        "gw-ftps-gateway-adapter-http",
        "gw-ftps-gateway-adapter-cpr",
    } <= hpas
    error = render(tools, {"routes": {"X": {"adapter": "nosuch"}}}, expect_error=True)
    assert "nosuch" in error


def test_shared_storage_is_mounted_where_needed(tools: Path) -> None:
    docs = render(tools)
    assert isinstance(docs, list)
    (pvc,) = by_kind(docs, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    for deployment in by_kind(docs, "Deployment"):
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        has_data = (
            "data" in volumes and volumes["data"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
        )
        assert has_data == (component != "router"), component


def test_network_policies_deny_by_default(tools: Path) -> None:
    docs = render(tools)
    assert isinstance(docs, list)
    policies = {p["metadata"]["name"]: p for p in by_kind(docs, "NetworkPolicy")}
    deny = policies["gw-ftps-gateway-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny
    assert "egress" not in deny
    ftps = policies["gw-ftps-gateway-ingress-ftps"]["spec"]["ingress"][0]["ports"]
    assert {"protocol": "TCP", "port": 35000, "endPort": 35099} in ftps


def test_monitoring_objects_ship_the_plain_files(tools: Path) -> None:
    docs = render(tools, FULL)
    assert isinstance(docs, list)
    (rule,) = by_kind(docs, "PrometheusRule")
    plain = yaml.safe_load((CHART / "files" / "alerts.rules.yaml").read_text())
    alerts = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert alerts == [r["alert"] for g in plain["groups"] for r in g["rules"]]
    urls = [r["annotations"]["runbook_url"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert all(u.startswith("https://git.example.org/platform/ftps-gateway/") for u in urls)
    (dashboard,) = [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-dashboard")]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["namespace"] == "monitoring"


# ---------------------------------------------------------------------------- metric cross-check


def _observability() -> Any:
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location("check_observability", REPO / "scripts" / "check-observability.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_metric_cross_check_flags_unknown_names_and_labels() -> None:
    check = _observability()
    names = check.promql_names(
        'sum by (reason) (rate(gateway_ftps_logins_total{result="refused"}[10m])) > 0.2'
        ' and on () absent(up{gateway_component="ingress"} == 1)'
        " or histogram_quantile(0.9,"
        ' rate(gateway_nope_seconds_bucket{namespace=~"$namespace"}[5m]))'
    )
    assert names == {
        "gateway_ftps_logins_total": {"result"},
        "up": {"gateway_component"},
        "gateway_nope_seconds_bucket": {"namespace"},
    }
    known, _ = check.code_metrics()
    assert known["gateway_deliveries_total"] == {"adapter", "result"}
    rules = {
        "groups": [
            {
                "name": "t",
                "rules": [
                    {"alert": "A", "expr": "rate(gateway_nope_total[5m]) > 0"},
                    {"alert": "B", "expr": 'gateway_deliveries_total{adaptr="x"}'},
                    {
                        "alert": "C",
                        "expr": "rabbitmq_queue_consumers == 0 or gateway_crl_age_seconds > 1",
                    },
                ],
            }
        ]
    }
    problems, _ = check.check_names(rules, {"panels": []}, known)
    assert len(problems) == 2
    assert "gateway_nope_total" in problems[0]
    assert "adaptr" in problems[1]


# ---------------------------------------------------------------------------- GATEWAY_* settings

# The settings class each container's process reads; containers are named after their component.
SETTINGS: dict[str, type[ServiceSettings]] = {
    "ingress": IngressSettings,
    "router": RouterSettings,
    "status": StatusSettings,
} | {f"adapter-{name}": adapter.settings_model for name, adapter in installed_adapters().items()}
# Values of Secrets the chart only refers to (existingSecret, the operator's default user).
SECRET_PLACEHOLDERS = {
    "GATEWAY_AMQP_URL": "amqp://gateway:secret@rabbitmq.example:5672/",
    "GATEWAY_OUTBOUND_TOKENS": json.dumps({"skat": {"token_sha256": "0" * 64, "kinds": ["company"], "names": ["*"]}}),
    "GATEWAY_SUPPORT_TOKENS": json.dumps({"desk": "0" * 64}),
}


def settings_class(container: str) -> type[ServiceSettings] | None:
    if container in SETTINGS:
        return SETTINGS[container]
    # A backend team's own adapter image subclasses AdapterSettings like ours do.
    return AdapterSettings if container.startswith("adapter-") else None


def container_env(docs: list[dict[str, Any]], container: dict[str, Any], pod: str) -> dict[str, str]:
    """The environment Kubernetes would give the container, with refs resolved to plausible values."""
    stored: dict[tuple[str, str], dict[str, str]] = {}
    for doc in docs:
        if doc["kind"] in {"Secret", "ConfigMap"}:
            data = dict(doc.get("data") or {})
            if doc["kind"] == "Secret":
                data = {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
            stored[doc["kind"], doc["metadata"]["name"]] = data | (doc.get("stringData") or {})
    env: dict[str, str] = {}
    for var in container.get("env", []):
        name = var["name"]
        source = var.get("valueFrom")
        if source is None:
            # $(NAME) expands to an earlier variable of the container, as in Kubernetes.
            env[name] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), var.get("value", ""))
        elif "fieldRef" in source:
            assert source["fieldRef"]["fieldPath"] == "metadata.name", f"{pod}: {name}"
            env[name] = f"{pod.rsplit('/', 1)[-1]}-7d9c8-x2k4q"
        else:
            ref = source.get("secretKeyRef") or source["configMapKeyRef"]
            kind = "Secret" if "secretKeyRef" in source else "ConfigMap"
            data = stored.get((kind, ref["name"]))
            if data is not None:
                assert ref["key"] in data, f"{pod}: {name} refers to {kind}/{ref['name']} key {ref['key']!r}"
                env[name] = data[ref["key"]]
            elif name.startswith("GATEWAY_"):
                assert name in SECRET_PLACEHOLDERS, f"{pod}: give {name} a plausible value in SECRET_PLACEHOLDERS"
                env[name] = SECRET_PLACEHOLDERS[name]
            else:
                env[name] = "placeholder"
    return env


def gateway_settings(
    docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, list[ServiceSettings]], list[str]]:
    """Each gateway container's settings as its process would build them, and what is wrong.

    pydantic-settings ignores unknown GATEWAY_* names (extra=ignore), so a typo in the chart
    would silently leave a default in force; a badly formatted value would crash the pod."""
    for name in [n for n in os.environ if n.startswith("GATEWAY_")]:
        monkeypatch.delenv(name)
    found: dict[str, list[ServiceSettings]] = {}
    problems: list[str] = []
    for where, spec in pod_specs(docs):
        for container in spec["containers"] + spec.get("initContainers", []):
            env = container_env(docs, container, where)
            gateway_env = {k: v for k, v in env.items() if k.startswith("GATEWAY_")}
            cls = settings_class(container["name"])
            if cls is None:
                assert not gateway_env, f"{where}/{container['name']} is no gateway service but gets {gateway_env}"
                continue
            for name in gateway_env:
                if name.removeprefix("GATEWAY_").lower() not in cls.model_fields:
                    problems.append(f"{where}: {name} is not a field of {cls.__name__}")
            with monkeypatch.context() as patch:
                for name, value in gateway_env.items():
                    patch.setenv(name, value)
                try:
                    found.setdefault(container["name"], []).append(cls())
                except (ValidationError, SettingsError) as exc:
                    problems.append(f"{where}: {cls.__name__} refuses its environment: {exc}")
    return found, problems


@pytest.mark.parametrize("values", ["default", "full"])
def test_every_gateway_env_var_is_a_setting_the_service_can_parse(
    tools: Path, values: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(tools, *([FULL] if values == "full" else []))
    assert isinstance(docs, list)
    found, problems = gateway_settings(docs, monkeypatch)
    assert not problems, "\n".join(problems)
    assert set(found) >= {"ingress", "router", "status", "adapter-heartbeat", "adapter-http"}
    for where, settings in [(name, s) for name, all_ in found.items() for s in all_]:
        assert settings.log_format == "json", where
        assert settings.node_name.startswith("gw-ftps-gateway-"), where
    status = found["status"][0]
    assert isinstance(status, StatusSettings)
    # Off by default: no backend token, so the outbound API refuses everyone.
    assert bool(status.outbound_tokens) == (values == "full")


def test_full_values_reach_the_services(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(tools, FULL)
    assert isinstance(docs, list)
    found, problems = gateway_settings(docs, monkeypatch)
    assert not problems, "\n".join(problems)
    full = yaml.safe_load(FULL.read_text())
    ing = full["ingress"]
    assert len(found["ingress"]) == ing["replicas"]
    for ingress in found["ingress"]:
        assert isinstance(ingress, IngressSettings)
        assert ingress.proxy_trusted_cidrs == ing["proxyProtocol"]["trustedCIDRs"]
        assert ingress.crl_urls == ing["crl"]["urls"]
        assert [p.name for p in ingress.crl_files] == sorted(ing["crl"]["data"])
        assert ingress.crl_fetch is ing["crl"]["fetch"] is False
        assert ingress.tls_require_close_notify is ing["tls"]["requireCloseNotify"] is False
        assert ingress.out_quota_bytes == ing["outQuotaBytes"]
        assert ingress.accepted_policies == ing["acceptedPolicies"]
        assert ingress.max_connections == 1024
    (status,) = found["status"]
    assert isinstance(status, StatusSettings)
    assert status.status_file_naming == "per-code"
    assert status.retention_days == full["status"]["retentionDays"]
    assert {k: v.model_dump() for k, v in status.outbound_tokens.items()} == {
        k: {"cvrs": [], "services": [], **v} for k, v in full["status"]["api"]["tokens"].items()
    }
    assert status.outbound_quota_bytes == full["status"]["api"]["outboundQuotaBytes"]
    (cpr,) = found["adapter-cpr"]
    assert isinstance(cpr, AdapterSettings)
    assert cpr.max_attempts == 8
    assert cpr.retry_delays == tuple(full["adapters"]["cpr"]["retryDelays"])
    assert found["router"][0].amqp_prefetch == 16


def test_outbound_api_is_opened_to_backends_only_when_enabled(tools: Path) -> None:
    docs = render(tools)
    assert isinstance(docs, list)
    names = {d["metadata"]["name"] for d in docs}
    assert "gw-ftps-gateway-status-api" not in names
    assert "gw-ftps-gateway-outbound-tokens" not in names
    backends = [{"namespaceSelector": {"matchLabels": {"team": "backends"}}}]
    token = {"b": {"token_sha256": "0" * 64, "kinds": ["company"], "names": ["*.pdf"]}}
    error = render(tools, {"status": {"api": {"enabled": True, "tokens": token}}}, expect_error=True)
    assert "allowedFrom" in error
    error = render(tools, {"status": {"api": {"enabled": True, "allowedFrom": backends}}}, expect_error=True)
    assert "no backend has a token" in error
    api = {"enabled": True, "allowedFrom": backends, "existingSecret": "tokens", "existingSecretKey": "json"}
    docs = render(tools, {"status": {"api": api}})
    assert isinstance(docs, list)
    (policy,) = [p for p in by_kind(docs, "NetworkPolicy") if p["metadata"]["name"] == "gw-ftps-gateway-status-api"]
    assert policy["spec"]["ingress"] == [{"from": backends, "ports": [{"protocol": "TCP", "port": "http"}]}]
    (status,) = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "gw-ftps-gateway-status"]
    env = {e["name"]: e for e in status["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["GATEWAY_OUTBOUND_TOKENS"]["valueFrom"] == {"secretKeyRef": {"name": "tokens", "key": "json"}}


def test_an_adapter_entry_needs_no_more_than_its_name(tools: Path) -> None:
    values = {
        "adapters": {"archive": {}, "tiny": {"replicas": 0, "egress": []}},
        "routes": {"Archive.Files": {"adapter": "archive", "options": {"folder": "/srv"}}},
    }
    docs = render(tools, values)
    assert isinstance(docs, list)
    deployments = {d["metadata"]["name"]: d for d in by_kind(docs, "Deployment")}
    archive = deployments["gw-ftps-gateway-adapter-archive"]
    (container,) = archive["spec"]["template"]["spec"]["containers"]
    assert container["image"].rsplit("/", 1)[-1].startswith("ftps-gateway-adapter-archive:")
    assert {"name": "GATEWAY_MAX_ATTEMPTS", "value": "5"} in container["env"]
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}
    assert archive["spec"]["replicas"] == 1
    # A key the entry sets replaces the default, zero included.
    assert deployments["gw-ftps-gateway-adapter-tiny"]["spec"]["replicas"] == 0
    accounts = {a["metadata"]["name"] for a in by_kind(docs, "ServiceAccount")}
    assert "gw-ftps-gateway-adapter-archive" in accounts
    # The sftp adapter ships disabled: an entry, no Deployment.
    assert "gw-ftps-gateway-adapter-sftp" not in deployments


def test_an_adapter_reads_file_secrets_from_mounted_secrets(tools: Path) -> None:
    docs = render(tools, {"adapters": {"sftp": {"enabled": True, "secretFiles": ["sftp-keys"]}}})
    assert isinstance(docs, list)
    (sftp,) = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "gw-ftps-gateway-adapter-sftp"]
    pod = sftp["spec"]["template"]["spec"]
    assert {"name": "secret-sftp-keys", "secret": {"secretName": "sftp-keys", "defaultMode": 0o440}} in pod["volumes"]
    mounts = pod["containers"][0]["volumeMounts"]
    assert {"name": "secret-sftp-keys", "mountPath": "/etc/gateway/secrets/sftp-keys", "readOnly": True} in mounts


def test_support_api_is_opened_to_the_support_desk_only_when_enabled(tools: Path) -> None:
    docs = render(tools)
    assert isinstance(docs, list)
    assert "gw-ftps-gateway-status-support" not in {d["metadata"]["name"] for d in docs}
    desk = [{"namespaceSelector": {"matchLabels": {"team": "support"}}}]
    error = render(tools, {"status": {"supportApi": {"enabled": True, "allowedFrom": desk}}}, expect_error=True)
    assert "status.supportApi" in error
    support = {"enabled": True, "allowedFrom": desk, "existingSecret": "support", "existingSecretKey": "json"}
    docs = render(tools, {"status": {"supportApi": support}})
    assert isinstance(docs, list)
    policies = [p for p in by_kind(docs, "NetworkPolicy") if p["metadata"]["name"] == "gw-ftps-gateway-status-support"]
    assert [p["spec"]["ingress"] for p in policies] == [
        [{"from": desk, "ports": [{"protocol": "TCP", "port": "http"}]}]
    ]
    (status,) = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "gw-ftps-gateway-status"]
    env = {e["name"]: e for e in status["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["GATEWAY_SUPPORT_TOKENS"]["valueFrom"] == {"secretKeyRef": {"name": "support", "key": "json"}}
