"""gateway-adapter-heartbeat: the built-in FTPSGW.Heartbeat service.

It accepts every file at once, so clients and probes can test the whole round trip
(upload, routing, status file) without a backend system.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway_common.adapter import Accepted, Adapter, AdapterSettings, Delivery
from gateway_common.adapter_cli import run_adapter_main
from gateway_common.options import NoOptions
from pydantic import Field


class HeartbeatSettings(AdapterSettings):
    http_port: int = Field(default=9105, description="Port of /metrics and probes.")


@dataclass
class HeartbeatAdapter(Adapter[NoOptions]):
    name = "heartbeat"
    settings_model = HeartbeatSettings

    async def deliver(self, delivery: Delivery[NoOptions]) -> Accepted:
        return Accepted(backend_txid=f"heartbeat-{delivery.idempotency_key}", message="Heartbeat received.")


def main() -> None:
    run_adapter_main(HeartbeatAdapter)


if __name__ == "__main__":
    main()
