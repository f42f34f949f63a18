"""Assembles the FTPS server from settings."""

from __future__ import annotations

from gateway_common.routes import RouteTableSource
from gateway_common.storage import StorageLayout
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

from gateway_ingress.certificates import CertificateValidator
from gateway_ingress.control import GatewayHandler
from gateway_ingress.data import GatewayDTPHandler
from gateway_ingress.drain import Drain
from gateway_ingress.expiring import ExpiringCertificates
from gateway_ingress.limits import ClientLimits
from gateway_ingress.pipeline import UploadPipeline
from gateway_ingress.quota import OutUsage
from gateway_ingress.recent import RecentUploads
from gateway_ingress.settings import IngressSettings
from gateway_ingress.spent import SpentFolders
from gateway_ingress.tls import build_context
from gateway_ingress.waker import Waker


def build_server(
    settings: IngressSettings,
    layout: StorageLayout,
    routes: RouteTableSource,
    pipeline: UploadPipeline,
    validator: CertificateValidator,
    drain: Drain,
) -> FTPServer:
    ioloop = IOLoop()
    expiring = ExpiringCertificates()
    expiring.publish()
    # Certificates move into nearer buckets as days pass, without logging in again.
    ioloop.call_every(60, expiring.publish)
    waker = Waker(ioloop)
    handler: type[GatewayHandler] = type(
        "ConfiguredGatewayHandler",
        (GatewayHandler,),
        {
            "settings": settings,
            "ssl_context": build_context(settings),
            "layout": layout,
            "routes": routes,
            "pipeline": pipeline,
            "validator": validator,
            "drain": drain,
            "recent": RecentUploads(settings.upload_size_grace, layout.recent_dir),
            "out_usage": OutUsage(settings.out_quota_max_age, pipeline.loop, waker.call_soon_threadsafe),
            "spent": SpentFolders(),
            "expiring": expiring,
            "waker": waker,
            "banner": settings.banner,
            "passive_ports": settings.passive_port_range(),
            "masquerade_address": settings.masquerade_address,
            "timeout": settings.idle_timeout,
            "limits": ClientLimits(
                settings.max_connections_per_ip,
                settings.max_logins_per_minute_per_ip,
                settings.max_tls_handshakes_per_minute_per_ip,
                settings.max_passive_listeners_per_ip,
            ),
            "trusted_proxies": settings.trusted_proxies(),
            "permit_foreign_addresses": False,
            "permit_privileged_ports": False,
        },
    )
    dtp_handler: type[GatewayDTPHandler] = type(
        "ConfiguredDTPHandler", (GatewayDTPHandler,), {"timeout": settings.data_timeout}
    )
    handler.dtp_handler = dtp_handler
    server = FTPServer((settings.ftps_host, settings.ftps_port), handler, ioloop=ioloop)
    # pyftpdlib counts every socket on the loop against max_cons, the listener and waker included.
    server.max_cons = settings.max_connections + len(ioloop.socket_map)
    # Counted per real client address by the handler (ClientLimits), also behind a PROXY balancer.
    server.max_cons_per_ip = 0
    drain.watch(ioloop)
    return server
