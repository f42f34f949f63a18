"""gateway-pki: create the development PKI and mint extra client certificates."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from gateway_pki.authority import DEFAULT_BASE_URL
from gateway_pki.demo import build_demo, mint_client
from gateway_pki.oces import DEFAULT_COMPANY, DEFAULT_CVR, LeafKind


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway-pki", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="create CAs, server and client certificates in DIR")
    demo.add_argument("--dir", type=Path, required=True)
    demo.add_argument("--hostname", default="localhost", help="server certificate CN and DNS name")
    demo.add_argument("--force", action="store_true", help="recreate even if DIR/client-ca.pem exists")
    demo.add_argument("--base-url", default=DEFAULT_BASE_URL, help="where CRLs and OCSP are served")
    demo.add_argument("--crl-days", type=int, default=365, help="CRL nextUpdate, days from now")

    client = commands.add_parser("client", help="mint one more client certificate with the demo CA")
    client.add_argument("--dir", type=Path, required=True)
    client.add_argument("--kind", type=LeafKind, choices=list(LeafKind), required=True)
    client.add_argument("--cvr", default=DEFAULT_CVR)
    client.add_argument("--id", dest="subject_id", help="PID/RID/UID/FID digits or OCES3 UUID")
    client.add_argument("--name", dest="common_name", help="subject CN")
    client.add_argument("--company", default=DEFAULT_COMPANY)
    client.add_argument("--out-name", help="file name under DIR/clients (default <kind>-<id>)")
    client.add_argument("--preproduction", action="store_true", help="pre-production policy OIDs")
    client.add_argument("--key-type", choices=["ec", "rsa"], default="ec")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        lines = build_demo(
            args.dir,
            hostname=args.hostname,
            force=args.force,
            crl_validity=timedelta(days=args.crl_days),
            base_url=args.base_url,
        )
        print("\n".join(lines) or f"{args.dir}/client-ca.pem exists; nothing to do (use --force)")
        return 0
    if not (args.dir / "ca").is_dir():
        print(f"{args.dir} holds no demo PKI; run `gateway-pki demo --dir {args.dir}` first", file=sys.stderr)
        return 2
    try:
        line = mint_client(
            args.dir,
            args.kind,
            cvr=args.cvr,
            subject_id=args.subject_id,
            common_name=args.common_name,
            company=args.company,
            out_name=args.out_name,
            preproduction=args.preproduction,
            key_type=args.key_type,
        )
    except ValueError as error:
        print(f"gateway-pki: {error}", file=sys.stderr)
        return 2
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
