"""Runs the whole gateway as real processes for end-to-end tests and benchmarks."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.ports import free_port, free_port_range

BIN = Path(sys.executable).parent
# The bearer token of the "demo" backend for the outbound file API, and its size limit.
OUTBOUND_TOKEN = "demo-backend-token"
OUTBOUND_MAX_SIZE = 1 << 20
# How full outbound pushes may make a recipient's /out (the ingress's upload quota stays 100 MiB).
OUTBOUND_QUOTA = 4 << 20
# A second backend: PDF files for one company only, and no transactions to answer.
SCOPED_TOKEN = "scoped-backend-token"
SCOPED_CVR = "12345678"
# The bearer token of the support desk for the read-only /support API.
SUPPORT_TOKEN = "support-desk-token"


def services(adapters: tuple[str, ...]) -> tuple[str, ...]:
    """The processes of a gateway with these adapters, in start order (the ingress last)."""
    return ("router", "status", *(f"adapter-{name}" for name in adapters), "ingress")


SERVICES = services(("heartbeat", "http"))


@dataclass
class Gateway:
    root: Path
    pki: Path
    amqp_url: str
    routes: dict[str, Any] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # Adapters to run (any installed one, by name), and the environment's bin folder with the commands.
    adapters: tuple[str, ...] = ("heartbeat", "http")
    bin_dir: Path = BIN
    ftps_port: int = field(default_factory=free_port)
    backend_port: int = field(default_factory=free_port)
    http_ports: dict[str, int] = field(default_factory=dict)
    passive_ports: range = field(default_factory=lambda: free_port_range(20))
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Services to start (default: those of ``adapters``); a second replica is "<service>#2" (add_replica).
    services: tuple[str, ...] = ()
    replica_env: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def routes_file(self) -> Path:
        return self.root / "routes.yaml"

    def default_routes(self) -> dict[str, Any]:
        return {
            "routes": {
                "heartbeat": {"adapter": "heartbeat"},
                "tax-reports": {
                    "adapter": "http",
                    "options": {"url": f"http://127.0.0.1:{self.backend_port}/files", "timeout": "10"},
                },
                "small-files": {"adapter": "heartbeat", "max_file_size": 1024},
                "companies-only": {"adapter": "heartbeat", "allow": {"kinds": ["employee", "company", "function"]}},
            }
        }

    def env(self, service: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env |= {
            "GATEWAY_DATA_DIR": str(self.data_dir),
            "GATEWAY_AMQP_URL": self.amqp_url,
            "GATEWAY_DEMO": "true",
            "GATEWAY_ROUTES_FILE": str(self.routes_file),
            "GATEWAY_LOG_FORMAT": "json",
            "GATEWAY_HTTP_HOST": "127.0.0.1",
            "GATEWAY_FTPS_HOST": "127.0.0.1",
            "GATEWAY_FTPS_PORT": str(self.ftps_port),
            "GATEWAY_PASSIVE_PORTS": f"{self.passive_ports.start}-{self.passive_ports.stop - 1}",
            "GATEWAY_TLS_CERT_FILE": str(self.pki / "server.pem"),
            "GATEWAY_TLS_KEY_FILE": str(self.pki / "server.key"),
            "GATEWAY_CLIENT_CA_FILE": str(self.pki / "client-ca.pem"),
            "GATEWAY_CRL_FILES": str(self.pki / "crl-bundle.pem"),
            # The demo's distribution points (127.0.0.1:9199) are not served unless a test serves them.
            "GATEWAY_CRL_FETCH": "false",
            "GATEWAY_DEMO_BACKEND_PORT": str(self.backend_port),
            # Every test client comes from 127.0.0.1: per-IP limits are tested on gateways that set them.
            "GATEWAY_MAX_LOGINS_PER_MINUTE_PER_IP": "100000",
            "GATEWAY_MAX_CONNECTIONS_PER_IP": "256",
            "GATEWAY_MAX_TLS_HANDSHAKES_PER_MINUTE_PER_IP": "100000",
            "GATEWAY_OUTBOUND_TOKENS": json.dumps(
                {
                    "demo": {
                        "token_sha256": hashlib.sha256(OUTBOUND_TOKEN.encode()).hexdigest(),
                        "kinds": ["personal", "company"],
                        "names": ["*"],
                        "services": ["tax-reports", "heartbeat"],
                    },
                    "scoped": {
                        "token_sha256": hashlib.sha256(SCOPED_TOKEN.encode()).hexdigest(),
                        "kinds": ["company"],
                        "cvrs": [SCOPED_CVR],
                        "names": ["*.pdf"],
                    },
                }
            ),
            "GATEWAY_OUTBOUND_MAX_SIZE": str(OUTBOUND_MAX_SIZE),
            "GATEWAY_OUTBOUND_QUOTA_BYTES": str(OUTBOUND_QUOTA),
            "GATEWAY_SUPPORT_TOKENS": json.dumps({"desk": hashlib.sha256(SUPPORT_TOKEN.encode()).hexdigest()}),
        }
        if service in self.http_ports:
            env["GATEWAY_HTTP_PORT"] = str(self.http_ports[service])
        return env | self.extra_env | self.replica_env.get(service, {})

    def add_replica(self, service: str) -> str:
        """Run a second process of ``service`` on the same data dir and broker; return its name."""
        name = f"{service}#2"
        self.services += (name,)
        self.http_ports[name] = free_port()
        env = {"GATEWAY_NODE_NAME": name}
        if service == "ingress":
            passive = free_port_range(20)
            env |= {
                "GATEWAY_FTPS_PORT": str(free_port()),
                "GATEWAY_PASSIVE_PORTS": f"{passive.start}-{passive.stop - 1}",
            }
        self.replica_env[name] = env
        return name

    def ftps_port_of(self, ingress: str) -> int:
        return int(self.replica_env.get(ingress, {}).get("GATEWAY_FTPS_PORT", self.ftps_port))

    def log_path(self, service: str) -> Path:
        return self.root / f"{service}.log"

    def __post_init__(self) -> None:
        self.services = self.services or services(self.adapters)
        self.http_ports = {name: free_port() for name in self.services} | self.http_ports

    def command(self, service: str) -> list[str]:
        program = service.split("#", maxsplit=1)[0]
        if program == "demo-backend":
            return [str(self.bin_dir / "gateway-demo-backend")]
        if program.startswith("adapter-"):
            return [str(self.bin_dir / "gateway-adapter"), "run", program.removeprefix("adapter-")]
        return [str(self.bin_dir / f"gateway-{program}")]

    def start_service(self, service: str) -> None:
        log = self.log_path(service).open("ab")
        self.procs[service] = subprocess.Popen(self.command(service), env=self.env(service), stdout=log, stderr=log)
        log.close()

    def start(self) -> Gateway:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.routes_file.write_text(yaml.safe_dump(self.routes or self.default_routes()))
        for service in ("demo-backend", *self.services):
            self.start_service(service)
        for service in self.services:
            self.wait_ready(service)
        return self

    def wait_ready(self, service: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.http_ports[service]}/readyz"
        last: object = None
        while time.monotonic() < deadline:
            proc = self.procs[service]
            if proc.poll() is not None:
                raise RuntimeError(f"{service} exited with {proc.returncode}:\n{self.log(service)}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                last = exc.read().decode(errors="replace")
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                last = exc
            time.sleep(0.1)
        raise RuntimeError(f"{service} not ready after {timeout}s (last: {last!r}):\n{self.log(service)}")

    def stop_service(self, service: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(service, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def crash(self, service: str) -> None:
        """kill -9 ``service`` and start it again; return once it is ready."""
        self.stop_service(service, signal.SIGKILL)
        self.start_service(service)
        self.wait_ready(service)

    def backend(self, method: str, path: str) -> Any:
        """Call the demo backend's control API; return its JSON answer."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.backend_port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        for service in reversed(list(self.procs)):
            self.stop_service(service)

    def log(self, service: str) -> str:
        path = self.log_path(service)
        return path.read_text(errors="replace") if path.exists() else ""

    def metrics(self, service: str) -> str:
        url = f"http://127.0.0.1:{self.http_ports[service]}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            body: bytes = response.read()
            return body.decode()

    def metrics_when(self, service: str, ready: Callable[[str], bool], timeout: float = 10.0) -> str:
        """The service's /metrics once ``ready`` holds of it, or its last scrape after ``timeout``.

        A service counts an event after its effect can be seen (a parked message is counted
        once the broker confirmed it; a sweep publishes its counts when it has finished), so
        a test that has just seen the effect may scrape a moment before the count.
        """
        deadline = time.monotonic() + timeout
        while not ready(body := self.metrics(service)) and time.monotonic() < deadline:
            time.sleep(0.1)
        return body

    def out_dir(self, tenant: str) -> Path:
        return self.data_dir / "tenants" / tenant / "out"


def metric_value(body: str, sample: str) -> float:
    """The value of one sample (name and labels, as /metrics writes them) in a scrape; 0 if absent."""
    for line in body.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
