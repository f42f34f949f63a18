"""The FTPS data channel as real clients and attackers use it (issues 9 and 10).

Who may carry a session's data (the same client: same address, same certificate, by resumption or
by a full handshake), how an upload ends (close_notify or nothing is kept, one final reply), and
what a hostile client cannot do to the IO loop, the passive ports or the TLS session cache.
"""

from __future__ import annotations

import concurrent.futures
import io
import os
import re
import select
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import ALT_LIMITS
from tests.support.clients import ClientCert, curl, wait_for_status
from tests.support.files import entries_below
from tests.support.ftps import Control, ftplib_session, tls_context
from tests.support.gateway import Gateway

pytestmark = pytest.mark.e2e
CertFactory = Callable[[str], ClientCert]
COMPANY = "company/30808460"  # the tenant of the demo employee certificate


def _txid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _session(gateway: Gateway, pki: Path, cert: ClientCert, source: str = "127.0.0.1") -> Control:
    control = Control(gateway.ftps_port, source=source)
    control.login(pki, cert)
    control.protect()
    return control


def _data_socket(port: int, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))


def _next_reply(control: Control, timeout: float = 10) -> str:
    control.sock.settimeout(timeout)
    return control.reply()


# --- 9.1/9.2: the data connection must prove it is the control connection's client


def test_stock_ftplib_full_handshake_with_the_same_certificate_is_accepted(
    gateway: Gateway, pki: Path, cert: CertFactory
) -> None:
    """Python's ftplib (like Java Commons Net and Perl Net::FTP) never resumes: full handshakes pass."""
    ftp = ftplib_session(gateway.ftps_port, pki, cert("employee"))
    txids = [_txid("stock") for _ in range(3)]
    for txid in txids:
        assert ftp.storbinary(f"STOR heartbeat/{txid}", io.BytesIO(b"full handshake " + txid.encode())).startswith(
            "226"
        )
    assert "heartbeat" in ftp.nlst()
    ftp.quit()
    for txid in txids:
        wait_for_status(gateway.out_dir(COMPANY), f"status_heartbeat_{txid}.xml", 2)


@pytest.mark.parametrize("intruder", ["other-employee", None])
def test_data_connection_with_another_or_no_certificate_is_refused(
    gateway: Gateway, pki: Path, cert: CertFactory, intruder: str | None
) -> None:
    control = _session(gateway, pki, cert("employee"))
    port = control.passive_port()
    context = tls_context(pki, cert(intruder) if intruder else None)
    txid = _txid("intruder")
    assert control.send(f"STOR heartbeat/{txid}").startswith(("125", "150"))
    with context.wrap_socket(_data_socket(port), server_hostname="127.0.0.1") as data:
        reply = _next_reply(control)
        assert _closed_without_a_byte(data, b"not yours" * 10_000)
    assert reply.startswith("522 Data connection refused: it must present the control connection's client"), reply
    assert control.send("NOOP").startswith("200"), "one reply, the session goes on"
    control.close()
    assert _eventually_free(gateway, txid)


def _closed_without_a_byte(data: ssl.SSLSocket, send: bytes = b"") -> bool:
    try:
        data.sendall(send)
        return data.recv(1) == b""
    except (ssl.SSLError, OSError):
        return True


