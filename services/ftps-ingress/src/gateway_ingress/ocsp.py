"""Optional OCSP checking of a client's certificate after its chain and CRLs have passed.

soft:    a "revoked" answer refuses; no answer (responder down, "unknown") leaves the CRL's word.
require: only a "good" answer lets the client in (fail closed).
Answers are cached until their nextUpdate (at most ``cache_seconds``); queries run in the
pipeline thread, never on the FTP IO loop.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID
from gateway_common.logging import get_logger

log = get_logger(__name__)
OcspMode = Literal["off", "soft", "require"]
Answer = Literal["good", "revoked", "unavailable"]


def responder_url(cert: x509.Certificate) -> str | None:
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    for description in access:
        location = description.access_location
        if (
            description.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(location, x509.UniformResourceIdentifier)
            and location.value.startswith(("http://", "https://"))
        ):
            return location.value
    return None


def _signed_by(signer: x509.Certificate, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm) -> bool:
    key = signer.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _verify(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> bool:
    """Signed by the issuing CA itself or by a responder certificate it issued for OCSP signing."""
    algorithm = response.signature_hash_algorithm
    if algorithm is None:
        return False
    signers = [issuer]
    for delegate in response.certificates:
        try:
            usages = delegate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if (
            ExtendedKeyUsageOID.OCSP_SIGNING in usages
            and delegate.issuer == issuer.subject
            and delegate.signature_hash_algorithm is not None
            and _signed_by(
                issuer, delegate.signature, delegate.tbs_certificate_bytes, delegate.signature_hash_algorithm
            )
        ):
            signers.append(delegate)
    return any(_signed_by(s, response.signature, response.tbs_response_bytes, algorithm) for s in signers)


class OcspChecker:
    def __init__(
        self,
        mode: OcspMode,
        timeout: float,
        cache_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.mode = mode
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._cache: dict[tuple[bytes, int], tuple[Answer, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(leaf: x509.Certificate) -> tuple[bytes, int]:
        return leaf.issuer.public_bytes(), leaf.serial_number

    def cached(self, leaf: x509.Certificate) -> Answer | None:
        with self._lock:
            entry = self._cache.get(self._key(leaf))
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    def query(self, leaf: x509.Certificate, issuer: x509.Certificate) -> Answer:
        """Ask the responder named in ``leaf`` (blocking); cache definite answers."""
        url = responder_url(leaf)
        if url is None:
            return "unavailable"
        request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()  # noqa: S303
        body = request.public_bytes(serialization.Encoding.DER)
        http = urllib.request.Request(  # noqa: S310 (http(s) only, see responder_url)
            url, data=body, headers={"Content-Type": "application/ocsp-request"}, method="POST"
        )
        try:
            with urllib.request.urlopen(http, timeout=self.timeout) as reply:  # noqa: S310
                response = ocsp.load_der_ocsp_response(reply.read(1 << 20))
        except Exception as exc:  # any failure to get an answer is "no answer"
            log.warning("OCSP responder not answering", url=url, error=repr(exc))
            return "unavailable"
        answer = self._judge(response, leaf, issuer, url)
        if answer != "unavailable":
            lifetime = self.cache_seconds
            if response.next_update_utc is not None:
                lifetime = min(lifetime, (response.next_update_utc - self.clock()).total_seconds())
            now = time.monotonic()
            with self._lock:
                # Expired answers go as new ones come, so the cache holds only the certificates
                # seen within the cache lifetime.
                self._cache = {key: entry for key, entry in self._cache.items() if entry[1] > now}
                self._cache[self._key(leaf)] = (answer, now + max(lifetime, 0.0))
        return answer

    def _judge(self, response: ocsp.OCSPResponse, leaf: x509.Certificate, issuer: x509.Certificate, url: str) -> Answer:
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            log.warning("OCSP responder refused the query", url=url, status=response.response_status.name)
            return "unavailable"
        now = self.clock()
        if (
            response.serial_number != leaf.serial_number
            or not _verify(response, issuer)
            or response.this_update_utc > now
            or (response.next_update_utc is not None and response.next_update_utc < now)
        ):
            log.warning("OCSP answer not usable (wrong certificate, signature or time)", url=url)
            return "unavailable"
        if response.certificate_status == ocsp.OCSPCertStatus.GOOD:
            return "good"
        if response.certificate_status == ocsp.OCSPCertStatus.REVOKED:
            return "revoked"
        return "unavailable"

    def refusal(self, answer: Answer) -> tuple[str, str] | None:
        """(reason, detail) when ``answer`` must refuse the login under this mode."""
        if answer == "revoked":
            return "revoked", "the certificate is revoked (OCSP)"
        if answer == "unavailable" and self.mode == "require":
            return "ocsp_unavailable", "its revocation status could not be confirmed by OCSP; try again later"
        return None
