"""Every FTP reply the gateway writes itself: code, words, and what the client should do.

The handler modules send only replies from this catalogue (a test reads their source for reply
literals), and `make docs` renders it into docs/hardening.md (a test fails when that drifts).
pyftpdlib's own replies to ordinary commands (TYPE, PWD, ...) are not listed: they are plain RFC 959.
It is longer than the other modules because it is a table (one entry per reply), not logic.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    code: int
    text: str  # str.format template; the fields are named in braces
    action: str  # what the client should do next, for the catalogue in docs/hardening.md
    reason: str = ""  # label of gateway_ftps_refusals_total{reason} when the reply refuses something

    def __call__(self, **fields: object) -> str:
        return f"{self.code} {self.text.format(**fields)}"

    def continued(self, code: int | None = None, **fields: object) -> str:
        """A first line of a multi-line reply (RFC 959 ``code-text``), which another line of ``code`` ends."""
        return f"{code or self.code}-{self.text.format(**fields)}\r\n"


CATALOGUE: list[Reply] = []


def _reply(code: int, text: str, action: str, reason: str = "") -> Reply:
    entry = Reply(code, text, action, reason)
    CATALOGUE.append(entry)
    return entry


# --- connection
TOO_MANY_CONNECTIONS = _reply(
    421,
    "Too many connections from {ip} (limit {limit}); close some and try again.",
    "Close idle sessions or upload over fewer parallel connections.",
    "max_connections_per_ip",
)
IDLE_TIMEOUT = _reply(
    421,
    "No command for {seconds} seconds; closing the control connection.",
    "Reconnect; send NOOP to keep a quiet session open.",
)
COMMAND_FAILED = _reply(
    550,
    "{command} failed: {reason}.",
    "Check the name (at most 255 bytes in UTF-8 per folder or file name) and try again.",
    "filesystem_error",
)
TOO_MANY_WAITING_COMMANDS = _reply(
    421,
    "More than {limit} commands sent while one waited for its reply; closing.",
    "Wait for each command's reply before sending the next; reconnect.",
    "too_many_waiting_commands",
)
LINE_TOO_LONG = _reply(
    500,
    "Command line longer than {limit} bytes; closing.",
    "Use shorter paths; reconnect.",
    "line_too_long",
)

# --- TLS policy
TLS_REQUIRED = _reply(
    530,
    "Log in over TLS only: send AUTH TLS first, then use your OCES certificate.",
    "Configure the client for explicit FTPS (AUTH TLS).",
    "tls_required",
)
PROT_P_REQUIRED = _reply(
    521,
    "Data connections must be encrypted: send PBSZ 0 and PROT P first.",
    "Configure the client to protect data connections (PROT P).",
    "prot_p_required",
)
CLEAR_DATA = _reply(
    534,
    "PROT C refused: data connections must be encrypted; use PROT P.",
    "Configure the client to protect data connections (PROT P).",
    "clear_data",
)
CLEAR_CONTROL = _reply(
    534,
    "CCC refused: the control connection stays encrypted.",
    "Turn off 'clear command channel' in the client.",
    "clear_control",
)
SHUTTING_DOWN = _reply(
    421,
    "This server is shutting down; reconnect to continue (you will reach another one).",
    "Reconnect: the load balancer sends you to another replica.",
    "shutting_down",
)
TLS_HANDSHAKE_RATE = _reply(
    421,
    "Too many TLS handshakes from {ip} (limit {limit} a minute); try again later.",
    "Keep one session open for many files instead of reconnecting per file.",
    "tls_handshake_rate",
)
LOGIN_TIMEOUT = _reply(
    421,
    "Not logged in within {seconds} seconds; closing the control connection.",
    "Log in right after connecting: AUTH TLS, USER, PASS.",
)
DATA_HANDSHAKE_FAILED = _reply(
    522,
    "Data connection refused: TLS handshake failed; data connections use TLS 1.2 (PROT P) "
    "with your client certificate.",
    "Protect data connections (PROT P), allow TLS 1.2 on them and present your client certificate.",
    "handshake_failed",
)
DATA_HANDSHAKE_TIMEOUT = _reply(
    425,
    "Data connection refused: no TLS handshake within {seconds} seconds; connect with TLS (PROT P) right away.",
    "Start the TLS handshake as soon as the data connection is open.",
    "handshake_timeout",
)

# --- passive ports and stalled transfers
TOO_MANY_DATA_PORTS = _reply(
    425,
    "Too many open data ports from {ip} (limit {limit}); finish or abort your other transfers first.",
    "Use fewer parallel transfers from one address.",
    "passive_listeners",
)
NO_PASSIVE_PORT = _reply(
    425,
    "No data port is free right now; try again in a moment.",
    "Send EPSV or PASV again shortly.",
    "no_passive_port",
)
PASSIVE_TIMEOUT = _reply(
    425,
    "No data connection within {seconds} seconds; send EPSV or PASV again.",
    "Open the data connection right after EPSV/PASV.",
    "passive_timeout",
)
TRANSFER_STALLED = _reply(
    426,
    "No data moved for {seconds} seconds; transfer aborted.",
    "Check the network; retry the transfer.",
)
UPLOAD_STALLED = _reply(
    426,
    "No data moved for {seconds} seconds; transfer aborted; nothing was kept. Upload it again.",
    "Check the network; upload the file again under the same transaction id.",
)
UPLOAD_INCOMPLETE = _reply(
    426,
    "The upload did not complete; nothing was kept. Upload it again.",
    "Upload the file again under the same transaction id.",
)
STOR_BEFORE_DATA_CONNECTION = _reply(
    425,
    "No data connection came for the upload before the next STOR; that upload was dropped, nothing of it kept.",
    "Open the data connection right after EPSV/PASV; the next STOR's own reply follows this one.",
)
UPLOAD_ABORTED = _reply(
    426,
    "Upload aborted; nothing was kept.",
    "Nothing: the transaction id is free again.",
)
ABOR_DONE = _reply(226, "ABOR command successful.", "Nothing: the transfer was aborted.")
ABOR_NOTHING_RUNNING = _reply(225, "ABOR command successful.", "Nothing: no transfer was running.")
OTHER_CERTIFICATE = _reply(
    522,
    "Data connection refused: it must present the control connection's client certificate.",
    "Present the same client certificate on data connections as on the control connection.",
    "other_certificate",
)
NO_PROXY_HEADER = _reply(
    425,
    "Data connection refused: the load balancer sent no valid PROXY header.",
    "Operator: configure the load balancer to send a PROXY header on every passive port.",
    "proxy_header",
)
ACTIVE_MODE_DISABLED = _reply(
    502,
    "Active mode is disabled; use passive mode (EPSV or PASV).",
    "Switch the client to passive mode.",
    "active_mode_disabled",
)
FOREIGN_ADDRESS = _reply(
    501,
    "Refused: data connections go only to your own address ({ip}).",
    "Use passive mode, or PORT/EPRT with your own address.",
    "foreign_address",
)

# --- login
ALREADY_LOGGED_IN = _reply(503, "User already authenticated.", "Nothing: the session is logged in.")
USER_FIRST = _reply(503, "Login with USER first.", "Send USER (any name), then PASS (anything).")
TOO_MANY_LOGINS = _reply(
    421,
    "Too many logins from {ip} (limit {limit} a minute); try again later.",
    "Wait a minute; keep sessions open instead of logging in per file.",
)
LOGIN_REFUSED = _reply(
    530,
    "Login refused: {detail}",
    "Use a valid OCES certificate of the kind the gateway accepts; the detail says what was wrong with this one.",
)
LOGGED_IN = _reply(230, "Welcome {name}.", "Upload into a service folder; read status files in /out.")

# --- folders
BAD_NAME = _reply(553, "{detail}.", "Choose a name that follows the rule in the reply.", "bad_name")
TXID_USED = _reply(
    553,
    "Transaction id {txid!r} was already used; choose a new one.",
    "Choose a new, unique transaction id.",
    "duplicate_txid",
)
TOO_MANY_FOLDERS = _reply(
    552,
    "Your folders hold {count} transaction folders, the most allowed is {limit}: upload into the ones you "
    "made or remove the empty ones (RMD), then try again.",
    "Upload into the transaction folders already made, or remove unused ones with RMD.",
    "too_many_folders",
)
LISTING_TRUNCATED = _reply(
    150,
    "Listing only the first {shown} of {total} entries; fetch and delete files to see the rest.",
    "Download and delete the files listed, then list again (sent as 125 when the data connection is open).",
)
MLST_LISTING = _reply(250, 'Listing "{path}":', "Read the facts on the next line (RFC 3659).")
MLST_END = _reply(250, "End MLST.", "Nothing: the facts were listed.")
MODIFY_SET = _reply(
    213,
    "Modify={time}; {path}.",
    "Nothing: MDTM and MLST answer with this time until the upload's grace ends (the file itself has moved on).",
)
BAD_TIME = _reply(
    501,
    "MFMT needs a time as YYYYMMDDHHMMSS (UTC) and a file name.",
    "Send MFMT <YYYYMMDDHHMMSS> <file>.",
    "bad_time",
)
MFMT_NOT_RECENT = _reply(
    550,
    "MFMT sets the time only of a file you uploaded in the last {grace} seconds; {path} is not one.",
    "Nothing to do: uploaded files move on at once; turn off 'preserve timestamp' to avoid this reply.",
    "mfmt_not_recent",
)
FEATURES = _reply(211, "Features supported:", "Use only the features listed.")
FEATURES_END = _reply(211, "End FEAT.", "Nothing: the list is complete.")
SIZE = _reply(213, "{size}", "Nothing: the size in bytes.")
MODIFIED = _reply(213, "{time}", "Nothing: the modification time (UTC, YYYYMMDDHHMMSS).")


# --- where things go (decided before pyftpdlib's "outside the user's root directory")
UPLOAD_INTO_ROOT = _reply(
    553,
    "Files cannot be uploaded into {path}: upload into a service folder, as <service>/<transaction id> "
    "or <service>/<transaction id>/in/<file>. Your service folders: {services}.",
    "Change into a service folder first.",
    "upload_outside_service",
)
UPLOAD_INTO_TXID = _reply(
    553,
    "Files cannot be uploaded directly into the transaction folder {path}: create {path}/in (MKD in), "
    "change into it and upload there.",
    "MKD in, CWD in, then STOR.",
    "upload_outside_in",
)
UPLOAD_INTO_OUT = _reply(
    553,
    "/out holds the gateway's files for you; uploads go into a service folder. Your service folders: {services}.",
    "Upload into a service folder.",
    "upload_into_out",
)
UNKNOWN_PLACE = _reply(
    550,
    "{path} does not exist or is not yours; your service folders: {services}.",
    "Use a path inside your own folders; only the services your certificate may use are shown.",
    "outside_view",
)
NOT_PERMITTED = _reply(
    550,
    "{command} is not allowed in {path}.",
    "Upload into service folders; list, download and delete in /out; nothing else can be changed.",
    "not_permitted",
)

# --- uploads
STOU_UNSUPPORTED = _reply(
    502,
    "STOU is not supported: the file name is the transaction id.",
    "Use STOR with a unique file name.",
    "unsupported",
)
APPEND_UNSUPPORTED = _reply(
    550,
    "Appending (APPE) is not supported: a transaction is one whole file. Upload the whole file with STOR "
    "under a new transaction id.",
    "Turn off 'append'/'resume' in the client; upload the whole file with a new name.",
    "append",
)
TRANSFER_IN_PROGRESS = _reply(
    450,
    "A transfer is in progress; wait for its reply first.",
    "Wait for the reply to the running transfer.",
    "transfer_in_progress",
)
RESUME_UNSUPPORTED = _reply(
    550,
    "Resuming uploads is not supported: a transaction is one whole file.",
    "Turn off 'resume' in the client; upload the whole file with a new name.",
    "resume",
)
SERVICE_NOT_PERMITTED = _reply(
    550,
    "You may not upload to {service!r}.",
    "Use a service your certificate may use (the folders you see).",
    "service_not_permitted",
)
OUT_QUOTA = _reply(
    552,
    "Your /out holds {used} bytes, over its quota of {quota}: download and delete the files in /out, "
    "then upload again.",
    "Download and delete the files in /out.",
    "out_quota",
)
TXID_USED_FOR_SERVICE = _reply(
    553,
    "Transaction id {txid!r} was already used for {service}; upload with a new, unique file name.",
    "Choose a new, unique transaction id.",
    "duplicate_txid",
)
CANNOT_ACCEPT = _reply(
    451,
    "Cannot accept uploads right now: {reason}.",
    "Retry later; nothing was kept.",
    "storage",
)
DATA_OPEN = _reply(125, "Data connection already open. Transfer starting.", "Send the file.")
DATA_OPENING = _reply(150, "File status okay. About to open data connection.", "Open the data connection.")
NOT_STORED = _reply(
    451,
    "The upload could not be stored ({reason}); nothing was kept. Please upload again.",
    "Upload the file again under the same transaction id.",
)
UPLOADED = _reply(
    226,
    "Transfer complete; transaction {txid} is on its way to {service}.",
    "Read its status in /out.",
)
NO_CLOSE_NOTIFY = _reply(
    426,
    "Upload refused: the data connection closed without a TLS close_notify, so the file may be "
    "incomplete; nothing was kept. Upload it again.",
    "Upload again; a client that never sends close_notify needs its TLS shutdown fixed.",
    "no_close_notify",
)
FILE_TOO_LARGE = _reply(
    552,
    "Upload refused: the file exceeds this service's size limit of {limit} bytes; nothing was kept.",
    "Split the file or ask the service's owner about its limit.",
    "file_too_large",
)
STORAGE_FULL = _reply(
    452,
    "Upload refused: {detail}; nothing was kept. Please upload again later.",
    "Upload again later; the gateway's storage is failing or full.",
    "storage",
)

# --- /out
NOT_OUT_FILE = _reply(
    550,
    "{command} answers only for files in /out.",
    "Ask for a file in /out.",
    "not_out_file",
)
HASH_FAILED = _reply(550, "Cannot hash the file: {reason}.", "Check the name; list /out again.")
HASH = _reply(213, "SHA-256 0-{last} {digest} {name}", "Compare with the SHA-256 of your download.")
XSHA256 = _reply(213, "{digest}", "Compare with the SHA-256 of your download.")


def os_reason(error: BaseException, default: str = os.strerror(errno.EIO)) -> str:
    """What a failed file operation tells the client: the OS's words for its errno."""
    return os.strerror(error.errno) if isinstance(error, OSError) and error.errno else default
