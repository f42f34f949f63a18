"""The ingress's asyncio side, in its own thread: finalising uploads, the outbox relay, the broker.

The FTP IO loop never blocks on disk syncs or the broker: it hands a finished upload to
``finalize`` and gets its reply back through the Waker.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gateway_common import metrics
from gateway_common.events import new_id, timestamp
from gateway_common.identity import Identity
from gateway_common.logging import get_logger
from gateway_common.messaging import RK_UPLOAD, Bus
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.storage import StorageLayout

from gateway_ingress.outbox import Outbox
from gateway_ingress.settings import IngressSettings
from gateway_ingress.spool import SpoolWriter
from gateway_ingress.tenant import UploadTarget

log = get_logger(__name__)
T = TypeVar("T")
RELAY_INTERVAL = 1.0
# Longest pause between attempts to make the first broker connection (seconds).
MAX_CONNECT_PAUSE = 10.0


@dataclass
class PendingUpload:
    gateway_txid: str
    identity: Identity
    target: UploadTarget
    writer: SpoolWriter
    reservation: Path
    client_address: str = ""


class UploadPipeline:
    def __init__(self, settings: IngressSettings, layout: StorageLayout) -> None:
        self.settings = settings
        self.layout = layout
        self.outbox = Outbox(layout.outbox_dir)
        self.bus = Bus(settings.amqp_url, settings.amqp_exchange, settings.amqp_prefetch)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="ingress-pipeline", daemon=True)
        self._in_flight: set[str] = set()
        self._main: asyncio.Task[None] | None = None
        self._background: tuple[Callable[[], Coroutine[None, None, None]], ...] = ()
        self.backlog = 0
        self._pending: list[tuple[float, Path]] = []
        self._upload_threads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="upload")
        self.oldest_age = 0.0

    # --- lifecycle (called from the main thread)
    def start(self, *background: Callable[[], Coroutine[None, None, None]]) -> None:
        """Start the thread; ``background`` coroutines (the HTTP face) run in its loop."""
        self._background = background
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._main is not None:
            self.loop.call_soon_threadsafe(self._main.cancel)
        self._thread.join(timeout)
        # Uploads being made durable finish; what they leave in the outbox is relayed after a restart.
        self._upload_threads.shutdown(wait=True, cancel_futures=False)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._main = self.loop.create_task(self._serve())
        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(self._main)

    async def _serve(self) -> None:
        tasks = [
            asyncio.create_task(self._watch_backlog(), name="outbox-watch"),
            asyncio.create_task(self._relay(), name="relay"),
        ]
        tasks += [asyncio.create_task(factory()) for factory in self._background]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await self.bus.close()

    async def _watch_backlog(self) -> None:
        """Keep the backlog figures (metrics, readiness) current, broker or not."""
        while True:
            try:
                backlog = await asyncio.to_thread(self.outbox.pending)
            except OSError as exc:
                log.warning("cannot read the outbox", error=repr(exc))
            else:
                self._pending = backlog
                self.backlog = len(backlog)
                self.oldest_age = time.time() - backlog[0][0] if backlog else 0.0
                metrics.OUTBOX_BACKLOG.set(self.backlog)
                metrics.OUTBOX_OLDEST_AGE.set(self.oldest_age)
            await asyncio.sleep(RELAY_INTERVAL)

    async def _relay(self) -> None:
        """Connect (again and again while the broker is away) and publish what the outbox holds."""
        pause = RELAY_INTERVAL
        while True:
            try:
                if not self.bus.opened and not await self._connect():
                    pause = min(pause * 2, MAX_CONNECT_PAUSE)
                else:
                    pause = RELAY_INTERVAL
                    # While the robust connection reconnects, the outbox simply waits.
                    if self.bus.connected:
                        await self._relay_once()
            except Exception:
                log.exception("outbox relay round failed")
            await asyncio.sleep(pause)

    async def _connect(self) -> bool:
        # The first connection is ours to retry; once made, aio-pika's robust connection
        # reconnects by itself and restores the channel and declarations.
        try:
            await self.bus.connect(timeout=10)
            await self.bus.declare_uploads()
        except Exception as exc:  # the broker may be down at start; uploads still land in the outbox
            log.warning("broker not reachable; the outbox keeps the uploads", error=repr(exc))
            with contextlib.suppress(Exception):
                await self.bus.close()
            return False
        log.info("connected to the broker")
        return True

    async def _relay_once(self) -> None:
        # The backlog watcher's listing, at most one interval old: the outbox is listed once a round.
        backlog = self._pending
        # Younger events may still be in their first publish by the upload that wrote them.
        cutoff = time.time() - (self.settings.publish_timeout + 1)
        for mtime, path in backlog:
            event_id = path.stem
            if mtime > cutoff or event_id in self._in_flight:
                continue
            try:
                event = await asyncio.to_thread(Outbox.load, path)
            except FileNotFoundError:
                continue
            if not await self._publish(event):
                return  # broker still away; try again on the next round
            await asyncio.to_thread(self.outbox.retire, event, self.layout)
            log.info("outbox event relayed", event_id=event_id, gateway_txid=event.gateway_txid)

    async def _publish(self, event: events_pb2.UploadReceived) -> bool:
        if not self.bus.connected or event.event_id in self._in_flight:
            return False
        self._in_flight.add(event.event_id)
        publish = asyncio.ensure_future(self.bus.publish(RK_UPLOAD, event, event.event_id))
        try:
            # Not wait_for: it waits for the cancelled publish to finish, and a publish caught in
            # the client's reconnection may never finish; the relay must never stall on one.
            await asyncio.wait({publish}, timeout=self.settings.publish_timeout)
        finally:
            self._in_flight.discard(event.event_id)
        if not publish.done():
            publish.cancel()
            error: BaseException | None = TimeoutError(f"no confirm within {self.settings.publish_timeout}s")
        else:
            error = asyncio.CancelledError() if publish.cancelled() else publish.exception()
        if error is not None:
            log.warning("publish not confirmed; the outbox keeps the event", event_id=event.event_id, error=repr(error))
            return False
        return True

    def readiness(self) -> str | None:
        if self.backlog > self.settings.outbox_max_backlog:
            return f"outbox backlog {self.backlog} > {self.settings.outbox_max_backlog}"
        if self.oldest_age > self.settings.outbox_max_age:
            return f"oldest outbox event is {self.oldest_age:.0f}s old"
        return None

    # --- uploads (called from the FTP IO loop)
    def finalize(self, upload: PendingUpload, done: Callable[[Future[events_pb2.UploadReceived]], None]) -> None:
        """Make the upload durable, publish its event, then call ``done`` (in the pipeline's thread).

        Three hand-overs between threads on the way to the 226: to an upload thread, which commits
        the payload and writes the outbox event in one go; to the asyncio loop, which publishes;
        back to the FTP IO loop through ``done``. Moving the event beside its payload follows
        after ``done``, on an upload thread.
        """
        replied: Future[events_pb2.UploadReceived] = Future()
        replied.add_done_callback(done)
        self._upload_threads.submit(self._make_durable, upload, replied)

    def discard(self, upload: PendingUpload, then: Callable[[], None] | None = None, release_id: bool = True) -> None:
        """Remove the upload's spool file and free its id (unless the caller did); ``then`` runs afterwards."""
        future = self._upload_threads.submit(self._discard, upload, release_id)
        future.add_done_callback(_log_failed_discard)
        if then is not None:
            future.add_done_callback(lambda _: then())

    async def _blocking(self, function: Callable[..., T], *args: Any) -> T:
        # Uploads have threads of their own: a slow OCSP responder, CRL host or a HASH of a large
        # file (the loop's default executor) must never hold back a 226.
        return await self.loop.run_in_executor(self._upload_threads, function, *args)

    @staticmethod
    def _discard(upload: PendingUpload, release_id: bool = True) -> None:
        upload.writer.discard()
        if release_id:  # else it is released already and may be another upload's again
            upload.reservation.unlink(missing_ok=True)

    def _make_durable(self, upload: PendingUpload, replied: Future[events_pb2.UploadReceived]) -> None:
        """On an upload thread: payload and event durable, or nothing of the upload left."""
        try:
            try:
                sha256 = upload.writer.commit()
                event = self._event(upload, sha256)
                self.outbox.put(event)
            except BaseException:
                self._discard(upload)
                raise
        except BaseException as exc:
            replied.set_exception(exc)
            return
        # From here the upload is safe: the relay publishes it whatever happens next.
        asyncio.run_coroutine_threadsafe(self._publish_then_retire(event, replied), self.loop)

    def _event(self, upload: PendingUpload, sha256: str) -> events_pb2.UploadReceived:
        target = upload.target
        return events_pb2.UploadReceived(
            event_id=new_id(),
            gateway_txid=upload.gateway_txid,
            sender=upload.identity.to_proto(),
            service=target.service,
            ftp_txid=target.ftp_txid,
            file_name=target.file_name,
            spool_path=self.layout.relative(upload.writer.path),
            size=upload.writer.size,
            sha256=sha256,
            received_at=timestamp(),
            ingress_node=self.settings.node_name,
            client_address=upload.client_address,
        )

    async def _publish_then_retire(
        self, event: events_pb2.UploadReceived, replied: Future[events_pb2.UploadReceived]
    ) -> None:
        # What follows the durable write is tidying up and must not turn the 226 into a failure.
        try:
            published = await self._publish(event)
        except Exception as exc:
            log.warning("publish failed; the outbox keeps the event", gateway_txid=event.gateway_txid, error=repr(exc))
            published = False
        replied.set_result(event)
        if published:
            try:
                await self._blocking(self.outbox.retire, event, self.layout)
            except OSError as exc:
                log.warning(
                    "tidying up after a durable upload failed", gateway_txid=event.gateway_txid, error=repr(exc)
                )


def _log_failed_discard(future: Future[None]) -> None:
    # A failed clean-up leaves the transaction id reserved and a partial file in the spool.
    if not future.cancelled() and (error := future.exception()) is not None:
        log.error("could not remove an abandoned upload", error=repr(error))
