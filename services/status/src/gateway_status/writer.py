"""Turns status events into status files in the sender's /out."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aio_pika.abc
from gateway_common import metrics
from gateway_common.events import XML_CODE
from gateway_common.logging import get_logger
from gateway_common.messaging import PoisonMessage
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.storage import StorageLayout, atomic_copy, atomic_write, is_safe_file_name

from gateway_status.ledger import Ledger, current_status
from gateway_status.xml import render_status

log = get_logger(__name__)


STATUS_FILE_TEMPLATE = "status_{service}_{txid}.xml"
STATUS_FILE_CODE_TEMPLATE = "status_{service}_{txid}_{code}.xml"


def status_file_name(
    service: str,
    ftp_txid: str,
    code: int | None = None,
    template: str = STATUS_FILE_TEMPLATE,
    code_template: str = STATUS_FILE_CODE_TEMPLATE,
) -> str:
    chosen = template if code is None else code_template
    name = chosen.format(service=service, txid=ftp_txid, code="" if code is None else code)
    # Names come from validated folders, but the status service trusts no message.
    if not is_safe_file_name(name):
        raise PoisonMessage(f"status file name {name!r} is not a safe file name")
    return name


class StatusWriter:
    def __init__(
        self,
        layout: StorageLayout,
        per_code_files: bool,
        template: str = STATUS_FILE_TEMPLATE,
        code_template: str = STATUS_FILE_CODE_TEMPLATE,
    ) -> None:
        self.layout = layout
        self.ledger = Ledger(layout.ledger_dir)
        self.per_code_files = per_code_files
        self.template = template
        self.code_template = code_template

    def _name(self, event: events_pb2.StatusEvent, code: int | None = None) -> str:
        return status_file_name(event.service, event.ftp_txid, code, self.template, self.code_template)

    def _write(self, event: events_pb2.StatusEvent) -> tuple[events_pb2.StatusEvent, bool]:
        try:
            out = self.layout.out_dir(event.sender.tenant)
        except ValueError as exc:
            raise PoisonMessage(str(exc)) from exc
        with self.ledger.locked(event.gateway_txid):
            out.mkdir(parents=True, exist_ok=True)
            if event.response_file:
                # Before the status names it: a client must never see a code 3 without its file.
                self._hand_out_response(event, out)
            history, new = self.ledger.record(event)
            current = current_status(history)
            # Rewritten even for a duplicate: the previous attempt may have died before this point.
            atomic_write(out / self._name(event), render_status(current, history))
            if self.per_code_files:
                upto = [e for e in history if e.occurred_at.ToNanoseconds() <= event.occurred_at.ToNanoseconds()]
                name = self._name(event, XML_CODE[event.code])
                atomic_write(out / name, render_status(event, upto))
        return current, new

    def _hand_out_response(self, event: events_pb2.StatusEvent, out: Path) -> None:
        name = event.response_file
        if not is_safe_file_name(name):
            raise PoisonMessage(f"response file name {name!r} is not a safe file name")
        source = self.layout.find_spool_txn(event.gateway_txid) / "responses" / name
        if not source.is_file():
            raise PoisonMessage(f"response file {name!r} of {event.gateway_txid} is not in the spool")
        atomic_copy(source, out / name)

    async def handle(self, event: events_pb2.StatusEvent, _raw: aio_pika.abc.AbstractIncomingMessage) -> None:
        if not isinstance(event, events_pb2.StatusEvent):
            raise PoisonMessage("status queue expects StatusEvent messages")
        current, new = await asyncio.to_thread(self._write, event)
        if not new:
            log.info("duplicate status event ignored", event_id=event.event_id)
            return
        code = str(XML_CODE[event.code])
        metrics.STATUS_FILES_WRITTEN.labels(code=code).inc()
        if event.HasField("received_at"):
            latency = time.time() - event.received_at.ToNanoseconds() / 1e9
            metrics.UPLOAD_TO_STATUS_SECONDS.labels(code=code).observe(max(latency, 0.0))
        log.info(
            "status written",
            gateway_txid=event.gateway_txid,
            tenant=event.sender.tenant,
            service=event.service,
            ftp_txid=event.ftp_txid,
            code=code,
            current=XML_CODE[current.code],
        )