def _eventually_free(gateway: Gateway, txid: str, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not entries_below(gateway.data_dir / "txids", txid):
            return True
        time.sleep(0.05)
    return False


def test_a_session_the_server_no_longer_knows_costs_only_a_full_handshake(
    gateway: Gateway, alt_gateway: Gateway, pki: Path, cert: CertFactory
) -> None:
    """What a flushed session cache looks like to a client: its data connection offers a session the
    server cannot resume (here one of another gateway), gets a full handshake, and the transfer works."""
    me = cert("employee")
    context = tls_context(pki, me)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    elsewhere = Control(alt_gateway.ftps_port, source="127.0.0.26")
    assert elsewhere.send("AUTH TLS").startswith("234")
    elsewhere.sock = context.wrap_socket(elsewhere.sock, server_hostname="127.0.0.1")
    elsewhere.file = elsewhere.sock.makefile("rb")
    assert elsewhere.send("NOOP").startswith("200")
    unknown = elsewhere.sock.session
    elsewhere.close()
    control = _session(gateway, pki, me)
    txid = _txid("evicted")
    port = control.passive_port()
    assert control.send(f"STOR heartbeat/{txid}").startswith("150")
    with context.wrap_socket(_data_socket(port), server_hostname="127.0.0.1", session=unknown) as data:
        assert not data.session_reused
        data.sendall(b"after the cache lost my session")
        data.unwrap()
    assert _next_reply(control).startswith("226")
    control.close()
    wait_for_status(gateway.out_dir(COMPANY), f"status_heartbeat_{txid}.xml", 2)


def test_data_connection_resuming_another_clients_session_is_refused(
    gateway: Gateway, pki: Path, cert: CertFactory
) -> None:
    """A session is a certificate's: resuming one issued to another client proves nothing."""
    other = Control(gateway.ftps_port)
    assert other.send("AUTH TLS").startswith("234")
    other_context = tls_context(pki, cert("other-employee"))
    other_context.maximum_version = ssl.TLSVersion.TLSv1_2  # a session data connections can resume
    other.sock = other_context.wrap_socket(other.sock, server_hostname="127.0.0.1")
    other.file = other.sock.makefile("rb")
    assert other.send("NOOP").startswith("200")
    stolen = other.sock.session
    victim = _session(gateway, pki, cert("employee"))
    port = victim.passive_port()
    assert victim.send("NLST").startswith(("125", "150"))
    with other_context.wrap_socket(_data_socket(port), server_hostname="127.0.0.1", session=stolen) as data:
        assert data.session_reused, "the attacker's session was resumed"
        assert _next_reply(victim).startswith("522 Data connection refused: it must present")
        assert _closed_without_a_byte(data), "nothing of the victim's listing"
    victim.close()
    other.close()


def test_plaintext_data_connection_is_refused(gateway: Gateway, pki: Path, cert: CertFactory) -> None:
    control = _session(gateway, pki, cert("employee"))
    port = control.passive_port()
    txid = _txid("plain")
    with _data_socket(port) as data:
        assert control.send(f"STOR heartbeat/{txid}").startswith(("125", "150"))
        data.sendall(b"plain text pretending to be a file\r\n" * 10)
        reply = _next_reply(control)
    assert reply.startswith("522 Data connection refused: TLS handshake failed"), reply
    assert control.send("NOOP").startswith("200"), "one reply, the session goes on"
    control.close()
    assert _eventually_free(gateway, txid)


def _files(directory: Path, prefix: str, count: int) -> list[Path]:
    """``count`` files of a few hundred bytes each, named as new transaction ids."""
    files = []
    for index in range(count):
        path = directory / _txid(f"{prefix}{index}")
        path.write_bytes(f"file {index} ".encode() * 100)
        files.append(path)
    return files


def _curl_many(gateway: Gateway, pki: Path, cert: ClientCert, files: list[Path]) -> list[str]:
    glob = "{" + ",".join(str(f) for f in files) + "}"
    result = curl(gateway.ftps_port, pki, cert, "/heartbeat/", "-T", glob, "-w", "%{response_code}\\n", timeout=240)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_curl_tls13_uploads_twenty_files_in_one_call(
    gateway: Gateway, pki: Path, cert: CertFactory, tmp_path: Path
) -> None:
    files = _files(tmp_path, "many", 20)
    assert _curl_many(gateway, pki, cert("employee"), files) == ["226"] * 20
    for path in files:
        status = wait_for_status(gateway.out_dir(COMPANY), f"status_heartbeat_{path.name}.xml", 2, timeout=60)
        assert status.findtext("Size") == str(path.stat().st_size)


def _stalls(trace: str) -> list[str]:
    """Data connections curl set up but started connecting to a second or more later (curl -v --trace-time)."""
    stalls, connecting = [], None
    for line in trace.splitlines():
        stamp, _, rest = line.partition(" ")
        if not re.fullmatch(r"\d\d:\d\d:\d\d\.\d+", stamp):
            continue
        hours, minutes, seconds = stamp.split(":")
        at = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        if rest.startswith("* Connecting to"):
            connecting = at
        elif rest.lstrip("* ").startswith("Trying") and connecting is not None:
            if at - connecting >= 0.9:
                stalls.append(f"{stamp}: {at - connecting:.3f} s after 'Connecting to'")
            connecting = None
    return stalls


def test_curl_uploading_forty_files_in_one_call_never_waits_a_second_for_a_data_connection(
    gateway: Gateway, pki: Path, cert: CertFactory, tmp_path: Path
) -> None:
    # curl 7.88 stalls one second when the reply to EPSV comes too fast (passive_reply.py): before
    # the gateway held that reply, one upload in ten of a curl session waited a second.
    files = _files(tmp_path, "nostall", 40)
    glob = "{" + ",".join(str(f) for f in files) + "}"
    result = curl(
        gateway.ftps_port, pki, cert("employee"), "/heartbeat/", "-T", glob, "-v", "--trace-time", timeout=240
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.count("* Connecting to") == 40
    # One is tolerated: curl still stalls when it is itself held up for over the 1 ms between
    # sending EPSV and looking for the reply (CI, once, with a second test run loading both cores).
    # Without the hold, 5 of 40 stalled.
    assert len(_stalls(result.stderr)) <= 1, _stalls(result.stderr)


def test_eight_curl_clients_at_once_fifty_files_each(
    gateway: Gateway, pki: Path, cert: CertFactory, tmp_path: Path
) -> None:
    batches = []
    for client in range(8):
        batch = []
        for index in range(50):
            path = tmp_path / _txid(f"par{client}-{index}")
            path.write_bytes(f"client {client} file {index} ".encode() * 20)
            batch.append(path)
        batches.append(batch)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda batch: _curl_many(gateway, pki, cert("employee"), batch), batches))
    assert [c for batch in codes for c in batch] == ["226"] * 400
    for batch in batches:
        for path in batch:
            wait_for_status(gateway.out_dir(COMPANY), f"status_heartbeat_{path.name}.xml", 2, timeout=120)


