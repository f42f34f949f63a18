"""server.py: one configured handler class per server, built from its settings."""

from __future__ import annotations

from pathlib import Path

from tests.support.ftps import Control
from tests.support.ingress import running_ingress


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
