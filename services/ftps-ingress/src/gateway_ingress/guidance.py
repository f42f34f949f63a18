"""Telling clients what works and what to do instead: FEAT lists only features that work, a command
aimed at the wrong place gets a reply that says where to go, and every command gets a reply even
when the filesystem fails under it.

pyftpdlib answers every path outside the view with the same 550 ('/' points to a path which is
outside the user's root directory) and every missing permission with 550 Not enough privileges;
the gateway decides those cases first, by the same rules (GatewayFS.validpath, PERMISSIONS).
"""

from __future__ import annotations

import os
import posixpath

from gateway_common.logging import get_logger

from gateway_ingress import replies
from gateway_ingress.replies import Reply, os_reason
from gateway_ingress.session import Session
from gateway_ingress.tenant import PERMISSIONS, Area

log = get_logger(__name__)

# Commands whose argument is one path, resolved as pyftpdlib resolves it (MFMT: time, then path).
_PATH_COMMANDS = frozenset(
    {"STOR", "APPE", "MKD", "XMKD", "RMD", "XRMD", "DELE", "RETR", "SIZE", "MDTM", "MLST", "MLSD", "LIST", "NLST"}
    | {"CWD", "XCWD", "HASH", "XSHA256", "MFMT"}
)
_LS_FLAGS = ("-a", "-l", "-al", "-la")


class GuidanceCommands(Session):
    def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
        try:
            if self.authenticated and cmd in _PATH_COMMANDS and self._guided(cmd, arg):
                return
            super().pre_process_command(line, cmd, arg)
        except OSError as exc:
            # A name the filesystem refuses (ENAMETOOLONG, EIO, ...) must not drop the connection.
            log.warning("command failed in the filesystem", command=cmd, error=repr(exc), remote_ip=self.remote_ip)
            self._refuse(cmd, replies.COMMAND_FAILED, command=cmd, reason=os_reason(exc))

    def _guided(self, cmd: str, arg: str) -> bool:
        """Refuse, with what to do instead, a command pyftpdlib would refuse for its path; True if refused."""
        assert self.view is not None
        if cmd == "MFMT":
            if " " not in arg:
                return False  # pyftpdlib's own syntax reply
            arg = arg.split(" ", 1)[1]
        if cmd in ("LIST", "NLST") and arg.lower() in _LS_FLAGS:
            arg = ""
        default = "/" if cmd in ("CWD", "XCWD") else self.fs.cwd
        if cmd == "APPE":
            self._refuse(cmd, replies.APPEND_UNSUPPORTED)
            return True
        # The client's path as it sees it (fs2ftp would print "/" for every path outside the view).
        here: str = self.fs.ftpnorm(arg or default)
        path: str = self.fs.ftp2fs(here)
        perm = self.proto_cmds[cmd]["perm"]
        if self.fs.validpath(path) and perm in PERMISSIONS[self.view.area(path)]:
            return False
        reply, fields = self._instead(cmd, here, path)
        self._refuse(cmd, reply, **fields)
        return True

    def _instead(self, cmd: str, here: str, path: str) -> tuple[Reply, dict[str, object]]:
        assert self.view is not None
        view = self.view
        home = view.home.rstrip("/")
        services = ", ".join(f"{home}/{s}" for s in sorted(view.services)) or "none"
        if cmd == "STOR":
            match view.area(os.path.dirname(path)):
                case Area.ROOT | Area.LOGIN:
                    return replies.UPLOAD_INTO_ROOT, {"path": posixpath.dirname(here), "services": services}
                case Area.OUT:
                    return replies.UPLOAD_INTO_OUT, {"services": services}
                case Area.SERVICE_ENTRY:
                    return replies.UPLOAD_INTO_TXID, {"path": posixpath.dirname(here)}
        if self.fs.validpath(path):
            return replies.NOT_PERMITTED, {"command": cmd, "path": here}
        return replies.UNKNOWN_PLACE, {"path": here, "services": services}

    def ftp_FEAT(self, line: str) -> None:
        # pyftpdlib advertises every command it knows; these are what the gateway lets clients use.
        # No EPRT unless active mode is on, no REST STREAM (uploads cannot resume), no AUTH SSL
        # (RFC 4217 names AUTH TLS; the gateway speaks TLS 1.2+ only).
        features = {"AUTH TLS", "PBSZ", "PROT", "EPSV", "MDTM", "MFMT", "SIZE", "TVFS", "UTF8"}
        features.update(f for f in self.extra_features if f != "AUTH SSL")
        if self.settings.active_mode:
            features.add("EPRT")
        facts = "".join(f"{fact}{'*' if fact in self.current_facts else ''};" for fact in self.available_facts)
        features.add(f"MLST {facts}")
        self.push(replies.FEATURES.continued())
        self.push("".join(f" {feature}\r\n" for feature in sorted(features)))
        self.respond(replies.FEATURES_END())
