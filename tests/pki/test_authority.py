"""The development PKI: certificate shapes, negative variants and the gateway-pki CLI."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store
from gateway_common.identity import CertificateKind, identify
from gateway_pki import CertificateAuthority, LeafKind, oces_subject, policy_oids
from gateway_pki.__main__ import main
from gateway_pki.oces import ORGANIZATION_IDENTIFIER

CLIENT_NAMES = [
    "personal", "employee", "employee2", "company", "function", "other-employee", "oces3-employee",
    "oces3-organisation", "expired", "not-yet-valid", "revoked", "foreign-ca", "wrong-policy",
    "wrong-eku", "self-signed", "missing-intermediate",
]  # fmt: skip
ACCEPTED = CLIENT_NAMES[:8]
EXPECTED_POLICIES = {
    LeafKind.PERSONAL: ("1.2.208.169.1.1.1.1",),
    LeafKind.EMPLOYEE: ("1.2.208.169.1.1.1.2",),
    LeafKind.COMPANY: ("1.2.208.169.1.1.1.3",),
    LeafKind.FUNCTION: ("1.2.208.169.1.1.1.4",),
    LeafKind.OCES3_EMPLOYEE: ("1.2.208.169.1.1.1.2.7.1",),
    LeafKind.OCES3_ORGANISATION: ("0.4.0.2042.1.1", "1.2.208.169.1.1.1.3.7"),
}
IDENTITY_KIND = {
    "personal": CertificateKind.PERSONAL,
    "employee": CertificateKind.EMPLOYEE,
    "company": CertificateKind.COMPANY,
    "function": CertificateKind.FUNCTION,
    "oces3-employee": CertificateKind.EMPLOYEE,
    "oces3-organisation": CertificateKind.COMPANY,
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    assert main(["demo", "--dir", str(directory)]) == 0
    return directory


@pytest.fixture(scope="module")
def index(demo: Path) -> dict[str, dict[str, Any]]:
    entries = json.loads((demo / "clients" / "index.json").read_text())
    return {entry["name"]: entry for entry in entries}


@pytest.fixture(scope="module")
def root_ca() -> CertificateAuthority:
    return CertificateAuthority.create_root("test-root", "Test Root CA")


@pytest.fixture(scope="module")
def issuing_ca(root_ca: CertificateAuthority) -> CertificateAuthority:
    return root_ca.issue_intermediate("test-issuing", "Test Issuing CA")


def pem_certs(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def client(demo: Path, name: str) -> list[x509.Certificate]:
    return pem_certs(demo / "clients" / f"{name}.pem")


def policies(cert: x509.Certificate) -> list[str]:
    ext = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    return [info.policy_identifier.dotted_string for info in ext]


def usages(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def verify_client(demo: Path, chain: list[x509.Certificate], at: datetime | None = None) -> int:
    """Path-validate like a TLS server would, trusting the bundle's roots; returns the chain length."""
    bundle = pem_certs(demo / "client-ca.pem")
    # OCES client certificates carry no SAN, which the WebPKI defaults would require.
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
    )
    builder = PolicyBuilder().store(Store([c for c in bundle if c.subject == c.issuer]))
    builder = builder.extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
    if at:
        builder = builder.time(at)
    intermediates = [c for c in bundle if c.subject != c.issuer] + chain[1:]
    return len(builder.build_client_verifier().verify(chain[0], intermediates).chain)


def signed_by_any(cert: x509.Certificate, issuers: list[x509.Certificate]) -> bool:
    for issuer in issuers:
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False


# --- subjects and extensions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "pattern", "org"),
    [
        (LeafKind.PERSONAL, r"PID:9208-2002-2-\d{12}", "Ingen organisatorisk tilknytning"),
        (LeafKind.EMPLOYEE, r"CVR:30808460-RID:\d+", "Testvirksomhed A/S // CVR:30808460"),
        (LeafKind.COMPANY, r"CVR:30808460-UID:\d+", "Testvirksomhed A/S // CVR:30808460"),
        (LeafKind.FUNCTION, r"CVR:30808460-FID:\d+", "Testvirksomhed A/S // CVR:30808460"),
    ],
)
def test_oces2_subject_has_serial_and_cn_in_one_rdn(
    issuing_ca: CertificateAuthority, kind: LeafKind, pattern: str, org: str
) -> None:
    cert = issuing_ca.issue_client(oces_subject(kind)).cert
    rdns = list(cert.subject.rdns)
    multi = [rdn for rdn in rdns if len(rdn) > 1]
    assert len(multi) == 1
    oids = {attribute.oid for attribute in multi[0]}
    assert oids == {NameOID.SERIAL_NUMBER, NameOID.COMMON_NAME}
    serial = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value
    assert isinstance(serial, str)
    assert re.fullmatch(pattern, serial)
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == org
    assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "DK"
    if kind is LeafKind.FUNCTION:
        assert str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value).endswith("(funktionscertifikat)")