# --- 9.3 and 10.1: how an upload ends


def _tls13_upload_then_close_at_once(control: Control, pki: Path, cert: ClientCert, txid: str, data: bytes) -> str:
    """Send the file and close_notify through a MemoryBIO and close at once, reading nothing after
    the handshake (a session ticket, if the server sent one, stays unread)."""
    port = control.passive_port()
    sock = _data_socket(port)
    assert control.send(f"STOR heartbeat/{txid}").startswith(("125", "150"))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = tls_context(pki, cert).wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed during the handshake") from None
            incoming.write(chunk)
    tls.write(data)
    with pytest.raises(ssl.SSLWantReadError):
        tls.unwrap()  # writes our close_notify; the server's would have to be read
    sock.sendall(outgoing.read())
    sock.close()
    return _next_reply(control)


def test_tls13_client_closing_right_after_close_notify_gets_226(gateway: Gateway, pki: Path, cert: CertFactory) -> None:
    me = cert("employee")
    control = _session(gateway, pki, me)
    assert control.sock.version() == "TLSv1.3"
    txids = [_txid("tls13close") for _ in range(30)]
    replies = [_tls13_upload_then_close_at_once(control, pki, me, txid, b"x" * 200_000) for txid in txids]
    control.close()
    assert [r[:3] for r in replies] == ["226"] * len(txids), replies
    for txid in txids:
        wait_for_status(gateway.out_dir(COMPANY), f"status_heartbeat_{txid}.xml", 2)


def _tls_data(control: Control, pki: Path, cert: ClientCert, port: int) -> ssl.SSLSocket:
    source = control.sock.getsockname()[0]
    return tls_context(pki, cert).wrap_socket(_data_socket(port, source), server_hostname="127.0.0.1")


