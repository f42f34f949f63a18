"""gateway-status: writes status XML files into the senders' /out folders; the backends' HTTP API."""

from __future__ import annotations

from gateway_common.messaging import QUEUE_STATUS, Bus
from gateway_common.service import run_service, service_main
from gateway_common.storage import StorageLayout

from gateway_status.outbound import Outbound, build_outbound_app
from gateway_status.responses import mount_responses
from gateway_status.retention import run_sweeps
from gateway_status.settings import StatusSettings
from gateway_status.support_api import build_support_router
from gateway_status.trace import StatusNaming
from gateway_status.writer import StatusWriter


@service_main("status")
def main() -> None:
    settings = StatusSettings()
    bus = Bus(settings.amqp_url, settings.amqp_exchange, settings.amqp_prefetch)
    layout = StorageLayout(settings.data_dir)

    # One writer for bus events and the responses API: both write under the ledger's locks.
    writer = StatusWriter(layout, per_code_files=settings.status_file_naming == "per-code", naming=settings.naming())

    async def serve() -> None:
        layout.ensure()
        await bus.connect()
        try:
            await bus.consume(await bus.declare_status(), writer.handle)
            await run_sweeps(layout, settings.lifetimes(), settings.retention_interval, settings.volume_interval)
        finally:
            await bus.close()

    outbound = Outbound(
        layout, settings.outbound_tokens, settings.outbound_max_size, settings.outbound_quota_bytes, settings.naming()
    )
    app = build_outbound_app(outbound)
    mount_responses(app, outbound, writer)
    app.include_router(build_support_router(layout, settings, StatusNaming.of(settings)))
    run_service(
        "status",
        settings,
        serve,
        checks=[bus.readiness(QUEUE_STATUS)],
        app=app,
    )


if __name__ == "__main__":
    main()
