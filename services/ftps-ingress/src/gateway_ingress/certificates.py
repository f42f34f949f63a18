"""Whether a client certificate may log in, and who it is: one decision for login and `gateway-cert`.

Checks, in order, each failing with its own reason:
  chain      OpenSSL builds and verifies the chain from the leaf, what the client sent and the
             configured CA bundle (roots and intermediates): expired, not_yet_valid, self_signed,
             unknown_ca, missing_intermediate, bad_signature, critical_extension, ...
  usage      keyUsage (if present) allows digitalSignature; extendedKeyUsage (if present) holds
             clientAuth; no critical extension the gateway does not understand: wrong_key_usage,
             wrong_eku, critical_extension
  identity   the subject carries an OCES identity: unparseable_subject
  policy     a certificate policy accepted for that kind of certificate: wrong_policy
  revocation every certificate below the root against its issuer's CRL: revoked, crl_unavailable,
             crl_expired

missing_intermediate vs unknown_ca: when the leaf's own issuer is nowhere to be found (not sent,
not configured) the client most likely left out an intermediate, so the reply tells it to send
its whole chain; when the chain the client sent leads to a root the gateway does not trust, it is
unknown_ca. A certificate of a foreign CA sent without its intermediate therefore reads as
missing_intermediate; either way it is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from gateway_common.identity import CertificateKind, Identity, IdentityError, identify
from gateway_common.refusal import Refusal
from OpenSSL import crypto

from gateway_ingress.ocsp import OcspChecker
from gateway_ingress.revocation import CrlRefresher, RevocationCache, RevocationError
from gateway_ingress.settings import IngressSettings

# OpenSSL X509_V_ERR_* codes -> refusal reasons in logs and metrics.
VERIFY_REASONS: dict[int, str] = {
    2: "unknown_ca",  # unable to get issuer certificate
    4: "bad_signature",
    7: "bad_signature",
    9: "not_yet_valid",
    10: "expired",
    18: "self_signed",
    19: "unknown_ca",  # self-signed certificate in chain
    20: "unknown_ca",  # unable to get local issuer certificate
    21: "unknown_ca",  # unable to verify the first certificate
    24: "invalid_ca",
    26: "wrong_purpose",
    34: "critical_extension",
}
_ISSUER_NOT_FOUND = {2, 20, 21}

# Critical extensions whose meaning the gateway (or OpenSSL's chain check) enforces.
_UNDERSTOOD_CRITICAL = {
    ExtensionOID.BASIC_CONSTRAINTS,
    ExtensionOID.KEY_USAGE,
    ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.CERTIFICATE_POLICIES,
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
}


class CertificateRefused(Refusal):
    """The certificate or its chain is not trusted for login."""


@dataclass(frozen=True)
class TrustedCertificate:
    identity: Identity
    chain: tuple[x509.Certificate, ...]  # leaf first, trusted root last
    policy: str


def load_certificates(path: Path) -> list[x509.Certificate]:
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def _policy_matches(oid: str, accepted: str) -> bool:
    return oid == accepted or oid.startswith(accepted + ".")


class CertificateValidator:
    def __init__(
        self,
        trusted: Sequence[x509.Certificate],
        policies: Mapping[CertificateKind, Sequence[str]],
        crls: CrlRefresher | None,
        ocsp: OcspChecker | None = None,
    ) -> None:
        self.trusted = tuple(trusted)
        self.policies = {kind: tuple(oids) for kind, oids in policies.items()}
        self.crls = crls
        # Asked by the login after validate() (it may wait on the network); None when OCSP is off.
        self.ocsp = ocsp
        self._store = crypto.X509Store()
        for cert in self.trusted:
            self._store.add_cert(crypto.X509.from_cryptography(cert))

    def validate(self, leaf: x509.Certificate, sent: Sequence[x509.Certificate] = ()) -> TrustedCertificate:
        """Return what the gateway knows about ``leaf`` or raise CertificateRefused saying why."""
        chain = self._verify_chain(leaf, [cert for cert in sent if cert != leaf])
        self._check_usage(leaf)
        try:
            identity = identify(leaf)
        except IdentityError as exc:
            raise CertificateRefused(exc.reason, f"not an OCES identity the gateway accepts: {exc.detail}") from exc
        policy = self._check_policy(leaf, identity)
        if self.crls is not None:
            # Only a verified chain may point the gateway at URLs to fetch.
            if any([self.crls.learn(cert) for cert in chain]):
                self.crls.wake()
            try:
                self.crls.cache.check(chain)
            except RevocationError as exc:
                raise CertificateRefused(exc.reason, exc.detail) from exc
        return TrustedCertificate(identity, chain, policy)

    def _verify_chain(self, leaf: x509.Certificate, sent: list[x509.Certificate]) -> tuple[x509.Certificate, ...]:
        context = crypto.X509StoreContext(
            self._store, crypto.X509.from_cryptography(leaf), [crypto.X509.from_cryptography(c) for c in sent]
        )
        try:
            verified = context.get_verified_chain()
        except crypto.X509StoreContextError as exc:
            code, depth, message = exc.errors
            subject = exc.certificate.to_cryptography().subject.rfc4514_string()
            reason = VERIFY_REASONS.get(code, "verification_failed")
            if code in _ISSUER_NOT_FOUND and depth == 0:
                issuer = leaf.issuer.rfc4514_string()
                raise CertificateRefused(
                    "missing_intermediate",
                    f"the issuing CA ({issuer}) is unknown: send your whole certificate chain; "
                    "it must lead to a trusted OCES CA",
                ) from exc
            raise CertificateRefused(reason, f"{message} (depth {depth}, {subject})") from exc
        return tuple(cert.to_cryptography() for cert in verified)

    @staticmethod
    def _check_usage(leaf: x509.Certificate) -> None:
        for extension in leaf.extensions:
            if extension.critical and extension.oid not in _UNDERSTOOD_CRITICAL:
                raise CertificateRefused(
                    "critical_extension", f"unsupported critical extension {extension.oid.dotted_string}"
                )
        try:
            key_usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            pass
        else:
            if not key_usage.digital_signature:
                raise CertificateRefused("wrong_key_usage", "keyUsage does not allow digitalSignature")
        try:
            eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            return
        if ExtendedKeyUsageOID.CLIENT_AUTH not in eku and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku:
            raise CertificateRefused("wrong_eku", "extendedKeyUsage does not include TLS client authentication")

    def _check_policy(self, leaf: x509.Certificate, identity: Identity) -> str:
        try:
            policies = leaf.extensions.get_extension_for_class(x509.CertificatePolicies).value
        except x509.ExtensionNotFound:
            policies = x509.CertificatePolicies([])
        oids: list[str] = [info.policy_identifier.dotted_string for info in policies]
        accepted = self.policies.get(identity.kind, ())
        for oid in oids:
            if any(_policy_matches(oid, prefix) for prefix in accepted):
                return oid
        raise CertificateRefused(
            "wrong_policy",
            f"{identity.kind.value} certificate without an accepted OCES policy (has {', '.join(oids) or 'none'})",
        )


def build_validator(settings: IngressSettings) -> CertificateValidator:
    """The validator the settings describe, with its CRL files loaded (URLs are fetched by ``crls.run``)."""
    trusted = load_certificates(settings.client_ca_file)
    crls = None
    if settings.revocation_check:
        cache = RevocationCache(trusted, timedelta(seconds=settings.crl_grace))
        crls = CrlRefresher(
            cache,
            settings.crl_files,
            urls=settings.crl_urls,
            fetch=settings.crl_fetch,
            interval=settings.crl_refresh_interval,
            timeout=settings.crl_fetch_timeout,
            max_bytes=settings.crl_max_bytes,
        )
        crls.load_files()
    ocsp = None
    if settings.ocsp_mode != "off":
        ocsp = OcspChecker(settings.ocsp_mode, settings.ocsp_timeout, settings.ocsp_cache_seconds)
    return CertificateValidator(trusted, settings.accepted_policies, crls, ocsp)
