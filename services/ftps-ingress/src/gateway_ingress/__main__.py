"""gateway-ingress: the FTPS front door.

The pyftpdlib IO loop owns the main thread; the asyncio side (broker, outbox relay,
/metrics and probes) runs in the pipeline's thread.
"""

from __future__ import annotations

import signal
from types import FrameType

from cryptography import x509
from gateway_common import metrics
from gateway_common.health import bind_http, build_health_app, serve_http
from gateway_common.logging import configure_logging, get_logger
from gateway_common.routes import RouteTableSource
from gateway_common.service import exit_after, service_main
from gateway_common.storage import StorageLayout

from gateway_ingress.certificates import build_validator
from gateway_ingress.drain import Drain
from gateway_ingress.pipeline import UploadPipeline
from gateway_ingress.server import build_server
from gateway_ingress.settings import IngressSettings


@service_main("ingress")
def main() -> None:
    settings = IngressSettings()
    configure_logging("ingress", settings.log_level, settings.log_format)
    log = get_logger("gateway_ingress")
    metrics.BUILD_INFO.info({"service": "ingress"})
    server_cert = x509.load_pem_x509_certificate(settings.tls_cert_file.read_bytes())
    metrics.SERVER_CERT_NOT_AFTER.set(server_cert.not_valid_after_utc.timestamp())
    layout = StorageLayout(settings.data_dir)
    layout.ensure()
    routes = RouteTableSource(settings.routes_file)
    http_socket = bind_http(settings)
    pipeline = UploadPipeline(settings, layout)
    drain = Drain(settings.drain_timeout)
    app = build_health_app("ingress", [drain.readiness, pipeline.readiness, lambda: routes.last_error])
    validator = build_validator(settings)
    server = build_server(settings, layout, routes, pipeline, validator, drain)
    background = [lambda: serve_http(app, http_socket)]
    if validator.crls is not None:
        background.append(validator.crls.run)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        if not drain.requested:
            exit_after(settings.drain_timeout, "ingress")
        drain.request()

    pipeline.start(*background)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(
        "ftps ingress listening",
        ftps_port=settings.ftps_port,
        passive_ports=settings.passive_ports,
        http_port=settings.http_port,
    )
    try:
        server.serve_forever(handle_exit=True)
    finally:
        pipeline.stop()
        log.info("ftps ingress stopped")


if __name__ == "__main__":
    main()
