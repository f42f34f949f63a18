from __future__ import annotations

from typing import Any

import pytest
from gateway_common.replay import origin_queue


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-parked-from": "gateway.router.uploads", "x-parked-reason": "poison: x"}, "gateway.router.uploads"),
        ({"x-parked-from": b"gateway.status.events"}, "gateway.status.events"),
        # Waited in a retry queue once, then hit the adapter queue's delivery limit: back to the adapter.
        (
            {
                "x-death": [
                    {"queue": "gateway.adapter.http", "reason": "delivery_limit"},
                    {"queue": "gateway.adapter.http.retry.0", "reason": "expired"},
                ],
                "x-first-death-queue": "gateway.adapter.http.retry.0",
            },
            "gateway.adapter.http",
        ),
        ({"x-death": [{"queue": "gateway.adapter.http.retry.2", "reason": "rejected"}]}, "gateway.adapter.http"),
        ({"x-first-death-queue": "gateway.router.uploads"}, "gateway.router.uploads"),
        ({}, None),
    ],
)
def test_parked_messages_go_back_where_they_were_consumed(headers: dict[str, Any], expected: str | None) -> None:
    assert origin_queue(headers) == expected