@pytest.mark.parametrize(("kind", "letter"), [(LeafKind.OCES3_EMPLOYEE, "E"), (LeafKind.OCES3_ORGANISATION, "O")])
def test_oces3_subject_carries_cvr_in_organization_identifier(
    issuing_ca: CertificateAuthority, kind: LeafKind, letter: str
) -> None:
    subject = oces_subject(kind, cvr="11223344")
    cert = issuing_ca.issue_client(subject).cert
    assert cert.subject.get_attributes_for_oid(ORGANIZATION_IDENTIFIER)[0].value == "NTRDK-11223344"
    assert subject.serial_number == f"UI:DK-{letter}:G:{subject.subject_id}"
    assert len(subject.subject_id) == 36


@pytest.mark.parametrize("kind", list(LeafKind))
def test_policy_oids_and_usages_per_kind(issuing_ca: CertificateAuthority, kind: LeafKind) -> None:
    cert = issuing_ca.issue_client(oces_subject(kind)).cert
    assert tuple(policies(cert)) == EXPECTED_POLICIES[kind]
    expected = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if kind in (LeafKind.PERSONAL, LeafKind.EMPLOYEE, LeafKind.OCES3_EMPLOYEE):
        expected.append(ExtendedKeyUsageOID.EMAIL_PROTECTION)
    assert usages(cert) == expected


def test_preproduction_policies_and_configurable_oces3_employee_policy() -> None:
    prefix = "1.3.6.1.4.1.31313.2.4.6"
    kinds = [LeafKind.PERSONAL, LeafKind.EMPLOYEE, LeafKind.COMPANY, LeafKind.FUNCTION]
    assert [policy_oids(k, preproduction=True) for k in kinds] == [(f"{prefix}.{n}",) for n in (1, 2, 3, 4)]
    assert policy_oids(LeafKind.OCES3_EMPLOYEE, oces3_employee_policy="1.2.3.99") == ("1.2.3.99",)


def test_leaf_extensions(issuing_ca: CertificateAuthority) -> None:
    cert = issuing_ca.issue_client(oces_subject(LeafKind.EMPLOYEE)).cert
    ext = cert.extensions
    basic = ext.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert basic.value.ca is False
    key_usage = ext.get_extension_for_class(x509.KeyUsage)
    assert key_usage.critical
    assert key_usage.value.digital_signature
    assert not key_usage.value.key_encipherment  # EC key
    crl = ext.get_extension_for_class(x509.CRLDistributionPoints).value
    assert crl[0].full_name == [x509.UniformResourceIdentifier("http://127.0.0.1:9199/test-issuing.crl")]
    aia = ext.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert aia[0].access_location.value == "http://127.0.0.1:9199/ocsp"
    issuer_ski = issuing_ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == issuer_ski.digest
    assert ext.get_extension_for_class(x509.SubjectKeyIdentifier).value == (
        x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    )
    validity = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(days=729) < validity < timedelta(days=732)
    cert.verify_directly_issued_by(issuing_ca.cert)


def test_rsa_leaf_adds_key_encipherment(issuing_ca: CertificateAuthority) -> None:
    cert = issuing_ca.issue_client(oces_subject(LeafKind.COMPANY), key_type="rsa").cert
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment


def test_configurable_revocation_urls(root_ca: CertificateAuthority) -> None:
    ca = root_ca.issue_intermediate("x", "X CA", base_url="http://crl.example")
    ca.ocsp_url = "http://ocsp.example/responder"
    cert = ca.issue_client(oces_subject(LeafKind.COMPANY)).cert
    crl = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert crl[0].full_name == [x509.UniformResourceIdentifier("http://crl.example/x.crl")]
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert aia[0].access_location.value == "http://ocsp.example/responder"


def test_rejects_malformed_identifiers() -> None:
    with pytest.raises(ValueError, match="CVR"):
        oces_subject(LeafKind.EMPLOYEE, cvr="123")
    with pytest.raises(ValueError, match="PID"):
        oces_subject(LeafKind.PERSONAL, subject_id="12")
    pid = "9208-2002-2-175183276275"
    assert oces_subject(LeafKind.PERSONAL, subject_id=pid).subject_id == pid
    assert oces_subject(LeafKind.PERSONAL, subject_id=pid[-12:]).serial_number == f"PID:{pid}"


def test_ca_save_and_load_round_trip(issuing_ca: CertificateAuthority, tmp_path: Path) -> None:
    issuing_ca.save(tmp_path / "ca")
    assert stat.S_IMODE((tmp_path / "ca" / "ca.key").stat().st_mode) == 0o600
    loaded = CertificateAuthority.load(tmp_path / "ca")
    assert loaded.name == "test-issuing"
    assert loaded.cert == issuing_ca.cert
    assert loaded.parent is not None
    assert issuing_ca.parent is not None
    assert loaded.parent.cert == issuing_ca.parent.cert
    assert loaded.crl_url == issuing_ca.crl_url
    loaded.issue_client(oces_subject(LeafKind.EMPLOYEE)).cert.verify_directly_issued_by(issuing_ca.cert)