@pytest.mark.parametrize("ending", ["fin-then-close", "fin-then-reset", "reset"])
def test_truncated_upload_gets_one_reply_keeps_nothing_and_frees_its_id(
    gateway: Gateway, pki: Path, cert: CertFactory, ending: str
) -> None:
    me = cert("employee")
    control = _session(gateway, pki, me)
    txid = _txid(f"trunc-{ending}")
    spool = gateway.data_dir / "spool"
    earlier = set(spool.glob("*/payload"))
    data = _tls_data(control, pki, me, control.passive_port())
    assert control.send(f"STOR heartbeat/{txid}").startswith(("125", "150"))
    data.sendall(b"a" * 327_680)  # part of a larger file, cut at a record boundary
    raw = socket.socket(fileno=os.dup(data.fileno()))
    if ending == "reset":
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    else:
        raw.shutdown(socket.SHUT_WR)  # FIN without close_notify
        time.sleep(0.5)
        if ending == "fin-then-reset":
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    raw.close()
    data.close()
    reply = _next_reply(control)
    assert re.match(r"^(426|451) ", reply), reply
    assert "nothing was kept" in reply
    # The id is free the moment the reply arrives: the same transaction goes through at once.
    again = _tls_data(control, pki, me, control.passive_port())
    assert control.send(f"STOR heartbeat/{txid}").startswith(("125", "150")), "the id was freed before the reply"
    again.sendall(b"the whole file")
    again.unwrap().close()
    assert _next_reply(control).startswith("226")
    assert control.send("NOOP").startswith("200"), "exactly one final reply per transfer"
    control.close()
    status = wait_for_status(gateway.out_dir(COMPANY), f"status_heartbeat_{txid}.xml", 2)
    assert status.findtext("Size") == str(len(b"the whole file"))
    sizes = {p.stat().st_size for p in set(spool.glob("*/payload")) - earlier if p.exists()}
    assert 327_680 not in sizes, "the truncated file was not kept"


def test_abor_during_an_upload_answers_426_then_226_and_frees_the_id(
    gateway: Gateway, pki: Path, cert: CertFactory
) -> None:
    me = cert("employee")
    control = _session(gateway, pki, me)
    txid = _txid("abor")
    data = _tls_data(control, pki, me, control.passive_port())
    assert control.send(f"STOR heartbeat/{txid}").startswith(("125", "150"))
    data.sendall(b"c" * 100_000)
    time.sleep(0.3)  # the server has read some of it: a transfer in progress
    assert control.send("ABOR").startswith("426 Upload aborted; nothing was kept.")
    assert control.reply().startswith("226 ABOR")
    data.close()
    again = _tls_data(control, pki, me, control.passive_port())
    assert control.send(f"STOR heartbeat/{txid}").startswith(("125", "150")), "the id is free again"
    again.sendall(b"the whole file")
    again.unwrap().close()
    assert _next_reply(control).startswith("226 Transfer complete")
    assert control.send("NOOP").startswith("200")
    control.close()


# --- 10.2: a half-closed data connection must not spin the IO loop


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_half_closed_data_connections_do_not_spin_the_io_loop(gateway: Gateway, pki: Path, cert: CertFactory) -> None:
    me = cert("employee")
    controls, replies = [], []
    for _ in range(20):
        control = _session(gateway, pki, me)
        data = _tls_data(control, pki, me, control.passive_port())
        assert control.send(f"STOR heartbeat/{_txid('halfclose')}").startswith(("125", "150"))
        data.sendall(b"b" * 50_000)
        raw = socket.socket(fileno=os.dup(data.fileno()))
        raw.shutdown(socket.SHUT_WR)
        raw.settimeout(5)
        try:  # the server's close_notify (or its close)
            while raw.recv(65536):
                pass
        except OSError:
            pass
        raw.close()
        data.close()
        controls.append(control)
    for control in controls:
        replies.append(_next_reply(control))
        control.close()
    assert all(r.startswith("426") for r in replies), replies
    pid = gateway.procs["ingress"].pid
    time.sleep(1)
    before, started = _cpu_seconds(pid), time.monotonic()
    time.sleep(3)
    used, elapsed = _cpu_seconds(pid) - before, time.monotonic() - started
    assert used < 0.25 * elapsed, f"the ingress used {used:.2f}s of CPU in {elapsed:.1f}s after the attacker left"


