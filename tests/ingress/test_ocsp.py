"""OCSP answers from a real (local) responder: trusted, cached, and what each mode makes of them."""

from __future__ import annotations

from cryptography import x509
from gateway_ingress.certificates import load_certificates
from gateway_ingress.ocsp import OcspChecker

from tests.support.pki_server import PkiServer


def chain(responder: PkiServer, name: str) -> tuple[x509.Certificate, x509.Certificate]:
    leaf, issuer = load_certificates(responder.pki / "clients" / f"{name}.pem")[:2]
    return leaf, issuer


def test_good_answer_is_cached(responder: PkiServer) -> None:
    checker = OcspChecker("require", timeout=5, cache_seconds=300)
    leaf, issuer = chain(responder, "employee")
    assert checker.cached(leaf) is None
    assert checker.query(leaf, issuer) == "good"
    assert checker.cached(leaf) == "good"
    assert checker.refusal("good") is None


def test_revoked_answer_refuses_in_every_mode(responder: PkiServer) -> None:
    leaf, issuer = chain(responder, "employee2")
    responder.revoked.add(leaf.serial_number)
    try:
        for mode in ("soft", "require"):
            checker = OcspChecker(mode, timeout=5, cache_seconds=300)
            assert checker.query(leaf, issuer) == "revoked"
            assert checker.refusal("revoked") == ("revoked", "the certificate is revoked (OCSP)")
    finally:
        responder.revoked.discard(leaf.serial_number)


def test_answer_signed_by_another_ca_is_no_answer(responder: PkiServer) -> None:
    leaf, issuer = chain(responder, "company")
    responder.signer = "oces3-issuing"
    try:
        checker = OcspChecker("require", timeout=5, cache_seconds=300)
        assert checker.query(leaf, issuer) == "unavailable"
        assert checker.cached(leaf) is None
    finally:
        responder.signer = None
    refusal = checker.refusal("unavailable")
    assert refusal is not None
    assert refusal[0] == "ocsp_unavailable"
    assert OcspChecker("soft", timeout=5, cache_seconds=300).refusal("unavailable") is None


def test_certificate_without_responder_gets_no_answer(responder: PkiServer) -> None:
    leaf = load_certificates(responder.pki / "clients" / "self-signed.pem")[0]
    assert OcspChecker("require", timeout=1, cache_seconds=300).query(leaf, leaf) == "unavailable"
