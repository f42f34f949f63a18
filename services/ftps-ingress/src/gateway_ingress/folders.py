"""Folder commands: MKD within the tenant's folder limit, listings that say when they were cut, and
where each session stands (so a finished transaction folder stays while a client is in it, see spent.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gateway_common.storage import TMP_PREFIX

from gateway_ingress import replies
from gateway_ingress.reservations import reserved
from gateway_ingress.session import Session
from gateway_ingress.tenant import OUT, Area, NameRefused, TenantView, check_name, check_stored_names


def _subfolders(directory: Path) -> list[Path]:
    try:
        with os.scandir(directory) as entries:
            return [
                Path(e.path)
                for e in entries
                if e.is_dir(follow_symlinks=False) and e.name != OUT and not e.name.startswith(TMP_PREFIX)
            ]
    except FileNotFoundError:
        return []


def transaction_folders(view: TenantView, limit: int) -> int:
    """Transaction folders in the service folders of the whole tenant, counted up to ``limit``.

    A company's certificates share the count (their login folders are all under its root), so
    a thousand certificates cannot each fill the disk with folders.
    """
    logins = [view.root] if view.identity.login_folder is None else _subfolders(view.root)
    count = 0
    for login in logins:
        for service in _subfolders(login):
            count += len(_subfolders(service))
            if count >= limit:
                return count
    return count


class FolderCommands(Session):
    def ftp_MKD(self, path: str) -> str | None:
        assert self.view is not None
        if self.view.area(path) is Area.SERVICE_ENTRY:
            service = os.path.basename(os.path.dirname(path))
            try:
                txid = check_name(os.path.basename(path))
                check_stored_names(service, txid)
            except NameRefused as exc:
                self._refuse("MKD", replies.BAD_NAME, detail=exc)
                return None
            if reserved(self.layout, self.view.identity.tenant, service, txid):
                self._refuse("MKD", replies.TXID_USED, txid=txid)
                return None
            limit = self.settings.max_transaction_folders
            count = transaction_folders(self.view, limit)
            if count >= limit:
                self._refuse("MKD", replies.TOO_MANY_FOLDERS, count=count, limit=limit)
                return None
        result: str | None = super().ftp_MKD(path)
        return result

    def ftp_CWD(self, path: str) -> str | None:
        result: str | None = super().ftp_CWD(path)  # CDUP comes here too
        if result is not None:
            self.spent.stand(id(self), Path(self.fs.ftp2fs(self.fs.cwd)))
        return result

    def close(self) -> None:
        self.spent.stand(id(self), None)
        super().close()

    def push_dtp_data(self, data: Any, isproducer: bool = False, file: Any = None, cmd: str | None = None) -> None:
        cut = self.fs.take_truncation() if cmd in ("LIST", "NLST", "MLSD") else None
        if cut is not None:
            # The first line of a multi-line preliminary reply; pyftpdlib's own 125/150 ends it.
            code = 125 if self.data_channel is not None else 150
            shown, total = cut
            self.push(replies.LISTING_TRUNCATED.continued(code, shown=shown, total=total))
        super().push_dtp_data(data, isproducer, file, cmd)
