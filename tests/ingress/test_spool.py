from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest
from gateway_ingress.spool import BATCH, MAX_BACKLOG, FileTooLarge, SpoolWriter


def test_commit_returns_the_sha256_of_everything_written(tmp_path: Path) -> None:
    chunks = [os.urandom(16384) for _ in range(200)] + [b"tail"]
    writer = SpoolWriter(tmp_path / "tx" / "payload")
    for chunk in chunks:
        assert writer.write(chunk) == len(chunk)
    writer.close()
    assert writer.commit() == hashlib.sha256(b"".join(chunks)).hexdigest()
    assert (tmp_path / "tx" / "payload").read_bytes() == b"".join(chunks)
    assert writer.size == sum(map(len, chunks))


def test_backlog_larger_than_the_limit_is_written_in_order(tmp_path: Path) -> None:
    chunk = os.urandom(1 << 20)
    writer = SpoolWriter(tmp_path / "tx" / "payload")
    count = MAX_BACKLOG // len(chunk) * 2
    for _ in range(count):
        writer.write(chunk)
    assert writer.commit() == hashlib.sha256(chunk * count).hexdigest()


def test_many_tiny_chunks_stay_within_writev_limits(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path / "tx" / "payload")
    for _ in range(5000):
        writer.write(b"x")
    assert writer.commit() == hashlib.sha256(b"x" * 5000).hexdigest()


def test_size_limit_refuses_and_discard_leaves_nothing(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path / "tx" / "payload", max_size=10)
    writer.write(b"12345")
    with pytest.raises(FileTooLarge) as raised:
        writer.write(b"678901")
    assert raised.value.errno is not None
    writer.discard()
    assert not (tmp_path / "tx").exists()


def test_an_existing_spool_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "tx" / "payload"
    SpoolWriter(path).commit()
    with pytest.raises(FileExistsError):
        SpoolWriter(path)


def test_storage_errors_surface_on_the_next_write(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path / "tx" / "payload")
    os.close(writer._fd)  # the disk goes away under the writer thread
    chunk = os.urandom(BATCH)
    writer.write(chunk)
    error: OSError | None = None
    for _ in range(100):
        writer._caught_up.wait(0.05)
        try:
            writer.write(chunk)
        except OSError as exc:
            error = exc
            break
    assert error is not None
    assert "Bad file descriptor" in str(error)
    writer.discard()
    assert not (tmp_path / "tx").exists()


def _spool_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("spool-")]


def test_an_upload_smaller_than_a_batch_starts_no_thread_and_is_stored_whole(tmp_path: Path) -> None:
    # Starting a thread blocks the FTP IO loop until it runs: small uploads must not pay for it.
    payload = os.urandom(10 * 1024)
    writer = SpoolWriter(tmp_path / "small-tx" / "payload")
    writer.write(payload[:4096])
    writer.write(payload[4096:])
    writer.close()
    assert _spool_threads() == []
    assert writer.commit() == hashlib.sha256(payload).hexdigest()
    assert (tmp_path / "small-tx" / "payload").read_bytes() == payload


def test_an_empty_upload_is_stored_empty(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path / "empty-tx" / "payload")
    writer.close()
    assert writer.commit() == hashlib.sha256(b"").hexdigest()
    assert (tmp_path / "empty-tx" / "payload").read_bytes() == b""


def test_a_discarded_small_upload_leaves_nothing(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path / "gone-tx" / "payload")
    writer.write(b"partial")
    writer.discard()
    assert not (tmp_path / "gone-tx").exists()


def test_a_large_upload_gets_its_writer_thread_with_the_first_batch(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path / "large-tx" / "payload")
    chunk = os.urandom(16384)
    count = BATCH // len(chunk) + 1
    for _ in range(count):
        writer.write(chunk)
    assert _spool_threads() == ["spool-large-tx"]
    assert writer.commit() == hashlib.sha256(chunk * count).hexdigest()
    assert _spool_threads() == []
