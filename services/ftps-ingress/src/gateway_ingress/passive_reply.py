"""Replies to EPSV and PASV leave a moment after the command, not at once: curl's one-second stall.

curl 7.88 (Debian 12's) looks for the reply right after sending EPSV or PASV. When the 229/227 is
already there, it sets up the data connection inside that step and starts connecting only when
its one-second wait for socket activity runs out. A server that answers within ~0.1 ms meets
that window: the gateway's IO loop is often still awake when the command arrives (stock
pyftpdlib, asleep, took 0.12-0.23 ms to answer and was hit once in 100 uploads). Measured with
one curl uploading 100 files on one connection: 10.5-11.4 s with a stall on one upload in ten,
1.5-1.7 s with the reply held 1 ms (``passive_reply_delay``).

While a reply is held, whatever else is sent on the control connection waits behind it, so a
client that sends its next command without waiting still reads the replies in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway_ingress.session import Session


class PassiveReplyTiming(Session):
    _held: list[tuple[Callable[[Any], None], Any]] | None = None

    def open_passive_listener(self, extmode: bool) -> None:
        self.hold_replies(self.settings.passive_reply_delay)
        super().open_passive_listener(extmode)

    def hold_replies(self, seconds: float) -> None:
        """Keep what is sent on the control connection for ``seconds``, then send it in order."""
        if seconds <= 0 or self._held is not None:
            return
        self._held = []
        self.ioloop.call_later(seconds, self.release_replies, _errback=self.handle_error)

    def release_replies(self) -> None:
        held, self._held = self._held, None
        if held and not self.is_closed:
            for send, data in held:
                send(data)

    # Both ways into asynchat's output queue: replies go through push, STAT <path>'s listing
    # through push_with_producer.
    def push(self, data: Any) -> None:
        if self._held is not None:
            self._held.append((super().push, data))
        else:
            super().push(data)

    def push_with_producer(self, producer: Any) -> None:
        if self._held is not None:
            self._held.append((super().push_with_producer, producer))
        else:
            super().push_with_producer(producer)

    def close_when_done(self) -> None:
        # A QUIT (or a refusal that ends the session) within the hold: its reply and the held ones go out first.
        self.release_replies()
        super().close_when_done()
