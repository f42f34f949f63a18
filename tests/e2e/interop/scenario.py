"""The interop scenario, as steps every client library runs the same way, and the Python drivers.

A step is a tuple of strings: ("list", path), ("cwd", dir), ("cdup",), ("mkd", dir),
("put", local, remote), ("mfmt", remote, YYYYMMDDHHMMSS), ("get", remote, local), ("dele", remote).
The Java, Perl and Node programs in clients/ read them as tab-separated lines; every client reports
each step as one JSON object: op, ok, code and reply (the server's final reply, where the library
exposes it), names for listings, error when the library raised.
"""

from __future__ import annotations

import asyncio
import ftplib
import json
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aioftp

from tests.support.clients import ClientCert
from tests.support.ftps import tls_context

Step = tuple[str, ...]
Result = dict[str, Any]
MTIME = "20260101120000"  # what a GUI client sets after an upload: the local file's modification time


@dataclass(frozen=True)
class Upload:
    """The files of one client's run: a mode-1 upload (the file is the transaction) and a mode-2 one."""

    direct: str  # txid of the mode-1 upload
    folder: str  # txid of the mode-2 upload (its folder name)
    payload: Path
    document: Path
    # The mode-2 file's name on the server; the local paths stay ASCII, since a JVM in the C locale
    # cannot open other file names.
    document_name: str

    def statuses(self) -> list[str]:
        return [f"status_heartbeat_{self.direct}.xml", f"status_heartbeat_{self.folder}.xml"]


def upload_steps(upload: Upload) -> list[Step]:
    """List, upload in both modes (a reused id is refused), then the guide's mode-2 steps as a GUI
    client takes them: after the 226 it sets the file's time (MFMT), refreshes the folder (LIST) and
    goes back up (CDUP)."""
    return [
        ("list", ""),
        ("cwd", "heartbeat"),
        ("put", str(upload.payload), upload.direct),
        ("put", str(upload.payload), upload.direct),
        ("mkd", upload.folder),
        ("cwd", upload.folder),
        ("mkd", "in"),
        ("cwd", "in"),
        ("put", str(upload.document), upload.document_name),
        ("mfmt", upload.document_name, MTIME),
        ("list", ""),
        ("cdup",),
        ("list", ""),
        ("cdup",),
        ("list", ""),
    ]


def collect_steps(upload: Upload, downloads: Path) -> list[Step]:
    """A later session: list /out, download and delete each status file."""
    steps: list[Step] = [("list", "/out")]
    for name in upload.statuses():
        steps += [("get", f"/out/{name}", str(downloads / name)), ("dele", f"/out/{name}")]
    return steps


def run_program(
    command: list[str], steps: list[Step], workdir: Path, env: dict[str, str] | None = None
) -> list[Result]:
    """Run a client program of clients/ over ``steps``; return its reports."""
    script = workdir / f"steps-{len(list(workdir.glob('steps-*')))}.tsv"
    script.write_text("".join("\t".join(step) + "\n" for step in steps))
    done = subprocess.run([*command, str(script)], capture_output=True, text=True, timeout=180, env=env, check=False)
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if not results:
        raise AssertionError(f"{command[0]} reported nothing (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return results


def _code(text: str) -> int:
    return int(text[:3]) if text[:3].isdigit() else 0


def _reported(op: str, reply: str, names: list[str] | None = None) -> Result:
    result: Result = {"op": op, "ok": True, "code": _code(reply), "reply": reply}
    if names is not None:
        result["names"] = names
    return result


def run_ftplib(port: int, pki: Path, cert: ClientCert, steps: list[Step]) -> list[Result]:
    """Python's stock ftplib.FTP_TLS: each data connection is a fresh TLS handshake with the same
    client certificate, never a resumed session."""
    ftp = ftplib.FTP_TLS(context=tls_context(pki, cert), timeout=30)
    results = [
        _reported("connect", ftp.connect("127.0.0.1", port)),
        _reported("login", ftp.login("anonymous", "guest")),
    ]
    ftp.prot_p()
    ftp.voidcmd("TYPE I")
    for op, *args in steps:
        try:
            if op == "list":
                lines: list[str] = []
                reply = ftp.retrlines(f"LIST {args[0]}".strip(), lines.append)
                results.append(_reported(op, reply, [line.split()[-1] for line in lines]))
            elif op == "put":
                with Path(args[0]).open("rb") as source:
                    results.append(_reported(op, ftp.storbinary(f"STOR {args[1]}", source)))
            elif op == "get":
                with Path(args[1]).open("wb") as target:
                    results.append(_reported(op, ftp.retrbinary(f"RETR {args[0]}", target.write)))
            else:
                command = {"cwd": "CWD", "cdup": "CDUP", "mkd": "MKD", "dele": "DELE"}.get(op)
                line = f"MFMT {args[1]} {args[0]}" if op == "mfmt" else " ".join([str(command), *args])
                results.append(_reported(op, ftp.sendcmd(line)))
        except ftplib.all_errors as error:
            results.append(
                {"op": op, "ok": False, "code": _code(str(error)), "reply": str(error), "error": repr(error)}
            )
    ftp.quit()
    return results


async def _aioftp(port: int, context: ssl.SSLContext, steps: list[Step]) -> list[Result]:
    client = aioftp.Client(socket_timeout=30, connection_timeout=15)
    await client.connect("127.0.0.1", port)
    await client.upgrade_to_tls(context)  # AUTH TLS, PBSZ 0, PROT P
    await client.login("anonymous", "guest")
    results: list[Result] = []
    for op, *args in steps:
        try:
            if op == "list":
                names = [path.name for path, _info in await client.list(args[0] or ".")]
                results.append({"op": op, "ok": True, "code": 0, "reply": "", "names": names})
            elif op in ("put", "get"):
                # What the library's upload_stream/download_stream do, keeping the final reply.
                if op == "put":
                    stream = await client.upload_stream(args[1])
                    await stream.write(await asyncio.to_thread(Path(args[0]).read_bytes))
                else:
                    stream = await client.download_stream(args[0])
                    body = b"".join([block async for block in stream.iter_by_block()])
                    await asyncio.to_thread(Path(args[1]).write_bytes, body)
                stream.close()
                code, info = await client.command(None, "2xx", "1xx")
                results.append({"op": op, "ok": True, "code": int(code), "reply": " ".join(info)})
            else:
                command = {"cwd": "CWD", "cdup": "CDUP", "mkd": "MKD", "dele": "DELE"}.get(op)
                line = f"MFMT {args[1]} {args[0]}" if op == "mfmt" else " ".join([str(command), *args])
                code, info = await client.command(line, "2xx")
                results.append({"op": op, "ok": True, "code": int(code), "reply": " ".join(info)})
        except aioftp.StatusCodeError as error:
            code = int(next(iter(error.received_codes), 0))
            results.append({"op": op, "ok": False, "code": code, "reply": str(error.info), "error": repr(error)})
    await client.quit()
    return results


def run_aioftp(port: int, pki: Path, cert: ClientCert, steps: list[Step]) -> list[Result]:
    """aioftp (asyncio): explicit TLS with upgrade_to_tls; its data connections resume the control
    connection's TLS session."""
    return asyncio.run(_aioftp(port, tls_context(pki, cert), steps))
