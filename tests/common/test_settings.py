"""Shared settings: deployments cannot start with the broker's default account."""

from __future__ import annotations

import pytest
from gateway_common.settings import ServiceSettings
from pydantic import ValidationError


@pytest.mark.parametrize(
    "url",
    ["amqp://guest:guest@127.0.0.1:5672/", "amqp://127.0.0.1/", "amqps://guest:guest@rabbit.example:5671/gateway"],
)
def test_default_credentials_are_refused_outside_the_demo(url: str) -> None:
    with pytest.raises(ValidationError, match=r"default credentials .* GATEWAY_DEMO=true"):
        ServiceSettings(amqp_url=url, demo=False)


def test_own_credentials_or_the_demo_flag_pass() -> None:
    assert ServiceSettings(amqp_url="amqp://gateway:s3cret@rabbit:5672/", demo=False).amqp_url
    assert ServiceSettings(amqp_url="amqp://guest:guest@127.0.0.1:5672/", demo=True).demo
