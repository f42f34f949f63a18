"""data.py: an upload counts only when its data connection ends with close_notify; every failure is one
reply, sent once nothing of the upload is left."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_ingress import replies

from tests.support.ftps import tls_context
from tests.support.ingress import Ingress, running_ingress
from tests.support.waiting import eventually

TENANT = "company/30808460"


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory, demo_pki: Path, module_vhost: str) -> Iterator[Ingress]:
    """A server whose data connections must handshake within a second and not stall for two."""
    with running_ingress(
        tmp_path_factory.mktemp("quick"), demo_pki, module_vhost, data_handshake_timeout=1, data_timeout=2
    ) as server:
        yield server


def _freed(ingress: Ingress, service: str, txid: str) -> None:
    eventually(lambda: ingress.layout.find_reservation(TENANT, service, txid) is None, f"{txid} stayed reserved")


def test_an_upload_ended_by_close_notify_is_stored(ingress: Ingress) -> None:
    control, data = ingress.storing("heartbeat/tx-notify")
    payload = b"complete" * 10_000
    data.sendall(payload)
    data.unwrap().close()
    assert control.reply().strip() == replies.UPLOADED(txid="tx-notify", service="heartbeat")
    reservation = ingress.layout.find_reservation(TENANT, "heartbeat", "tx-notify")
    assert reservation is not None
    stored = (ingress.layout.spool_txn(reservation.read_text()) / "payload").read_bytes()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(payload).digest()
    control.close()


def test_an_upload_cut_without_close_notify_is_refused_and_nothing_is_kept(ingress: Ingress) -> None:
    before = ingress.settled_spool()
    control, data = ingress.storing("heartbeat/tx-cut")
    data.sendall(b"maybe truncated" * 1000)
    data.close()  # a TCP end without TLS close_notify: a middlebox or an attacker could do this
    assert control.reply().strip() == replies.NO_CLOSE_NOTIFY()
    _freed(ingress, "heartbeat", "tx-cut")
    assert ingress.settled_spool() == before
    assert control.send("NOOP").startswith("200")
    control.close()


def test_an_upload_over_the_services_size_limit_is_refused_and_nothing_is_kept(ingress: Ingress) -> None:
    before = ingress.settled_spool()
    control, data = ingress.storing("small-files/tx-large")
    try:
        data.sendall(b"x" * 1025)  # one byte over the route's max_file_size of 1024
        data.unwrap()
    except (ssl.SSLError, OSError):
        pass  # the server may have closed first
    assert control.reply().strip() == replies.FILE_TOO_LARGE(limit=1024)
    _freed(ingress, "small-files", "tx-large")
    assert ingress.settled_spool() == before
    data.close()
    control.close()


def test_an_upload_at_the_size_limit_is_stored(ingress: Ingress) -> None:
    control, data = ingress.storing("small-files/tx-limit")
    data.sendall(b"x" * 1024)
    data.unwrap().close()
    assert control.reply().strip() == replies.UPLOADED(txid="tx-limit", service="small-files")
    control.close()


def test_plaintext_on_a_protected_data_connection_is_refused(ingress: Ingress) -> None:
    control = ingress.control()
    control.protect()
    port = control.passive_port()
    plain = socket.create_connection(("127.0.0.1", port))
    assert control.send("STOR heartbeat/tx-plain").startswith(("125", "150"))  # accepted by now, or not yet
    plain.sendall(b"not TLS at all\r\n" * 10)
    assert control.reply().strip() == replies.DATA_HANDSHAKE_FAILED()
    _freed(ingress, "heartbeat", "tx-plain")
    plain.close()
    assert control.send("NOOP").startswith("200")
    control.close()


def test_a_download_over_a_connection_with_another_certificate_is_refused(ingress: Ingress) -> None:
    out = ingress.tenant_root(TENANT) / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "secret.xml").write_bytes(b"<status/>")
    control = ingress.control()
    control.protect()
    port = control.passive_port()
    assert control.send("RETR /out/secret.xml").startswith("150")
    context = tls_context(ingress.pki, ingress.cert("employee2"))  # a colleague's: same company, other client
    data = context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
    assert control.reply().strip() == replies.OTHER_CERTIFICATE()
    with contextlib.suppress(ssl.SSLError, OSError):  # closed without a goodbye: not a byte of the file either
        assert data.recv(100) == b""
    data.close()
    control.close()


def test_a_data_connection_that_does_not_handshake_in_time_is_closed(quick: Ingress) -> None:
    control = quick.control()
    control.protect()
    port = control.passive_port()
    silent = socket.create_connection(("127.0.0.1", port))
    assert control.send("STOR heartbeat/tx-silent").startswith("125")
    assert control.reply().strip() == replies.DATA_HANDSHAKE_TIMEOUT(seconds=1)
    _freed(quick, "heartbeat", "tx-silent")
    silent.close()
    control.close()


def test_a_stalled_upload_is_aborted_and_nothing_is_kept(quick: Ingress) -> None:
    before = quick.settled_spool()
    control, data = quick.storing("heartbeat/tx-stalled")
    data.sendall(b"x" * 1000)  # and then nothing
    assert control.reply().strip() == replies.UPLOAD_STALLED(seconds=2)
    _freed(quick, "heartbeat", "tx-stalled")
    assert quick.settled_spool() == before
    data.close()
    control.close()
