"""The whole life of one transaction, read from the shared storage and the broker alone.

Every service leaves its part on the shared volume, so no log and no running service is needed:

    spool/<gtxid>/upload.pb          the upload event (who, from where, size, SHA-256, replica)
    outbox/<event>.pb                an upload event the broker has not confirmed yet
    ledger/<gtxid>.pb                routing and status events (the status history)
    spool/<gtxid>/deliveries/*.json  each delivery attempt, the backend's answer, the next retry
    tenants/<tenant>/out/            status and response files still there
    audit/out-deletes.jsonl          files the client deleted from /out
    gateway.parked (broker)          messages of the transaction waiting for an operator

A little over 350 lines: one reader per source above, kept together because the trace is their
sum and each is a few lines; search.py (the other question support asks) is its own module.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
from gateway_common.events import GATEWAY_TXID, XML_CODE, upload_from_status
from gateway_common.messaging import QUEUE_PARKED, PoisonMessage, decode
from gateway_common.naming import Naming
from gateway_common.proto.gateway.v1 import events_pb2, identity_pb2
from gateway_common.replay import origin_queue
from gateway_common.storage import TMP_PREFIX, StorageLayout, is_safe_file_name

from gateway_status.ledger import current_status
from gateway_status.settings import StatusSettings

_KIND = {
    identity_pb2.CERTIFICATE_KIND_PERSONAL: "personal",
    identity_pb2.CERTIFICATE_KIND_EMPLOYEE: "employee",
    identity_pb2.CERTIFICATE_KIND_COMPANY: "company",
    identity_pb2.CERTIFICATE_KIND_FUNCTION: "function",
}


class NotFound(LookupError):
    """No transaction matches; the message says what was looked for."""


@dataclass(frozen=True)
class Parked:
    """A message of the transaction in gateway.parked."""

    message_id: str
    type: str
    origin: str
    reason: str


@dataclass
class Step:
    at: datetime | None  # None: not known when (a parked message); listed last
    kind: str  # upload, outbox, routing, delivery, status, response, deletion, parked
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Trace:
    gateway_txid: str
    tenant: str = ""
    service: str = ""
    ftp_txid: str = ""
    current_code: int | None = None
    steps: list[Step] = field(default_factory=list)
    files_in_out: dict[str, bool] = field(default_factory=dict)
    payload: str = ""
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for step in data["steps"]:
            step["at"] = step["at"].isoformat(timespec="milliseconds") if step["at"] else None
        return data

    def as_text(self) -> str:
        code = "none yet" if self.current_code is None else str(self.current_code)
        lines = [
            f"transaction {self.gateway_txid}: {self.tenant} {self.service} {self.ftp_txid}, current status code {code}"
        ]
        for step in self.steps:
            when = step.at.isoformat(timespec="milliseconds") if step.at else "(now)".ljust(29)
            lines.append(f"  {when}  {step.kind:<9} {step.summary}")
        lines.append(f"  payload: {self.payload}")
        for name, present in self.files_in_out.items():
            lines.append(f"  /out/{name}: {'present' if present else 'gone'}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


@dataclass(frozen=True)
class StatusNaming:
    """How the status service names its files in /out: the names, and whether one file per code is kept."""

    files: Naming = field(default_factory=Naming)
    per_code: bool = False

    @classmethod
    def of(cls, settings: StatusSettings) -> StatusNaming:
        return cls(settings.naming(), settings.status_file_naming == "per-code")


def tenant_key(cvr: str | None = None, pid: str | None = None) -> str:
    if bool(cvr) == bool(pid):
        raise NotFound("name the tenant by exactly one of CVR or PID")
    return f"company/{cvr}" if cvr else f"personal/{pid}"


def find(layout: StorageLayout, tenant: str, service: str, ftp_txid: str) -> str:
    """The gateway transaction id of a tenant's FTPTransactionID, from the ingress's reservation."""
    try:
        layout.tenant_root(tenant)
        if not (is_safe_file_name(service) and is_safe_file_name(ftp_txid)):
            raise ValueError("service and FTPTransactionID must be plain names")  # no path escapes
        reservation = layout.find_reservation(tenant, service, ftp_txid)
        if reservation is None:
            raise ValueError("not reserved")
        gateway_txid = reservation.read_text().strip()
    except (OSError, ValueError) as exc:
        raise NotFound(f"no transaction {ftp_txid!r} of {tenant} for service {service!r}") from exc
    if not GATEWAY_TXID.fullmatch(gateway_txid):
        raise NotFound(f"the reservation of {ftp_txid!r} holds no gateway transaction id (uploaded before tracing)")
    return gateway_txid


def _at(ts: Any) -> datetime | None:
    return ts.ToDatetime(tzinfo=UTC) if ts.ByteSize() else None


def _iso(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def history_of(layout: StorageLayout, gateway_txid: str) -> list[events_pb2.StatusEvent]:
    history = events_pb2.StatusHistory()
    if (path := layout.find_ledger(gateway_txid)) is not None:
        history.ParseFromString(path.read_bytes())
    return list(history.events)


def _pending_upload(layout: StorageLayout, gateway_txid: str) -> tuple[events_pb2.UploadReceived, float] | None:
    """The upload event if it still waits in the outbox (the broker has not confirmed it)."""
    for path in layout.outbox_dir.glob("*.pb"):
        if path.name.startswith(TMP_PREFIX):
            continue
        event = events_pb2.UploadReceived()
        try:
            event.ParseFromString(path.read_bytes())
            if event.gateway_txid == gateway_txid:
                return event, path.stat().st_mtime
        except (OSError, ValueError):
            continue
    return None


def _upload_step(upload: events_pb2.UploadReceived) -> Step:
    sender = upload.sender
    who = f"{_KIND.get(sender.kind, 'unknown')} {sender.common_name!r} ({sender.serial_number})"
    return Step(
        _at(upload.received_at),
        "upload",
        f"{upload.size} bytes from {upload.client_address or 'an unrecorded address'} by {who}, "
        f"received by {upload.ingress_node}, sha256 {upload.sha256}",
        {
            "client_address": upload.client_address,
            "ingress_node": upload.ingress_node,
            "size": upload.size,
            "sha256": upload.sha256,
            "file_name": upload.file_name,
            "spool_path": upload.spool_path,
            "sender": {
                "kind": _KIND.get(sender.kind, "unknown"),
                "cvr": sender.cvr,
                "subject_id": sender.subject_id,
                "serial_number": sender.serial_number,
                "common_name": sender.common_name,
                "certificate_sha256": sender.certificate_sha256,
            },
        },
    )


def _status_step(event: events_pb2.StatusEvent) -> Step:
    code = XML_CODE.get(event.code)
    summary = f"code {code} {event.message}"
    details: dict[str, Any] = {"code": code, "source": event.source, "message": event.message}
    if event.HasField("error") and event.error.code:
        summary += f" [{event.error.code}] {event.error.resolution}".rstrip()
        details["error"] = {"code": event.error.code, "resolution": event.error.resolution}
    if event.backend_txid:
        summary += f" (backend transaction {event.backend_txid})"
        details["backend_txid"] = event.backend_txid
    if event.response_file:
        summary += f", response file {event.response_file}"
        details["response_file"] = event.response_file
    kind = "routing" if event.source == "router" else "status"
    return Step(_at(event.occurred_at), kind, f"{summary} (by {event.source})", details)


def _delivery_steps(directory: Path) -> list[Step]:
    steps = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        summary = f"attempt {record['attempt']} via adapter {record['adapter']}: {record['result']}"
        if record.get("backend_txid"):
            summary += f" (backend transaction {record['backend_txid']})"
        if record.get("error_code"):
            summary += f" [{record['error_code']}] {record['error_message']}"
        if record.get("retry_in_seconds") is not None and (ended := _iso(record.get("ended_at", ""))):
            retry_at = datetime.fromtimestamp(ended.timestamp() + record["retry_in_seconds"], UTC)
            delay = record["retry_in_seconds"]
            summary += f"; next attempt in {delay:.1f} s at {retry_at.isoformat(timespec='seconds')}"
        steps.append(Step(_iso(record.get("started_at", "")), "delivery", summary, record))
    return steps


def _deletions(layout: StorageLayout, tenant: str, names: set[str]) -> list[Step]:
    steps = []
    for path in layout.audit_files():
        try:
            lines = path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            continue  # expired meanwhile
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            name = str(record.get("file", "")).removeprefix("out/")
            if record.get("tenant") == tenant and name in names:
                who = f"{record.get('kind')} {record.get('common_name')!r} from {record.get('remote_ip')}"
                steps.append(
                    Step(_iso(record.get("at", "")), "deletion", f"client deleted /out/{name} ({who})", record)
                )
    return steps


def _upload_of(
    layout: StorageLayout, gateway_txid: str, history: list[events_pb2.StatusEvent], result: Trace
) -> events_pb2.UploadReceived:
    """The upload event: its record in the spool, else the outbox, else what the ledger repeats."""
    upload = events_pb2.UploadReceived()
    record = layout.find_spool_txn(gateway_txid) / "upload.pb"
    if record.is_file():
        upload.ParseFromString(record.read_bytes())
    elif pending := _pending_upload(layout, gateway_txid):
        upload = pending[0]
        since = datetime.fromtimestamp(pending[1], UTC)
        result.steps.append(Step(since, "outbox", "waiting in the ingress outbox for the broker's confirm"))
    elif history:
        upload = upload_from_status(history[0])
        result.notes.append("no upload record: client address and receiving replica unknown")
    else:
        raise NotFound(f"nothing is known of transaction {gateway_txid} (never uploaded, or past retention)")
    return upload


def _out_names(
    upload: events_pb2.UploadReceived, history: list[events_pb2.StatusEvent], naming: StatusNaming
) -> set[str]:
    """The files the status service wrote into /out for this transaction."""
    if not history:
        return set()
    codes = [None, *sorted({XML_CODE[e.code] for e in history})] if naming.per_code else [None]
    names = {naming.files.status(upload.service, upload.ftp_txid, c) for c in codes}
    return names | {e.response_file for e in history if e.response_file}


def trace(layout: StorageLayout, gateway_txid: str, naming: StatusNaming, parked: list[Parked] | None = None) -> Trace:
    """Everything known about ``gateway_txid``; ``parked`` None means the broker was not asked."""
    if not GATEWAY_TXID.fullmatch(gateway_txid):
        raise NotFound(f"not a gateway transaction id: {gateway_txid!r}")
    result = Trace(gateway_txid)
    history = history_of(layout, gateway_txid)
    upload = _upload_of(layout, gateway_txid, history, result)
    result.tenant, result.service, result.ftp_txid = upload.sender.tenant, upload.service, upload.ftp_txid
    if history:
        result.current_code = XML_CODE[current_status(history).code]
    result.steps.append(_upload_step(upload))
    result.steps.extend(_status_step(event) for event in history)
    spool = layout.find_spool_txn(gateway_txid)
    result.steps.extend(_delivery_steps(spool / "deliveries"))
    if not spool.is_dir():
        result.notes.append("the spool folder is gone: delivery attempts are no longer kept (the ledger's are above)")
    names = _out_names(upload, history, naming)
    try:
        out = layout.out_dir(upload.sender.tenant)
    except ValueError:
        result.notes.append(f"the sender's tenant {upload.sender.tenant!r} is not a tenant key")
    else:
        result.files_in_out = {name: (out / name).is_file() for name in sorted(names)}
        result.steps.extend(_deletions(layout, upload.sender.tenant, names))
    payload = spool / "payload"
    result.payload = (
        f"in the spool, {layout.relative(payload)} ({payload.stat().st_size} bytes)"
        if payload.is_file()
        else "no longer in the spool (removed after delivery or by retention)"
    )
    if parked is None:
        result.notes.append("the broker was not asked: parked messages unknown")
    elif not parked:
        result.notes.append("no message of this transaction is parked")
    else:
        result.steps.extend(
            Step(None, "parked", f"{p.type} {p.message_id} parked from {p.origin}: {p.reason}", asdict(p))
            for p in parked
        )
    # Known times in order; a step of unknown time (parked now) goes last.
    result.steps.sort(key=lambda s: (s.at is None, s.at or datetime.min.replace(tzinfo=UTC)))
    return result


async def parked_of(amqp_url: str, gateway_txid: str) -> list[Parked]:
    """Messages of the transaction in gateway.parked; nothing is moved (unacked, returned on close)."""
    found: list[Parked] = []
    connection = await aio_pika.connect(amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(QUEUE_PARKED, passive=True)
        for _ in range(queue.declaration_result.message_count or 0):
            message = await queue.get(fail=False, no_ack=False)
            if message is None:
                break
            try:
                body = decode(message)
            except PoisonMessage:
                continue
            upload = getattr(body, "upload", None)
            owner = upload.gateway_txid if upload is not None else getattr(body, "gateway_txid", "")
            if owner == gateway_txid:
                headers = message.headers or {}
                reason = headers.get("x-parked-reason") or headers.get("x-first-death-reason") or ""
                found.append(
                    Parked(message.message_id or "", message.type or "", origin_queue(headers) or "", str(reason))
                )
    return found
