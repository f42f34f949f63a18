"""Who a certificate is: kind, company, tenant and login folder from real X.509 subjects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from gateway_common.identity import (
    ORGANIZATION_IDENTIFIER,
    CertificateKind,
    Identity,
    IdentityError,
    identify,
    identity_from_proto,
)

KEY = ec.generate_private_key(ec.SECP256R1())
NOT_AFTER = datetime(2027, 1, 1, tzinfo=UTC)
UUID = "0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D"


def _cert(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.Certificate:
    # UTF8String throughout: PrintableString could not even carry the non-ASCII digits tried below.
    subject = x509.Name([x509.NameAttribute(oid, value, _type=_ASN1Type.UTF8String) for oid, value in attributes])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")]))
        .public_key(KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_AFTER - timedelta(days=365))
        .not_valid_after(NOT_AFTER)
        .sign(KEY, hashes.SHA256())
    )


def _serial(serial: str, *more: tuple[x509.ObjectIdentifier, str]) -> x509.Certificate:
    return _cert((NameOID.COMMON_NAME, "Jane Doe"), (NameOID.SERIAL_NUMBER, serial), *more)


@pytest.mark.parametrize(
    ("serial", "kind", "subject_id", "cvr", "tenant", "folder"),
    [
        ("PID:9208-2002-2-123456789012", CertificateKind.PERSONAL, "9208-2002-2-123456789012", None,
         "personal/9208-2002-2-123456789012", None),
        ("CVR:30808460-RID:1234567", CertificateKind.EMPLOYEE, "1234567", "30808460", "company/30808460",
         "RID-1234567"),
        ("CVR:30808460-UID:42", CertificateKind.COMPANY, "42", "30808460", "company/30808460", "UID-42"),
        ("CVR:30808460-FID:99", CertificateKind.FUNCTION, "99", "30808460", "company/30808460", "FID-99"),
    ],
)  # fmt: skip
def test_oces2_subjects(
    serial: str, kind: CertificateKind, subject_id: str, cvr: str | None, tenant: str, folder: str | None
) -> None:
    cert = _serial(serial)
    identity = identify(cert)
    assert (identity.kind, identity.generation, identity.subject_id, identity.cvr) == (kind, "OCES2", subject_id, cvr)
    assert (identity.tenant, identity.login_folder) == (tenant, folder)
    assert (identity.serial_number, identity.common_name) == (serial, "Jane Doe")
    assert identity.fingerprint == cert.fingerprint(hashes.SHA256()).hex()
    assert identity.not_after == NOT_AFTER


@pytest.mark.parametrize(("letter", "kind"), [("E", CertificateKind.EMPLOYEE), ("O", CertificateKind.COMPANY)])
def test_oces3_subjects_take_the_cvr_from_the_organization_identifier(letter: str, kind: CertificateKind) -> None:
    identity = identify(_serial(f"UI:DK-{letter}:G:{UUID}", (ORGANIZATION_IDENTIFIER, "NTRDK-30808460")))
    assert (identity.kind, identity.generation, identity.cvr) == (kind, "OCES3", "30808460")
    # One folder per certificate however the UUID's case was written.
    assert identity.subject_id == UUID.lower()
    assert identity.login_folder == f"{kind.value}-{UUID.lower()}"
    assert identity.tenant == "company/30808460"


@pytest.mark.parametrize(
    "cert",
    [
        _cert((NameOID.COMMON_NAME, "no serial")),
        _serial("PID:9208-2002-2-123456789012", (NameOID.SERIAL_NUMBER, "CVR:30808460-UID:1")),  # two serials
        _serial("CVR:30808460-UID:1 "),  # trailing text
        _serial("XPID:9208-2002-2-123456789012"),
        _serial("CVR:３０８０８４６０-UID:1"),  # full-width digits  # noqa: RUF001
        _serial("CVR:30808460-XID:1"),
        _serial(f"UI:DK-E:G:{UUID}"),  # OCES3 without organizationIdentifier
        _serial(f"UI:DK-E:G:{UUID}", (ORGANIZATION_IDENTIFIER, "NTRDK-3080846")),
        _serial(f"UI:DK-P:G:{UUID}", (ORGANIZATION_IDENTIFIER, "NTRDK-30808460")),
        _serial(
            f"UI:DK-O:G:{UUID}",
            (ORGANIZATION_IDENTIFIER, "NTRDK-30808460"),
            (ORGANIZATION_IDENTIFIER, "NTRDK-12345678"),
        ),
    ],
)
def test_what_is_no_oces_identity_is_refused(cert: x509.Certificate) -> None:
    with pytest.raises(IdentityError) as refused:
        identify(cert)
    assert refused.value.reason == "unparseable_subject"


@pytest.mark.parametrize(
    "serial",
    ["PID:9208-2002-2-123456789012", "CVR:30808460-RID:1234567", "CVR:30808460-FID:99", f"UI:DK-O:G:{UUID}"],
)
def test_the_upload_events_sender_rebuilds_the_same_identity(serial: str) -> None:
    identity = identify(_serial(serial, (ORGANIZATION_IDENTIFIER, "NTRDK-30808460")))
    sender = identity.to_proto()
    assert (sender.tenant, sender.certificate_sha256) == (identity.tenant, identity.fingerprint)
    rebuilt = identity_from_proto(sender)
    assert rebuilt == Identity(**{**vars(identity), "not_after": None})
    assert rebuilt.login_folder == identity.login_folder
