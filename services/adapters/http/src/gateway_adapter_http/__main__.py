"""gateway-adapter-http: delivers files to backend systems over HTTP."""

from __future__ import annotations

from gateway_common.adapter_cli import run_adapter_main

from gateway_adapter_http.adapter import HttpAdapter


def main() -> None:
    run_adapter_main(HttpAdapter)


if __name__ == "__main__":
    main()
