"""Certificate authorities of the development PKI: roots, intermediates, leaves and CRLs."""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from gateway_pki.oces import OcesSubject, client_usages, policy_oids

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
KeyType = Literal["ec", "rsa"]

DEFAULT_BASE_URL = "http://127.0.0.1:9199"
CA_VALIDITY = timedelta(days=3653)
LEAF_VALIDITY = timedelta(days=731)
# CAs run ten years from now but start well in the past, so that an "expired" leaf still lies
# inside its issuer's validity and fails for its own dates only; leaves start a little early to
# absorb clock skew.
CA_BACKDATE = timedelta(days=800)
LEAF_BACKDATE = timedelta(hours=1)

Extensions = list[tuple[x509.ExtensionType, bool]]


def now() -> datetime:
    return datetime.now(UTC)


def new_key(key_type: KeyType = "ec") -> PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def certs_pem(*certs: x509.Certificate) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def write_private(path: Path, data: bytes) -> None:
    """Write a key readable by its owner only, also when the file already existed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)


def _ca_name(common_name: str, organization: str, unit: str | None) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DK"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
    ]
    if unit:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _build(
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    issuer: x509.Name,
    signing_key: PrivateKey,
    extensions: Extensions,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


def _ca_extensions(path_length: int | None) -> Extensions:
    return [
        (x509.BasicConstraints(ca=True, path_length=path_length), True),
        (
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            True,
        ),
    ]  # fmt: skip


def _leaf_extensions(key: PrivateKey, usages: Sequence[x509.ObjectIdentifier]) -> Extensions:
    return [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (
            x509.KeyUsage(
                digital_signature=True, content_commitment=False,
                # RSA key transport needs keyEncipherment; EC keys only ever sign.
                key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            True,
        ),
        (x509.ExtendedKeyUsage(list(usages)), False),
    ]  # fmt: skip


def _client_extensions(
    subject: OcesSubject,
    key: PrivateKey,
    policies: Sequence[str] | None,
    usages: Sequence[x509.ObjectIdentifier] | None,
    preproduction: bool,
) -> Extensions:
    oids = policies if policies is not None else policy_oids(subject.kind, preproduction=preproduction)
    return [
        *_leaf_extensions(key, usages if usages is not None else client_usages(subject.kind)),
        (
            x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(oid), None) for oid in oids]),
            False,
        ),
    ]


@dataclass(frozen=True)
class Leaf:
    """An end-entity certificate, its key and the CAs above it (issuer first, root last)."""

    cert: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def intermediates(self) -> tuple[x509.Certificate, ...]:
        """What a client sends after its own certificate: the chain without the root."""
        return self.chain[:-1]


@dataclass
class CertificateAuthority:
    """A CA with its key; name is the short file/URL name (e.g. "oces2-issuing"), not the subject."""

    name: str
    key: PrivateKey
    cert: x509.Certificate
    parent: CertificateAuthority | None = None
    base_url: str = DEFAULT_BASE_URL
    # Written into everything this CA issues; empty means "<base_url>/<name>.crl" and "<base_url>/ocsp".
    crl_url: str = ""
    ocsp_url: str = ""

    def __post_init__(self) -> None:
        self.crl_url = self.crl_url or f"{self.base_url}/{self.name}.crl"
        self.ocsp_url = self.ocsp_url or f"{self.base_url}/ocsp"

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """This CA's certificate followed by its parents up to the root."""
        return (self.cert, *(self.parent.chain if self.parent else ()))

    @classmethod
    def create_root(
        cls,
        name: str,
        common_name: str,
        *,
        organization: str = "FTPS Gateway Test PKI",
        unit: str | None = "Test - cti",
        key_type: KeyType = "ec",
        base_url: str = DEFAULT_BASE_URL,
    ) -> CertificateAuthority:
        key = new_key(key_type)
        subject = _ca_name(common_name, organization, unit)
        cert = _build(
            subject, key.public_key(), subject, key, _ca_extensions(None), now() - CA_BACKDATE, now() + CA_VALIDITY
        )
        return cls(name, key, cert, None, base_url)

    def _issued_extensions(self) -> Extensions:
        """Extensions that tie a certificate to this issuer and say where to check revocation."""
        ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return [
            (x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False),
            (
                x509.CRLDistributionPoints(
                    [x509.DistributionPoint([x509.UniformResourceIdentifier(self.crl_url)], None, None, None)]
                ),
                False,
            ),
            (
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(self.ocsp_url)
                        )
                    ]
                ),
                False,
            ),
        ]

    def issue_intermediate(
        self,
        name: str,
        common_name: str,
        *,
        organization: str = "FTPS Gateway Test PKI",
        unit: str | None = "Test - cti",
        key_type: KeyType = "ec",
        base_url: str | None = None,
    ) -> CertificateAuthority:
        key = new_key(key_type)
        subject = _ca_name(common_name, organization, unit)
        cert = _build(
            subject, key.public_key(), self.cert.subject, self.key,
            [*_ca_extensions(0), *self._issued_extensions()], now() - CA_BACKDATE, now() + CA_VALIDITY,
        )  # fmt: skip
        return CertificateAuthority(name, key, cert, self, base_url or self.base_url)

    def issue_client(
        self,
        subject: OcesSubject,
        *,
        key_type: KeyType = "ec",
        preproduction: bool = False,
        policies: Sequence[str] | None = None,
        usages: Sequence[x509.ObjectIdentifier] | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> Leaf:
        """Issue an OCES client certificate; policies, usages and dates override the kind's defaults."""
        key = new_key(key_type)
        start = not_before or now() - LEAF_BACKDATE
        extensions = [
            *_client_extensions(subject, key, policies, usages, preproduction),
            *self._issued_extensions(),
        ]
        cert = _build(
            subject.name, key.public_key(), self.cert.subject, self.key, extensions,
            start, not_after or start + LEAF_VALIDITY,
        )  # fmt: skip
        return Leaf(cert, key, self.chain)

    def issue_server(
        self, hostname: str = "localhost", *, ips: Iterable[str] = ("127.0.0.1",), key_type: KeyType = "ec"
    ) -> Leaf:
        key = new_key(key_type)
        names: list[x509.GeneralName] = []
        addresses = [ipaddress.ip_address(ip) for ip in ips]
        try:
            addresses.insert(0, ipaddress.ip_address(hostname))
        except ValueError:
            names.append(x509.DNSName(hostname))
        names += [x509.IPAddress(address) for address in dict.fromkeys(addresses)]
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
        extensions = [
            *_leaf_extensions(key, [ExtendedKeyUsageOID.SERVER_AUTH]),
            (x509.SubjectAlternativeName(names), False),
            *self._issued_extensions(),
        ]
        start = now() - LEAF_BACKDATE
        cert = _build(subject, key.public_key(), self.cert.subject, self.key, extensions, start, start + LEAF_VALIDITY)
        return Leaf(cert, key, self.chain)

    def issue_crl(
        self,
        revoked_serials: Iterable[int],
        next_update: datetime,
        *,
        this_update: datetime | None = None,
        crl_number: int = 1,
    ) -> x509.CertificateRevocationList:
        issued = this_update or now()
        ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(issued)
            .next_update(next_update)
            .add_extension(x509.CRLNumber(crl_number), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        )
        for serial in revoked_serials:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(issued).build()
            )
        return builder.sign(self.key, hashes.SHA256())

    def save(self, directory: Path) -> None:
        """Write cert, key and metadata; the parent goes into a 'parent' subdirectory."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "ca.pem").write_bytes(certs_pem(self.cert))
        write_private(directory / "ca.key", key_pem(self.key))
        meta = {"name": self.name, "base_url": self.base_url, "crl_url": self.crl_url, "ocsp_url": self.ocsp_url}
        (directory / "ca.json").write_text(json.dumps(meta, indent=2) + "\n")
        if self.parent:
            self.parent.save(directory / "parent")

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        meta = json.loads((directory / "ca.json").read_text())
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise TypeError(f"{directory}/ca.key holds an unsupported {type(key).__name__}")
        cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        parent = cls.load(directory / "parent") if (directory / "parent").is_dir() else None
        return cls(
            str(meta["name"]), key, cert, parent, str(meta["base_url"]), str(meta["crl_url"]), str(meta["ocsp_url"])
        )


def self_signed_client(subject: OcesSubject, *, key_type: KeyType = "ec", preproduction: bool = False) -> Leaf:
    """A leaf with an OCES subject that vouches for itself: no CA, no revocation pointers."""
    key = new_key(key_type)
    start = now() - LEAF_BACKDATE
    extensions = _client_extensions(subject, key, None, None, preproduction)
    cert = _build(subject.name, key.public_key(), subject.name, key, extensions, start, start + LEAF_VALIDITY)
    return Leaf(cert, key)
