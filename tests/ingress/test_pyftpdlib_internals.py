"""pyftpdlib's private names that gateway_ingress/pyftpdlib_internals.py relies on, checked on real objects.

Run this first on a pyftpdlib upgrade: each failure names the private attribute or method that
changed. The list of names comes from the adapter module itself, so it cannot drift from what the
adapter uses, and no other ingress module may name any of them.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import re
import socket
import time
import tokenize
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_ingress import pyftpdlib_internals
from gateway_ingress.pyftpdlib_internals import (
    ChannelState,
    ControlInternals,
    DataInternals,
    LoopMember,
    TLSState,
    hand_over_socket,
)
from OpenSSL import SSL
from pyftpdlib.handlers import TLS_DTPHandler, TLS_FTPHandler
from pyftpdlib.handlers.ftp.dispatchers import PassiveDTP
from pyftpdlib.ioloop import AsyncChat, IOLoop
from pyftpdlib.servers import FTPServer

ADAPTER = Path(pyftpdlib_internals.__file__)

# What each private name holds on a fresh pyftpdlib object: the control handler of a connected
# client before AUTH TLS, and a data channel of a PROT P session before its handshake.
CONTROL: dict[str, object] = {
    "_closed": False,
    "_closing": False,
    "_ssl_requested": False,
    "_ssl_accepting": False,
    "_ssl_established": False,
    "_prot": False,
    "_current_type": "a",
    "_restart_position": 0,
    "_in_dtp_queue": None,
    "_in_buffer": [],
    "_in_buffer_len": 0,
    "_extra_feats": ["AUTH TLS", "AUTH SSL", "PBSZ", "PROT"],
    "_quit_pending": False,
}
DATA: dict[str, object] = {
    "_closed": False,
    "_ssl_requested": True,
    "_ssl_accepting": True,
    "_ssl_established": False,
    "_ssl_closing": False,
    "_ssl_want_write": False,
    "_lastdata": 0,
    "_resp": (),
}
CONTROL_METHODS = ("_make_epasv", "_make_eport", "_shutdown_connecting_dtp")
DATA_METHODS = ("_do_ssl_shutdown",)
# Lists whose contents depend on the platform: checked for their kind only.
FACTS = ("_available_facts", "_current_facts")
IDLER = ("_idler",)  # the idle timer: test_a_noted_command_line_restarts_the_idle_timer
CHAT = ("_fileno",)  # every AsyncChat's key on the IO loop, which IOLoop.close() sorts by


def relied_on() -> set[str]:
    """The private names the adapter module reads, sets, declares or overrides."""
    tree = ast.parse(ADAPTER.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


def test_every_private_name_the_adapter_uses_is_checked_here() -> None:
    checked = set(CONTROL) | set(DATA) | set(CONTROL_METHODS) | set(DATA_METHODS) | set(FACTS) | set(CHAT)
    checked |= set(IDLER)
    assert relied_on() - checked == set(), "pyftpdlib_internals.py uses these private names unchecked"
    assert checked - relied_on() == set(), "checked here but no longer used by pyftpdlib_internals.py"


def test_no_other_ingress_module_names_them() -> None:
    names = relied_on()
    found = []
    for path in sorted(ADAPTER.parent.glob("*.py")):
        if path == ADAPTER:
            continue
        for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if token.type == tokenize.NAME and token.string in names:
                found.append(f"{path.name}:{token.start[0]}: {token.string}")
            elif token.type == tokenize.STRING:  # getattr(self, "_closed") and the like
                found += [
                    f"{path.name}:{token.start[0]}: {word}"
                    for word in re.findall(r"\w+", token.string)
                    if word in names
                ]
    assert found == [], "pyftpdlib's private names outside pyftpdlib_internals.py"


def pyftpdlib_private_names(kind: type) -> set[str]:
    """Private names that the pyftpdlib (and asyncore) classes among ``kind``'s ancestors define or use."""
    names: set[str] = set()
    for base in kind.__mro__:
        if base.__module__.split(".")[0] in ("pyftpdlib", "asyncore", "asynchat"):
            names |= set(re.findall(r"\b_[a-z]\w*", inspect.getsource(base)))
    return names


