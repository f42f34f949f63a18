"""gateway-adapter-http: delivers files to backend systems over HTTP."""

from __future__ import annotations

from gateway_common.adapter import AdapterSettings, run_adapter
from gateway_common.service import run_service, service_main
from pydantic import Field

from gateway_adapter_http.adapter import HttpAdapter


class HttpAdapterSettings(AdapterSettings):
    http_port: int = Field(default=9104, description="Port of /metrics and probes.")


@service_main("adapter-http")
def main() -> None:
    settings = HttpAdapterSettings()
    adapter = HttpAdapter(settings)
    run_service("adapter-http", settings, lambda: run_adapter(adapter), checks=[adapter.readiness])


if __name__ == "__main__":
    main()
