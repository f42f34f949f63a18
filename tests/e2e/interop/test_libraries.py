"""Client libraries that integration code is built on, on their defaults plus the user's certificate
and CA: Apache Commons Net (Java), Net::FTP with IO::Socket::SSL (Perl), basic-ftp (Node), aioftp and
Python's stock ftplib. Each runs the same steps (scenario.py) against the gateway's default settings.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.interop.conftest import Programs
from tests.e2e.interop.scenario import (
    Result,
    Step,
    Upload,
    collect_steps,
    run_aioftp,
    run_ftplib,
    run_program,
    upload_steps,
)
from tests.support.clients import ClientCert, read_status, wait_for_status
from tests.support.gateway import Gateway

pytestmark = pytest.mark.e2e
COMPANY = "company/30808460"
CLIENTS = ("commons-net", "perl", "basic-ftp", "aioftp", "ftplib")
# The one reply each step ends with when it succeeds (MFMT: RFC 3659's 213, as pyftpdlib answers).
SUCCESS = {"list": 226, "cwd": 250, "cdup": 250, "mkd": 257, "put": 226, "mfmt": 213, "get": 226, "dele": 250}
# Steps whose final reply the library does not hand to its caller: only success or an error.
UNREPORTED = {"basic-ftp": {"list"}, "aioftp": {"list"}}


def _runner(client: str, gateway: Gateway, pki: Path, me: ClientCert, programs: Programs, workdir: Path):
    if client == "ftplib":
        return lambda steps: run_ftplib(gateway.ftps_port, pki, me, steps)
    if client == "aioftp":
        return lambda steps: run_aioftp(gateway.ftps_port, pki, me, steps)
    command = programs.command(client, gateway.ftps_port, pki, me)
    return lambda steps: run_program(command, steps, workdir, programs.env())


def _steps_only(results: list[Result]) -> list[Result]:
    """The reports of the steps, without the connect/login ones the programs add in front."""
    return [r for r in results if r["op"] not in ("connect", "auth", "login")]


def _expected(client: str, step: Step, *, ok: bool = True) -> tuple[str, bool, int]:
    op = step[0]
    code = 0 if op in UNREPORTED.get(client, ()) else SUCCESS[op] if ok else 553
    return op, ok, code


def _outcome(client: str, results: list[Result]) -> list[tuple[str, bool, int]]:
    return [(r["op"], r["ok"], 0 if r["op"] in UNREPORTED.get(client, ()) else r["code"]) for r in results]


def _describe(steps: list[Step], results: list[Result]) -> str:
    return "\n".join(f"{' '.join(step)[:70]:70} -> {result}" for step, result in zip(steps, results, strict=False))


@pytest.mark.parametrize("client", CLIENTS)
def test_library(
    client: str, gateway: Gateway, pki: Path, cert: Callable[[str], ClientCert], programs: Programs, tmp_path: Path
) -> None:
    run: Callable[[list[Step]], list[Result]] = _runner(client, gateway, pki, cert("employee"), programs, tmp_path)
    tag = f"{client}-{uuid.uuid4().hex[:8]}"
    payload, document = tmp_path / "payload.bin", tmp_path / "document.xml"
    payload.write_bytes(b"mode-1 upload from " + client.encode() + b"\n" * 4000)
    document.write_bytes(f"<dokument>{client}</dokument>".encode())
    upload = Upload(f"{tag}-direct", f"{tag}-folder", payload, document, f"løn-{tag}.xml")  # Danish: the usual case

    steps = upload_steps(upload)
    results = _steps_only(run(steps))
    # Every step succeeds with its one reply, except the reused transaction id: one 553, before any
    # data. The folder of a mode-2 upload stays for the client after the 226 (MFMT, LIST, CDUP).
    expected = [_expected(client, step, ok=index != 3) for index, step in enumerate(steps)]
    assert _outcome(client, results) == expected, _describe(steps, results)
    assert "heartbeat" in results[0]["names"]

    out = gateway.out_dir(COMPANY)
    wait_for_status(out, upload.statuses()[0], 2)
    assert wait_for_status(out, upload.statuses()[1], 2).findtext("FileName") == upload.document_name

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    steps = collect_steps(upload, downloads)
    results = _steps_only(run(steps))
    assert _outcome(client, results) == [_expected(client, step) for step in steps], _describe(steps, results)
    assert set(upload.statuses()) <= {Path(name).name for name in results[0]["names"]}
    for name in upload.statuses():
        assert read_status(downloads / name).findtext("StatusCode") == "2"
        assert not (out / name).exists(), f"{name} deleted"
