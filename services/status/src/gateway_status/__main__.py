"""gateway-status: writes status XML files into the senders' /out folders."""

from __future__ import annotations

from gateway_common.messaging import QUEUE_STATUS, Bus
from gateway_common.service import run_service, service_main
from gateway_common.storage import StorageLayout

from gateway_status.outbound import Outbound, build_outbound_app
from gateway_status.retention import run_retention
from gateway_status.settings import StatusSettings
from gateway_status.writer import StatusWriter


@service_main("status")
def main() -> None:
    settings = StatusSettings()
    bus = Bus(settings.amqp_url, settings.amqp_exchange, settings.amqp_prefetch)
    layout = StorageLayout(settings.data_dir)

    async def serve() -> None:
        layout.ensure()
        await bus.connect()
        try:
            writer = StatusWriter(
                layout,
                per_code_files=settings.status_file_naming == "per-code",
                template=settings.status_file_template,
                code_template=settings.status_file_code_template,
            )
            await bus.consume(await bus.declare_status(), writer.handle)
            await run_retention(layout, settings.retention_days, settings.retention_interval)
        finally:
            await bus.close()

    outbound = Outbound(layout, settings.outbound_tokens, settings.outbound_max_size)
    run_service(
        "status",
        settings,
        serve,
        checks=[bus.readiness(QUEUE_STATUS)],
        app=build_outbound_app(outbound),
    )


if __name__ == "__main__":
    main()
