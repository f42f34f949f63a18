"""The shapes of OCES client certificates: subject, policies and extended key usages per kind.

Follows shared/reference/oces.md, so the gateway is tested against what real certificates look
like: OCES2 puts CN and serialNumber in one multi-valued RDN, OCES3 carries the CVR in
organizationIdentifier rather than in the O text.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

ORGANIZATION_IDENTIFIER = ObjectIdentifier("2.5.4.97")
NO_ORGANISATION = "Ingen organisatorisk tilknytning"
PID_PREFIX = "9208-2002-2-"
DEFAULT_CVR = "30808460"
DEFAULT_COMPANY = "Testvirksomhed A/S"
# Unverified in the reference (seen only in a synthetic fixture), hence a parameter everywhere.
OCES3_EMPLOYEE_POLICY = "1.2.208.169.1.1.1.2.7.1"
OCES3_ORGANISATION_POLICIES = ("0.4.0.2042.1.1", "1.2.208.169.1.1.1.3.7")


class LeafKind(StrEnum):
    PERSONAL = "personal"
    EMPLOYEE = "employee"
    COMPANY = "company"
    FUNCTION = "function"
    OCES3_EMPLOYEE = "oces3-employee"
    OCES3_ORGANISATION = "oces3-organisation"

    @property
    def generation(self) -> str:
        return "OCES3" if self.value.startswith("oces3") else "OCES2"


_OCES2_POLICY_SUFFIX = {
    LeafKind.PERSONAL: "1",
    LeafKind.EMPLOYEE: "2",
    LeafKind.COMPANY: "3",
    LeafKind.FUNCTION: "4",
}
_OCES2_ID_LABEL = {LeafKind.EMPLOYEE: "RID", LeafKind.COMPANY: "UID", LeafKind.FUNCTION: "FID"}
_DEFAULT_CN = {
    LeafKind.PERSONAL: "Test Testesen",
    LeafKind.EMPLOYEE: "Test Medarbejder",
    LeafKind.COMPANY: "Test virksomhedscertifikat",
    LeafKind.FUNCTION: "Test system",
    LeafKind.OCES3_EMPLOYEE: "Test Medarbejder OCES3",
    LeafKind.OCES3_ORGANISATION: "Test organisationscertifikat",
}
_FUNCTION_SUFFIX = " (funktionscertifikat)"


@dataclass(frozen=True)
class OcesSubject:
    kind: LeafKind
    name: x509.Name
    serial_number: str
    subject_id: str
    common_name: str
    cvr: str | None


def _digits(count: int) -> str:
    # First digit non-zero so the id keeps its length when someone treats it as a number.
    return str(secrets.randbelow(9) + 1) + "".join(str(secrets.randbelow(10)) for _ in range(count - 1))


def _check(value: str, pattern: str, what: str) -> str:
    if not re.fullmatch(pattern, value):
        raise ValueError(f"{what} {value!r} does not match {pattern}")
    return value


def oces_subject(
    kind: LeafKind,
    *,
    cvr: str = DEFAULT_CVR,
    subject_id: str | None = None,
    common_name: str | None = None,
    company: str = DEFAULT_COMPANY,
) -> OcesSubject:
    """Build the subject of a client certificate; subject_id is generated when not given."""
    cn = common_name or _DEFAULT_CN[kind]
    if kind is LeafKind.FUNCTION and not cn.endswith(_FUNCTION_SUFFIX):
        cn += _FUNCTION_SUFFIX
    if kind.generation == "OCES3":
        _check(cvr, r"\d{8}", "CVR")
        sid = _check((subject_id or str(uuid.uuid4())).lower(), r"[0-9a-f-]{36}", "OCES3 id")
        letter = "E" if kind is LeafKind.OCES3_EMPLOYEE else "O"
        serial = f"UI:DK-{letter}:G:{sid}"
        # OCES3 subjects use one attribute per RDN, in the order seen on real certificates.
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "DK"),
                x509.NameAttribute(ORGANIZATION_IDENTIFIER, f"NTRDK-{cvr}"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, company),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )
        return OcesSubject(kind, name, serial, sid, cn, cvr)
    if kind is LeafKind.PERSONAL:
        # subject_id is the whole PID number, as gateway_common.identity reports it.
        digits = (subject_id or _digits(12)).removeprefix(PID_PREFIX)
        sid = PID_PREFIX + _check(digits, r"\d{12}", "PID")
        serial, org, subject_cvr = f"PID:{sid}", NO_ORGANISATION, None
    else:
        _check(cvr, r"\d{8}", "CVR")
        sid = _check(subject_id or _digits(8), r"\d{1,20}", f"{_OCES2_ID_LABEL[kind]} id")
        serial = f"CVR:{cvr}-{_OCES2_ID_LABEL[kind]}:{sid}"
        org, subject_cvr = f"{company} // CVR:{cvr}", cvr
    name = x509.Name(
        [
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "DK")]),
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]),
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, cn),
                    x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
                ]
            ),
        ]
    )
    return OcesSubject(kind, name, serial, sid, cn, subject_cvr)


def policy_oids(
    kind: LeafKind,
    *,
    preproduction: bool = False,
    oces3_employee_policy: str = OCES3_EMPLOYEE_POLICY,
) -> tuple[str, ...]:
    """Certificate policy OIDs; preproduction only exists for OCES2 and is ignored for OCES3."""
    if kind is LeafKind.OCES3_EMPLOYEE:
        return (oces3_employee_policy,)
    if kind is LeafKind.OCES3_ORGANISATION:
        return OCES3_ORGANISATION_POLICIES
    suffix = _OCES2_POLICY_SUFFIX[kind]
    return (f"1.3.6.1.4.1.31313.2.4.6.{suffix}" if preproduction else f"1.2.208.169.1.1.1.{suffix}",)


def client_usages(kind: LeafKind) -> tuple[ObjectIdentifier, ...]:
    """Extended key usages; certificates of people also sign and encrypt mail."""
    if kind in (LeafKind.PERSONAL, LeafKind.EMPLOYEE, LeafKind.OCES3_EMPLOYEE):
        return (ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION)
    return (ExtendedKeyUsageOID.CLIENT_AUTH,)
