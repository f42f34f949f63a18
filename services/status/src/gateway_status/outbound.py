"""Outbound files: backends push a file for a person (PID) or a company (CVR) into their /out.

    PUT /outbound/{personal|company}/{id}/{file_name}
        Authorization: Bearer <the backend's token>
        Idempotency-Key: <unique per file; a retried push with the same key makes no second file>

201 when the file was placed, 200 when the key was seen before (nothing changes), 401 for an
unknown token, 403 outside the token's scope (recipients, file names; see tokens.py), 404 for
a recipient that has never logged in (unless the scope names it), 409 when the key was used
for other content or the name is taken, 413 over the size limit, 422 for an unusable name
(control or invisible formatting characters, a reserved prefix in any case), 507 when the
recipient's /out holds too much. The body is streamed to a hidden temporary file in the
recipient's /out (invisible to FTPS clients), fsync'd, and linked into place atomically.

Outbound files may fill a recipient's /out only up to GATEWAY_OUTBOUND_QUOTA_BYTES, counted
over everything in it: kept below the ingress's upload quota, backends alone can never lock
a tenant out of uploads (docs/hardening.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, BinaryIO

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from gateway_common import metrics
from gateway_common.logging import get_logger
from gateway_common.naming import Naming
from gateway_common.storage import TMP_PREFIX, StorageLayout, atomic_write, fsync_dir, is_safe_file_name, out_usage

from gateway_status.idempotency import find_record, key_record, locked
from gateway_status.tokens import BackendScope, authenticate

log = get_logger(__name__)


@dataclass(frozen=True)
class Placed:
    file_name: str
    size: int
    sha256: str
    # Set once the file is in /out: a retry after the recipient deleted it must not bring it back.
    linked: bool = False


class Outbound:
    def __init__(
        self,
        layout: StorageLayout,
        scopes: dict[str, BackendScope],
        max_size: int,
        quota: int,
        naming: Naming | None = None,
    ) -> None:
        self.layout = layout
        self.records = layout.data_dir / "outbound"
        self.scopes = scopes
        self.max_size = max_size
        self.quota = quota
        self.reserved = (*(naming or Naming()).reserved_prefixes, TMP_PREFIX)

    def backend_of(self, authorization: str) -> tuple[str, BackendScope]:
        return authenticate(self.scopes, authorization)

    def check_room(self, out: Path, size: int) -> None:
        used = out_usage(out)
        if used + size > self.quota:
            raise HTTPException(
                507,
                f"the recipient's /out holds {used} bytes; outbound files may fill it up to {self.quota}: "
                "push again once the recipient has downloaded and deleted files",
            )

    def place(self, backend: str, key: str, out: Path, name: str, tmp: Path, placed: Placed) -> bool:
        """Link ``tmp`` into ``out`` as ``name`` once per key; return False for a repeated key."""
        record = key_record(self.records, backend, key)
        with locked(record):
            found = find_record(record)
            if found is not None:
                earlier = Placed(**json.loads(found.read_text()))
                if (earlier.sha256, earlier.file_name) != (placed.sha256, placed.file_name):
                    raise HTTPException(409, "this Idempotency-Key was used for another file")
                if earlier.linked or (out / name).exists():
                    return False
            # Recorded before the link: a crash in between is completed by the retried push.
            atomic_write(record, json.dumps(placed.__dict__).encode())
            try:
                os.link(tmp, out / name)
            except FileExistsError:
                record.unlink()
                raise HTTPException(409, f"{name!r} already exists in the recipient's /out") from None
            fsync_dir(out)
            atomic_write(record, json.dumps({**placed.__dict__, "linked": True}).encode())
            return True


@dataclass(frozen=True)
class Received:
    tmp: Path
    sha256: str
    size: int


@contextlib.asynccontextmanager
async def received_body(request: Request, directory: Path, max_size: int) -> AsyncIterator[Received]:
    """Stream the request body into a hidden, fsync'd file in ``directory``; removed afterwards."""
    try:
        tmp, handle = await asyncio.to_thread(_open_tmp, directory)
    except OSError as exc:
        raise HTTPException(507, f"cannot store the file: {os.strerror(exc.errno or errno.EIO)}") from exc
    try:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_size:
                raise HTTPException(413, f"files may be at most {max_size} bytes")
            digest.update(chunk)
            await asyncio.to_thread(handle.write, chunk)
        await asyncio.to_thread(_finish, handle)
        yield Received(tmp, digest.hexdigest(), size)
    except OSError as exc:
        raise HTTPException(507, f"cannot store the file: {os.strerror(exc.errno or errno.EIO)}") from exc
    finally:
        handle.close()
        await asyncio.to_thread(tmp.unlink, missing_ok=True)


