"""What clients ask about a file they just uploaded, after it has left the folder: SIZE, MDTM, MLST, MFMT.

The file moves on at the 226, but clients check its size (curl, lftp), list it (MLST) or set its
time (WinSCP's default after every upload, which reports an error when MFMT fails). For
GATEWAY_UPLOAD_SIZE_GRACE seconds these answer from what the upload left in RecentUploads.
"""

from __future__ import annotations

import calendar
import time

from gateway_ingress import replies
from gateway_ingress.session import Session

_TIME_FORMAT = "%Y%m%d%H%M%S"


class AfterUploadCommands(Session):
    def _recent(self, path: str) -> tuple[int, float] | None:
        """(size, mtime) of a file uploaded to ``path`` within the grace that is no longer there."""
        recent = self.recent.get(path)
        return recent if recent is not None and not self.fs.lexists(path) else None

    def ftp_SIZE(self, path: str) -> str | None:
        recent = self._recent(path)
        if recent is not None and self.transfer_type != "a":
            self.respond(replies.SIZE(size=recent[0]))
            return path
        result: str | None = super().ftp_SIZE(path)
        return result

    def ftp_MDTM(self, path: str) -> str | None:
        recent = self._recent(path)
        if recent is not None:
            self.respond(replies.MODIFIED(time=time.strftime(_TIME_FORMAT, time.gmtime(recent[1]))))
            return path
        result: str | None = super().ftp_MDTM(path)
        return result

    def ftp_MLST(self, path: str) -> str | None:
        recent = self._recent(path)
        if recent is None:
            result: str | None = super().ftp_MLST(path)
            return result
        size, mtime = recent
        line = self.fs.fs2ftp(path)
        facts = f"type=file;size={size};modify={time.strftime(_TIME_FORMAT, time.gmtime(mtime))};"
        self.push(replies.MLST_LISTING.continued(path=line))
        self.push(f" {facts} {line}\r\n")  # the fact line of RFC 3659 7.2, not a reply
        self.respond(replies.MLST_END())
        return path

    def ftp_MFMT(self, path: str, timeval: str) -> str | None:
        try:
            if len(timeval) != len("YYYYMMDDHHMMSS"):
                raise ValueError(timeval)
            seconds = calendar.timegm(time.strptime(timeval, _TIME_FORMAT))
        except ValueError:
            self._refuse("MFMT", replies.BAD_TIME)
            return None
        recent = self._recent(path)
        if recent is None:
            self._refuse("MFMT", replies.MFMT_NOT_RECENT, path=self.fs.fs2ftp(path), grace=int(self.recent.grace))
            return None
        # Kept so MDTM and MLST answer with the time the client set, as for a file that stayed.
        self.recent.add(path, recent[0], seconds)
        self.respond(replies.MODIFY_SET(time=timeval, path=self.fs.fs2ftp(path)))
        return path
