"""gateway-cert: how the gateway classifies a certificate, and whether it would accept it.

Uses the ingress's own settings (GATEWAY_CLIENT_CA_FILE, GATEWAY_ACCEPTED_POLICIES,
GATEWAY_CRL_FILES, GATEWAY_CRL_FETCH, ...) and the same CertificateValidator as a login, so
both always agree. Exit status: 0 accepted, 1 refused, 2 unusable input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from gateway_common.identity import IdentityError, identify
from gateway_common.logging import configure_logging

from gateway_ingress.certificates import CertificateRefused, build_validator, load_certificates
from gateway_ingress.settings import IngressSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway-cert", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    inspect = commands.add_parser("inspect", help="classify FILE (PEM or DER: the leaf, then any intermediates)")
    inspect.add_argument("file", type=Path)
    return parser


def _describe(leaf: x509.Certificate) -> list[str]:
    try:
        policies = [
            p.policy_identifier.dotted_string
            for p in leaf.extensions.get_extension_for_class(x509.CertificatePolicies).value
        ]
    except x509.ExtensionNotFound:
        policies = []
    lines = [
        f"subject:       {leaf.subject.rfc4514_string()}",
        f"issuer:        {leaf.issuer.rfc4514_string()}",
        f"serial:        {leaf.serial_number:x}",
        f"valid:         {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} .. {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
        f"policies:      {', '.join(policies) or '-'}",
    ]
    try:
        identity = identify(leaf)
    except IdentityError as exc:
        return [*lines, f"identity:      none ({exc.detail})"]
    return [
        *lines,
        f"identity:      {identity.generation} {identity.kind.value} {identity.serial_number}",
        f"tenant:        {identity.tenant}",
        f"login folder:  {identity.login_folder or '/ (personal root)'}",
    ]


def inspect(path: Path, settings: IngressSettings) -> tuple[int, list[str]]:
    try:
        leaf, *sent = load_certificates(path)
    except (OSError, ValueError) as exc:
        return 2, [f"gateway-cert: cannot read a certificate from {path}: {exc}"]
    lines = _describe(leaf)
    validator = build_validator(settings)
    try:
        try:
            accepted = validator.validate(leaf, sent)
        except CertificateRefused as exc:
            if exc.reason != "crl_unavailable" or validator.crls is None or not validator.crls.fetch:
                raise
            validator.crls.fetch_urls()  # the validation above learned the chain's CRL URLs
            accepted = validator.validate(leaf, sent)
    except CertificateRefused as exc:
        return 1, [*lines, f"verdict:       REFUSED ({exc.reason}): {exc.detail}"]
    if validator.ocsp is not None and len(accepted.chain) > 1:
        answer = validator.ocsp.query(accepted.chain[0], accepted.chain[1])
        lines.append(f"ocsp:          {answer}")
        if refusal := validator.ocsp.refusal(answer):
            return 1, [*lines, f"verdict:       REFUSED ({refusal[0]}): {refusal[1]}"]
    chain = " -> ".join(cert.subject.rfc4514_string() for cert in accepted.chain)
    return 0, [*lines, f"chain:         {chain}", f"verdict:       ACCEPTED (policy {accepted.policy})"]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # It reads only the certificate settings and never connects to the broker, so an operator's
    # shell without GATEWAY_AMQP_URL must not be refused for the broker's default credentials.
    settings = IngressSettings(demo=True)
    configure_logging("gateway-cert", "WARNING", "console")
    status, lines = inspect(args.file, settings)
    print("\n".join(lines), file=sys.stderr if status == 2 else sys.stdout)
    return status


if __name__ == "__main__":
    sys.exit(main())
