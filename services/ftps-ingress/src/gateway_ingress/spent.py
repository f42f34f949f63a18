"""Transaction folders that outlive their upload for the session that made them.

Upload mode 2 (MKD <txid>, CWD <txid>, MKD in, CWD in, STOR) leaves the client standing in
<txid>/in; GUI clients and lftp list that folder and go up right after the 226, and curl goes
back into it for its next command. So the folders of a finished upload stay while their session
lasts (its latest ``keep`` of them) and while any session of this process stands in them, and go
after: swept when a session changes folder or closes and when an upload finishes.
"""

from __future__ import annotations

from pathlib import Path


class SpentFolders:
    """Finished transaction folders per owning session, and where each session stands.

    Used on the FTP IO loop only, so no locking. Another ingress replica's sessions are not
    seen: a client stands in a folder on the connection that uploaded from it.
    """

    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self._owned: dict[int, list[Path]] = {}  # session -> its spent folders, oldest first
        self._orphans: list[Path] = []  # spent folders whose session has closed
        self._standing: dict[int, Path] = {}

    def finished(self, folder: Path, session: int) -> None:
        self._owned.setdefault(session, []).append(folder)
        self.sweep()

    def stand(self, session: int, cwd: Path | None) -> None:
        """Where ``session`` stands now; None when it closed."""
        if cwd is None:
            self._standing.pop(session, None)
            self._orphans += self._owned.pop(session, [])
        else:
            self._standing[session] = cwd
        self.sweep()

    def sweep(self) -> None:
        occupied = list(self._standing.values())

        def free(folder: Path) -> bool:
            if any(cwd.is_relative_to(folder) for cwd in occupied):
                return False
            _remove_empty_tree(folder)
            return True

        self._orphans = [f for f in self._orphans if not free(f)]
        for folders in self._owned.values():
            if len(folders) > self.keep:
                cut = len(folders) - self.keep
                folders[:cut] = [f for f in folders[:cut] if not free(f)]
        self._owned = {session: folders for session, folders in self._owned.items() if folders}


def _remove_empty_tree(txid_dir: Path) -> None:
    # rmdir only: a folder someone filled again (an upload in progress, a new in/) stays.
    for directory in (txid_dir / "in", txid_dir):
        try:
            directory.rmdir()
        except OSError:
            return
