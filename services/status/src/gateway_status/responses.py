"""Later backend responses: a backend attaches a response file to a transaction, hours later.

    PUT /responses/{gateway_txid}/{file_name}
        Authorization: Bearer <the backend's token>   (its scope must list the transaction's service)
        Idempotency-Key: <unique per response; a retried call with the same key changes nothing>

The gateway transaction id is the ``X-Gateway-Transaction-Id`` header the HTTP adapter sent with
the file. The response lands in the sender's /out as ``response_<service>_<txid>~<file_name>``
and the status file gets a code 3 event naming it, as with a response in the adapter's answer.

201 when the response was handed out, 200 for a repeated key (nothing changes, and a response
the client has deleted stays deleted), 401 for an unknown token, 403 for a service outside the
token's scope, 404 for an unknown transaction, 409 when the key was used for other content or
the transaction already has a response of that name, 413 over the size limit, 422 for an
unusable name, 507 when the sender's /out is full.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import asdict, dataclass
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from gateway_common.events import GATEWAY_TXID, status_event, upload_from_status
from gateway_common.logging import get_logger
from gateway_common.naming import Naming
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.storage import atomic_write, fsync_dir

from gateway_status.idempotency import find_record, key_record, locked
from gateway_status.outbound import Outbound, check_file_name, received_body
from gateway_status.writer import StatusWriter

log = get_logger(__name__)


@dataclass(frozen=True)
class Answered:
    gateway_txid: str
    response_file: str
    size: int
    sha256: str


def _transaction(writer: StatusWriter, gateway_txid: str) -> events_pb2.UploadReceived:
    """The upload a status history belongs to, as the status events carry it."""
    history = writer.ledger.history(gateway_txid) if GATEWAY_TXID.fullmatch(gateway_txid) else []
    if not history:
        raise HTTPException(404, f"no transaction {gateway_txid!r}: use the X-Gateway-Transaction-Id of a delivery")
    return upload_from_status(history[0])


def mount_responses(app: FastAPI, api: Outbound, writer: StatusWriter) -> None:
    records = api.layout.data_dir / "responses"

    def answer(
        backend: str, key: str, upload: events_pb2.UploadReceived, name: str, body_tmp: str, done: Answered
    ) -> bool:
        """Hand the response out once per key; return False for a repeated key."""
        record = key_record(records, backend, key)
        with locked(record):
            found = find_record(record)
            new = found is None
            if found is not None and Answered(**json.loads(found.read_text())) != done:
                raise HTTPException(409, "this Idempotency-Key was used for another response")
            if new:
                if name in {e.response_file for e in writer.ledger.history(upload.gateway_txid)}:
                    raise HTTPException(409, f"the transaction already has a response named {name!r}")
                # Recorded first: a call that dies below is completed by its retry with the same key.
                atomic_write(record, json.dumps(asdict(done)).encode())
            spooled = api.layout.find_spool_txn(upload.gateway_txid) / "responses" / name
            spooled.parent.mkdir(parents=True, exist_ok=True)
            os.replace(body_tmp, spooled)
            fsync_dir(spooled.parent)
            # Idempotent: an event the ledger holds writes nothing, so a deleted response stays deleted.
            writer.write(status_event(upload, events_pb2.STATUS_CODE_RESPONSE, f"api/{backend}", response_file=name))
            return new

    @app.put("/responses/{gateway_txid}/{file_name}", status_code=201)
    async def respond(
        gateway_txid: str,
        file_name: str,
        request: Request,
        idempotency_key: Annotated[str, Header(min_length=1, max_length=200)],
        authorization: Annotated[str, Header()] = "",
    ) -> JSONResponse:
        backend, scope = api.backend_of(authorization)
        upload = await asyncio.to_thread(_transaction, writer, gateway_txid)
        if upload.service not in scope.services:
            raise HTTPException(403, f"backend {backend} may not answer transactions of {upload.service}")
        check_file_name(file_name, api.reserved)
        try:
            name = Naming.response(upload.service, upload.ftp_txid, file_name)
        except ValueError as exc:
            raise HTTPException(422, f"{exc}: use a shorter file name") from exc
        out = api.layout.out_dir(upload.sender.tenant)
        spool = api.layout.find_spool_txn(upload.gateway_txid)
        async with received_body(request, spool, api.max_size) as body:
            await asyncio.to_thread(api.check_room, out, body.size)
            done = Answered(upload.gateway_txid, name, body.size, body.sha256)
            new = await asyncio.to_thread(answer, backend, idempotency_key, upload, name, str(body.tmp), done)
        log.info("backend response", backend=backend, gateway_txid=gateway_txid, response_file=name, new=new)
        return JSONResponse(asdict(done), status_code=201 if new else 200)
