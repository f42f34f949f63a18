"""curl (OpenSSL) and lftp (GnuTLS) as people use them: many files in one call, several clients at
once, and the guide's mode-2 steps followed by what a GUI client does next. Only the options a user
sets: certificate, key, CA, explicit TLS (curl --ssl-reqd; lftp ftp:ssl-force), and the TLS version.

The server's replies are read from the clients' own protocol logs (curl -v, lftp's debug output):
every accepted upload must show exactly one 226 there, and nothing else may be refused.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.interop.scenario import MTIME
from tests.support.clients import ClientCert, curl, curl_command, lftp, read_status, wait_for_status
from tests.support.gateway import Gateway
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e
COMPANY = "company/30808460"
FILES = 20
CLIENTS_AT_ONCE = 8
# curl's default negotiates TLS 1.3 with OpenSSL 3 on the control connection; data connections
# are TLS 1.2 (see docs/hardening.md, issue 9.3), so a client that allows only TLS 1.3 is refused.
TLS_VERSIONS = {"tls1.2": ("--tls-max", "1.2"), "default": ()}
# How each client's protocol log shows a command it sent and a reply line it read.
CURL_LOG = ("> ", "< ")
LFTP_LOG = ("---> ", "<--- ")
FINAL_REPLY = re.compile(r"[2-5]\d\d ")


def _files(directory: Path, prefix: str, count: int = FILES) -> list[Path]:
    tag = uuid.uuid4().hex[:8]
    files = [directory / f"{prefix}-{tag}-{i:02}" for i in range(count)]
    for i, path in enumerate(files):
        path.write_bytes(f"file {i} of {prefix}\n".encode() * (50 + i))
    return files


def _exchanges(log: str, prefixes: tuple[str, str]) -> list[tuple[str, str]]:
    """(command, final reply code) pairs in a client's protocol log: preliminary 1xx replies and the
    continuation lines of multi-line replies are skipped; the greeting pairs with an empty command."""
    sent, received = prefixes
    pairs: list[tuple[str, str]] = []
    command = ""
    for line in log.splitlines():
        if line.startswith(sent):
            command = line.removeprefix(sent).strip()
        elif line.startswith(received) and FINAL_REPLY.match(line.removeprefix(received)):
            pairs.append((command, line.removeprefix(received)[:3]))
    return pairs


def _show(pairs: list[tuple[str, str]]) -> str:
    """The exchanges in full, for assertion messages (pytest shortens a long list's repr)."""
    return "\n".join(f"{code} <- {command}" for command, code in pairs)


def _uploads(pairs: list[tuple[str, str]]) -> list[str]:
    return [code for command, code in pairs if command.startswith("STOR ")]


def _refused(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The refusals after the login (lftp tries OPTS UTF8 ON before it, and goes on without it)."""
    logged_in = next(i for i, (command, code) in enumerate(pairs) if command.startswith("PASS ") and code == "230")
    return [(command, code) for command, code in pairs[logged_in:] if code[0] in "45"]


def _assert_delivered(out: Path, files: list[Path]) -> None:
    for path in files:
        wait_for_status(out, f"status_heartbeat_{path.name}.xml", 2, timeout=60)


def _curl_many(gateway: Gateway, pki: Path, me: ClientCert, files: list[Path], *tls: str) -> list[str]:
    upload = "{" + ",".join(str(path) for path in files) + "}"
    result = curl(gateway.ftps_port, pki, me, "/heartbeat/", *tls, "-v", "-T", upload, timeout=120)
    pairs = _exchanges(result.stderr, CURL_LOG)
    assert (result.returncode, _refused(pairs)) == (0, []), _show(pairs)
    return _uploads(pairs)


@pytest.mark.parametrize("tls", TLS_VERSIONS)
def test_curl_many_files_in_one_call(
    tls: str, gateway: Gateway, pki: Path, cert: Callable[[str], ClientCert], tmp_path: Path
) -> None:
    files = _files(tmp_path, f"curl-{tls}")
    assert _curl_many(gateway, pki, cert("employee"), files, *TLS_VERSIONS[tls]) == ["226"] * FILES
    _assert_delivered(gateway.out_dir(COMPANY), files)


def test_curl_that_allows_only_tls13_is_told_data_connections_use_tls12(
    gateway: Gateway, pki: Path, cert: Callable[[str], ClientCert], tmp_path: Path
) -> None:
    (path,) = _files(tmp_path, "curl-tls13-only", 1)
    result = curl(
        gateway.ftps_port, pki, cert("employee"), "/heartbeat/", "--tlsv1.3", "-v", "-T", str(path), timeout=60
    )
    assert result.returncode != 0
    pairs = _exchanges(result.stderr, CURL_LOG)
    assert "226" not in _uploads(pairs), _show(pairs)
    assert not (gateway.out_dir(COMPANY) / f"status_heartbeat_{path.name}.xml").exists()
    # The 522 naming TLS 1.2 is sent at once, but curl reads it only when it has not moved on to
    # its next command yet, so the refusal is checked where the ingress records it.
    # curl gives up on the TLS alert without waiting, so the ingress may log the refusal just after.
    eventually(
        lambda: "handshake_failed" in gateway.log_path("ingress").read_text(),
        "the ingress did not refuse the TLS 1.3-only data connection",
    )


def test_curl_clients_at_once(gateway: Gateway, pki: Path, cert: Callable[[str], ClientCert], tmp_path: Path) -> None:
    batches = [_files(tmp_path, f"curl-at-once-{n}") for n in range(CLIENTS_AT_ONCE)]
    me = cert("employee")
    with ThreadPoolExecutor(CLIENTS_AT_ONCE) as pool:
        replies = list(pool.map(lambda files: _curl_many(gateway, pki, me, files), batches))
    assert replies == [["226"] * FILES] * CLIENTS_AT_ONCE
    _assert_delivered(gateway.out_dir(COMPANY), [path for files in batches for path in files])


def test_curl_guide_mode_2(gateway: Gateway, pki: Path, cert: Callable[[str], ClientCert], tmp_path: Path) -> None:
    """--ftp-create-dirs takes the guide's steps (CWD fails, MKD <txid>, CWD, MKD in, CWD in, STOR);
    then MFMT (post-quote), and on the same connection (--next) a LIST of the folder and CDUP."""
    me, txid = cert("employee"), f"curl-guide-{uuid.uuid4().hex[:8]}"
    document = tmp_path / "faktura.xml"
    document.write_bytes(b"<faktura>curl</faktura>")
    folder = f"/heartbeat/{txid}/in/"
    upload = curl_command(gateway.ftps_port, pki, me, folder, "-v", "--ftp-create-dirs", "-T", str(document),
                          "-Q", f"-MFMT {MTIME} {document.name}")  # fmt: skip
    then = curl_command(gateway.ftps_port, pki, me, folder, "-Q", "-CDUP")
    result = subprocess.run([*upload, "--next", *then[1:]], capture_output=True, text=True, timeout=60, check=False)
    pairs = _exchanges(result.stderr, CURL_LOG)
    assert result.returncode == 0, _show(pairs)
    assert _uploads(pairs) == ["226"], _show(pairs)
    after_upload = pairs[[command for command, _ in pairs].index(f"STOR {document.name}") + 1 :]
    assert [(c, code) for c, code in after_upload if c.split()[0] in ("MFMT", "LIST", "CDUP")] == [
        (f"MFMT {MTIME} {document.name}", "213"),
        ("LIST", "226"),
        ("CDUP", "250"),
    ], _show(pairs)
    # --ftp-create-dirs tries CWD before each MKD: those 550s are the only refusals.
    assert _refused(pairs) == [(f"CWD {txid}", "550"), ("CWD in", "550")], _show(pairs)

    out, name = gateway.out_dir(COMPANY), f"status_heartbeat_{txid}.xml"
    assert wait_for_status(out, name, 2).findtext("FileName") == document.name
    local = tmp_path / name
    assert curl(gateway.ftps_port, pki, me, "/%2Fout/", "--list-only").stdout.split().count(name) == 1
    assert curl(gateway.ftps_port, pki, me, f"/%2Fout/{name}", "-o", str(local)).returncode == 0
    assert read_status(local).findtext("StatusCode") == "2"
    assert curl(gateway.ftps_port, pki, me, "/%2Fout/", "--list-only", "-Q", f"-DELE {name}").returncode == 0
    assert not (out / name).exists()


def test_lftp_mput(gateway: Gateway, pki: Path, cert: Callable[[str], ClientCert], tmp_path: Path) -> None:
    files = _files(tmp_path, "lftp-mput")
    result = lftp(gateway.ftps_port, pki, cert("employee"), f"debug 5; cd heartbeat && mput {tmp_path}/lftp-mput-*")
    pairs = _exchanges(result.stderr, LFTP_LOG)
    assert result.returncode == 0, _show(pairs)
    assert _uploads(pairs) == ["226"] * FILES, _show(pairs)
    # lftp sets each file's time (MFMT) after its upload and says nothing when that fails.
    assert _refused(pairs) == [], _show(pairs)
    _assert_delivered(gateway.out_dir(COMPANY), files)


def test_lftp_guide_mode_2(gateway: Gateway, pki: Path, cert: Callable[[str], ClientCert], tmp_path: Path) -> None:
    me, txid = cert("employee"), f"lftp-guide-{uuid.uuid4().hex[:8]}"
    document = tmp_path / "indberetning.xml"
    document.write_bytes(b"<indberetning>lftp</indberetning>")
    script = (
        f"debug 5; cd heartbeat && mkdir {txid} && cd {txid} && mkdir in && cd in && put {document}"
        f" && quote MFMT {MTIME} {document.name} && ls && cd .. && ls"
    )
    result = lftp(gateway.ftps_port, pki, me, script)
    pairs = _exchanges(result.stderr, LFTP_LOG)
    assert (result.returncode, _refused(pairs)) == (0, []), _show(pairs)
    assert _uploads(pairs) == ["226"], _show(pairs)
    # put sets the file's time itself (MFMT, logged); quote's exchange is not logged, its reply is printed.
    assert [code for command, code in pairs if command.startswith("MFMT ")] == ["213"], _show(pairs)
    assert re.search(r"^213 ", result.stdout, re.MULTILINE), result.stdout

    out, name = gateway.out_dir(COMPANY), f"status_heartbeat_{txid}.xml"
    assert wait_for_status(out, name, 2).findtext("FileName") == document.name
    local = tmp_path / name
    result = lftp(gateway.ftps_port, pki, me, f"cd /out && cls -1 && get {name} -o {local} && rm {name}")
    assert result.returncode == 0, result.stderr
    assert name in result.stdout.split()
    assert read_status(local).findtext("StatusCode") == "2"
    assert not (out / name).exists()
