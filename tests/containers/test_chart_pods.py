"""The images built and the chart's pods run (issue 12), with podman standing in for a node.

Every service image is built from services/Dockerfile (base images: local stand-ins made by
scripts/install-container-tools.sh, since no registry is reachable here); the chart is rendered
with Helm's SDK for a single node (one replica each, host networking, the project's demo PKI),
adapted for podman's bugs in one step (tests/containers/podman.py) and played with
`podman kube play`. Then, through the pods: probes on the declared ports, an FTPS upload to
status code 2, the chart's own `helm test` pod, a backend response through the HTTP adapter,
the security context inside a container, and graceful shutdown by SIGTERM. Nothing is left
running afterwards. What only a cluster can show (Services, NetworkPolicies, the load balancer,
probes run by the kubelet) is listed in the README's Kubernetes section.

It is longer than most modules because the tests share one expensive setup (images, rendering,
secrets, the played pods) that a module-scoped fixture builds once; podman's own quirks live in
tests/containers/podman.py.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.containers.podman import (
    REPO,
    Adapted,
    adapt_for_podman,
    dockerfile_targets,
    podman,
    podman_env,
    podman_secret,
)
from tests.support.broker import private_vhost
from tests.support.clients import ClientCert, wait_for_status
from tests.support.gateway import BIN
from tests.support.ports import free_port, free_port_range

# The first test also waits for the tools, the stand-in images and the builds (minutes when cold).
pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]
CHART = REPO / "charts" / "ftps-gateway"
TOOLS_PY = REPO / ".tools" / "venv" / "bin" / "python"
REGISTRY = "localhost/ftps-gateway-ci"
TAG = "test"
NAMESPACE = "ftps"
TENANT_OUT = "company/30808460"  # where the demo employee certificate's /out lives


def _run(*command: str, timeout: float = 900) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def standins() -> dict[str, str]:
    _run(str(REPO / "scripts" / "install-deploy-tools.sh"))
    out = _run(str(REPO / "scripts" / "install-container-tools.sh"))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def images(standins: dict[str, str]) -> dict[str, str]:
    """Build every service target; name -> image reference."""
    built = {}
    # The adapter target is built once per adapter folder (ARG ADAPTER), as skaffold does.
    adapters = sorted(path.name for path in (REPO / "services" / "adapters").iterdir() if path.is_dir())
    for target in dockerfile_targets(REPO / "services" / "Dockerfile"):
        for name, extra in (
            [(f"adapter-{a}", ["--build-arg", f"ADAPTER={a}"]) for a in adapters]
            if target == "adapter"
            else [(target, [])]
        ):
            image = f"{REGISTRY}/ftps-gateway-{name}:{TAG}"
            podman(
                "build", "--network", "host", "-f", str(REPO / "services" / "Dockerfile"), "--target", target,
                "--build-arg", f"PYTHON_IMAGE={standins['PYTHON_IMAGE']}",
                "--build-arg", f"UV_IMAGE={standins['UV_IMAGE']}", *extra,
                "--secret", "id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt",
                "-t", image, str(REPO),
                timeout=900,
            )  # fmt: skip
            built[name] = image
    return built


@dataclass
class Deployment:
    """The chart running under podman, and what the test needs to reach it."""

    adapted: Adapted
    manifest: Path
    pki: Path
    ftps_port: int
    http_ports: dict[str, int]  # Deployment name -> its probe port
    backend_port: int
    volume: Path  # the claim's directory on this host

    hook: Adapted
    work: Path

    def container(self, deployment: str) -> str:
        """The gateway container of ``deployment``'s pod (podman names it <pod>-<container>)."""
        listing = json.loads(podman("ps", "--all", "--format", "json").stdout or "[]")
        names = [c["Names"][0] for c in listing if not c.get("IsInfra")]
        found = [name for name in names if name.startswith(f"{deployment}-pod-")]
        assert len(found) == 1, (deployment, names)
        return found[0]

    def ready(self, deployment: str) -> tuple[int, str]:
        return _get(f"http://127.0.0.1:{self.http_ports[deployment]}/readyz")


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        return 0, str(exc)


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout}s: {what}")


