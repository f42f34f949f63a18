"""The demo PKI of `make run` and the end-to-end tests: CAs, server and client certificates.

Every client the gateway must accept or refuse gets a file set and an entry in
clients/index.json, so tests drive real TLS clients without knowing how the PKI was built.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway_pki.authority import (
    DEFAULT_BASE_URL,
    CertificateAuthority,
    KeyType,
    Leaf,
    certs_pem,
    key_pem,
    now,
    self_signed_client,
    write_private,
)
from gateway_pki.oces import DEFAULT_COMPANY, DEFAULT_CVR, LeafKind, OcesSubject, oces_subject

OTHER_CVR = "12345678"
OTHER_COMPANY = "Anden Virksomhed ApS"
WRONG_POLICY = "1.2.3.4"


class Defect(StrEnum):
    """Ways a client certificate is broken; the value is the refusal reason tests expect."""

    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    UNKNOWN_CA = "unknown_ca"
    WRONG_POLICY = "wrong_policy"
    WRONG_EKU = "wrong_eku"
    SELF_SIGNED = "self_signed"
    MISSING_INTERMEDIATE = "missing_intermediate"


@dataclass(frozen=True)
class ClientSpec:
    name: str
    kind: LeafKind
    cvr: str = DEFAULT_CVR
    company: str = DEFAULT_COMPANY
    defect: Defect | None = None


DEMO_CLIENTS = (
    ClientSpec("personal", LeafKind.PERSONAL),
    ClientSpec("employee", LeafKind.EMPLOYEE),
    ClientSpec("employee2", LeafKind.EMPLOYEE),
    ClientSpec("company", LeafKind.COMPANY),
    ClientSpec("function", LeafKind.FUNCTION),
    ClientSpec("other-employee", LeafKind.EMPLOYEE, OTHER_CVR, OTHER_COMPANY),
    ClientSpec("oces3-employee", LeafKind.OCES3_EMPLOYEE),
    ClientSpec("oces3-organisation", LeafKind.OCES3_ORGANISATION),
    ClientSpec("expired", LeafKind.EMPLOYEE, defect=Defect.EXPIRED),
    ClientSpec("not-yet-valid", LeafKind.EMPLOYEE, defect=Defect.NOT_YET_VALID),
    ClientSpec("revoked", LeafKind.EMPLOYEE, defect=Defect.REVOKED),
    ClientSpec("foreign-ca", LeafKind.EMPLOYEE, defect=Defect.UNKNOWN_CA),
    ClientSpec("wrong-policy", LeafKind.EMPLOYEE, defect=Defect.WRONG_POLICY),
    ClientSpec("wrong-eku", LeafKind.EMPLOYEE, defect=Defect.WRONG_EKU),
    ClientSpec("self-signed", LeafKind.EMPLOYEE, defect=Defect.SELF_SIGNED),
    ClientSpec("missing-intermediate", LeafKind.EMPLOYEE, defect=Defect.MISSING_INTERMEDIATE),
)


@dataclass
class Hierarchy:
    """The CAs that issue leaves; only the OCES2 and OCES3 chains are trusted by the gateway."""

    oces2: CertificateAuthority
    oces3: CertificateAuthority
    hidden: CertificateAuthority  # under the trusted OCES2 root, but left out of the bundle
    foreign: CertificateAuthority
    server: CertificateAuthority

    @classmethod
    def create(cls, base_url: str = DEFAULT_BASE_URL) -> Hierarchy:
        def root(name: str, cn: str, org: str = "FTPS Gateway Test PKI") -> CertificateAuthority:
            return CertificateAuthority.create_root(name, cn, organization=org, base_url=base_url)

        oces2_root = root("oces2-root", "FTPS Gateway OCES2 Systemtest Root CA")
        oces3_root = root("oces3-root", "FTPS Gateway OCES3 Test rod-CA")
        foreign_root = root("foreign-root", "Foreign Test Root CA", "Not OCES Test PKI")
        return cls(
            oces2=oces2_root.issue_intermediate("oces2-issuing", "FTPS Gateway OCES2 Systemtest Issuing CA"),
            oces3=oces3_root.issue_intermediate("oces3-issuing", "FTPS Gateway OCES3 Test udstedende-CA 1"),
            hidden=oces2_root.issue_intermediate("oces2-hidden", "FTPS Gateway OCES2 Systemtest Issuing CA 2"),
            foreign=foreign_root.issue_intermediate("foreign-issuing", "Foreign Test Issuing CA"),
            server=CertificateAuthority.create_root(
                "server-ca", "FTPS Gateway Test Server CA", unit=None, base_url=base_url
            ),
        )

    @property
    def trusted(self) -> tuple[x509.Certificate, ...]:
        return (*self.oces2.chain[::-1], *self.oces3.chain[::-1])

    @property
    def revocable(self) -> tuple[CertificateAuthority, ...]:
        """The OCES CAs whose CRLs a gateway checking the whole chain needs."""
        parents = [ca.parent for ca in (self.oces2, self.oces3) if ca.parent]
        return (*parents, self.oces2, self.hidden, self.oces3)

    def save(self, directory: Path) -> None:
        for ca in (self.oces2, self.oces3, self.hidden, self.foreign, self.server):
            ca.save(directory / ca.name)


def issuing_ca(directory: Path, kind: LeafKind) -> CertificateAuthority:
    """Load the trusted CA that issues this kind from a demo directory."""
    return CertificateAuthority.load(
        directory / "ca" / ("oces3-issuing" if kind.generation == "OCES3" else "oces2-issuing")
    )


def mint(hierarchy: Hierarchy, spec: ClientSpec) -> tuple[OcesSubject, Leaf]:
    subject = oces_subject(spec.kind, cvr=spec.cvr, company=spec.company)
    ca = hierarchy.oces3 if spec.kind.generation == "OCES3" else hierarchy.oces2
    match spec.defect:
        case Defect.EXPIRED:
            leaf = ca.issue_client(
                subject, not_before=now() - timedelta(days=400), not_after=now() - timedelta(days=30)
            )
        case Defect.NOT_YET_VALID:
            leaf = ca.issue_client(subject, not_before=now() + timedelta(days=30))
        case Defect.UNKNOWN_CA:
            leaf = hierarchy.foreign.issue_client(subject)
        case Defect.WRONG_POLICY:
            leaf = ca.issue_client(subject, policies=[WRONG_POLICY])
        case Defect.WRONG_EKU:
            leaf = ca.issue_client(subject, usages=[ExtendedKeyUsageOID.SERVER_AUTH])
        case Defect.SELF_SIGNED:
            leaf = self_signed_client(subject)
        case Defect.MISSING_INTERMEDIATE:
            leaf = hierarchy.hidden.issue_client(subject)
        case _:
            leaf = ca.issue_client(subject)
    return subject, leaf


def write_client(clients: Path, name: str, leaf: Leaf, *, send_chain: bool = True) -> None:
    """<name>.pem is what a client presents (leaf, then intermediates), .crt the leaf alone."""
    clients.mkdir(parents=True, exist_ok=True)
    (clients / f"{name}.pem").write_bytes(certs_pem(leaf.cert, *(leaf.intermediates if send_chain else ())))
    (clients / f"{name}.crt").write_bytes(certs_pem(leaf.cert))
    write_private(clients / f"{name}.key", key_pem(leaf.key))


def index_entry(name: str, subject: OcesSubject, leaf: Leaf, defect: Defect | None) -> dict[str, Any]:
    return {
        "name": name,
        "kind": subject.kind.value,
        "generation": subject.kind.generation,
        "cvr": subject.cvr,
        "serial_number": subject.serial_number,
        "subject_id": subject.subject_id,
        "common_name": subject.common_name,
        "certificate_serial": format(leaf.cert.serial_number, "x"),
        "expected": "refuse" if defect else "accept",
        "reason": defect.value if defect else None,
    }


def _describe(entry: dict[str, Any]) -> str:
    verdict = f"refuse ({entry['reason']})" if entry["reason"] else "accept"
    return f"clients/{entry['name']}.{{pem,crt,key}}  {entry['serial_number']}  -> {verdict}"


def build_demo(
    directory: Path,
    *,
    hostname: str = "localhost",
    force: bool = False,
    crl_validity: timedelta = timedelta(days=365),
    base_url: str = DEFAULT_BASE_URL,
) -> list[str]:
    """Create the demo PKI in directory; returns what was written, or an empty list if it exists."""
    if (directory / "client-ca.pem").exists() and not force:
        return []
    hierarchy = Hierarchy.create(base_url)
    hierarchy.save(directory / "ca")
    lines = ["ca/  CA certificates and keys (for `gateway-pki client`)"]

    server = hierarchy.server.issue_server(hostname)
    (directory / "server.pem").write_bytes(certs_pem(server.cert, *server.chain))
    write_private(directory / "server.key", key_pem(server.key))
    (directory / "server-ca.pem").write_bytes(certs_pem(hierarchy.server.cert))
    lines.append(f"server.pem, server.key, server-ca.pem  server certificate for {hostname}, 127.0.0.1")

    entries = []
    for spec in DEMO_CLIENTS:
        subject, leaf = mint(hierarchy, spec)
        write_client(directory / "clients", spec.name, leaf, send_chain=spec.defect is not Defect.MISSING_INTERMEDIATE)
        entries.append(index_entry(spec.name, subject, leaf, spec.defect))
        lines.append(_describe(entries[-1]))
    (directory / "clients" / "index.json").write_text(json.dumps(entries, indent=2) + "\n")

    revoked = [int(e["certificate_serial"], 16) for e in entries if e["reason"] == Defect.REVOKED]
    next_update = now() + crl_validity
    crl = hierarchy.oces2.issue_crl(revoked, next_update)
    (directory / "crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    (directory / "crl.der").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    crls = directory / "crls"
    crls.mkdir(exist_ok=True)
    bundle = []
    for ca in hierarchy.revocable:
        ca_crl = crl if ca is hierarchy.oces2 else ca.issue_crl([], next_update)
        (crls / f"{ca.name}.crl").write_bytes(ca_crl.public_bytes(serialization.Encoding.DER))
        bundle.append(ca_crl.public_bytes(serialization.Encoding.PEM))
    (directory / "crl-bundle.pem").write_bytes(b"".join(bundle))
    lines.append(f"crl.pem, crl.der  CRL of {hierarchy.oces2.name} revoking {len(revoked)} certificate(s)")
    lines.append("crls/<ca>.crl, crl-bundle.pem  CRLs of every OCES CA (served as <base_url>/<ca>.crl)")

    # Written last: its presence is what marks the directory as complete.
    (directory / "client-ca.pem").write_bytes(certs_pem(*hierarchy.trusted))
    lines.append("client-ca.pem  trusted OCES bundle (OCES2 and OCES3 roots and issuing CAs)")
    return [f"{directory}/{line}" for line in lines]


def mint_client(
    directory: Path,
    kind: LeafKind,
    *,
    cvr: str = DEFAULT_CVR,
    subject_id: str | None = None,
    common_name: str | None = None,
    company: str = DEFAULT_COMPANY,
    out_name: str | None = None,
    preproduction: bool = False,
    key_type: KeyType = "ec",
) -> str:
    """Issue one more accepted client with the demo's issuing CA and add it to index.json."""
    ca = issuing_ca(directory, kind)
    subject = oces_subject(kind, cvr=cvr, subject_id=subject_id, common_name=common_name, company=company)
    leaf = ca.issue_client(subject, preproduction=preproduction, key_type=key_type)
    name = out_name or f"{kind.value}-{subject.subject_id}"
    write_client(directory / "clients", name, leaf)
    index_path = directory / "clients" / "index.json"
    entries = json.loads(index_path.read_text()) if index_path.exists() else []
    entries = [e for e in entries if e["name"] != name] + [index_entry(name, subject, leaf, None)]
    index_path.write_text(json.dumps(entries, indent=2) + "\n")
    return f"{directory}/{_describe(entries[-1])}"
