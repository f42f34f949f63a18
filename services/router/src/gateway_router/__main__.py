"""gateway-router: consumes upload events and dispatches them to adapters."""

from __future__ import annotations

import asyncio

from gateway_common.messaging import Bus
from gateway_common.registry import RouteTableError, check_routes, installed_adapters
from gateway_common.routes import RouteTable, RouteTableSource
from gateway_common.service import run_service

from gateway_router.router import Router
from gateway_router.settings import RouterSettings


def main() -> None:
    settings = RouterSettings()
    bus = Bus(settings.amqp_url, settings.amqp_exchange, settings.amqp_prefetch)
    adapters = installed_adapters()

    def check(table: RouteTable) -> None:
        check_routes(table, adapters)

    try:
        routes = RouteTableSource(settings.routes_file, check=check)
    except RouteTableError as exc:
        raise SystemExit(f"router: refusing the route table {settings.routes_file}: {exc}") from exc

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
        checks=[lambda: None if bus.connected else "no broker connection", lambda: routes.last_error],
    )


if __name__ == "__main__":
    main()