def test_crl_lists_revoked_serials(issuing_ca: CertificateAuthority) -> None:
    leaf = issuing_ca.issue_client(oces_subject(LeafKind.EMPLOYEE))
    next_update = datetime.now(UTC) + timedelta(hours=12)
    crl = issuing_ca.issue_crl([leaf.cert.serial_number], next_update)
    assert crl.get_revoked_certificate_by_serial_number(leaf.cert.serial_number) is not None
    assert crl.issuer == issuing_ca.cert.subject
    assert crl.next_update_utc is not None
    assert abs(crl.next_update_utc - next_update) < timedelta(seconds=1)
    assert crl.is_signature_valid(issuing_ca.key.public_key())


# --- the demo PKI --------------------------------------------------------------------------


def test_demo_writes_every_file(demo: Path, index: dict[str, dict[str, Any]]) -> None:
    for name in ["server.pem", "server.key", "server-ca.pem", "client-ca.pem", "crl.pem", "crl.der"]:
        assert (demo / name).is_file(), name
    assert stat.S_IMODE((demo / "server.key").stat().st_mode) == 0o600
    assert sorted(index) == sorted(CLIENT_NAMES)
    for name in CLIENT_NAMES:
        for suffix in (".pem", ".crt", ".key"):
            assert (demo / "clients" / f"{name}{suffix}").is_file()
        assert stat.S_IMODE((demo / "clients" / f"{name}.key").stat().st_mode) == 0o600
        key_text = (demo / "clients" / f"{name}.key").read_text()
        assert key_text.startswith("-----BEGIN PRIVATE KEY-----")  # unencrypted PKCS8
        assert client(demo, name)[0] == pem_certs(demo / "clients" / f"{name}.crt")[0]
        entry = index[name]
        assert entry["expected"] == ("accept" if name in ACCEPTED else "refuse")
        cert_serial = client(demo, name)[0].subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value
        assert entry["serial_number"] == cert_serial


