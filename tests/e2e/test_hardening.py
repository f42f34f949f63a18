"""Negative tests: what the FTPS front door refuses, and that each refusal says why."""

from __future__ import annotations

import ftplib
import io
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import ALT_LIMITS, ALT_OUT_QUOTA
from tests.support.clients import ClientCert, ftps, wait_for_status
from tests.support.files import entries_below, files_below
from tests.support.ftps import Control, ftplib_session, greeting
from tests.support.gateway import Gateway
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e
CertFactory = Callable[[str], ClientCert]


def _handshake(gateway: Gateway, version: ssl.TLSVersion) -> str:
    """AUTH TLS, then a handshake offering at most ``version``; the negotiated version."""
    control = Control(gateway.ftps_port)
    assert control.send("AUTH TLS").startswith("234")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # Let this client offer the old versions at all: the refusal must come from the server.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = version
    with context.wrap_socket(control.sock) as tls:
        return str(tls.version())


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_tls_below_1_2_is_refused(gateway: Gateway, version: ssl.TLSVersion) -> None:
    with pytest.raises(ssl.SSLError) as refused:
        _handshake(gateway, version)
    assert "PROTOCOL_VERSION" in str(refused.value).upper().replace(" ", "_")
    # The same client succeeds once it may offer TLS 1.2: the server's floor refused it.
    assert _handshake(gateway, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"


def test_plain_login_is_refused_before_auth_tls(gateway: Gateway) -> None:
    control = Control(gateway.ftps_port)
    reply = control.send("USER anonymous")
    assert reply.startswith("530 Log in over TLS only"), reply
    assert control.send("PASV").startswith("530"), "no transfer before AUTH TLS and login"
    control.close()


def test_prot_c_ccc_and_unprotected_transfers_are_refused(gateway: Gateway, pki: Path, cert: CertFactory) -> None:
    control = Control(gateway.ftps_port)
    control.login(pki, cert("employee"))
    assert control.send("PBSZ 0").startswith("200")
    assert control.send("EPSV").startswith("521 Data connections must be encrypted"), "PROT P comes first"
    assert control.send("PROT C").startswith("534 PROT C refused")
    assert control.send("CCC").startswith("534 CCC refused")
    assert control.send("PROT P").startswith("200")
    assert control.send("EPSV").startswith("229")
    control.close()


def test_active_mode_is_off_by_default(gateway: Gateway, pki: Path, cert: CertFactory) -> None:
    control = Control(gateway.ftps_port)
    control.login(pki, cert("employee"))
    control.protect()
    assert control.send("PORT 127,0,0,1,200,10").startswith("502 Active mode is disabled")
    assert control.send("EPRT |1|127.0.0.1|51210|").startswith("502")
    control.close()


def test_port_to_another_address_is_refused(alt_gateway: Gateway, pki: Path, cert: CertFactory) -> None:
    control = Control(alt_gateway.ftps_port, source="127.0.0.6")
    control.login(pki, cert("employee"))
    control.protect()
    assert control.send("PORT 127,0,0,2,200,10").startswith("501 Refused: data connections go only to your own")
    assert control.send("EPRT |1|10.1.2.3|51210|").startswith("501")
    control.close()


def test_data_connection_from_another_address_is_refused(gateway: Gateway, pki: Path, cert: CertFactory) -> None:
    control = Control(gateway.ftps_port)
    control.login(pki, cert("employee"))
    control.protect()
    port = control.passive_port()
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.2", 0)):
        assert control.reply().startswith("425 Rejected data connection from foreign address 127.0.0.2")
    control.close()
    assert 'gateway_ftps_data_connections_refused_total{reason="foreign_address"}' in gateway.metrics("ingress")


def test_oversize_upload_is_refused_and_nothing_is_kept(alt_gateway: Gateway, pki: Path, cert: CertFactory) -> None:
    ftp = ftplib_session(alt_gateway.ftps_port, pki, cert("employee"), source="127.0.0.13")
    txid = f"big-{uuid.uuid4().hex[:8]}"
    spool, txids = alt_gateway.data_dir / "spool", alt_gateway.data_dir / "txids"
    # Other tests' accepted uploads stay in the spool (kept for replay); only this one must go.
    earlier = set(files_below(spool, "*payload"))  # .tmp-payload while receiving
    try:
        ftp.storbinary(f"STOR small-files/{txid}", io.BytesIO(b"x" * 2_000_000))  # small-files allows 1024
        reply = "no refusal"
    except ftplib.error_perm as refused:
        reply = str(refused)
    except (ConnectionError, ssl.SSLError):  # the server cut the data connection while we were sending
        reply = ftp.getmultiline()
    assert reply.startswith("552 Upload refused: the file exceeds this service's size limit of 1024 bytes"), reply
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (set(files_below(spool, "*payload")) - earlier or entries_below(txids, txid)):
        time.sleep(0.05)
    assert not set(files_below(spool, "*payload")) - earlier, "the partial upload was removed"
    assert not entries_below(txids, txid), "the transaction id is free again"
    assert ftp.storbinary(f"STOR small-files/{txid}", io.BytesIO(b"small enough")).startswith("226")
    ftp.quit()


def test_upload_cut_off_without_close_notify_is_not_accepted(gateway: Gateway, pki: Path, cert: CertFactory) -> None:
    ftp = ftps(gateway.ftps_port, pki, cert("employee"))
    txid = f"cut-{uuid.uuid4().hex[:8]}"
    try:
        conn = ftp.transfercmd(f"STOR heartbeat/{txid}")
        conn.sendall(b"the first half of a file")
        conn.close()  # a bare TCP close, as a reset middlebox or a crashed client leaves it: no close_notify
        with pytest.raises(ftplib.error_temp, match=r"^426 .*close_notify"):
            ftp.voidresp()
        # Nothing was taken in: the transaction id is free and a whole upload goes through.
        assert ftp.storbinary(f"STOR heartbeat/{txid}", io.BytesIO(b"the whole file")).startswith("226")
    finally:
        ftp.quit()
    status = wait_for_status(gateway.out_dir("company/30808460"), f"status_heartbeat_{txid}.xml", 2)
    assert status.findtext("Size") == str(len(b"the whole file"))


def test_overlong_command_line_is_refused(gateway: Gateway) -> None:
    control = Control(gateway.ftps_port)
    assert control.send("NOOP " + "x" * 5000).startswith("500 Command line longer than 1024 bytes")
    assert control.closed_by_server()


def test_connections_over_the_per_ip_limit_are_refused(alt_gateway: Gateway) -> None:
    limit = ALT_LIMITS["max_connections_per_ip"]
    held = [Control(alt_gateway.ftps_port, source="127.0.0.3") for _ in range(limit)]
    assert all(c.greeting.startswith("220") for c in held)
    with socket.create_connection(("127.0.0.1", alt_gateway.ftps_port), source_address=("127.0.0.3", 0)) as extra:
        assert extra.makefile("rb").readline().decode().startswith("421 Too many connections from 127.0.0.3")
    assert Control(alt_gateway.ftps_port, source="127.0.0.33").greeting.startswith("220"), "other clients still in"
    held.pop().close()
    # The slot is free once the ingress has seen the close, in its own time.
    eventually(lambda: greeting(alt_gateway.ftps_port, "127.0.0.3").startswith("220"), "a freed slot is reusable")
    for control in held:
        control.close()


def test_logins_over_the_per_minute_limit_are_refused(alt_gateway: Gateway, pki: Path, cert: CertFactory) -> None:
    for _ in range(ALT_LIMITS["max_logins_per_minute_per_ip"]):
        control = Control(alt_gateway.ftps_port, source="127.0.0.4")
        control.login(pki, cert("employee"))
        control.close()
    control = Control(alt_gateway.ftps_port, source="127.0.0.4")
    control.secure(pki, cert("employee"))
    control.send("USER anonymous")
    assert control.send("PASS guest").startswith("421 Too many logins from 127.0.0.4")
    assert 'reason="rate_limited"' in alt_gateway.metrics("ingress")


def test_idle_client_is_cut_off(alt_gateway: Gateway, pki: Path, cert: CertFactory) -> None:
    control = Control(alt_gateway.ftps_port, source="127.0.0.5")
    control.login(pki, cert("employee"))
    started = time.monotonic()
    assert control.reply().startswith(f"421 No command for {ALT_LIMITS['idle_timeout']} seconds")
    assert control.closed_by_server()
    assert time.monotonic() - started < ALT_LIMITS["idle_timeout"] + 2
    # A client that never finishes its TLS handshake (slowloris) is cut off too.
    silent = Control(alt_gateway.ftps_port, source="127.0.0.5")
    assert silent.send("AUTH TLS").startswith("234")
    assert silent.closed_by_server()


def test_upload_refused_while_out_is_over_quota(alt_gateway: Gateway, pki: Path, cert: CertFactory) -> None:
    out = alt_gateway.out_dir("company/12345678")
    out.mkdir(parents=True, exist_ok=True)
    filler = out / "response_big.xml"
    filler.write_bytes(b"x" * (ALT_OUT_QUOTA + 1))
    try:
        ftp = ftplib_session(alt_gateway.ftps_port, pki, cert("other-employee"), source="127.0.0.14")
        with pytest.raises(ftplib.error_perm, match=r"552 Your /out holds .* over its quota"):
            ftp.storbinary(f"STOR heartbeat/q-{uuid.uuid4().hex[:8]}", _bytes(b"data"))
        ftp.delete("/out/response_big.xml")
        ftp.storbinary(f"STOR heartbeat/q-{uuid.uuid4().hex[:8]}", _bytes(b"data"))
        ftp.quit()
    finally:
        filler.unlink(missing_ok=True)


def _bytes(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)
