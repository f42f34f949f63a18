"""A private RabbitMQ virtual host per test session, on the machine's real broker."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

BROKER = "amqp://guest:guest@127.0.0.1:5672"


def rabbitmqctl(*args: str) -> str:
    result = subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=60)
    return result.stdout


def vhost_of(amqp_url: str) -> str:
    return amqp_url.rsplit("/", 1)[1]


def close_connections(amqp_url: str) -> None:
    """Have the broker drop every client connection of this vhost (a broker restart, as clients see it)."""
    rabbitmqctl("close_all_connections", "--vhost", vhost_of(amqp_url), "fault injection")


@contextmanager
def private_vhost() -> Iterator[str]:
    """Yield an AMQP URL of a fresh vhost, so tests never meet `make run`'s queues or each other's."""
    if shutil.which("rabbitmqctl") is None:
        raise RuntimeError("rabbitmqctl is needed to create the tests' private vhost")
    vhost = f"ftps-gateway-test-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"{BROKER}/{vhost}"
    finally:
        rabbitmqctl("delete_vhost", vhost)
