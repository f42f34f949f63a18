"""gateway-adapter-heartbeat: the built-in FTPSGW.Heartbeat service.

It accepts every file at once, so clients and probes can test the whole round trip
(upload, routing, status file) without a backend system.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway_common.adapter import Accepted, Adapter, AdapterSettings, Delivery, run_adapter
from gateway_common.service import run_service, service_main
from pydantic import Field


class HeartbeatSettings(AdapterSettings):
    http_port: int = Field(default=9105, description="Port of /metrics and probes.")


@dataclass
class HeartbeatAdapter(Adapter):
    name = "heartbeat"

    async def deliver(self, delivery: Delivery) -> Accepted:
        return Accepted(backend_txid=f"heartbeat-{delivery.idempotency_key}", message="Heartbeat received.")


@service_main("adapter-heartbeat")
def main() -> None:
    settings = HeartbeatSettings()
    adapter = HeartbeatAdapter(settings)
    run_service("adapter-heartbeat", settings, lambda: run_adapter(adapter), checks=[adapter.readiness])


if __name__ == "__main__":
    main()