# --- 10.4: plaintext pipelined after AUTH TLS


def test_plaintext_pipelined_after_auth_tls_is_discarded(gateway: Gateway, pki: Path, cert: CertFactory) -> None:
    control = Control(gateway.ftps_port)
    control.sock.sendall(b"AUTH TLS\r\nNOOP\r\nPBSZ 0\r\nPROT P\r\nUSER injected\r\n")
    assert control.reply().startswith("234")
    control.sock = tls_context(pki, cert("employee")).wrap_socket(control.sock, server_hostname="127.0.0.1")
    control.file = control.sock.makefile("rb")
    # The first reply inside TLS answers our first command inside TLS, not the injected NOOP.
    assert control.send("SYST").startswith("215"), "injected commands were answered inside TLS"
    assert control.send("PROT P").startswith("503"), "the injected PBSZ did not count"
    control.close()


# --- 10.3: unauthenticated handshakes are rate-limited; logged-in sessions keep working


def test_handshake_flood_is_rate_limited_and_transfers_keep_working(
    alt_gateway: Gateway, pki: Path, cert: CertFactory
) -> None:
    limit = ALT_LIMITS["max_tls_handshakes_per_minute_per_ip"]
    victim = ftplib_session(alt_gateway.ftps_port, pki, cert("employee"), source="127.0.0.21")
    context = ssl.create_default_context(cafile=str(pki / "server-ca.pem"))
    outcomes: list[str] = []
    for attempt in range(limit * 5):  # bounded flood from one address, certificate-less
        with socket.create_connection(
            ("127.0.0.1", alt_gateway.ftps_port), timeout=10, source_address=("127.0.0.22", 0)
        ) as sock:
            stream = sock.makefile("rb")
            stream.readline()
            sock.sendall(b"AUTH TLS\r\n")
            answer = stream.readline().decode()
            outcomes.append(answer[:3])
            if answer.startswith("234"):
                context.wrap_socket(sock, server_hostname="127.0.0.1").close()
        if attempt % limit == 0:
            txid = _txid("victim")
            assert victim.storbinary(f"STOR heartbeat/{txid}", io.BytesIO(b"still here")).startswith("226")
    assert outcomes.count("234") == limit, outcomes
    assert outcomes.count("421") == limit * 4
    assert victim.nlst("/out") is not None
    victim.quit()
    other = Control(alt_gateway.ftps_port, source="127.0.0.23")
    assert other.send("AUTH TLS").startswith("234"), "other addresses are not limited"
    assert 'reason="tls_handshake_rate"' in alt_gateway.metrics("ingress")


# --- 10.5: passive ports


def test_passive_port_exhaustion_gets_a_clear_425_and_never_a_port_outside_the_range(
    gateway: Gateway, pki: Path, cert: CertFactory
) -> None:
    me = cert("employee")
    per_ip = 10  # GATEWAY_MAX_PASSIVE_LISTENERS_PER_IP's default
    held: list[Control] = []
    try:
        for source in ("127.0.0.41", "127.0.0.42"):
            for _ in range(per_ip):
                control = _session(gateway, pki, me, source=source)
                assert control.passive_port() in gateway.passive_ports
                held.append(control)
        over_cap = _session(gateway, pki, me, source="127.0.0.41")
        held.append(over_cap)
        reply = over_cap.send("EPSV")
        assert reply.startswith("425 Too many open data ports from 127.0.0.41 (limit 10)"), reply
        assert len(gateway.passive_ports) == 2 * per_ip
        exhausted = _session(gateway, pki, me, source="127.0.0.43")
        held.append(exhausted)
        reply = exhausted.send("EPSV")
        assert reply.startswith("425 No data port is free right now"), reply
        assert exhausted.send("PASV").startswith("425"), "never a port outside the range"
        # A listener is given back the moment its session leaves.
        held.pop(0).close()
        deadline = time.monotonic() + 5
        while (reply := exhausted.send("EPSV")).startswith("425") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert reply.startswith("229"), reply
    finally:
        for control in held:
            control.close()


