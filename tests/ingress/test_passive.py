"""passive.py: passive listeners only from the configured range, a few per address, closed when unused."""

from __future__ import annotations

from pathlib import Path

from gateway_ingress import replies

from tests.support.ingress import running_ingress
from tests.support.ports import free_port_range
from tests.support.waiting import eventually


def test_listeners_per_address_are_limited_and_freed_with_their_session(
    tmp_path: Path, demo_pki: Path, module_vhost: str
) -> None:
    with running_ingress(tmp_path, demo_pki, module_vhost, max_passive_listeners_per_ip=2) as server:
        sessions = [server.control() for _ in range(3)]
        for control in sessions:
            control.protect()
        sessions[0].passive_port()
        assert sessions[0].send("EPSV").startswith("229")  # a new EPSV replaces the session's own listener
        sessions[1].passive_port()
        refused = sessions[2].send("EPSV").strip()
        assert refused == replies.TOO_MANY_DATA_PORTS(ip="127.0.0.1", limit=2)
        sessions[0].close()
        eventually(lambda: sessions[2].send("EPSV").startswith("229"), "the closed session's listener still counted")
        for control in sessions[1:]:
            control.close()


def test_when_the_range_is_taken_the_client_is_told_to_try_again(
    tmp_path: Path, demo_pki: Path, module_vhost: str
) -> None:
    (port,) = free_port_range(1)
    with running_ingress(tmp_path, demo_pki, module_vhost, passive_ports=f"{port}-{port}") as server:
        holder, latecomer = server.control(), server.control()
        holder.protect()
        latecomer.protect()
        assert holder.passive_port() == port
        assert latecomer.send("EPSV").strip() == replies.NO_PASSIVE_PORT()  # never a port outside the range
        assert latecomer.send("PASV").strip() == replies.NO_PASSIVE_PORT()
        holder.close()
        eventually(lambda: latecomer.send("EPSV").startswith("229"), "the port was not freed")
        latecomer.close()


def test_an_unused_listener_closes_and_a_stor_waiting_for_it_gets_one_reply(
    tmp_path: Path, demo_pki: Path, module_vhost: str
) -> None:
    with running_ingress(tmp_path, demo_pki, module_vhost, passive_timeout=1) as server:
        control = server.control()
        control.protect()
        control.passive_port()
        assert control.reply().strip() == replies.PASSIVE_TIMEOUT(seconds=1)
        control.passive_port()
        assert control.send("STOR heartbeat/tx-waiting").startswith("150")
        assert control.reply().strip() == replies.PASSIVE_TIMEOUT(seconds=1)  # the STOR's one final reply
        eventually(
            lambda: server.layout.find_reservation("company/30808460", "heartbeat", "tx-waiting") is None,
            "the waiting upload kept its transaction id",
        )
        assert control.send("NOOP").startswith("200")
        control.close()
