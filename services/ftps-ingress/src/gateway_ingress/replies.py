"""Words of FTP replies that several command groups share."""

from __future__ import annotations

import errno
import os


def os_reason(error: BaseException, default: str = os.strerror(errno.EIO)) -> str:
    """What a failed file operation tells the client: the OS's words for its errno."""
    return os.strerror(error.errno) if isinstance(error, OSError) and error.errno else default
