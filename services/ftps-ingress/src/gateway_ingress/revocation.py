"""Revocation checking against cached CRLs, refreshed in the background without a restart.

CRLs come from files (GATEWAY_CRL_FILES) and from the HTTP distribution points named in the
trusted CAs and in client certificates seen at login. A CRL is only kept when a trusted CA
signed it. When a CRL host is down the last good CRL keeps serving until its nextUpdate plus
the configured grace; after that, and when no CRL is known at all, logins fail closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from gateway_common import metrics
from gateway_common.logging import get_logger
from gateway_common.refusal import Refusal

log = get_logger(__name__)


class RevocationError(Refusal):
    """The certificate is revoked, or its revocation status cannot be known."""


@dataclass(frozen=True)
class CachedCrl:
    crl: x509.CertificateRevocationList
    issuer_key: bytes  # DER public key of the trusted CA that signed it
    source: str
    # Built by the refresher: looking a serial up in a large CRL must not cost the FTP loop a scan.
    revoked: frozenset[int]


def parse_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    if b"-----BEGIN X509 CRL-----" in data:
        marker = b"-----END X509 CRL-----"
        blocks = [chunk + marker for chunk in data.split(marker) if b"-----BEGIN X509 CRL-----" in chunk]
        return [x509.load_pem_x509_crl(block) for block in blocks]
    return [x509.load_der_x509_crl(data)]


def _signed_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    key = ca.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        return False
    return crl.is_signature_valid(key)


def _key_der(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def distribution_points(cert: x509.Certificate) -> list[str]:
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [
        name.value
        for point in points
        for name in point.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier) and name.value.startswith(("http://", "https://"))
    ]


def _name(issuer: x509.Name) -> str:
    common = issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(common[0].value) if common else issuer.rfc4514_string()


class RevocationCache:
    """The newest good CRL per issuing CA; read on the FTP loop, written by the refresher."""

    def __init__(
        self,
        trusted: Sequence[x509.Certificate],
        grace: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.trusted = tuple(trusted)
        self.grace = grace
        self.clock = clock
        self._crls: dict[bytes, CachedCrl] = {}
        self._lock = threading.Lock()

    def add(self, data: bytes, source: str) -> int:
        """Add the CRLs in ``data`` (PEM bundle or DER); return how many were newer than the cached ones.

        CRLs of CAs the gateway does not trust are skipped; ValueError when none was usable.
        """
        added = usable = 0
        for crl in parse_crls(data):
            issuer = next((c for c in self.trusted if c.subject == crl.issuer and _signed_by(crl, c)), None)
            if issuer is None:
                log.warning("CRL not signed by a trusted CA ignored", issuer=_name(crl.issuer), source=source)
                continue
            usable += 1
            key = crl.issuer.public_bytes()
            with self._lock:
                current = self._crls.get(key)
            if current is not None and current.crl.last_update_utc >= crl.last_update_utc:
                continue
            entry = CachedCrl(crl, _key_der(issuer), source, frozenset(revoked.serial_number for revoked in crl))
            with self._lock:  # only the refresher thread adds, so nothing newer arrived meanwhile
                self._crls[key] = entry
            added += 1
            metrics.CRL_AGE.labels(crl=_name(crl.issuer)).set_function(_age_since(crl.last_update_utc.timestamp()))
            if crl.next_update_utc is not None:
                metrics.CRL_NEXT_UPDATE.labels(crl=_name(crl.issuer)).set(crl.next_update_utc.timestamp())
        if not usable:
            raise ValueError(f"{source} holds no CRL signed by a trusted CA")
        return added

    def check(self, chain: Sequence[x509.Certificate]) -> None:
        """Raise RevocationError unless every certificate below the root is known not to be revoked."""
        now = self.clock()
        for cert, issuer in itertools.pairwise(chain):
            with self._lock:
                cached = self._crls.get(cert.issuer.public_bytes())
            if cached is None or cached.issuer_key != _key_der(issuer):
                raise RevocationError(
                    "crl_unavailable", f"no CRL of {_name(cert.issuer)} is available; try again in a few minutes"
                )
            next_update = cached.crl.next_update_utc
            if next_update is None or now > next_update + self.grace:
                raise RevocationError(
                    "crl_expired", f"the CRL of {_name(cert.issuer)} is out of date and no newer one could be fetched"
                )
            if cert.serial_number in cached.revoked:
                raise RevocationError(
                    "revoked", f"certificate {cert.serial_number:x} of {_name(cert.subject)} is revoked"
                )


class CrlRefresher:
    """Keeps a RevocationCache fed from files and distribution points; ``run`` lives in the pipeline loop."""

    def __init__(
        self,
        cache: RevocationCache,
        files: Sequence[Path],
        *,
        urls: Sequence[str] = (),
        fetch: bool,
        interval: float,
        timeout: float,
        max_bytes: int,
    ) -> None:
        self.cache = cache
        self.files = tuple(files)
        self.fetch = fetch
        self.interval = interval
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._seen: dict[Path, tuple[int, int]] = {}
        self._urls: dict[str, None] = dict.fromkeys(urls)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        for cert in cache.trusted:
            self.learn(cert)

    def learn(self, cert: x509.Certificate) -> bool:
        """Remember the certificate's CRL URLs; True when one was new (then call ``wake``)."""
        if not self.fetch:
            return False
        with self._lock:
            new = [url for url in distribution_points(cert) if url not in self._urls]
            self._urls.update(dict.fromkeys(new))
        return bool(new)

    def wake(self) -> None:
        """Refresh now rather than at the next interval; safe from any thread."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def load_files(self) -> None:
        for path in self.files:
            try:
                stat = path.stat()
                if self._seen.get(path) == (stat.st_mtime_ns, stat.st_size):
                    continue
                added = self.cache.add(path.read_bytes(), str(path))
            except Exception as exc:  # one bad file must never stop the refresher; the last good CRL stays
                metrics.CRL_REFRESHES.labels(source="file", result="failed").inc()
                log.warning("CRL file not loaded; the last good CRL stays in use", path=str(path), error=str(exc))
                continue
            self._seen[path] = (stat.st_mtime_ns, stat.st_size)
            metrics.CRL_REFRESHES.labels(source="file", result="loaded").inc()
            log.info("CRL file loaded", path=str(path), newer=added)

    def _download(self, url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=self.timeout) as response:  # noqa: S310 (http(s) only, see learn)
            data: bytes = response.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise ValueError(f"CRL larger than {self.max_bytes} bytes")
        return data

    def fetch_urls(self) -> None:
        with self._lock:
            urls = list(self._urls)
        for url in urls:
            try:
                added = self.cache.add(self._download(url), url)
            except Exception as exc:  # http.client errors are not all OSErrors; the last good CRL stays
                metrics.CRL_REFRESHES.labels(source="url", result="failed").inc()
                log.warning("CRL not fetched; the last good CRL stays in use", url=url, error=str(exc))
                continue
            metrics.CRL_REFRESHES.labels(source="url", result="loaded").inc()
            if added:
                log.info("CRL fetched", url=url, newer=added)

    def refresh(self) -> None:
        self.load_files()
        self.fetch_urls()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        while True:
            await asyncio.to_thread(self.refresh)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()


def _age_since(timestamp: float) -> Callable[[], float]:
    # Evaluated at scrape time, so the age keeps growing while no newer CRL arrives.
    return lambda: time.time() - timestamp
