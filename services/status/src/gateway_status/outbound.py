"""Outbound files: backends push a file for a person (PID) or a company (CVR) into their /out.

    PUT /outbound/{personal|company}/{id}/{file_name}
        Authorization: Bearer <the backend's token>
        Idempotency-Key: <unique per file; a retried push with the same key makes no second file>

201 when the file was placed, 200 when the key was seen before (nothing changes), 401 for an
unknown token, 409 when the key was used for other content or the name is taken, 413 over
the size limit, 422 for an unusable name. The body is streamed to a hidden temporary file in
the recipient's /out (invisible to FTPS clients), fsync'd, and linked into place atomically.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, BinaryIO

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from gateway_common import metrics
from gateway_common.logging import get_logger
from gateway_common.storage import TMP_PREFIX, StorageLayout, atomic_write, fsync_dir, is_safe_file_name

from gateway_status.tokens import bearer_name

log = get_logger(__name__)
_RESERVED_PREFIXES = ("status_", "response_", TMP_PREFIX)


@dataclass(frozen=True)
class Placed:
    file_name: str
    size: int
    sha256: str
    # Set once the file is in /out: a retry after the recipient deleted it must not bring it back.
    linked: bool = False


class Outbound:
    def __init__(self, layout: StorageLayout, token_hashes: dict[str, str], max_size: int) -> None:
        self.layout = layout
        self.records = layout.data_dir / "outbound"
        self.token_hashes = token_hashes
        self.max_size = max_size

    def backend_of(self, authorization: str) -> str:
        return bearer_name(self.token_hashes, authorization)

    @contextlib.contextmanager
    def _locked(self, record: Path) -> Iterator[None]:
        record.parent.mkdir(parents=True, exist_ok=True)
        with record.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def place(self, backend: str, key: str, out: Path, name: str, tmp: Path, placed: Placed) -> bool:
        """Link ``tmp`` into ``out`` as ``name`` once per key; return False for a repeated key."""
        record = self.records / backend / f"{hashlib.sha256(key.encode()).hexdigest()}.json"
        with self._locked(record):
            if record.exists():
                earlier = Placed(**json.loads(record.read_text()))
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


def _check_name(name: str) -> None:
    if len(name) > 200 or not is_safe_file_name(name, _RESERVED_PREFIXES):
        raise HTTPException(422, f"{name!r} is not a usable file name")


def _open_tmp(out: Path) -> tuple[Path, BinaryIO]:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f"{TMP_PREFIX}outbound.{secrets.token_hex(8)}"
    return tmp, tmp.open("xb")


def _finish(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


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
            backend = outbound.backend_of(authorization)
        except HTTPException:
            metrics.OUTBOUND_FILES.labels(backend="", result="401").inc()
            log.warning("outbound push refused: unknown token", remote=request.client and request.client.host)
            raise
        if kind not in ("personal", "company"):
            raise HTTPException(404, "recipients are personal/<pid> or company/<cvr>")
        try:
            out = outbound.layout.out_dir(f"{kind}/{recipient}")
        except ValueError as exc:
            raise HTTPException(404, str(exc)) from exc
        _check_name(file_name)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > outbound.max_size:
            raise HTTPException(413, f"files may be at most {outbound.max_size} bytes")
        try:
            tmp, handle = await asyncio.to_thread(_open_tmp, out)
        except OSError as exc:
            raise HTTPException(507, f"cannot store the file: {os.strerror(exc.errno or errno.EIO)}") from exc
        try:
            digest, size = hashlib.sha256(), 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > outbound.max_size:
                    raise HTTPException(413, f"files may be at most {outbound.max_size} bytes")
                digest.update(chunk)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(_finish, handle)
            placed = Placed(file_name, size, digest.hexdigest())
            new = await asyncio.to_thread(outbound.place, backend, idempotency_key, out, file_name, tmp, placed)
        except HTTPException as exc:
            metrics.OUTBOUND_FILES.labels(backend=backend, result=str(exc.status_code)).inc()
            raise
        except OSError as exc:
            metrics.OUTBOUND_FILES.labels(backend=backend, result="storage").inc()
            raise HTTPException(507, f"cannot store the file: {os.strerror(exc.errno or errno.EIO)}") from exc
        finally:
            handle.close()
            await asyncio.to_thread(tmp.unlink, missing_ok=True)
        metrics.OUTBOUND_FILES.labels(backend=backend, result="placed" if new else "repeated").inc()
        log.info(
            "outbound file", backend=backend, tenant=f"{kind}/{recipient}", file_name=file_name, size=size, new=new
        )
        return JSONResponse(placed.__dict__, status_code=201 if new else 200)

    return app