def test_demo_is_idempotent_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--dir", str(tmp_path)]) == 0
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(["demo", "--dir", str(tmp_path)]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert main(["demo", "--dir", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "client-ca.pem").read_bytes() != before[tmp_path / "client-ca.pem"]


def test_demo_bundle_holds_both_hierarchies(demo: Path) -> None:
    bundle = pem_certs(demo / "client-ca.pem")
    roots = [c for c in bundle if c.subject == c.issuer]
    assert len(roots) == 2
    assert len(bundle) == 4
    for cert in bundle:
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert cert.not_valid_after_utc - datetime.now(UTC) > timedelta(days=3000)


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_clients_verify_and_are_identified(demo: Path, index: dict[str, dict[str, Any]], name: str) -> None:
    chain = client(demo, name)
    assert len(chain) == 2  # leaf and its issuing CA, so curl sends the chain
    chain[0].verify_directly_issued_by(chain[1])
    assert verify_client(demo, chain) == 3
    entry = index[name]
    identity = identify(chain[0])
    assert identity.kind is IDENTITY_KIND[entry["kind"]]
    assert identity.cvr == entry["cvr"]
    assert identity.subject_id == entry["subject_id"]
    assert identity.generation == entry["generation"]


def test_demo_companies(index: dict[str, dict[str, Any]]) -> None:
    same = ["employee", "employee2", "company", "function", "oces3-employee", "oces3-organisation"]
    assert {index[name]["cvr"] for name in same} == {"30808460"}
    assert index["employee"]["subject_id"] != index["employee2"]["subject_id"]
    assert index["other-employee"]["cvr"] == "12345678"
    assert index["personal"]["cvr"] is None


def test_negative_variants(demo: Path, index: dict[str, dict[str, Any]]) -> None:
    reasons = {name: index[name]["reason"] for name in CLIENT_NAMES if name not in ACCEPTED}
    assert reasons == {
        "expired": "expired", "not-yet-valid": "not_yet_valid", "revoked": "revoked",
        "foreign-ca": "unknown_ca", "wrong-policy": "wrong_policy", "wrong-eku": "wrong_eku",
        "self-signed": "self_signed", "missing-intermediate": "missing_intermediate",
    }  # fmt: skip
    now = datetime.now(UTC)
    expired = client(demo, "expired")[0]
    assert expired.not_valid_after_utc < now
    assert verify_client(demo, client(demo, "expired"), at=now - timedelta(days=100)) == 3
    assert client(demo, "not-yet-valid")[0].not_valid_before_utc > now

    assert policies(client(demo, "wrong-policy")[0]) == ["1.2.3.4"]
    assert verify_client(demo, client(demo, "wrong-policy")) == 3  # only the policy is wrong
    assert usages(client(demo, "wrong-eku")[0]) == [ExtendedKeyUsageOID.SERVER_AUTH]

    self_signed = client(demo, "self-signed")
    assert len(self_signed) == 1
    assert self_signed[0].subject == self_signed[0].issuer
    self_signed[0].verify_directly_issued_by(self_signed[0])
    assert identify(self_signed[0]).cvr == "30808460"  # looks like OCES, only the trust is missing


def test_revoked_client_is_in_the_crl(demo: Path) -> None:
    revoked = client(demo, "revoked")
    crl = x509.load_pem_x509_crl((demo / "crl.pem").read_bytes())
    assert crl == x509.load_der_x509_crl((demo / "crl.der").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(revoked[0].serial_number) is not None
    assert crl.get_revoked_certificate_by_serial_number(client(demo, "employee")[0].serial_number) is None
    assert crl.issuer == revoked[0].issuer
    issuer_key = revoked[1].public_key()
    assert isinstance(issuer_key, ec.EllipticCurvePublicKey)
    assert crl.is_signature_valid(issuer_key)
    assert verify_client(demo, revoked) == 3  # issued normally; only the CRL says otherwise


def test_untrusted_issuers_are_refused(demo: Path) -> None:
    trusted = pem_certs(demo / "client-ca.pem")
    foreign = client(demo, "foreign-ca")
    assert not signed_by_any(foreign[0], trusted)
    assert foreign[0].issuer not in {c.subject for c in trusted}
    with pytest.raises(x509.verification.VerificationError):
        verify_client(demo, foreign)

    missing = client(demo, "missing-intermediate")
    assert len(missing) == 1  # the client does not send the intermediate
    assert not signed_by_any(missing[0], trusted)
    hidden = CertificateAuthority.load(demo / "ca" / "oces2-hidden")
    missing[0].verify_directly_issued_by(hidden.cert)
    assert hidden.cert.issuer in {c.subject for c in trusted if c.subject == c.issuer}
    with pytest.raises(x509.verification.VerificationError):
        verify_client(demo, missing)
    assert verify_client(demo, [missing[0], hidden.cert]) == 3  # the intermediate is all it lacks


def test_server_certificate(demo: Path) -> None:
    chain = pem_certs(demo / "server.pem")
    server_ca = pem_certs(demo / "server-ca.pem")
    assert chain[1:] == server_ca
    leaf = chain[0]
    leaf.verify_directly_issued_by(server_ca[0])
    assert not signed_by_any(leaf, pem_certs(demo / "client-ca.pem"))
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert usages(leaf) == [ExtendedKeyUsageOID.SERVER_AUTH]
    verifier = PolicyBuilder().store(Store(server_ca)).build_server_verifier(x509.DNSName("localhost"))
    assert len(verifier.verify(leaf, [])) == 2


def test_client_command_mints_with_the_demo_ca(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["client", "--dir", str(demo), "--kind", "function", "--cvr", "87654321", "--id", "4242"]
    assert main([*args, "--name", "Batch", "--out-name", "batch"]) == 0
    assert "CVR:87654321-FID:4242" in capsys.readouterr().out
    chain = client(demo, "batch")
    assert verify_client(demo, chain) == 3
    identity = identify(chain[0])
    assert (identity.kind, identity.cvr, identity.subject_id) == (CertificateKind.FUNCTION, "87654321", "4242")
    assert identity.common_name == "Batch (funktionscertifikat)"
    entries = json.loads((demo / "clients" / "index.json").read_text())
    assert [e["name"] for e in entries].count("batch") == 1
    assert stat.S_IMODE((demo / "clients" / "batch.key").stat().st_mode) == 0o600


def test_client_command_oces3_and_errors(demo: Path, tmp_path: Path) -> None:
    uid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert main(["client", "--dir", str(demo), "--kind", "oces3-employee", "--id", uid, "--cvr", "11112222"]) == 0
    chain = client(demo, f"oces3-employee-{uid}")
    assert verify_client(demo, chain) == 3
    identity = identify(chain[0])
    assert (identity.kind, identity.cvr, identity.subject_id) == (CertificateKind.EMPLOYEE, "11112222", uid)
    assert main(["client", "--dir", str(demo), "--kind", "employee", "--cvr", "12"]) == 2
    assert main(["client", "--dir", str(tmp_path), "--kind", "employee"]) == 2


def test_console_entry_point(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway_pki", "demo", "--dir", str(tmp_path), "--hostname", "ftps.test"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "client-ca.pem" in result.stdout
    leaf = pem_certs(tmp_path / "server.pem")[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["ftps.test"]