def test_no_ingress_class_on_pyftpdlib_names_its_private_names() -> None:
    # Catches what the list above cannot: a private name of pyftpdlib's used for the first time
    # outside the adapter, or a private name of ours that silently replaces one of pyftpdlib's.
    found = []
    for path in sorted(ADAPTER.parent.glob("*.py")):
        tree = ast.parse(path.read_text())
        classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
        if path == ADAPTER or not classes:
            continue
        module = importlib.import_module(f"gateway_ingress.{path.stem}")
        for node in classes:
            theirs = pyftpdlib_private_names(getattr(module, node.name))
            ours = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
            ours |= {n.name for n in ast.walk(node) if isinstance(n, ast.FunctionDef)}
            ours |= {
                n.target.id for n in ast.walk(node) if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
            }
            found += [f"{path.name}: {node.name}.{name}" for name in sorted(ours & theirs)]
    assert found == [], "pyftpdlib's private names outside pyftpdlib_internals.py"


@pytest.mark.parametrize(
    ("adapter", "base"),
    [
        (ControlInternals, TLS_FTPHandler),
        (DataInternals, TLS_DTPHandler),
        (ChannelState, PassiveDTP),
        (TLSState, TLS_FTPHandler),
        (LoopMember, AsyncChat),
    ],
)
def test_the_public_names_given_do_not_hide_pyftpdlib_ones(adapter: type, base: type) -> None:
    given = {name for name in vars(adapter) if not name.startswith("_")}
    assert {name for name in given if hasattr(base, name)} == set(), f"{base.__name__} has these now too"


# --- real pyftpdlib objects on real connections


@pytest.fixture
def loop() -> Iterator[IOLoop]:
    ioloop = IOLoop()
    yield ioloop
    ioloop.close()


