"""Turns status events into status files in the sender's /out."""

from __future__ import annotations

import asyncio
import errno
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aio_pika.abc
from gateway_common import metrics
from gateway_common.events import XML_CODE
from gateway_common.logging import get_logger
from gateway_common.messaging import PoisonMessage
from gateway_common.naming import Naming
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.storage import StorageLayout, atomic_copy, atomic_write, is_safe_file_name

from gateway_status.ledger import Ledger, current_status
from gateway_status.xml import render_status

log = get_logger(__name__)
# Errors that redelivering the same event cannot cure: it is parked at once instead of
# being retried ahead of every other tenant's events.
_NEVER_HEALS = frozenset({errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ, errno.EISDIR, errno.ENOTDIR})
# Writer threads: one per message in flight (GATEWAY_AMQP_PREFETCH's default). A write spends
# most of its time waiting in fsync, so asyncio's default pool (CPUs + 4 threads) would leave
# the other delivered events waiting for disk latency rather than for the CPU; with more
# writers at once, fsync_dir also serves more of them with one fsync.
WRITER_THREADS = 32


class StatusWriter:
    def __init__(self, layout: StorageLayout, per_code_files: bool, naming: Naming | None = None) -> None:
        self.layout = layout
        self._threads = ThreadPoolExecutor(WRITER_THREADS, thread_name_prefix="status-writer")
        self.ledger = Ledger(layout.ledger_dir)
        self.per_code_files = per_code_files
        self.naming = naming or Naming()

    def _name(self, event: events_pb2.StatusEvent, code: int | None = None) -> str:
        # Names come from validated folders, but the status service trusts no message.
        try:
            return self.naming.status(event.service, event.ftp_txid, code)
        except ValueError as exc:
            raise PoisonMessage(str(exc)) from exc

    def _write(self, event: events_pb2.StatusEvent) -> tuple[events_pb2.StatusEvent, bool]:
        try:
            out = self.layout.out_dir(event.sender.tenant)
        except ValueError as exc:
            raise PoisonMessage(str(exc)) from exc
        with self.ledger.locked(event.gateway_txid):
            history, added = self.ledger.history_with(event)
            if not added:
                # Its files were written before it was recorded: writing them again would bring
                # back a status or response file the client has deleted since.
                return current_status(history), False
            current = current_status(history)
            files = [(self._name(event), render_status(current, history))]
            if self.per_code_files:
                # Every added event gets its file: a "sent" that came with "accepted" is not
                # written when the real one arrives (a duplicate then).
                for each in added:
                    upto = [e for e in history if e.occurred_at.ToNanoseconds() <= each.occurred_at.ToNanoseconds()]
                    files.append((self._name(each, XML_CODE[each.code]), render_status(each, upto)))
            try:
                out.mkdir(parents=True, exist_ok=True)
                if event.response_file:
                    # Before the status names it: a client must never see a code 3 without its file.
                    self._hand_out_response(event, out)
                for name, body in files:
                    atomic_write(out / name, body)
            except OSError as exc:
                if exc.errno in _NEVER_HEALS:
                    raise PoisonMessage(f"cannot write the status of {event.gateway_txid}: {exc}") from exc
                raise
            # Recorded last: a crash before this point has the redelivered event write them again.
            self.ledger.save(event.gateway_txid, history)
        return current, True

    def _hand_out_response(self, event: events_pb2.StatusEvent, out: Path) -> None:
        name = event.response_file
        if not is_safe_file_name(name, (self.naming.reserved_prefixes[0],)):
            raise PoisonMessage(f"response file name {name!r} is not a safe file name")
        source = self.layout.find_spool_txn(event.gateway_txid) / "responses" / name
        if not source.is_file():
            raise PoisonMessage(f"response file {name!r} of {event.gateway_txid} is not in the spool")
        atomic_copy(source, out / name)

    async def handle(self, event: events_pb2.StatusEvent, _raw: aio_pika.abc.AbstractIncomingMessage) -> None:
        if not isinstance(event, events_pb2.StatusEvent):
            raise PoisonMessage("status queue expects StatusEvent messages")
        await asyncio.get_running_loop().run_in_executor(self._threads, self.write, event)

    def write(self, event: events_pb2.StatusEvent) -> None:
        """Write the event's files (unless it was seen before), count and log it."""
        current, new = self._write(event)
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
