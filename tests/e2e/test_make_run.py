"""`make run` stops the whole gateway, and says which service failed, when any service exits.

scripts/run-local.sh runs from a scratch copy of the repository's layout (its own var/, the
repository's .venv), against a private vhost, with every port free. All services are given the
same HTTP port, so the first to bind it wins and the next fails to start: the script must name
that one, stop every other service (the winner's port is free again) and exit non-zero.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.broker import private_vhost
from tests.support.ports import free_port, free_port_range

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def test_one_failed_service_stops_make_run_and_is_named(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    for name in ("run-local.sh", "ensure-rabbitmq.sh"):
        (tmp_path / "scripts" / name).symlink_to(REPO / "scripts" / name)
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    (tmp_path / "config").symlink_to(REPO / "config")
    http_port = free_port()
    passive = free_port_range(5)
    with private_vhost() as amqp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")} | {
            "GATEWAY_AMQP_URL": amqp,
            "GATEWAY_HTTP_HOST": "127.0.0.1",
            "GATEWAY_HTTP_PORT": str(http_port),
            "GATEWAY_FTPS_PORT": str(free_port()),
            "GATEWAY_PASSIVE_PORTS": f"{passive.start}-{passive.stop - 1}",
            "GATEWAY_DEMO_BACKEND_PORT": str(free_port()),
        }
        started = time.monotonic()
        result = subprocess.run(
            ["bash", str(tmp_path / "scripts" / "run-local.sh")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        took = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert took < 90, output
    assert "exited with status 1; stopping the others" in output, output
    named = output.split("make run: ", 1)[1].split(" exited", 1)[0]
    assert named in ("router", "status", "adapter-heartbeat", "adapter-http", "ingress"), output
    assert f"[{named}" in output, output
    assert "GATEWAY_HTTP_PORT" in output, output
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", http_port))  # the service that had it was stopped too