def _values(
    ports: dict[str, int], ftps_port: int, passive: range, pki: Path, amqp: str, backend: int
) -> dict[str, Any]:
    return {
        "image": {"registry": REGISTRY, "tag": TAG, "pullPolicy": "Never"},
        # The test's broker is this machine's RabbitMQ with its default account (a vhost per run).
        "gateway": {"extraEnv": [{"name": "GATEWAY_DEMO", "value": "true"}]},
        "rabbitmq": {"external": {"url": amqp}},
        "storage": {"accessMode": "ReadWriteOnce", "size": "1Gi"},
        "topologySpread": {"enabled": False},
        "routes": {
            "FTPSGW.Heartbeat": {
                "adapter": "heartbeat",
                "allow": {"kinds": ["personal", "employee", "company", "function"]},
            },
            "tax-reports": {
                "adapter": "http",
                "allow": {"kinds": ["employee", "company", "function"]},
                "options": {"url": f"http://127.0.0.1:{backend}/files", "timeout": "10"},
            },
        },
        "ingress": {
            "replicas": 1,
            "ftpsPort": ftps_port,
            "httpPort": ports["ingress"],
            "passivePorts": {"start": passive.start, "count": len(passive)},
            "exposure": {"mode": "shared", "masqueradeAddress": "127.0.0.1"},
            "tls": {"certificate": (pki / "server.pem").read_text(), "key": (pki / "server.key").read_text()},
            "clientCA": {"bundle": (pki / "client-ca.pem").read_text()},
            "crl": {
                "data": {"crl-bundle.pem": base64.b64encode((pki / "crl-bundle.pem").read_bytes()).decode()},
                "fetch": False,
            },
        },
        "router": {"replicas": 1, "httpPort": ports["router"], "autoscaling": {"enabled": False}},
        "status": {"replicas": 1, "httpPort": ports["status"]},
        "adapters": {
            "heartbeat": {"httpPort": ports["adapter-heartbeat"]},
            "http": {"replicas": 1, "httpPort": ports["adapter-http"], "autoscaling": {"enabled": False}},
        },
        "tests": {
            "heartbeat": {
                "enabled": True,
                "clientCertSecret": "ftps-gateway-test-client",
                "serverName": "localhost",
                "timeoutSeconds": 60,
                "image": {"repository": "localhost/ftps-gateway-standin/python", "tag": "3.11-bookworm"},
            }
        },
    }


def _render(values: dict[str, Any], directory: Path) -> list[dict[str, Any]]:
    path = directory / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    out = _run(str(TOOLS_PY), str(REPO / "scripts" / "helm.py"), "template", str(CHART), "-f", str(path),
               "--name", "gw", "--namespace", NAMESPACE)  # fmt: skip
    return [doc for doc in yaml.safe_load_all(out) if doc]


def _remove_pods(*adapted: Adapted) -> None:
    """Remove the pods and the volumes kube play made for their ConfigMaps, Secrets and emptyDirs."""
    for part in adapted:
        for doc in part.documents:
            if doc["kind"] not in ("Deployment", "Pod"):
                continue
            pod = f"{doc['metadata']['name']}-pod-0" if doc["kind"] == "Deployment" else doc["metadata"]["name"]
            podman("pod", "rm", "--force", "--time", "5", pod, check=False, timeout=120)
            spec = doc["spec"]["template"]["spec"] if doc["kind"] == "Deployment" else doc["spec"]
            for volume in spec.get("volumes") or []:
                made = (volume.get("configMap") or {}).get("name") or (volume.get("secret") or {}).get("secretName")
                if "emptyDir" in volume:
                    made = volume["name"]
                if made:
                    podman("volume", "rm", "--force", made, check=False)


def _probe_port(container: dict[str, Any]) -> int:
    port = container["readinessProbe"]["httpGet"]["port"]
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p["name"] == port)