def accepted(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    """(server side, client side) of a new TCP connection to ``listener``."""
    client = socket.create_connection(listener.getsockname()[:2])
    client.settimeout(5)
    conn, _ = listener.accept()
    return conn, client


def configured(kind: type[Any]) -> type[Any]:
    """``kind`` with the one setting a TLS control handler needs (no certificate: no handshake here)."""
    return type(f"Configured{kind.__name__}", (kind,), {"ssl_context": SSL.Context(SSL.TLS_SERVER_METHOD)})


@pytest.fixture
def server(loop: IOLoop) -> Iterator[FTPServer]:
    ftp = FTPServer(("127.0.0.1", 0), configured(TLS_FTPHandler), ioloop=loop)
    yield ftp
    ftp.close_all()


@pytest.fixture
def clients() -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()


def control(kind: type[Any], server: FTPServer, loop: IOLoop, clients: list[socket.socket]) -> Any:
    """A control handler of class ``kind`` for a freshly connected client."""
    conn, client = accepted(server.socket)
    clients.append(client)
    return configured(kind)(conn, server, ioloop=loop)


def data(kind: type[Any], cmd_channel: Any, clients: list[socket.socket]) -> Any:
    """A data channel of class ``kind`` on a new connection of ``cmd_channel``'s session."""
    conn, client = accepted(cmd_channel.server.socket)
    clients.append(client)
    return kind(conn, cmd_channel)


def reply(client: socket.socket) -> str:
    return client.recv(4096).decode()


def pyftpdlib_class(obj: object) -> str:
    return next(kind.__name__ for kind in type(obj).__mro__ if kind.__module__.startswith("pyftpdlib"))


def check(obj: object, name: str, expected: object) -> None:
    owner = pyftpdlib_class(obj)
    assert hasattr(obj, name), f"pyftpdlib's {owner} has no {name} any more: adapt pyftpdlib_internals.py"
    value = getattr(obj, name)
    assert not callable(value), f"pyftpdlib's {owner}.{name} is a method now"
    assert type(value) is type(expected), f"pyftpdlib's {owner}.{name} holds a {type(value).__name__} now"
    assert value == expected, f"pyftpdlib's {owner}.{name} starts as {value!r}, not {expected!r}"


def check_method(obj: object, name: str) -> None:
    owner = pyftpdlib_class(obj)
    assert callable(getattr(obj, name, None)), f"pyftpdlib's {owner} has no method {name} any more"


def test_control_handler_private_state(server: FTPServer, loop: IOLoop, clients: list[socket.socket]) -> None:
    handler = control(TLS_FTPHandler, server, loop, clients)
    for name, expected in CONTROL.items():
        check(handler, name, expected)
    for name in CONTROL_METHODS:
        check_method(handler, name)
    for name in FACTS:
        facts = getattr(handler, name, None)
        assert isinstance(facts, list), f"pyftpdlib's TLS_FTPHandler.{name} is not a list of MLST facts"
        assert "size" in facts, f"{name} = {facts!r}"
        assert all(isinstance(fact, str) for fact in facts), f"{name} = {facts!r}"
    handler.close()
    check(handler, "_closed", True)


def test_data_channel_private_state(server: FTPServer, loop: IOLoop, clients: list[socket.socket]) -> None:
    handler = control(TLS_FTPHandler, server, loop, clients)
    handler._prot = True  # PROT P, which needs a TLS control connection to be given by a client
    channel = data(TLS_DTPHandler, handler, clients)
    for name, expected in DATA.items():
        check(channel, name, expected)
    for name in DATA_METHODS:
        check_method(channel, name)
    channel.close()
    check(channel, "_closed", True)


def test_every_channel_has_its_file_number(loop: IOLoop, clients: list[socket.socket]) -> None:
    left, right = socket.socketpair()
    clients.append(right)
    chat = AsyncChat(left, ioloop=loop)
    check(chat, "_fileno", left.fileno())
    chat.close()


# --- what the adapter's hooks and accessors rely on pyftpdlib doing with these names


class Recorder(ControlInternals):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.calls: list[tuple[Any, ...]] = []
        super().__init__(*args, **kwargs)

    def open_passive_listener(self, extmode: bool) -> None:
        self.calls.append(("passive", extmode))
        super().open_passive_listener(extmode)

    def connect_active(self, ip: str, port: int) -> None:
        self.calls.append(("active", ip, port))

    def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
        self.calls.append(("command", line))


def test_pasv_epsv_port_and_eprt_reach_the_hooks(server: FTPServer, loop: IOLoop, clients: list[socket.socket]) -> None:
    handler = control(Recorder, server, loop, clients)
    handler.ftp_PASV("")
    handler.ftp_EPSV("")
    handler.ftp_PORT("127,0,0,1,4,1")
    handler.ftp_EPRT("|1|127.0.0.1|1026|")
    assert handler.calls == [
        ("passive", False),
        ("passive", True),
        ("active", "127.0.0.1", 1025),
        ("active", "127.0.0.1", 1026),
    ]


def test_closing_the_connecting_data_channel_closes_the_listener(
    server: FTPServer, loop: IOLoop, clients: list[socket.socket]
) -> None:
    handler = control(Recorder, server, loop, clients)
    handler.ftp_EPSV("")
    assert [c for c in loop.socket_map.values() if isinstance(c, PassiveDTP)] != []
    handler.close_connecting_data_channel()
    assert [c for c in loop.socket_map.values() if isinstance(c, PassiveDTP)] == []


def test_the_command_buffer_is_the_line_pyftpdlib_executes(
    server: FTPServer, loop: IOLoop, clients: list[socket.socket]
) -> None:
    handler = control(Recorder, server, loop, clients)
    assert handler.buffer_command_bytes(b"NO") == 2
    assert handler.buffer_command_bytes(b"OP") == 4
    handler.found_terminator()
    handler.buffer_command_bytes(b"garbage")
    handler.discard_command_buffer()
    handler.buffer_command_bytes(b"PWD")
    handler.found_terminator()
    assert handler.calls == [("command", "NOOP"), ("command", "PWD")]


def test_a_noted_command_line_restarts_the_idle_timer(
    server: FTPServer, loop: IOLoop, clients: list[socket.socket]
) -> None:
    handler = control(Recorder, server, loop, clients)
    timer = handler._idler  # started with the session (pyftpdlib's handle())
    assert callable(getattr(timer, "reset", None)), "pyftpdlib's idle timer has no reset() any more"
    first = timer.timeout
    time.sleep(0.01)
    handler.note_command_line()
    assert timer.timeout > first, "note_command_line did not restart pyftpdlib's idle timer"
    assert not timer.cancelled


def test_quit_during_a_transfer_is_pending(server: FTPServer, loop: IOLoop, clients: list[socket.socket]) -> None:
    handler = control(Recorder, server, loop, clients)
    handler._prot = True
    handler.data_channel = data(TLS_DTPHandler, handler, clients)
    assert not handler.quit_pending
    handler.ftp_QUIT("")
    assert handler.quit_pending, "pyftpdlib's QUIT during a transfer no longer sets _quit_pending"
    handler.data_channel.close()


def test_type_and_rest_as_pyftpdlib_keeps_them(server: FTPServer, loop: IOLoop, clients: list[socket.socket]) -> None:
    handler = control(Recorder, server, loop, clients)
    assert (handler.transfer_type, handler.restart_position, handler.pending_receive) == ("a", 0, None)
    handler.ftp_TYPE("I")
    handler.ftp_REST("5")
    assert (handler.transfer_type, handler.restart_position) == ("i", 5)
    handler.restart_position = 0
    assert handler.restart_position == 0


class ReplyRecorder(DataInternals):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.replies: list[tuple[Any, ...]] = []
        self.shutdowns = 0
        super().__init__(*args, **kwargs)

    def reply_on_close(self, reply: tuple[Any, ...]) -> tuple[Any, ...]:
        self.replies.append(reply)
        return (reply[0].replace("Transfer complete", "changed"), reply[1]) if reply else reply

    def _do_ssl_shutdown(self) -> None:
        self.shutdowns += 1
        super()._do_ssl_shutdown()


def test_every_closing_reply_passes_the_hook(server: FTPServer, loop: IOLoop, clients: list[socket.socket]) -> None:
    handler = control(TLS_FTPHandler, server, loop, clients)
    channel = data(ReplyRecorder, handler, clients)
    channel.handle_close()  # the client ended a transfer: pyftpdlib's 226 goes through _resp
    assert [r[:1] for r in channel.replies] == [(), ("226 Transfer complete.",)]  # () from __init__
    assert reply(clients[0]) == "226 changed.\r\n"


def test_close_sends_close_notify_only_while_tls_is_established(
    server: FTPServer, loop: IOLoop, clients: list[socket.socket]
) -> None:
    handler = control(TLS_FTPHandler, server, loop, clients)
    handler._prot = True
    goodbye, silent = data(ReplyRecorder, handler, clients), data(ReplyRecorder, handler, clients)
    for channel in (goodbye, silent):
        channel._ssl_accepting, channel._ssl_established = False, True  # as after a completed handshake
    silent.drop_tls_goodbye()
    goodbye.close()
    silent.close()
    assert (goodbye.shutdowns, silent.shutdowns) == (1, 0)
    assert goodbye.is_closed
    assert silent.is_closed


def test_stall_check_follows_transferred_bytes(server: FTPServer, loop: IOLoop, clients: list[socket.socket]) -> None:
    channel = data(ReplyRecorder, control(TLS_FTPHandler, server, loop, clients), clients)
    assert not channel.moved_since_last_check()
    channel.tot_bytes_received += 10
    assert channel.moved_since_last_check()
    assert not channel.moved_since_last_check()


def test_a_handed_over_socket_stays_open_and_leaves_the_loop(loop: IOLoop, clients: list[socket.socket]) -> None:
    left, right = socket.socketpair()
    clients += [left, right]
    chat = AsyncChat(left, ioloop=loop)
    assert hand_over_socket(chat) is left
    assert left.fileno() not in loop.socket_map
    chat.close()
    right.sendall(b"x")
    assert left.recv(1) == b"x", "the socket was closed with its channel"


class Member(LoopMember):
    def __init__(self, ioloop: IOLoop) -> None:
        self.reader, self.writer = socket.socketpair()
        self.closed = False
        self.join_loop(ioloop, self.reader.fileno(), ioloop.READ)

    def close(self) -> None:
        self.closed = True


def test_the_io_loop_closes_its_members_by_file_number() -> None:
    ioloop = IOLoop()
    member = Member(ioloop)
    ioloop.close()
    assert member.closed
    member.reader.close()
    member.writer.close()
    # Without the private _fileno, IOLoop.close() fails: what LoopMember exists for.
    ioloop = IOLoop()
    bare = socket.socketpair()
    ioloop.register(bare[0].fileno(), object(), ioloop.READ)
    with pytest.raises(AttributeError, match="_fileno"):
        ioloop.close()
    ioloop.unregister(bare[0].fileno())
    ioloop.close()
    for sock in bare:
        sock.close()
