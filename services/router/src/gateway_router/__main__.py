"""gateway-router: consumes upload events and dispatches them to adapters."""

from __future__ import annotations

import asyncio

from gateway_common.messaging import QUEUE_UPLOADS, Bus
from gateway_common.registry import RouteTableError, check_routes, installed_adapters
from gateway_common.routes import RouteTable, RouteTableSource
from gateway_common.service import run_service, service_main

from gateway_router.router import Router
from gateway_router.settings import RouterSettings


@service_main("router")
def main() -> None:
    settings = RouterSettings()
    bus = Bus(settings.amqp_url, settings.amqp_exchange, settings.amqp_prefetch)
    adapters = installed_adapters()

    def check(table: RouteTable) -> None:
        check_routes(table, adapters)

    try:
        routes = RouteTableSource(settings.routes_file, check=check)
    except RouteTableError as exc:
        # service_main turns it into the one error line and exit code 1.
        raise RuntimeError(f"refusing the route table {settings.routes_file}: {exc}") from exc

    async def serve() -> None:
        await bus.connect()
        try:
            router = Router(bus, routes)
            await router.declare()
            await bus.consume(await bus.declare_uploads(), router.handle)
            await asyncio.Future()
        finally:
            await bus.close()

    run_service(
        "router",
        settings,
        serve,
        checks=[bus.readiness(QUEUE_UPLOADS), lambda: routes.last_error],
    )


if __name__ == "__main__":
    main()