@pytest.fixture(scope="module")
def deployed(images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    work = tmp_path_factory.mktemp("pods")
    pki = work / "pki"
    _run(str(BIN / "gateway-pki"), "demo", "--dir", str(pki))
    ports = {name: free_port() for name in ("ingress", "router", "status", "adapter-heartbeat", "adapter-http")}
    ftps_port, backend_port, passive = free_port(), free_port(), free_port_range(10)
    backend = subprocess.Popen(
        [str(BIN / "gateway-demo-backend")],
        env=os.environ | {"GATEWAY_DEMO_BACKEND_PORT": str(backend_port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(backend.wait, 10)
        cleanup.callback(backend.terminate)
        amqp = cleanup.enter_context(private_vhost())
        docs = _render(_values(ports, ftps_port, passive, pki, amqp, backend_port), work)
        deployments = [d for d in docs if d["kind"] == "Deployment"]
        probe_ports = {
            d["metadata"]["name"]: _probe_port(d["spec"]["template"]["spec"]["containers"][0]) for d in deployments
        }
        hooks = [d for d in docs if "helm.sh/hook" in (d["metadata"].get("annotations") or {})]
        # The helm test pod reaches the ingress Services by name: here they all are this host.
        targets = [arg for d in hooks if d["kind"] == "Pod" for arg in d["spec"]["containers"][0]["args"]]
        hosts = work / "hosts"
        hosts.write_text(
            "".join(f"127.0.0.1 {target.rsplit(':', 1)[0]}\n" for target in targets) + "127.0.0.1 localhost\n"
        )
        adapted = adapt_for_podman([d for d in docs if "helm.sh/hook" not in (d["metadata"].get("annotations") or {})])
        manifest = work / "play.yaml"
        manifest.write_text(yaml.safe_dump_all(adapted.documents))
        hook = adapt_for_podman(hooks, hosts_file=hosts)
        client = ClientCert.from_pki(pki, "employee")
        test_client = {
            "kind": "Secret",
            "metadata": {"name": "ftps-gateway-test-client"},
            "stringData": {
                "tls.crt": client.pem.read_text(),
                "tls.key": client.key.read_text(),
                "ca.crt": (pki / "server-ca.pem").read_text(),
            },
        }
        hook.secrets["ftps-gateway-test-client"] = podman_secret(test_client, as_volume=True)
        secrets = adapted.secrets | hook.secrets
        for name, text in secrets.items():
            source = work / f"secret-{name}.json"
            source.write_text(text)
            podman("secret", "rm", name, check=False)
            podman("secret", "create", name, str(source))
        for claim, owner in adapted.volume_owners.items():
            podman("volume", "rm", "--force", claim, check=False)
            podman("volume", "create", claim)
            mount = podman("volume", "inspect", "--format", "{{.Mountpoint}}", claim).stdout.strip()
            uid, gid = owner.split(":")
            os.chown(mount, int(uid), int(gid))
        volume = Path(
            podman("volume", "inspect", "--format", "{{.Mountpoint}}", next(iter(adapted.volume_owners))).stdout.strip()
        )
        _remove_pods(adapted, hook)  # what an interrupted earlier run may have left
        try:
            podman("kube", "play", "--network", "host", str(manifest), timeout=300)
            deployment = Deployment(adapted, manifest, pki, ftps_port, probe_ports, backend_port, volume, hook, work)
            for name in probe_ports:
                _wait(lambda n=name: deployment.ready(n)[0] == 200, 120, f"{name} ready")
            yield deployment
        finally:
            _remove_pods(adapted, hook)
            for name in secrets:
                podman("secret", "rm", name, check=False)
            for claim in adapted.volume_owners:
                podman("volume", "rm", "--force", claim, check=False)


def test_every_pod_answers_its_probes_on_the_declared_port(deployed: Deployment) -> None:
    assert len(deployed.http_ports) >= 5, deployed.http_ports  # ingress, router, status and the adapters
    for name, port in deployed.http_ports.items():
        assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200, name
        assert deployed.ready(name) == (200, '{"status":"ready"}'), name


def test_pods_run_as_the_security_context_says(deployed: Deployment) -> None:
    probe = (
        "import os; print(os.getuid(), os.getgid());"
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0]);"
        "exec('try:\\n open(\\'/probe\\', \\'w\\')\\nexcept OSError as e: print(e.errno)')"
    )
    for name in deployed.http_ports:
        out = podman("exec", deployed.container(name), "python3", "-c", probe).stdout.split()
        assert out == ["10001", "10001", "0000000000000000", "30"], (name, out)  # 30: EROFS


def _curl_command(deployed: Deployment, path: str, *args: str) -> list[str]:
    client = ClientCert.from_pki(deployed.pki, "employee")
    return [
        "curl", "--silent", "--show-error", "--ssl-reqd", "--cacert", str(deployed.pki / "server-ca.pem"),
        "--cert", str(client.pem), "--key", str(client.key), "-u", "anonymous:guest", "--max-time", "120",
        *args, f"ftp://127.0.0.1:{deployed.ftps_port}{path}",
    ]  # fmt: skip


def _curl(deployed: Deployment, path: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _curl_command(deployed, path, *args), capture_output=True, text=True, timeout=150, check=False
    )


def _upload(deployed: Deployment, folder: Path, service: str, txid: str, content: str) -> None:
    """Upload ``content`` as transaction ``txid`` of ``service``; the gateway must answer 226."""
    (folder / txid).write_text(content)
    upload = _curl(deployed, f"/{service}/", "-T", str(folder / txid))
    assert upload.returncode == 0, upload.stderr


def _status(deployed: Deployment, name: str, code: int, timeout: float = 60) -> None:
    wait_for_status(deployed.volume / "tenants" / TENANT_OUT / "out", name, code, timeout=timeout, poll=0.5)


def test_an_ftps_upload_through_the_ingress_pod_is_accepted(deployed: Deployment, tmp_path: Path) -> None:
    txid = f"pods-{uuid.uuid4().hex[:8]}.txt"
    _upload(deployed, tmp_path, "FTPSGW.Heartbeat", txid, "through the pods\n")
    _status(deployed, f"status_FTPSGW.Heartbeat_{txid}.xml", 2)


def test_a_backend_response_reaches_out_through_the_http_adapter_pod(deployed: Deployment, tmp_path: Path) -> None:
    txid = f"respond-{uuid.uuid4().hex[:8]}.xml"
    _upload(deployed, tmp_path, "tax-reports", txid, "<report>pods</report>\n")
    _status(deployed, f"status_tax-reports_{txid}.xml", 3)
    listing = _curl(deployed, "/%2Fout/", "--list-only")
    assert f"response_tax-reports_{txid}~receipt.xml" in listing.stdout.split(), listing.stdout


def test_the_charts_own_helm_test_pod_passes(deployed: Deployment) -> None:
    manifest = deployed.work / "hook.yaml"
    manifest.write_text(yaml.safe_dump_all(deployed.hook.documents))
    podman("kube", "play", "--network", "host", str(manifest), timeout=300)
    pod = next(d["metadata"]["name"] for d in deployed.hook.documents if d["kind"] == "Pod")
    container = f"{pod}-round-trip"
    _wait(lambda: podman("inspect", "--format", "{{.State.Status}}", container).stdout.strip() == "exited", 120,
          "the helm test pod to finish")  # fmt: skip
    logs = podman("logs", container).stdout + podman("logs", container).stderr
    code = podman("inspect", "--format", "{{.State.ExitCode}}", container).stdout.strip()
    assert code == "0", logs
    assert "ok: status_FTPSGW.Heartbeat_" in logs, logs


def test_sigterm_drains_the_pods_like_kubernetes(deployed: Deployment, tmp_path: Path) -> None:
    """Last: stops every pod. SIGTERM, as the kubelet sends it, within the chart's grace periods."""
    ingress = next(name for name in deployed.http_ports if "ingress" in name)
    grace = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
             for d in deployed.adapted.documents if d["kind"] == "Deployment"}  # fmt: skip
    container = deployed.container(ingress)  # before the upload: every second of it is needed below
    payload = tmp_path / "drain-upload.bin"
    # 100 MiB at 8 MiB/s: about 12 s, so it still runs when the 421 is checked on a loaded machine.
    payload.write_bytes(os.urandom(1 << 20) * 100)
    upload = subprocess.Popen(
        _curl_command(deployed, "/FTPSGW.Heartbeat/drain-upload", "--limit-rate", "8M", "-T", str(payload)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    spool = deployed.volume / "spool"
    # A payload arrives as spool/<shard>/<gateway_txid>/.tmp-payload and becomes payload at its 226.
    _wait(lambda: any(p.stat().st_size > (4 << 20) for p in spool.glob("*/*/*payload")), 60, "the upload under way")
    sent = time.monotonic()
    # `podman stop` sends SIGTERM and waits up to the grace period before SIGKILL, like the kubelet.
    stop = subprocess.Popen(
        ["podman", "stop", "--time", str(grace[ingress]), container], env=podman_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    _wait(lambda: deployed.ready(ingress)[0] == 503, 10, "the ingress not ready once stopping")
    with socket.create_connection(("127.0.0.1", deployed.ftps_port), timeout=5) as sock:
        greeting = sock.makefile("r").readline()
    assert greeting.startswith("421 "), greeting
    assert "reconnect" in greeting, greeting
    _, errors = upload.communicate(timeout=120)
    assert upload.returncode == 0, errors  # 0 only after the 226
    stopped, _ = stop.communicate(timeout=grace[ingress] + 30)
    assert stop.returncode == 0, stopped
    assert time.monotonic() - sent < grace[ingress]
    assert podman("inspect", "--format", "{{.State.ExitCode}}", container).stdout.strip() == "0"
    _status(deployed, "status_FTPSGW.Heartbeat_drain-upload.xml", 2)
    for name in deployed.http_ports:
        if name == ingress:
            continue
        container = deployed.container(name)
        started = time.monotonic()
        podman("stop", "--time", str(grace[name]), container, timeout=grace[name] + 30)
        assert time.monotonic() - started < grace[name], name
        code = podman("inspect", "--format", "{{.State.ExitCode}}", container).stdout.strip()
        assert code == "0", (name, podman("logs", "--tail", "20", container).stderr)
