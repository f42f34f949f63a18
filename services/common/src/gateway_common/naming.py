"""The names the gateway derives for a transaction in a tenant's /out, unambiguous by construction.

    status_<service>_<txid>.xml          the transaction's status file (the client guide's name)
    status_<service>_<txid>~<code>.xml   one more per status code (GATEWAY_STATUS_FILE_NAMING=per-code)
    response_<service>_<txid>~<name>     a backend system's response file

Why no two transactions (or codes) can share a name: a transaction id never holds '~' (the
ingress allows letters, digits and ' .(),+=@-_'), and a service name never holds '_' once
written into a name, because a '_' in a service name is written as '~' (service names hold
only letters, digits and '._-', so the '~' cannot be confused). Reading a name back, the first
'_' after the prefix therefore ends the service, and the only '~' after it (if any) ends the
transaction id. A status file of the single kind has no '~' after that '_', a per-code one has
exactly one: the two kinds never meet. Services without '_' keep the guide's name unchanged.

Every name must also fit the file system: 255 bytes (not characters) including the temporary
name it is first written under, which the ingress checks before an upload is accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway_common.routes import SERVICE_NAME
from gateway_common.storage import NAME_MAX, TMP_OVERHEAD, is_safe_file_name

STATUS_FILE_TEMPLATE = "status_{service}_{txid}.xml"
STATUS_FILE_CODE_TEMPLATE = "status_{service}_{txid}~{code}.xml"
RESPONSE_PREFIX = "response_"
# Written for a '_' in a service name, and between a transaction id and what follows it.
MARK = "~"
# Bytes the literal parts of a configured status file template may take (prefix and suffix):
# the ingress budgets names with it, without knowing the status service's templates.
TEMPLATE_LITERAL_MAX = 24
# Bytes a backend's own response file name can always have, whatever the transaction's names.
RESPONSE_NAME_MIN = 16
# Bytes a status code takes in a per-code name (codes 0-3) plus the '_' and '~' around the txid.
_CODE_AND_MARKS = 3
# Bytes service and transaction id together may take in UTF-8 so that every derived name fits.
TRANSACTION_NAME_MAX = NAME_MAX - TMP_OVERHEAD - TEMPLATE_LITERAL_MAX - _CODE_AND_MARKS
_RESPONSE_OVERHEAD = len(RESPONSE_PREFIX) + 2  # the '_' after the service, the '~' after the txid
assert NAME_MAX - TMP_OVERHEAD - _RESPONSE_OVERHEAD - TRANSACTION_NAME_MAX >= RESPONSE_NAME_MIN

_LITERAL = r"[^{}/~]*"
_SINGLE = re.compile(rf"(?P<prefix>[^{{}}/]+)\{{service\}}_\{{txid\}}(?P<suffix>{_LITERAL})")
_PER_CODE = re.compile(rf"(?P<prefix>[^{{}}/]+)\{{service\}}_\{{txid\}}~\{{code\}}(?P<suffix>{_LITERAL})")


def service_part(service: str) -> str:
    """The service name as it is written into file names: its '_' become '~'."""
    if not SERVICE_NAME.fullmatch(service):
        raise ValueError(f"not a service name: {service!r}")
    return service.replace("_", MARK)


def _txid_part(ftp_txid: str) -> str:
    if not ftp_txid or MARK in ftp_txid or "/" in ftp_txid or "\x00" in ftp_txid:
        raise ValueError(f"not a transaction id: {ftp_txid!r}")
    return ftp_txid


def check_transaction_names(service: str, ftp_txid: str, file_name: str) -> None:
    """Raise ValueError saying what to do when a name derived from this upload cannot be stored.

    Called when the upload starts (before any data flows), so that no later step, status
    file, response file or reservation, can fail on a name that does not fit.
    """
    used = len(service_part(service).encode()) + len(_txid_part(ftp_txid).encode())
    if used > TRANSACTION_NAME_MAX:
        room = TRANSACTION_NAME_MAX - len(service.encode())
        raise ValueError(
            f"the transaction id is {len(ftp_txid.encode())} bytes in UTF-8; for service {service} it may be at "
            f"most {room} bytes (letters like æ, ø, å take 2): use a shorter file or folder name"
        )
    if len(file_name.encode()) > NAME_MAX:
        raise ValueError(f"the file name is {len(file_name.encode())} bytes in UTF-8; at most {NAME_MAX} are allowed")


def template_parts(template: str, *, per_code: bool) -> tuple[str, str]:
    """(prefix, suffix) of a status file template, or ValueError when names could be ambiguous."""
    pattern, shape = (
        (_PER_CODE, "<prefix>{service}_{txid}~{code}<suffix>")
        if per_code
        else (
            _SINGLE,
            "<prefix>{service}_{txid}<suffix>",
        )
    )
    match = pattern.fullmatch(template)
    if match is None:
        raise ValueError(f"status file template {template!r} must have the form {shape} (no '~' in the suffix)")
    prefix, suffix = match["prefix"], match["suffix"]
    if prefix.startswith(".") or len((prefix + suffix).encode()) > TEMPLATE_LITERAL_MAX:
        raise ValueError(
            f"status file template {template!r}: prefix and suffix may take {TEMPLATE_LITERAL_MAX} bytes "
            "and the prefix may not start with a dot"
        )
    folded = prefix.casefold()
    if folded.startswith(RESPONSE_PREFIX) or RESPONSE_PREFIX.startswith(folded):
        raise ValueError(f"status file template {template!r} would share its prefix with response files")
    return prefix, suffix


@dataclass(frozen=True)
class Naming:
    """The status and response file names of one status service's configuration."""

    template: str = STATUS_FILE_TEMPLATE
    code_template: str = STATUS_FILE_CODE_TEMPLATE

    def __post_init__(self) -> None:
        single, per_code = (
            template_parts(self.template, per_code=False),
            template_parts(self.code_template, per_code=True),
        )
        if single[0] != per_code[0]:
            raise ValueError("both status file templates must start with the same prefix")

    @property
    def reserved_prefixes(self) -> tuple[str, ...]:
        """Prefixes no other file in /out may start with (compared case-insensitively)."""
        return template_parts(self.template, per_code=False)[0], RESPONSE_PREFIX

    def status(self, service: str, ftp_txid: str, code: int | None = None) -> str:
        fields = {"service": service_part(service), "txid": _txid_part(ftp_txid)}
        name = self.template.format(**fields) if code is None else self.code_template.format(**fields, code=code)
        return _fitting(name)

    @staticmethod
    def response(service: str, ftp_txid: str, name: str) -> str:
        """The name of a backend's response file ``name`` (its last path component) in /out."""
        base = name.rsplit("/", 1)[-1]
        if not is_safe_file_name(base):
            raise ValueError(f"not a usable response file name: {name!r}")
        return _fitting(f"{RESPONSE_PREFIX}{service_part(service)}_{_txid_part(ftp_txid)}{MARK}{base}")


def _fitting(name: str) -> str:
    if not is_safe_file_name(name) or len(name.encode()) > NAME_MAX - TMP_OVERHEAD:
        raise ValueError(f"{name!r} cannot be a file name in /out (at most {NAME_MAX - TMP_OVERHEAD} bytes)")
    return name
