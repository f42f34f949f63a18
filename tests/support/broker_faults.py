"""The broker's side of monitoring tests: take it away from one gateway, and export its queue counts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from http.server import ThreadingHTTPServer

import aio_pika

from tests.support.monitoring import QuietHandler
from tests.support.ports import free_port
from tests.support.proxy import _pipe


class TcpRelay:
    """Forwards a loopback port to RabbitMQ; ``cut`` drops every connection and refuses new ones."""

    def __init__(self, upstream_port: int = 5672) -> None:
        self.port = free_port()
        self.upstream_port = upstream_port
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> TcpRelay:
        self._thread.start()
        self.restore()
        return self

    def __exit__(self, *_: object) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def restore(self) -> None:
        async def listen() -> None:
            self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, reuse_address=True)

        asyncio.run_coroutine_threadsafe(listen(), self.loop).result(10)

    def cut(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


class QueueExporter:
    """RabbitMQ's per-object queue metrics for one vhost, from AMQP alone.

    rabbitmq_queue_messages_ready and rabbitmq_queue_consumers, as the rabbitmq_prometheus plugin
    names them, read from queue.declare-ok (passive) on every scrape. The test broker has no
    plugin enabled (it would listen beyond loopback and need a broker restart), so this is the
    nearest real source: the same numbers the plugin reports, from the same broker.
    """

    def __init__(self, amqp_url: str, queues: Callable[[], Iterable[str]]) -> None:
        self.amqp_url = amqp_url
        self.queues = queues
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        exporter = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body)

        self._http = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._http_thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def __enter__(self) -> QueueExporter:
        self._thread.start()
        self._http_thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._http.shutdown()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    async def _counts(self) -> dict[str, tuple[int, int]]:
        counts = {}
        connection = await aio_pika.connect(self.amqp_url, timeout=3)
        async with connection:
            for name in self.queues():
                channel = await connection.channel()
                try:
                    queue = await channel.declare_queue(name, passive=True)
                except aio_pika.exceptions.ChannelClosed:
                    continue  # not declared (yet): the plugin would not list it either
                result = queue.declaration_result
                counts[name] = (result.message_count or 0, result.consumer_count or 0)
                await channel.close()
        return counts

    def render(self) -> str:
        try:
            counts = asyncio.run_coroutine_threadsafe(self._counts(), self.loop).result(5)
        except Exception:  # broker unreachable: an empty scrape, as an unreachable plugin would give
            return ""
        lines = ["# TYPE rabbitmq_queue_messages_ready gauge", "# TYPE rabbitmq_queue_consumers gauge"]
        for name, (ready, consumers) in counts.items():
            lines.append(f'rabbitmq_queue_messages_ready{{queue="{name}"}} {ready}')
            lines.append(f'rabbitmq_queue_consumers{{queue="{name}"}} {consumers}')
        return "\n".join(lines) + "\n"