def test_unused_passive_port_closes_and_ends_the_waiting_upload(
    alt_gateway: Gateway, pki: Path, cert: CertFactory
) -> None:
    me = cert("employee")
    control = _session(alt_gateway, pki, me, source="127.0.0.27")
    txid = _txid("nodata")
    port = control.passive_port()
    assert control.send(f"STOR heartbeat/{txid}").startswith("150")
    reply = _next_reply(control, timeout=ALT_LIMITS["passive_timeout"] + 5)
    assert reply.startswith(f"425 No data connection within {ALT_LIMITS['passive_timeout']} seconds"), reply
    with pytest.raises(ConnectionRefusedError):
        _data_socket(port, source="127.0.0.27").close()  # the listener is gone
    # The STOR ended with that reply, its id free: the same transaction goes through now.
    data = _tls_data(control, pki, me, control.passive_port())
    assert control.send(f"STOR heartbeat/{txid}").startswith(("125", "150"))
    data.sendall(b"now with data")
    data.unwrap().close()
    assert _next_reply(control).startswith("226")
    control.close()


# --- 10.10 (connection part): short timeouts before login and for unhandshaken data connections


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    sock.setblocking(False)
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], 0.2)
        if ready:
            try:
                if sock.recv(65536) == b"":
                    return True
            except ConnectionError:
                return True
    return False


def test_connections_that_do_not_log_in_are_closed_after_the_login_timeout(alt_gateway: Gateway) -> None:
    login_timeout = ALT_LIMITS["login_timeout"]
    assert login_timeout < ALT_LIMITS["idle_timeout"]
    started = time.monotonic()
    bare = socket.create_connection(("127.0.0.1", alt_gateway.ftps_port), source_address=("127.0.0.24", 0))
    partial = socket.create_connection(("127.0.0.1", alt_gateway.ftps_port), source_address=("127.0.0.24", 0))
    partial.recv(1024)
    partial.sendall(b"AUTH TLS\r\n")
    partial.recv(1024)
    partial.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # the start of a ClientHello
    silent = socket.create_connection(("127.0.0.1", alt_gateway.ftps_port), source_address=("127.0.0.24", 0))
    silent.recv(1024)
    silent.sendall(b"AUTH TLS\r\n")
    silent.recv(1024)
    for sock in (bare, partial, silent):
        assert _closed_within(sock, login_timeout + 3), "held past the login timeout"
        sock.close()
    assert time.monotonic() - started < login_timeout + 4
    # Commands before login do not extend the deadline (an idle timer would run till +3.5 s here).
    chatty = socket.create_connection(("127.0.0.1", alt_gateway.ftps_port), source_address=("127.0.0.28", 0))
    connected = time.monotonic()
    chatty.recv(1024)
    for _ in range(int((login_timeout - 0.5) * 4)):
        chatty.sendall(b"NOOP\r\n")
        time.sleep(0.25)
    assert _closed_within(chatty, connected + login_timeout + 1.25 - time.monotonic())
    chatty.close()


def test_data_connection_without_handshake_is_closed_soon(alt_gateway: Gateway, pki: Path, cert: CertFactory) -> None:
    control = _session(alt_gateway, pki, cert("employee"), source="127.0.0.25")
    port = control.passive_port()
    with _data_socket(port, source="127.0.0.25") as data:
        assert control.send("NLST").startswith(("125", "150"))
        assert _closed_within(data, ALT_LIMITS["data_handshake_timeout"] + 2)
    reply = _next_reply(control)
    assert reply.startswith("425 Data connection refused: no TLS handshake within"), reply
    control.close()
