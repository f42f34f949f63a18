"""server.py: one configured handler class per server, built from its settings."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import REGISTRY

from tests.support.ftps import Control
from tests.support.ingress import running_ingress
from tests.support.waiting import eventually


def test_each_server_keeps_its_own_settings(tmp_path: Path, demo_pki: Path, module_vhost: str) -> None:
    with (
        running_ingress(tmp_path / "a", demo_pki, module_vhost, banner="first gateway") as first,
        running_ingress(tmp_path / "b", demo_pki, module_vhost, banner="second gateway") as second,
    ):
        assert Control(first.port).greeting.strip() == "220 first gateway"
        assert Control(second.port).greeting.strip() == "220 second gateway"
        for server, other in ((first, second), (second, first)):
            control = server.control()
            control.protect()
            port = control.passive_port()
            assert port in server.settings.passive_port_range()
            assert port not in other.settings.passive_port_range()
            control.close()


def test_max_connections_counts_the_clients_connections_only(tmp_path: Path, demo_pki: Path, module_vhost: str) -> None:
    def refused() -> float:
        return REGISTRY.get_sample_value("gateway_ftps_connections_refused_total", {"reason": "max_connections"}) or 0

    with running_ingress(tmp_path, demo_pki, module_vhost, max_connections=2) as server:
        before = refused()
        first, second = server.control(), Control(server.port)  # the first one logged in
        assert second.greeting.startswith("220"), second.greeting
        third = Control(server.port)
        assert third.greeting.startswith("421 Too many connections"), third.greeting
        assert refused() == before + 1
        third.close()
        second.close()
        eventually(lambda: len(server.sessions()) == 1, "the closed session was still counted")
        first.protect()
        first.passive_port()  # an open passive data port takes the freed place
        fourth = Control(server.port)
        assert fourth.greeting.startswith("421 Too many connections"), fourth.greeting
        fourth.close()
        first.close()
