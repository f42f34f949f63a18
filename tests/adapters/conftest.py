from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.broker import private_vhost
from tests.support.sshd import SshServer


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with private_vhost() as url:
        yield url


@pytest.fixture
def sshd() -> Iterator[SshServer]:
    server = SshServer().start()
    try:
        yield server
    finally:
        server.remove()
