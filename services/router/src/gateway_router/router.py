"""Routes upload events to adapters, or turns them into a clear error status."""

from __future__ import annotations

import aio_pika.abc
from gateway_common import metrics
from gateway_common.events import status_event
from gateway_common.identity import identity_from_proto
from gateway_common.logging import get_logger
from gateway_common.messaging import RK_STATUS, Bus, PoisonMessage, dispatch_key
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.routes import RouteTableSource

log = get_logger(__name__)
SOURCE = "router"


class Router:
    def __init__(self, bus: Bus, routes: RouteTableSource) -> None:
        self.bus = bus
        self.routes = routes
        self._declared: set[str] = set()

    async def declare(self) -> None:
        await self.bus.declare_status()
        for adapter in sorted(self.routes.current().adapters()):
            await self._declare_adapter(adapter)

    async def _declare_adapter(self, adapter: str) -> None:
        if adapter not in self._declared:
            # Declaring the adapter's queue here keeps dispatches safe while no adapter runs yet.
            await self.bus.declare_adapter(adapter)
            self._declared.add(adapter)

    async def handle(self, upload: events_pb2.UploadReceived, _raw: aio_pika.abc.AbstractIncomingMessage) -> None:
        if not isinstance(upload, events_pb2.UploadReceived) or not upload.gateway_txid:
            raise PoisonMessage("router queue expects an UploadReceived with a transaction id")
        bound = log.bind(gateway_txid=upload.gateway_txid, service=upload.service, tenant=upload.sender.tenant)
        route = self.routes.current().routes.get(upload.service)
        if route is None:
            await self._refuse(
                upload,
                "unknown_service",
                f"No Backend System / Business Service is named {upload.service!r}.",
                "Upload the file into the folder of an existing service.",
            )
            bound.warning("upload for an unknown service")
            return
        try:
            identity = identity_from_proto(upload.sender)
        except KeyError as exc:
            raise PoisonMessage(f"upload without a valid sender: {exc}") from exc
        if not route.allow.permits(identity):
            await self._refuse(
                upload,
                "service_not_permitted",
                f"Your certificate may not use the service {upload.service!r}.",
                "Ask the service owner to grant your certificate access.",
            )
            bound.warning("upload for a service the sender may not use")
            return
        await self._declare_adapter(route.adapter)
        # No status yet: code 1 means the backend system has the file, which only the adapter knows.
        dispatch = events_pb2.Dispatch(
            event_id=f"{upload.gateway_txid}/dispatch",
            upload=upload,
            adapter=route.adapter,
            options=route.options,
            attempt=1,
        )
        await self.bus.publish(dispatch_key(route.adapter), dispatch, dispatch.event_id)
        metrics.EVENTS_ROUTED.labels(service=upload.service, result="dispatched").inc()
        bound.info("upload dispatched", adapter=route.adapter)

    async def _refuse(self, upload: events_pb2.UploadReceived, code: str, message: str, resolution: str) -> None:
        error = events_pb2.StatusError(code=code, message=message, resolution=resolution)
        event = status_event(upload, events_pb2.STATUS_CODE_ERROR, SOURCE, error=error)
        await self.bus.publish(RK_STATUS, event, event.event_id)
        metrics.EVENTS_ROUTED.labels(service=upload.service, result=code).inc()
