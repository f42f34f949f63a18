"""The only module that names pyftpdlib's private attributes and methods.

pyftpdlib 2.2.0 has no public API for several things the gateway must see or change: whether a
channel is closed or still in its TLS handshake, the command-line buffer, the reply a data channel
sends when it closes, how its TLS shutdown goes, the listener or connector a PASV/PORT opens. The
classes and functions here reach those private names and give the rest of the ingress public ones,
each with why it is needed; everything else in the ingress uses only these and pyftpdlib's public
API (IOLoop.call_later's documented ``_errback`` keyword included).

That is why pyftpdlib is pinned exactly (services/ftps-ingress/pyproject.toml). On an upgrade, run
``tests/ingress/test_pyftpdlib_internals.py`` first: it checks on real pyftpdlib objects that every
private name used here still exists with the kind and initial value relied on, and fails naming
the one that changed. Then read pyftpdlib's change of each, adapt this module, and only this one.
"""

from __future__ import annotations

import socket
from typing import Any

from OpenSSL import SSL
from pyftpdlib.handlers import TLS_DTPHandler, TLS_FTPHandler
from pyftpdlib.handlers.ftp.data import DTPHandler
from pyftpdlib.ioloop import AsyncChat, IOLoop

# Where DataInternals keeps the data channel's closing reply instead of pyftpdlib's _resp.
_CLOSING_REPLY = "_gateway_resp"


class ChannelState:
    """For pyftpdlib's channels (AsyncChat subclasses), which keep private whether close() has run."""

    _closed: bool
    _closing: bool

    @property
    def is_closed(self) -> bool:
        """Whether close() has run: late replies and callbacks must leave the channel alone.

        asyncore's ``connected`` is no substitute: it is also False before a socket connects.
        """
        return self._closed

    @property
    def is_closing(self) -> bool:
        """Whether close() has run or close_when_done() is sending the last replies: no new command may run."""
        return self._closed or self._closing


class TLSState:
    """For pyftpdlib's TLS channels (SSLConnectionMixin), which keep where the TLS handshake stands private."""

    _ssl_requested: bool
    _ssl_accepting: bool
    _ssl_established: bool

    @property
    def tls_requested(self) -> bool:
        """TLS was started (AUTH TLS; PROT P for data): plaintext sent after AUTH TLS is dropped, data waits."""
        return self._ssl_requested

    @property
    def tls_handshaking(self) -> bool:
        """The TLS handshake is under way: nobody can read a reply yet, so timeouts close without one."""
        return self._ssl_accepting

    @property
    def tls_established(self) -> bool:
        """The handshake completed and no shutdown began: USER/PASS need it, data may move only then."""
        return self._ssl_established


class ControlInternals(ChannelState, TLSState, TLS_FTPHandler):  # type: ignore[misc]
    """pyftpdlib's TLS control handler, with the private state the gateway needs under public names."""

    _prot: bool
    _current_type: str
    _restart_position: int
    _in_dtp_queue: tuple[Any, str] | None
    _in_buffer: list[bytes]
    _in_buffer_len: int
    _extra_feats: list[str]
    _available_facts: list[str]
    _current_facts: list[str]

    @property
    def data_protected(self) -> bool:
        """PROT P is in force: the gateway refuses PASV/EPSV/PORT/EPRT before it, with its own reply."""
        return self._prot

    @property
    def transfer_type(self) -> str:
        """The TYPE in force, "a" or "i": SIZE after an upload and STOR's receiving depend on it."""
        return self._current_type

    @property
    def restart_position(self) -> int:
        """The offset of a REST that pyftpdlib would apply to the next transfer: STOR refuses it and clears it."""
        return self._restart_position

    @restart_position.setter
    def restart_position(self, offset: int) -> None:
        self._restart_position = offset

    @property
    def pending_receive(self) -> tuple[Any, str] | None:
        """(file, command) of an upload waiting for its data connection, which pyftpdlib starts on connect:
        STOR queues its spool writer here, ABOR and a passive timeout end it."""
        return self._in_dtp_queue

    @pending_receive.setter
    def pending_receive(self, pending: tuple[Any, str] | None) -> None:
        self._in_dtp_queue = pending

    @property
    def extra_features(self) -> list[str]:
        """The FEAT lines pyftpdlib adds to its command list (AUTH TLS, PBSZ, PROT): FEAT lists them;
        the list itself, so that a session adds HASH to it."""
        return self._extra_feats

    @property
    def available_facts(self) -> list[str]:
        """MLST facts this server can give: FEAT lists them."""
        return self._available_facts

    @property
    def current_facts(self) -> list[str]:
        """MLST facts selected for this session (OPTS MLST): FEAT marks them."""
        return self._current_facts

    _idler: Any
    _quit_pending: bool

    @property
    def quit_pending(self) -> bool:
        """QUIT came while a data channel was open: the session ends with that transfer and runs
        no command after it (pyftpdlib stops reading the connection instead of closing it)."""
        return self._quit_pending

    def note_command_line(self) -> None:
        """A command line arrived: restart the idle timer, as pyftpdlib's found_terminator does."""
        if self._idler is not None and not self._idler.cancelled:
            self._idler.reset()

    def buffer_command_bytes(self, data: bytes) -> int:
        """Add received bytes to the command line being read; the line's length so far.

        The gateway's collect_incoming_data (its own line limit) replaces pyftpdlib's, which keeps
        the line in two private attributes that found_terminator reads.
        """
        self._in_buffer.append(data)
        self._in_buffer_len += len(data)
        return self._in_buffer_len

    def discard_command_buffer(self) -> None:
        """Forget the command line read so far: an overlong line, or plaintext that came with AUTH TLS."""
        self._in_buffer, self._in_buffer_len = [], 0

    def take_command_line(self) -> bytes:
        """Take the command line read so far out of pyftpdlib's buffer (to run it later)."""
        line = b"".join(self._in_buffer)
        self.discard_command_buffer()
        return line

    def put_command_line(self, line: bytes) -> None:
        """Make ``line`` the command line read so far: found_terminator() then runs it."""
        self._in_buffer, self._in_buffer_len = [line], len(line)

    def close_connecting_data_channel(self) -> None:
        """Close the passive listener or active connector still waiting for a connection (ABOR of a waiting STOR)."""
        self._shutdown_connecting_dtp()

    # PASV and EPSV (PORT and EPRT) end in one private method each, after pyftpdlib's checks: the one
    # place to refuse a listener (passive.py) or a foreign address, with the gateway's reply.
    def _make_epasv(self, extmode: bool = False) -> None:
        self.open_passive_listener(extmode)

    def open_passive_listener(self, extmode: bool) -> None:
        """Hook: open the passive listener of PASV (extmode False) or EPSV and announce it."""
        super()._make_epasv(extmode)

    def _make_eport(self, ip: str, port: int) -> None:
        self.connect_active(ip, port)

    def connect_active(self, ip: str, port: int) -> None:
        """Hook: connect the data channel of PORT or EPRT to ``ip``:``port``."""
        super()._make_eport(ip, port)


