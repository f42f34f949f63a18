from __future__ import annotations

import hashlib
import os
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
