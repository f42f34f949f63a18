"""The SFTP adapter against a real OpenSSH server (Debian's sshd, unprivileged, on a free port)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from gateway_adapter_sftp import SftpAdapter
from gateway_common.adapter import Adapter
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.testing import AdapterContract, deliver, dispatch, running_adapter, spool, started, upload_event

from tests.support.ports import free_port
from tests.support.sshd import SshServer
from tests.support.tmpfs import small_tmpfs

DANISH = "indberetning_æøå_ÆØÅ.xml"


@pytest.fixture
async def adapter() -> AsyncIterator[Adapter[Any]]:
    async with started(SftpAdapter) as running:
        yield running


def _names(server: SshServer) -> list[str]:
    return sorted(p.name for p in server.files.rglob("*") if p.is_file())


async def test_delivers_atomically_under_the_transaction_id_with_a_danish_name(
    adapter: Adapter[Any], sshd: SshServer, tmp_path: Path
) -> None:
    payload = "<rapport>blåbærgrød</rapport>\n".encode()
    outcome = await deliver(adapter, payload, sshd.options(), tmp_path, file_name=DANISH)
    assert outcome.result == "accepted", outcome.error
    (delivered,) = sshd.files.iterdir()
    assert delivered.name.endswith(f"_{DANISH}")
    assert delivered.read_bytes() == payload
    assert outcome.accepted is not None
    assert outcome.accepted.backend_txid == delivered.name


async def test_a_redelivery_finds_the_file_and_sends_no_second_copy(
    adapter: Adapter[Any], sshd: SshServer, tmp_path: Path
) -> None:
    upload = upload_event(spool(tmp_path, b"once\n"), tmp_path)
    first = await deliver(adapter, upload, sshd.options(), tmp_path)
    again = await deliver(adapter, upload, sshd.options(), tmp_path, attempt=2)
    assert (first.result, again.result) == ("accepted", "accepted")
    assert again.accepted is not None
    assert again.accepted.message == "Already delivered."
    assert _names(sshd) == [f"{upload.gateway_txid}_report.xml"]


async def test_a_folder_the_account_may_not_write_fails_at_once_with_the_reason(
    adapter: Adapter[Any], sshd: SshServer, tmp_path: Path
) -> None:
    sshd.files.chmod(0o555)
    outcome = await deliver(adapter, b"data\n", sshd.options(), tmp_path)
    assert outcome.result == "refused"
    assert outcome.error is not None
    assert outcome.error.code == "backend_permission_denied"
    assert "Permission denied" in outcome.error.message
    assert _names(sshd) == []


async def test_a_missing_folder_fails_at_once(adapter: Adapter[Any], sshd: SshServer, tmp_path: Path) -> None:
    outcome = await deliver(adapter, b"data\n", sshd.options(folder="no-such-folder"), tmp_path)
    assert outcome.result == "refused"
    assert outcome.error is not None
    assert outcome.error.code == "backend_folder_missing"


@pytest.fixture
def full_disk(sshd: SshServer) -> Iterator[Path]:
    """A 64 KiB tmpfs as the delivery folder (mounting needs root)."""
    folder = sshd.files / "small"
    folder.mkdir()
    with small_tmpfs(folder, 64 << 10, (sshd.user.pw_uid, sshd.user.pw_gid)):
        yield folder


async def test_a_full_remote_disk_is_retried_and_leaves_no_partial_file(
    adapter: Adapter[Any], sshd: SshServer, full_disk: Path, tmp_path: Path
) -> None:
    outcome = await deliver(adapter, os.urandom(256 << 10), sshd.options(folder="small"), tmp_path)
    assert outcome.result == "retry"
    assert outcome.error is not None
    assert outcome.error.code == "backend_write_failed"
    assert "could not store the file in small" in outcome.error.message
    assert await asyncio.to_thread(os.listdir, full_disk) == []


async def test_a_changed_host_key_is_refused_and_nothing_is_sent(
    adapter: Adapter[Any], sshd: SshServer, tmp_path: Path
) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    outcome = await deliver(adapter, b"secret\n", sshd.options(host_key=other), tmp_path)
    assert outcome.result == "refused"
    assert outcome.error is not None
    assert outcome.error.code == "backend_host_key_mismatch"
    assert _names(sshd) == []


async def test_a_key_the_server_does_not_know_is_refused(
    adapter: Adapter[Any], sshd: SshServer, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger_key"
    stranger.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    outcome = await deliver(adapter, b"x\n", sshd.options(private_key=f"file:{stranger}"), tmp_path)
    assert outcome.result == "refused"
    assert outcome.error is not None
    assert outcome.error.code == "backend_login_refused"


async def test_a_stopped_server_is_retried(adapter: Adapter[Any], sshd: SshServer, tmp_path: Path) -> None:
    sshd.stop()
    outcome = await deliver(adapter, b"x\n", sshd.options(), tmp_path)
    assert outcome.result == "retry"
    assert outcome.error is not None
    assert outcome.error.code == "backend_unreachable"


async def test_a_server_that_never_answers_times_out_as_the_options_say(
    adapter: Adapter[Any], sshd: SshServer, tmp_path: Path
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started_at = time.monotonic()
        options = sshd.options(port=silent.getsockname()[1], connect_timeout=1)
        outcome = await deliver(adapter, b"x\n", options, tmp_path)
        elapsed = time.monotonic() - started_at
    assert outcome.result == "retry"
    assert outcome.error is not None
    assert outcome.error.code == "backend_unreachable"
    assert elapsed < 30  # 1 s asked for; generous under load, far below the 30 s default


async def test_a_missing_secret_fails_with_a_clear_reason_and_never_connects(
    adapter: Adapter[Any], sshd: SshServer, tmp_path: Path
) -> None:
    outcome = await deliver(adapter, b"x\n", sshd.options(private_key="env:GATEWAY_TEST_NO_SUCH_KEY"), tmp_path)
    assert outcome.result == "refused"
    assert outcome.error is not None
    assert outcome.error.code == "route_misconfigured"
    assert "env:GATEWAY_TEST_NO_SUCH_KEY" in outcome.error.message
    assert sshd.log.count("Connection from") <= 1  # at most SshServer.start()'s readiness probe


class TestSftpContract(AdapterContract):
    """The adapter test kit's broker contract, run for the SFTP adapter."""

    adapter_class = SftpAdapter
    server: SshServer

    @pytest.fixture(autouse=True)
    def _server(self, sshd: SshServer) -> None:
        self.server = sshd

    def route_options(self) -> Mapping[str, object]:
        return self.server.options()

    def unreachable_options(self) -> Mapping[str, object]:
        return self.server.options(port=free_port())

    def delivered(self, upload: events_pb2.UploadReceived) -> int:
        return len(self.server.delivered(upload.gateway_txid))


