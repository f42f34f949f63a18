"""Finished transaction folders: kept for their session and whoever stands in them, bounded, then removed."""

from __future__ import annotations

from pathlib import Path

from gateway_ingress.spent import SpentFolders

UPLOADER, OTHER = 1, 2


def _folder(root: Path, name: str) -> Path:
    (root / name / "in").mkdir(parents=True)
    return root / name


def test_folders_stay_for_their_session_and_go_when_it_closes(tmp_path: Path) -> None:
    spent = SpentFolders()
    folder = _folder(tmp_path, "tx-1")
    spent.stand(UPLOADER, folder / "in")
    spent.finished(folder, UPLOADER)
    spent.stand(UPLOADER, tmp_path)  # went up: its own folder stays for its next command
    assert folder.is_dir()
    spent.stand(UPLOADER, None)
    assert not folder.exists()


def test_a_folder_someone_stands_in_outlives_its_session(tmp_path: Path) -> None:
    spent = SpentFolders()
    folder = _folder(tmp_path, "tx-2")
    spent.finished(folder, UPLOADER)
    spent.stand(OTHER, folder / "in")
    spent.stand(UPLOADER, None)
    assert folder.is_dir()
    spent.stand(OTHER, tmp_path)
    assert not folder.exists()


def test_a_session_keeps_only_its_latest_folders(tmp_path: Path) -> None:
    spent = SpentFolders(keep=2)
    folders = [_folder(tmp_path, f"tx-{n}") for n in range(5)]
    spent.stand(UPLOADER, folders[0] / "in")
    for folder in folders:
        spent.finished(folder, UPLOADER)
    # The oldest, where the session still stands, stays; so do the two latest.
    assert [f.exists() for f in folders] == [True, False, False, True, True]
    spent.stand(UPLOADER, tmp_path)
    assert [f.exists() for f in folders] == [False, False, False, True, True]


def test_a_refilled_folder_is_left_alone(tmp_path: Path) -> None:
    spent = SpentFolders()
    folder = _folder(tmp_path, "tx-3")
    (folder / "in" / "next.xml").write_bytes(b"x")
    spent.finished(folder, UPLOADER)
    spent.stand(UPLOADER, None)
    assert (folder / "in" / "next.xml").exists()
