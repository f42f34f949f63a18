"""pyftpdlib's filesystem and authorizer, narrowed to one certificate's TenantView."""

from __future__ import annotations

from typing import Any

from gateway_common.storage import plainly_below
from pyftpdlib.authorizers import AuthenticationFailed
from pyftpdlib.filesystems import AbstractedFS

from gateway_ingress.tenant import PERMISSIONS, Area, TenantView


class GatewayFS(AbstractedFS):  # type: ignore[misc]
    """Paths outside the view are invalid, so pyftpdlib refuses them before any command runs."""

    def __init__(self, root: str, cmd_channel: Any) -> None:
        super().__init__(root, cmd_channel)
        self.view: TenantView = cmd_channel.view
        self._truncation: tuple[int, int] | None = None

    def validpath(self, path: str) -> bool:
        # A NUL byte would make realpath() raise instead of answering; no valid name holds one.
        if "\x00" in path:
            return False
        return self._below_root(path) and self.view.area(path) is not Area.HIDDEN

    def _below_root(self, path: str) -> bool:
        """pyftpdlib's validpath (the real path lies below the real root) at a fraction of its cost.

        pyftpdlib resolves the root and the path in full on every call: ~20 lstat() calls and
        ~40 us per path command, asked twice per command; ``plainly_below`` proves most paths
        inside with one lstat() per existing part below the root, and pyftpdlib answers the rest.
        """
        return plainly_below(self.root, path) or bool(super().validpath(path))

    def listdir(self, path: str) -> list[str]:
        """The visible names, sorted, and no more than max_list_entries (the first ones)."""
        names = sorted(self.view.visible(path, super().listdir(path)))
        limit: int = self.cmd_channel.settings.max_list_entries
        self._truncation = (limit, len(names)) if len(names) > limit else None
        return names[:limit]

    def take_truncation(self) -> tuple[int, int] | None:
        """(shown, total) when the last listdir() was cut, once: the reply to that listing says so."""
        truncation, self._truncation = self._truncation, None
        return truncation

    def listdirinfo(self, path: str) -> list[str]:
        return self.listdir(path)


class SessionAuthorizer:
    """Permissions of one logged-in session, decided by where a path lies in the view."""

    def __init__(self, view: TenantView) -> None:
        self.view = view

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        return path is not None and perm in PERMISSIONS[self.view.area(path)]

    def get_perms(self, username: str) -> str:
        return "elrwmd"

    def get_msg_quit(self, username: str) -> str:
        return "Goodbye."

    def impersonate_user(self, username: str, password: str) -> None:
        """Every session runs as the gateway's own (unprivileged) user."""

    def terminate_impersonation(self, username: str) -> None:
        """Nothing to undo: see impersonate_user."""


class NoLoginAuthorizer(SessionAuthorizer):
    """In force until a certificate has logged in: nothing is permitted."""

    def __init__(self) -> None:
        pass

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        return False

    def validate_authentication(self, username: str, password: str, handler: Any) -> None:
        raise AuthenticationFailed("log in with a client certificate")
