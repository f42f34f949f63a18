"""Who a client is, read from its OCES certificate.

The certificate is the identity: the subject's serialNumber (OCES2) or serialNumber plus
organizationIdentifier (OCES3) decide the kind of certificate, the company (CVR) and the
tenant root the client works in. Nothing the client types (USER/PASS) is trusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID, ObjectIdentifier

from gateway_common.proto.gateway.v1 import identity_pb2
from gateway_common.refusal import Refusal

ORGANIZATION_IDENTIFIER = ObjectIdentifier("2.5.4.97")

# re.ASCII: without it \d also matches full-width and Arabic-Indic digits, which would become
# tenant roots and folder names that no ASCII identifier matches.
_OCES2_PERSONAL = re.compile(r"PID:(\d{4}-\d{4}-\d-\d{12})", re.ASCII)
_OCES2_COMPANY = re.compile(r"CVR:(\d{8})-(RID|UID|FID):(\d{1,20})", re.ASCII)
_OCES3 = re.compile(r"UI:DK-([EO]):G:([0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})", re.ASCII)
_OCES3_ORG = re.compile(r"NTRDK-(\d{8})", re.ASCII)


class CertificateKind(StrEnum):
    PERSONAL = "personal"
    EMPLOYEE = "employee"
    COMPANY = "company"
    FUNCTION = "function"


_OCES2_KINDS = {"RID": CertificateKind.EMPLOYEE, "UID": CertificateKind.COMPANY, "FID": CertificateKind.FUNCTION}
_OCES3_KINDS = {"E": CertificateKind.EMPLOYEE, "O": CertificateKind.COMPANY}
_FOLDER_PREFIX = {
    CertificateKind.EMPLOYEE: "RID",
    CertificateKind.COMPANY: "UID",
    CertificateKind.FUNCTION: "FID",
}
_KIND_TO_PROTO = {
    CertificateKind.PERSONAL: identity_pb2.CERTIFICATE_KIND_PERSONAL,
    CertificateKind.EMPLOYEE: identity_pb2.CERTIFICATE_KIND_EMPLOYEE,
    CertificateKind.COMPANY: identity_pb2.CERTIFICATE_KIND_COMPANY,
    CertificateKind.FUNCTION: identity_pb2.CERTIFICATE_KIND_FUNCTION,
}
_PROTO_TO_KIND = {v: k for k, v in _KIND_TO_PROTO.items()}


class IdentityError(Refusal, ValueError):
    """The certificate does not carry an OCES identity the gateway understands."""


@dataclass(frozen=True)
class Identity:
    kind: CertificateKind
    generation: str  # "OCES2" or "OCES3"
    subject_id: str
    serial_number: str
    common_name: str
    cvr: str | None = None
    fingerprint: str = ""
    not_after: datetime | None = None

    @property
    def tenant(self) -> str:
        """Storage key of the root this certificate works in."""
        if self.kind is CertificateKind.PERSONAL:
            return f"personal/{self.subject_id}"
        return f"company/{self.cvr}"

    @property
    def login_folder(self) -> str | None:
        """Folder of this certificate inside its company root; None for personal roots."""
        if self.kind is CertificateKind.PERSONAL:
            return None
        prefix = _FOLDER_PREFIX[self.kind] if self.generation == "OCES2" else self.kind.value
        return f"{prefix}-{self.subject_id}"

    def to_proto(self) -> identity_pb2.Sender:
        return identity_pb2.Sender(
            kind=_KIND_TO_PROTO[self.kind],
            cvr=self.cvr or "",
            subject_id=self.subject_id,
            serial_number=self.serial_number,
            common_name=self.common_name,
            tenant=self.tenant,
            certificate_sha256=self.fingerprint,
        )


def _single_attribute(name: x509.Name, oid: ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if len(values) > 1:
        raise IdentityError("unparseable_subject", f"subject has {len(values)} {oid.dotted_string} attributes")
    if not values:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def identify(cert: x509.Certificate) -> Identity:
    """Classify a (chain-validated) client certificate; raise IdentityError when it is no OCES identity."""
    subject = cert.subject
    serial = _single_attribute(subject, NameOID.SERIAL_NUMBER)
    common_name = _single_attribute(subject, NameOID.COMMON_NAME) or ""
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    not_after = cert.not_valid_after_utc
    if serial is None:
        raise IdentityError("unparseable_subject", "certificate subject has no serialNumber attribute")
    if match := _OCES2_PERSONAL.fullmatch(serial):
        return Identity(CertificateKind.PERSONAL, "OCES2", match[1], serial, common_name, None, fingerprint, not_after)
    if match := _OCES2_COMPANY.fullmatch(serial):
        kind = _OCES2_KINDS[match[2]]
        return Identity(kind, "OCES2", match[3], serial, common_name, match[1], fingerprint, not_after)
    if match := _OCES3.fullmatch(serial):
        org = _single_attribute(subject, ORGANIZATION_IDENTIFIER)
        org_match = _OCES3_ORG.fullmatch(org or "")
        if org_match is None:
            raise IdentityError(
                "unparseable_subject", f"OCES3 certificate without organizationIdentifier NTRDK-<cvr>: {org!r}"
            )
        kind = _OCES3_KINDS[match[1]]
        return Identity(kind, "OCES3", match[2].lower(), serial, common_name, org_match[1], fingerprint, not_after)
    raise IdentityError("unparseable_subject", f"serialNumber {serial!r} is not an OCES identity")


def identity_from_proto(sender: identity_pb2.Sender) -> Identity:
    """Rebuild the identity an upload event carries (for permission checks downstream)."""
    kind = _PROTO_TO_KIND[sender.kind]
    generation = "OCES3" if sender.serial_number.startswith("UI:") else "OCES2"
    return Identity(
        kind,
        generation,
        sender.subject_id,
        sender.serial_number,
        sender.common_name,
        sender.cvr or None,
        sender.certificate_sha256,
    )
