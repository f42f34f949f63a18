"""What one logged-in certificate sees and may do, as paths inside its tenant root.

    personal root (= login folder)       company root (per CVR)
      out/                                 out/            shared by the company's certificates
      <service>/                           RID-<id>/       the certificate's login folder
        <txid>                (upload)       <service>/
        <txid>/in/<file>      (upload)         <txid> ... (as for personal)

Everything not listed here is invisible and refused: other login folders, services the
certificate may not use, hidden temporary files.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from pathlib import Path

from gateway_common.identity import Identity
from gateway_common.naming import check_transaction_names
from gateway_common.storage import TMP_PREFIX, StorageLayout

OUT = "out"
IN = "in"
# A transaction id or file name: letters, digits and . _ - ( ) + = , @ and spaces inside,
# up to 200 characters, not starting with a dot or a space. NFC-normalised before the check.
_NAME = re.compile(r"[\w(),+=@-][\w .(),+=@-]{0,199}")


class Area(Enum):
    ROOT = "root"
    LOGIN = "login"
    OUT = "out"
    OUT_FILE = "out-file"
    SERVICE = "service"
    SERVICE_ENTRY = "service-entry"  # <service>/<txid>: an upload or a transaction folder
    TXID_IN = "txid-in"  # <service>/<txid>/in
    TXID_FILE = "txid-file"  # <service>/<txid>/in/<file>
    HIDDEN = "hidden"


# pyftpdlib permission letters per area: e=CWD l=LIST r=RETR w=STOR m=MKD d=DELE/RMD T=MFMT.
PERMISSIONS: dict[Area, str] = {
    Area.ROOT: "el",
    Area.LOGIN: "el",
    Area.OUT: "el",
    Area.OUT_FILE: "lrd",
    Area.SERVICE: "el",
    Area.SERVICE_ENTRY: "elmwdT",  # T: MFMT, answered for a just-uploaded file only
    Area.TXID_IN: "elmd",
    Area.TXID_FILE: "lwT",  # l: SIZE/MDTM/MLST right after the upload
    Area.HIDDEN: "",
}


# Folders whose every child (but temporary files) is visible, as area() decides child by child.
_EVERY_CHILD_VISIBLE = frozenset({Area.OUT, Area.SERVICE, Area.TXID_IN})


class NameRefused(ValueError):
    pass


def check_name(name: str) -> str:
    """Return the NFC form of a client-chosen name, or raise NameRefused saying why."""
    normal = unicodedata.normalize("NFC", name)
    if normal != name:
        raise NameRefused("names must be Unicode NFC-normalised")
    if not _NAME.fullmatch(name) or name.endswith((" ", ".")):
        raise NameRefused(
            "names may hold letters, digits, space and . _ - ( ) + = , @, up to 200 characters, "
            "and may not start with a dot or space or end with a dot or space"
        )
    return name


@dataclass(frozen=True)
class UploadTarget:
    service: str
    ftp_txid: str
    file_name: str
    # The transaction folder to remove once the upload has left it (folder mode only).
    txid_dir: Path | None


@dataclass(frozen=True)
class TenantView:
    identity: Identity
    root: Path
    services: frozenset[str]

    @classmethod
    def prepare(cls, layout: StorageLayout, identity: Identity, services: list[str]) -> TenantView:
        root = layout.tenant_root(identity.tenant)
        view = cls(identity, root, frozenset(services))
        (root / OUT).mkdir(parents=True, exist_ok=True)
        for service in services:
            (view.services_dir / service).mkdir(parents=True, exist_ok=True)
        return view

    @property
    def services_dir(self) -> Path:
        login = self.identity.login_folder
        return self.root if login is None else self.root / login

    @property
    def home(self) -> str:
        """The FTP path a client starts in."""
        login = self.identity.login_folder
        return "/" if login is None else f"/{login}"

    @cached_property
    def _prefix(self) -> str:
        root = str(self.root)
        return root if root.endswith("/") else f"{root}/"

    def _parts(self, path: str | Path) -> tuple[str, ...] | None:
        """The parts of ``path`` below the root, as PurePosixPath.relative_to gives them; None outside.

        Plain string work: every path command asks several times, and pathlib cost ~10 us a time.
        """
        text = os.fspath(path)
        if not text.startswith(self._prefix):
            return () if text.rstrip("/") == self._prefix.rstrip("/") else None
        return tuple(p for p in text[len(self._prefix) :].split("/") if p and p != ".")

    def area(self, path: str | Path) -> Area:
        parts = self._parts(path)
        if parts is None or any(p.startswith(TMP_PREFIX) for p in parts):
            return Area.HIDDEN
        if not parts:
            return Area.ROOT
        if parts[0] == OUT:
            return {1: Area.OUT, 2: Area.OUT_FILE}.get(len(parts), Area.HIDDEN)
        login = self.identity.login_folder
        if login is not None:
            if parts[0] != login:
                return Area.HIDDEN
            if len(parts) == 1:
                return Area.LOGIN
            parts = parts[1:]
        if parts[0] not in self.services:
            return Area.HIDDEN
        depth = len(parts)
        if depth >= 3 and parts[2] != IN:
            return Area.HIDDEN
        return {1: Area.SERVICE, 2: Area.SERVICE_ENTRY, 3: Area.TXID_IN, 4: Area.TXID_FILE}.get(depth, Area.HIDDEN)

    def visible(self, directory: str | Path, names: list[str]) -> list[str]:
        """Filter a directory listing down to what this certificate may see."""
        area = self.area(directory)
        if area in _EVERY_CHILD_VISIBLE:
            # /out, service and in/ folders may hold tens of thousands of names; all but the
            # gateway's temporary files are visible, so no path is built per name on the IO loop.
            return [n for n in names if not n.startswith(TMP_PREFIX)]
        base = Path(directory)
        return [n for n in names if self.area(base / n) is not Area.HIDDEN]

    def upload_target(self, path: str | Path) -> UploadTarget:
        area = self.area(path)
        parts = self._parts(path) or ()
        if self.identity.login_folder is not None:
            parts = parts[1:]
        if area is Area.SERVICE_ENTRY:
            target = UploadTarget(parts[0], check_name(parts[1]), parts[1], None)
        elif area is Area.TXID_FILE:
            target = UploadTarget(parts[0], check_name(parts[1]), check_name(parts[3]), Path(path).parent.parent)
        else:
            raise NameRefused("upload into a service folder: <service>/<txid> or <service>/<txid>/in/<file>")
        check_stored_names(target.service, target.ftp_txid, target.file_name)
        return target


def check_stored_names(service: str, ftp_txid: str, file_name: str = "") -> None:
    """Raise NameRefused when a name derived from this transaction would not fit the file system.

    In bytes: the status, response and reservation names derived from it must fit, or a later
    step would fail on a name the client was told is safe (MKD checks the id before the file's
    name is known, hence the empty default).
    """
    try:
        check_transaction_names(service, ftp_txid, file_name)
    except ValueError as exc:
        raise NameRefused(str(exc)) from exc