class DataInternals(ChannelState, TLSState, TLS_DTPHandler):  # type: ignore[misc]
    """pyftpdlib's TLS data channel, with the private state and methods the gateway needs."""

    _ssl_closing: bool
    _ssl_want_write: bool
    _lastdata: int

    # pyftpdlib sets the reply a transfer ends with in _resp on several close paths (TLS shutdown,
    # EOF, handle_close, timeouts, errors) and close() sends it; every one passes reply_on_close.
    @property
    def _resp(self) -> tuple[Any, ...]:
        resp: tuple[Any, ...] = self.__dict__.get(_CLOSING_REPLY, ())
        return resp

    @_resp.setter
    def _resp(self, value: tuple[Any, ...]) -> None:
        self.__dict__[_CLOSING_REPLY] = self.reply_on_close(value)

    def reply_on_close(self, reply: tuple[Any, ...]) -> tuple[Any, ...]:
        """Hook: the (reply, log function) close() is to send, or () for none: an upload's 226 waits until durable."""
        return reply

    def set_reply_on_close(self, reply: tuple[Any, ...]) -> None:
        """Set the reply close() sends, through reply_on_close like pyftpdlib's own."""
        self._resp = reply

    @property
    def tls_closing(self) -> bool:
        """Our close_notify is under way: a data timeout then ends the channel even if bytes moved."""
        return self._ssl_closing

    def moved_since_last_check(self) -> bool:
        """Whether bytes moved since the last call: pyftpdlib's stall check, kept private, for the gateway's
        handle_timeout, which replaces pyftpdlib's to send its own reply."""
        if self.get_transmitted_bytes() > self._lastdata:
            self._lastdata = self.get_transmitted_bytes()
            return True
        return False

    def drop_tls_goodbye(self) -> None:
        """Let close() skip our close_notify: TLS_DTPHandler.close() sends one while TLS counts as established."""
        self._ssl_established = False

    def _do_ssl_shutdown(self) -> None:
        # One attempt at our close_notify, then the socket goes: pyftpdlib's own waits for the
        # peer's, and a half-closed peer kept it re-trying on every read event.
        self._ssl_closing = True
        try:
            self.socket.shutdown()  # our close_notify
        except SSL.WantWriteError:
            self._ssl_want_write = True  # a download's last records still queued: again when writable
            return
        except (SSL.Error, OSError):
            pass  # the peer is gone or broke TLS: nothing to say goodbye to
        self._ssl_established = False
        self._ssl_closing = False
        DTPHandler.close(self)


def hand_over_socket(chat: AsyncChat) -> socket.socket:
    """Take the socket out of a channel without closing it; the channel counts as closed.

    AsyncChat has no detach: its close() would close the socket, and its file number would stay
    its key on the IO loop.
    """
    sock: socket.socket = chat.socket
    chat.del_channel()
    chat.socket = None
    chat._fileno = None
    chat.connected = False
    chat._closed = True
    return sock


class LoopMember:
    """Base of an object registered on pyftpdlib's IOLoop by file number, not through AsyncChat."""

    # IOLoop.close() sorts what is registered by this private attribute before closing it all.
    _fileno: int

    def join_loop(self, ioloop: IOLoop, fileno: int, events: int) -> None:
        """Register for ``events`` on ``fileno``."""
        self._fileno = fileno
        ioloop.register(fileno, self, events)

    def leave_loop(self, ioloop: IOLoop) -> None:
        ioloop.unregister(self._fileno)
