"""Every test runs as the local demo does: the machine's RabbitMQ with its default account."""

import os

os.environ.setdefault("GATEWAY_DEMO", "true")

from collections.abc import AsyncIterator, Iterator

import pytest
from gateway_common.messaging import Bus

from tests.support.broker import private_vhost
from tests.support.bus import clean


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """One private vhost for the unit tests (tests/e2e has its own for the gateway it runs)."""
    with private_vhost() as url:
        yield url


@pytest.fixture
async def bus(amqp_url: str) -> AsyncIterator[Bus]:
    """A connected Bus on the real broker; the queues a test declares are deleted after it."""
    connected = Bus(amqp_url)
    await connected.connect()
    try:
        yield connected
    finally:
        await clean(connected)
        await connected.close()
