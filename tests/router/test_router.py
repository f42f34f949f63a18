"""router.py against the real broker: dispatch, unknown service, not permitted, poison, new adapters."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from gateway_common.identity import CertificateKind
from gateway_common.messaging import QUEUE_STATUS, Bus, PoisonMessage, adapter_queue, decode
from gateway_common.proto.gateway.v1 import events_pb2, identity_pb2
from gateway_common.routes import RouteTableSource
from gateway_router.router import Router

from tests.support.bus import next_message, queue_length, upload_event

ROUTES: dict[str, Any] = {
    "routes": {
        "svc": {"adapter": "unit", "options": {"url": "http://backend/files"}},
        "companies-only": {"adapter": "unit", "allow": {"kinds": ["employee", "company"]}},
        "one-company": {"adapter": "unit", "allow": {"cvrs": ["11111111"]}},
    }
}


def _routes(tmp_path: Path, table: dict[str, Any]) -> RouteTableSource:
    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump(table))
    return RouteTableSource(path, interval=0)


@pytest.fixture
async def router(bus: Bus, tmp_path: Path) -> Router:
    routed = Router(bus, _routes(tmp_path, ROUTES))
    await routed.declare()
    return routed


async def _status(bus: Bus) -> events_pb2.StatusEvent:
    event = decode(await next_message(bus, QUEUE_STATUS))
    assert isinstance(event, events_pb2.StatusEvent)
    return event


async def test_a_permitted_upload_is_dispatched_with_the_route_options(router: Router, bus: Bus) -> None:
    upload = upload_event("svc", "a" * 32)
    await router.handle(upload, None)  # type: ignore[arg-type]
    message = await next_message(bus, adapter_queue("unit"))
    dispatch = decode(message)
    assert isinstance(dispatch, events_pb2.Dispatch)
    assert message.message_id == dispatch.event_id == f"{'a' * 32}/dispatch"
    assert dispatch.upload == upload
    assert dispatch.adapter == "unit"
    assert dict(dispatch.options) == {"url": "http://backend/files"}
    assert dispatch.attempt == 1
    # Code 1 is the adapter's to say: the router publishes no status for a dispatched upload.
    assert await queue_length(bus, QUEUE_STATUS) == 0


async def test_an_unknown_service_ends_in_an_error_status(router: Router, bus: Bus) -> None:
    upload = upload_event("no-such-service", "b" * 32)
    await router.handle(upload, None)  # type: ignore[arg-type]
    event = await _status(bus)
    assert event.code == events_pb2.STATUS_CODE_ERROR
    assert event.error.code == "unknown_service"
    assert "'no-such-service'" in event.error.message
    assert event.error.resolution
    assert (event.gateway_txid, event.ftp_txid, event.source) == ("b" * 32, upload.ftp_txid, "router")
    assert await queue_length(bus, adapter_queue("unit")) == 0


@pytest.mark.parametrize(
    ("service", "kind"),
    [("companies-only", CertificateKind.PERSONAL), ("one-company", CertificateKind.EMPLOYEE)],
)
async def test_a_sender_the_route_does_not_allow_gets_not_permitted(
    router: Router, bus: Bus, service: str, kind: CertificateKind
) -> None:
    await router.handle(upload_event(service, "c" * 32, kind), None)  # type: ignore[arg-type]
    event = await _status(bus)
    assert event.code == events_pb2.STATUS_CODE_ERROR
    assert event.error.code == "service_not_permitted"
    assert await queue_length(bus, adapter_queue("unit")) == 0


async def test_the_same_upload_twice_makes_the_same_event_ids(router: Router, bus: Bus) -> None:
    upload = upload_event("no-such-service", "d" * 32)
    await router.handle(upload, None)  # type: ignore[arg-type]
    await router.handle(upload, None)  # type: ignore[arg-type]
    first, second = await _status(bus), await _status(bus)
    assert first.event_id == second.event_id  # the status ledger deduplicates a redelivery


@pytest.mark.parametrize(
    "message",
    [
        events_pb2.StatusEvent(gateway_txid="e" * 32),
        upload_event(gateway_txid=""),
        upload_event(sender=identity_pb2.Sender(kind=identity_pb2.CERTIFICATE_KIND_UNSPECIFIED)),
    ],
    ids=["wrong-type", "no-txid", "no-sender-kind"],
)
async def test_what_the_router_cannot_route_is_poison(router: Router, bus: Bus, message: Any) -> None:
    with pytest.raises(PoisonMessage):
        await router.handle(message, None)  # type: ignore[arg-type]
    assert await queue_length(bus, QUEUE_STATUS) == 0


async def test_an_adapter_added_to_the_route_table_gets_its_queue_before_the_first_dispatch(
    bus: Bus, tmp_path: Path
) -> None:
    routes = _routes(tmp_path, {"routes": {"svc": {"adapter": "unit"}}})
    router = Router(bus, routes)
    await router.declare()
    table = {"routes": {"svc": {"adapter": "unit"}, "beat": {"adapter": "heartbeat"}}}
    routes.path.write_text(yaml.safe_dump(table))
    later = routes.path.stat().st_mtime_ns + 1_000_000_000
    os.utime(routes.path, ns=(later, later))  # the re-read must see a change even within one mtime tick
    await router.handle(upload_event("beat", "f" * 32), None)  # type: ignore[arg-type]
    dispatch = decode(await next_message(bus, adapter_queue("heartbeat")))
    assert isinstance(dispatch, events_pb2.Dispatch)
    assert dispatch.adapter == "heartbeat"