def check_file_name(name: str, reserved: tuple[str, ...]) -> None:
    """422 with what is wrong, for a name a backend chose for a file in /out."""
    if not is_safe_file_name(name) or len(name) > 200:
        raise HTTPException(
            422,
            f"{name!r} is not a usable file name: one name of at most 200 characters (255 bytes), not starting "
            "with a dot, without '/', control characters (CR, LF, ...) or invisible formatting characters "
            "(bidi overrides such as U+202E)",
        )
    if not is_safe_file_name(name, reserved):
        raise HTTPException(
            422,
            f"{name!r} starts with a prefix the gateway keeps for its own files ({', '.join(reserved)}), in any case",
        )


def _open_tmp(out: Path) -> tuple[Path, BinaryIO]:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f"{TMP_PREFIX}outbound.{secrets.token_hex(8)}"
    return tmp, tmp.open("xb")


def _finish(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


def _recipient_out(outbound: Outbound, scope: BackendScope, backend: str, kind: str, recipient: str) -> Path:
    if kind not in ("personal", "company"):
        raise HTTPException(404, "recipients are personal/<pid> or company/<cvr>")
    if not scope.may_send_to(kind, recipient):
        raise HTTPException(403, f"backend {backend} may not send files to {kind}/{recipient}")
    try:
        root = outbound.layout.tenant_root(f"{kind}/{recipient}")
    except ValueError as exc:
        raise HTTPException(404, str(exc)) from exc
    # A push never creates a tenant the backend does not name: a typo or a guessed id would
    # otherwise make folders for people and companies that never use the gateway.
    if not root.is_dir() and not scope.names_recipient(kind, recipient):
        raise HTTPException(404, f"{kind}/{recipient} has never logged in to the gateway")
    return root / "out"


def build_outbound_app(outbound: Outbound) -> FastAPI:
    app = FastAPI(title="gateway outbound files", docs_url=None, redoc_url=None, openapi_url=None)

    @app.put("/outbound/{kind}/{recipient}/{file_name}", status_code=201)
    async def push(
        kind: str,
        recipient: str,
        file_name: str,
        request: Request,
        idempotency_key: Annotated[str, Header(min_length=1, max_length=200)],
        authorization: Annotated[str, Header()] = "",
    ) -> JSONResponse:
        try:
            backend, scope = outbound.backend_of(authorization)
        except HTTPException:
            metrics.OUTBOUND_FILES.labels(backend="", result="401").inc()
            log.warning("outbound push refused: unknown token", remote=request.client and request.client.host)
            raise
        try:
            out = _recipient_out(outbound, scope, backend, kind, recipient)
            check_file_name(file_name, outbound.reserved)
            if not scope.may_name(file_name):
                raise HTTPException(
                    403, f"backend {backend} may push files named {', '.join(scope.names) or '(nothing)'} only"
                )
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > outbound.max_size:
                raise HTTPException(413, f"files may be at most {outbound.max_size} bytes")
            await asyncio.to_thread(outbound.check_room, out, int(declared) if declared and declared.isdigit() else 0)
        except HTTPException as exc:
            metrics.OUTBOUND_FILES.labels(backend=backend, result=str(exc.status_code)).inc()
            raise
        try:
            async with received_body(request, out, outbound.max_size) as body:
                # Counted again now that the real size is known (a chunked body declares none up
                # front): the body is in /out already, as the hidden temporary file, so nothing is added.
                await asyncio.to_thread(outbound.check_room, out, 0)
                placed = Placed(file_name, body.size, body.sha256)
                new = await asyncio.to_thread(
                    outbound.place, backend, idempotency_key, out, file_name, body.tmp, placed
                )
        except HTTPException as exc:
            metrics.OUTBOUND_FILES.labels(backend=backend, result=str(exc.status_code)).inc()
            raise
        metrics.OUTBOUND_FILES.labels(backend=backend, result="placed" if new else "repeated").inc()
        log.info(
            "outbound file",
            backend=backend,
            tenant=f"{kind}/{recipient}",
            file_name=file_name,
            size=placed.size,
            new=new,
        )
        return JSONResponse(placed.__dict__, status_code=201 if new else 200)

    return app
