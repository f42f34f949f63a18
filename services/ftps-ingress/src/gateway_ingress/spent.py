"""Transaction folders that outlive their upload while a client stands in them.

Upload mode 2 (MKD <txid>, CWD <txid>, MKD in, CWD in, STOR) leaves the client standing in
<txid>/in; GUI clients and lftp list that folder and go up right after the 226. So the folders of
a finished upload stay until no session of this process stands in them (or below them), and go
then: swept after every change of folder, when a session closes and when an upload finishes.
"""

from __future__ import annotations

from pathlib import Path


class SpentFolders:
    """Transaction folders whose upload is done, and where each session of this process stands.

    Used on the FTP IO loop only, so no locking. Another ingress replica's sessions are not
    seen: a client stands in a folder on the connection that uploaded from it.
    """

    def __init__(self) -> None:
        self._folders: set[Path] = set()
        self._standing: dict[int, Path] = {}

    def finished(self, folder: Path) -> None:
        self._folders.add(folder)
        self.sweep()

    def stand(self, session: int, cwd: Path | None) -> None:
        if cwd is None:
            self._standing.pop(session, None)
        else:
            self._standing[session] = cwd
        self.sweep()

    def sweep(self) -> None:
        occupied = list(self._standing.values())
        for folder in [f for f in self._folders if not any(cwd.is_relative_to(f) for cwd in occupied)]:
            self._folders.discard(folder)
            _remove_empty_tree(folder)


def _remove_empty_tree(txid_dir: Path) -> None:
    # rmdir only: a folder someone filled again (an upload in progress, a new in/) stays.
    for directory in (txid_dir / "in", txid_dir):
        try:
            directory.rmdir()
        except OSError:
            return
