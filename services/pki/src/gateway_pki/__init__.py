"""Development and test PKI of the gateway: OCES-style client certificates, server certificate, CRLs."""

from gateway_pki.authority import CertificateAuthority, Leaf, new_key, self_signed_client
from gateway_pki.oces import LeafKind, OcesSubject, client_usages, oces_subject, policy_oids

__all__ = [
    "CertificateAuthority",
    "Leaf",
    "LeafKind",
    "OcesSubject",
    "client_usages",
    "new_key",
    "oces_subject",
    "policy_oids",
    "self_signed_client",
]
