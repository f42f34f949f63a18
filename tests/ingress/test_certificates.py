"""The login decision for every certificate of the demo PKI, and revocation against cached CRLs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from gateway_common.identity import CertificateKind
from gateway_ingress.certificates import (
    CertificateRefused,
    CertificateValidator,
    build_validator,
    load_certificates,
)
from gateway_ingress.revocation import CrlRefresher, RevocationCache
from gateway_ingress.settings import DEFAULT_POLICIES, IngressSettings
from gateway_pki.authority import CertificateAuthority, now
from gateway_pki.demo import DEMO_CLIENTS, build_demo, issuing_ca
from gateway_pki.oces import LeafKind, oces_subject

from tests.support.pki_server import PkiServer

ACCEPTED = {
    "personal": (CertificateKind.PERSONAL, "OCES2"),
    "employee": (CertificateKind.EMPLOYEE, "OCES2"),
    "company": (CertificateKind.COMPANY, "OCES2"),
    "function": (CertificateKind.FUNCTION, "OCES2"),
    "oces3-employee": (CertificateKind.EMPLOYEE, "OCES3"),
    "oces3-organisation": (CertificateKind.COMPANY, "OCES3"),
}
REFUSED = [client.name for client in DEMO_CLIENTS if client.defect is not None]


def settings(pki: Path, **extra: Any) -> IngressSettings:
    return IngressSettings(
        client_ca_file=pki / "client-ca.pem", crl_files=[pki / "crl-bundle.pem"], crl_fetch=False, **extra
    )


@pytest.fixture(scope="module")
def validator(demo_pki: Path) -> CertificateValidator:
    return build_validator(settings(demo_pki))


def presented(pki: Path, name: str) -> tuple[x509.Certificate, list[x509.Certificate]]:
    leaf, *chain = load_certificates(pki / "clients" / f"{name}.pem")
    return leaf, chain


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_accepted_certificates_map_to_their_roots(
    validator: CertificateValidator, demo_pki: Path, demo_index: dict[str, dict[str, Any]], name: str
) -> None:
    accepted = validator.validate(*presented(demo_pki, name))
    identity = accepted.identity
    expected = demo_index[name]
    assert (identity.kind, identity.generation) == ACCEPTED[name]
    assert identity.serial_number == expected["serial_number"]
    if identity.kind is CertificateKind.PERSONAL:
        assert identity.tenant == f"personal/{expected['subject_id']}"
        assert identity.login_folder is None
    else:
        assert identity.tenant == f"company/{expected['cvr']}"
        assert identity.login_folder
        assert identity.login_folder.endswith(expected["subject_id"])
    assert accepted.chain[0] == presented(demo_pki, name)[0]
    assert accepted.chain[-1].subject == accepted.chain[-1].issuer  # ends at a trusted root


def test_leaf_alone_is_accepted_when_its_intermediate_is_configured(
    validator: CertificateValidator, demo_pki: Path
) -> None:
    leaf, _ = presented(demo_pki, "employee")
    assert validator.validate(leaf, []).identity.kind is CertificateKind.EMPLOYEE


@pytest.mark.parametrize("name", REFUSED)
def test_refused_certificates_say_why(
    validator: CertificateValidator, demo_pki: Path, demo_index: dict[str, dict[str, Any]], name: str
) -> None:
    with pytest.raises(CertificateRefused) as refused:
        validator.validate(*presented(demo_pki, name))
    assert refused.value.reason == demo_index[name]["reason"]
    assert refused.value.detail


@pytest.mark.parametrize("preproduction", [False, True])
def test_production_and_preproduction_policies_are_accepted(demo_pki: Path, preproduction: bool) -> None:
    ca = issuing_ca(demo_pki, LeafKind.COMPANY)
    leaf = ca.issue_client(oces_subject(LeafKind.COMPANY), preproduction=preproduction)
    validator = build_validator(settings(demo_pki))
    assert validator.validate(leaf.cert, list(leaf.intermediates)).policy.startswith(
        "1.3.6.1.4.1.31313.2.4.6.3" if preproduction else "1.2.208.169.1.1.1.3"
    )


def test_policy_must_match_the_kind_and_is_configurable(demo_pki: Path) -> None:
    ca = issuing_ca(demo_pki, LeafKind.PERSONAL)
    # A personal serialNumber under the employee policy is not a personal certificate.
    leaf = ca.issue_client(oces_subject(LeafKind.PERSONAL), policies=["1.2.208.169.1.1.1.2.5"])
    with pytest.raises(CertificateRefused, match="personal certificate without an accepted") as refused:
        build_validator(settings(demo_pki)).validate(leaf.cert, list(leaf.intermediates))
    assert refused.value.reason == "wrong_policy"
    custom = DEFAULT_POLICIES | {CertificateKind.PERSONAL: ["1.2.208.169.1.1.1.2.5"]}
    assert build_validator(settings(demo_pki, accepted_policies=custom)).validate(leaf.cert, list(leaf.intermediates))


def test_accepted_policies_from_the_environment(monkeypatch: pytest.MonkeyPatch, demo_pki: Path) -> None:
    monkeypatch.setenv("GATEWAY_ACCEPTED_POLICIES", '{"employee": ["1.2.3"]}')
    monkeypatch.setenv("GATEWAY_CRL_FILES", f"{demo_pki / 'crl.pem'}, {demo_pki / 'crl.der'}")
    loaded = IngressSettings()
    assert loaded.accepted_policies == {CertificateKind.EMPLOYEE: ["1.2.3"]}
    assert loaded.crl_files == [demo_pki / "crl.pem", demo_pki / "crl.der"]


def test_unparseable_subject_is_refused(demo_pki: Path) -> None:
    ca = issuing_ca(demo_pki, LeafKind.EMPLOYEE)
    subject = oces_subject(LeafKind.EMPLOYEE)
    odd = type(subject)(
        subject.kind,
        x509.Name([x509.NameAttribute(x509.NameOID.SERIAL_NUMBER, "CVR:1234-RID:1")]),
        subject.serial_number,
        subject.subject_id,
        subject.common_name,
        subject.cvr,
    )
    leaf = ca.issue_client(odd)
    with pytest.raises(CertificateRefused) as refused:
        build_validator(settings(demo_pki)).validate(leaf.cert, list(leaf.intermediates))
    assert refused.value.reason == "unparseable_subject"


# --- revocation


def _issuing(pki: Path) -> CertificateAuthority:
    return issuing_ca(pki, LeafKind.EMPLOYEE)


def _der(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)


def _refresher(pki: Path, clock: Any = None, files: list[Path] | None = None, **kwargs: Any) -> CrlRefresher:
    trusted = load_certificates(pki / "client-ca.pem")
    cache = RevocationCache(trusted, timedelta(hours=1), **({"clock": clock} if clock else {}))
    options = {"fetch": False, "interval": 60.0, "timeout": 5.0, "max_bytes": 1 << 20} | kwargs
    return CrlRefresher(cache, files or [], **options)


def test_without_crls_the_gateway_fails_closed(demo_pki: Path) -> None:
    trusted = load_certificates(demo_pki / "client-ca.pem")
    validator = CertificateValidator(trusted, DEFAULT_POLICIES, _refresher(demo_pki))
    with pytest.raises(CertificateRefused) as refused:
        validator.validate(*presented(demo_pki, "employee"))
    assert refused.value.reason == "crl_unavailable"


def test_stale_crl_serves_until_next_update_plus_grace(demo_pki: Path) -> None:
    clock = [datetime.now(UTC)]
    crls = _refresher(demo_pki, clock=lambda: clock[0], files=[demo_pki / "crl-bundle.pem"])
    crls.load_files()
    ca = _issuing(demo_pki)
    later = now() + timedelta(minutes=1)
    assert crls.cache.add(_der(ca.issue_crl([], now() + timedelta(hours=12), this_update=later, crl_number=2)), "t")
    validator = CertificateValidator(load_certificates(demo_pki / "client-ca.pem"), DEFAULT_POLICIES, crls)
    employee = presented(demo_pki, "employee")
    clock[0] = now() + timedelta(hours=12, minutes=59)
    validator.validate(*employee)
    clock[0] = now() + timedelta(hours=13, minutes=1)
    with pytest.raises(CertificateRefused) as refused:
        validator.validate(*employee)
    assert refused.value.reason == "crl_expired"


def test_newer_crl_replaces_older_and_never_the_reverse(demo_pki: Path) -> None:
    crls = _refresher(demo_pki, files=[demo_pki / "crl-bundle.pem"])
    crls.load_files()
    validator = CertificateValidator(load_certificates(demo_pki / "client-ca.pem"), DEFAULT_POLICIES, crls)
    leaf, chain = presented(demo_pki, "employee2")
    ca = _issuing(demo_pki)
    later = now() + timedelta(minutes=1)
    revoking = ca.issue_crl([leaf.serial_number], now() + timedelta(hours=12), this_update=later, crl_number=5)
    assert crls.cache.add(_der(revoking), "newer") == 1
    with pytest.raises(CertificateRefused, match="revoked"):
        validator.validate(leaf, chain)
    older = ca.issue_crl([], now() + timedelta(hours=12), this_update=now() - timedelta(hours=2), crl_number=4)
    assert crls.cache.add(_der(older), "older") == 0
    with pytest.raises(CertificateRefused, match="revoked"):
        validator.validate(leaf, chain)


def test_crl_not_signed_by_a_trusted_ca_is_rejected(demo_pki: Path) -> None:
    crls = _refresher(demo_pki)
    foreign = CertificateAuthority.load(demo_pki / "ca" / "foreign-issuing")
    with pytest.raises(ValueError, match="no CRL signed by a trusted CA"):
        crls.cache.add(_der(foreign.issue_crl([], now() + timedelta(hours=1))), "foreign")


def test_changed_crl_file_is_reloaded(demo_pki: Path, tmp_path: Path) -> None:
    path = tmp_path / "issuing.crl"
    ca = _issuing(demo_pki)
    path.write_bytes(_der(ca.issue_crl([], now() + timedelta(hours=12), this_update=now() + timedelta(minutes=1))))
    crls = _refresher(demo_pki, files=[demo_pki / "crl-bundle.pem", path])
    crls.load_files()
    validator = CertificateValidator(load_certificates(demo_pki / "client-ca.pem"), DEFAULT_POLICIES, crls)
    leaf, chain = presented(demo_pki, "company")
    validator.validate(leaf, chain)
    later = now() + timedelta(minutes=2)
    path.write_bytes(_der(ca.issue_crl([leaf.serial_number], now() + timedelta(hours=12), this_update=later)))
    crls.load_files()
    with pytest.raises(CertificateRefused) as refused:
        validator.validate(leaf, chain)
    assert refused.value.reason == "revoked"


@pytest.fixture
def served_pki(tmp_path: Path) -> Iterator[tuple[Path, PkiServer]]:
    """A demo PKI whose distribution points name a local server that serves its crls/."""
    server = PkiServer(tmp_path / "pki")
    try:
        build_demo(server.pki, base_url=server.url)
        yield server.pki, server
    finally:
        server.stop()


def test_crls_fetched_from_distribution_points_and_kept_while_the_host_is_down(
    served_pki: tuple[Path, PkiServer],
) -> None:
    pki, server = served_pki
    crls = _refresher(pki, fetch=True)
    validator = CertificateValidator(load_certificates(pki / "client-ca.pem"), DEFAULT_POLICIES, crls)
    with pytest.raises(CertificateRefused) as refused:
        validator.validate(*presented(pki, "revoked"))
    assert refused.value.reason == "crl_unavailable"  # fail closed until fetched; the leaf's URL is now known

    crls.fetch_urls()
    with pytest.raises(CertificateRefused) as refused:
        validator.validate(*presented(pki, "revoked"))
    assert refused.value.reason == "revoked"
    validator.validate(*presented(pki, "employee"))

    server.stop()
    crls.fetch_urls()  # the host is down: the last good CRLs stay in use
    validator.validate(*presented(pki, "employee"))


async def test_refresher_runs_in_the_background_and_wakes_on_new_urls(
    served_pki: tuple[Path, PkiServer],
) -> None:
    pki, _ = served_pki
    crls = _refresher(pki, fetch=True, interval=3600.0)
    validator = CertificateValidator(load_certificates(pki / "client-ca.pem"), DEFAULT_POLICIES, crls)
    task = asyncio.create_task(crls.run())
    try:
        await asyncio.sleep(0.2)
        # Only the CA's own URLs were known; the leaf's CRL is fetched once a login names it.
        with pytest.raises(CertificateRefused):
            validator.validate(*presented(pki, "employee"))
        for _ in range(100):
            await asyncio.sleep(0.05)
            try:
                validator.validate(*presented(pki, "employee"))
                break
            except CertificateRefused:
                continue
        else:
            pytest.fail("the refresher did not fetch the newly learned CRL")
    finally:
        task.cancel()


def test_a_broken_crl_file_keeps_the_last_good_crl(demo_pki: Path, tmp_path: Path) -> None:
    path = tmp_path / "bundle.pem"
    path.write_bytes((demo_pki / "crl-bundle.pem").read_bytes())
    crls = _refresher(demo_pki, files=[path])
    crls.load_files()
    validator = CertificateValidator(load_certificates(demo_pki / "client-ca.pem"), DEFAULT_POLICIES, crls)
    path.write_bytes(b"-----BEGIN X509 CRL-----\ngarbage\n-----END X509 CRL-----\n")
    crls.refresh()
    validator.validate(*presented(demo_pki, "employee"))
    with pytest.raises(CertificateRefused, match="revoked"):
        validator.validate(*presented(demo_pki, "revoked"))