async def test_a_server_down_then_back_gets_the_file_once(amqp_url: str, sshd: SshServer, tmp_path: Path) -> None:
    settings = {"max_attempts": 30, "retry_delays": (0.5,)}
    sshd.stop()
    async with running_adapter(SftpAdapter, amqp_url, tmp_path, **settings) as (bus, watch):
        upload = upload_event(spool(tmp_path, b"<late/>\n"), tmp_path)
        await dispatch(bus, "sftp", upload, sshd.options(connect_timeout=2))
        await asyncio.sleep(2)  # a few attempts fail while the server is down
        assert watch.events.get(upload.gateway_txid) is None
        sshd.start()
        events = await watch.wait(upload.gateway_txid, 1)
    assert [e.code for e in events] == [events_pb2.STATUS_CODE_ACCEPTED]
    assert [p.name for p in sshd.delivered(upload.gateway_txid)] == [f"{upload.gateway_txid}_report.xml"]


async def test_an_upload_slower_than_the_transfer_timeout_is_retried_and_leaves_no_file(
    adapter: Adapter[Any], sshd: SshServer, tmp_path: Path
) -> None:
    outcome = await deliver(adapter, os.urandom(8 << 20), sshd.options(transfer_timeout=0.05), tmp_path)
    assert outcome.result == "retry"
    assert outcome.error is not None
    assert outcome.error.code == "backend_timeout"
    assert "longer than 0.05 s" in outcome.error.message
    assert _names(sshd) == []
