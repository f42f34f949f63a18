"""gateway-adapter-sftp: delivers files into a folder on a backend's SFTP server.

Route options (:class:`SftpOptions`, checked by the router before the first file):
    host, port, username   the SFTP server and the account (key authentication only)
    private_key            the client key by reference: file:/mounted/secret or env:VARIABLE
    host_key               the server's public host key, pinned ("ssh-ed25519 AAAA..."); any other
                           key is refused, and nothing is ever trusted on first use
    folder                 where files go (default: the account's login folder)
    name_template          remote name; must hold {gateway_txid} (default {gateway_txid}_{file_name})
    connect_timeout        seconds to connect and authenticate (default 30)
    transfer_timeout       seconds one file may take to upload and rename (default 3600)

A file is uploaded under a hidden temporary name and renamed into place only when complete, so
a backend never picks up half a file. Because the final name holds the gateway transaction id,
a redelivery finds the file already there and does not send it twice; two deliveries of one
transaction at once (a redelivery while the first still runs) write temporary files of their
own, and the one that finds the file already renamed into place takes it as delivered. An
unreachable server, a
dropped connection, a timeout or a failed write (a full disk) is retried; a refused login,
a changed host key, a missing folder or a permission error fails the transaction at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import string
from dataclasses import dataclass

import asyncssh
from gateway_common.adapter import (
    Accepted,
    Adapter,
    AdapterSettings,
    Delivery,
    PermanentError,
    TransientError,
)
from gateway_common.options import RouteOptions, SecretRef
from gateway_common.proto.gateway.v1 import events_pb2
from pydantic import Field, PositiveFloat, field_validator

OPERATORS = "Contact the gateway operators."
_NAME_FIELDS = {"gateway_txid", "file_name", "ftp_txid", "service"}
# SFTP status codes that no retry can fix (OpenSSH reports a full disk as a plain FX_FAILURE).
_PERMANENT = {
    asyncssh.FX_PERMISSION_DENIED: "backend_permission_denied",
    asyncssh.FX_NO_SUCH_FILE: "backend_folder_missing",
    asyncssh.FX_NO_SUCH_PATH: "backend_folder_missing",
    asyncssh.FX_NOT_A_DIRECTORY: "backend_folder_missing",
    asyncssh.FX_WRITE_PROTECT: "backend_permission_denied",
    asyncssh.FX_INVALID_FILENAME: "backend_file_name_refused",
}


class SftpSettings(AdapterSettings):
    http_port: int = Field(default=9106, description="Port of /metrics and probes.")


class SftpOptions(RouteOptions):
    host: str = Field(min_length=1)
    port: int = Field(default=22, ge=1, le=65535)
    username: str = Field(min_length=1)
    private_key: SecretRef
    host_key: str
    folder: str = "."
    name_template: str = "{gateway_txid}_{file_name}"
    connect_timeout: PositiveFloat = 30.0
    transfer_timeout: PositiveFloat = 3600.0

    @field_validator("host_key")
    @classmethod
    def _public_key(cls, value: str) -> str:
        try:
            asyncssh.import_public_key(value)
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise ValueError("must be the server's public host key in OpenSSH format: 'ssh-ed25519 AAAA...'") from exc
        return value

    @field_validator("name_template")
    @classmethod
    def _template(cls, value: str) -> str:
        fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        if unknown := fields - _NAME_FIELDS:
            raise ValueError(f"unknown fields {sorted(unknown)}; use {sorted(_NAME_FIELDS)}")
        if "gateway_txid" not in fields:
            raise ValueError("must contain {gateway_txid}, so that a redelivered file is recognised")
        if "/" in value:
            raise ValueError("must be a file name, not a path (set folder instead)")
        return value


def remote_name(options: SftpOptions, upload: events_pb2.UploadReceived) -> str:
    return options.name_template.format(
        gateway_txid=upload.gateway_txid, file_name=upload.file_name, ftp_txid=upload.ftp_txid, service=upload.service
    )


def _sftp_error(exc: asyncssh.SFTPError, what: str) -> PermanentError | TransientError:
    reason = f"the SFTP server could not {what}: {exc.reason or 'failure'}"
    if code := _PERMANENT.get(exc.code):
        return PermanentError(code, reason, OPERATORS)
    return TransientError("backend_write_failed", reason)


@dataclass
class SftpAdapter(Adapter[SftpOptions]):
    name = "sftp"
    settings_model = SftpSettings

    async def deliver(self, delivery: Delivery[SftpOptions]) -> Accepted:
        options = delivery.options
        try:
            key = asyncssh.import_private_key(options.private_key.reveal())
        except (asyncssh.KeyImportError, ValueError) as exc:
            unusable = f"the private key {options.private_key} is unusable"
            raise PermanentError("route_misconfigured", unusable, OPERATORS) from exc
        try:
            connection = await asyncio.wait_for(self._connect(options, key), options.connect_timeout)
        except asyncssh.HostKeyNotVerifiable as exc:
            raise PermanentError(
                "backend_host_key_mismatch",
                f"the SFTP server {options.host}:{options.port} presented a host key that is not the pinned one",
                OPERATORS,
            ) from exc
        except asyncssh.PermissionDenied as exc:
            raise PermanentError(
                "backend_login_refused", f"the SFTP server refused the login of {options.username!r}", OPERATORS
            ) from exc
        except (OSError, TimeoutError, asyncssh.Error) as exc:
            raise TransientError(
                "backend_unreachable", f"SFTP server {options.host}:{options.port} not reachable: {_describe(exc)}"
            ) from exc
        try:
            return await asyncio.wait_for(self._transfer(connection, delivery), options.transfer_timeout)
        except TimeoutError as exc:
            raise TransientError(
                "backend_timeout", f"the upload took longer than {options.transfer_timeout:g} s"
            ) from exc
        except asyncssh.SFTPError as exc:
            raise _sftp_error(exc, f"store the file in {options.folder}") from exc
        except (OSError, asyncssh.Error) as exc:
            raise TransientError("backend_connection_lost", f"SFTP connection lost: {_describe(exc)}") from exc
        finally:
            connection.close()

    async def _connect(self, options: SftpOptions, key: asyncssh.SSHKey) -> asyncssh.SSHClientConnection:
        pinned = asyncssh.import_public_key(options.host_key)
        return await asyncssh.connect(
            options.host,
            options.port,
            username=options.username,
            client_keys=[key],
            known_hosts=([pinned], [], []),
            # Only what the route says: no ~/.ssh/config, agent, password or keyboard prompts.
            config=None,
            agent_path=None,
            preferred_auth="publickey",
            connect_timeout=options.connect_timeout,
        )

    async def _transfer(self, connection: asyncssh.SSHClientConnection, delivery: Delivery[SftpOptions]) -> Accepted:
        options, upload = delivery.options, delivery.upload
        name = remote_name(options, upload)
        final = f"{options.folder.rstrip('/') or '/'}/{name}"
        # Each attempt writes a temporary file of its own: a concurrent redelivery must never
        # truncate or rename the file another attempt is still writing.
        temporary = f"{options.folder.rstrip('/') or '/'}/.{name}.{secrets.token_hex(4)}.part"
        async with connection.start_sftp_client() as sftp:
            if await sftp.exists(final):
                # The name holds the transaction id, and only complete files are renamed into place.
                return Accepted(backend_txid=name, message="Already delivered.")
            try:
                # asyncssh streams from the spool file with a bounded number of requests in flight.
                await sftp.put(str(delivery.path), temporary)
                try:
                    await sftp.posix_rename(temporary, final)
                except asyncssh.SFTPOpUnsupported:
                    await sftp.rename(temporary, final)
            except BaseException:
                await _discard(sftp, temporary)
                if await _exists_quietly(sftp, final):
                    return Accepted(backend_txid=name, message="Already delivered.")
                raise
        return Accepted(backend_txid=name, message=f"Stored as {name}.")


async def _discard(sftp: asyncssh.SFTPClient, path: str) -> None:
    """Remove a partial upload when the connection still allows it (a crash leaves a hidden .part file)."""
    with contextlib.suppress(OSError, TimeoutError, asyncssh.Error):
        await asyncio.wait_for(sftp.remove(path), 5)


async def _exists_quietly(sftp: asyncssh.SFTPClient, path: str) -> bool:
    """Whether ``path`` exists, False when the connection cannot tell any more."""
    try:
        return bool(await asyncio.wait_for(sftp.exists(path), 5))
    except (OSError, TimeoutError, asyncssh.Error):
        return False


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
