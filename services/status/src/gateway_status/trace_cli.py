"""gateway-trace: the whole life of a transaction, or a tenant's transactions in a time range.

    gateway-trace GATEWAY_TXID
    gateway-trace --cvr CVR | --pid PID  --service SERVICE --ftp-txid FTP_TXID
    gateway-trace --cvr CVR | --pid PID  [--service SERVICE] --from TIME [--to TIME]   (search)

Reads the shared storage (GATEWAY_DATA_DIR) and asks the broker (GATEWAY_AMQP_URL) for parked
messages; status file names follow the status service's settings. --json prints for tools.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime

from gateway_common.storage import StorageLayout

from gateway_status.search import search
from gateway_status.settings import StatusSettings
from gateway_status.trace import NotFound, Parked, StatusNaming, find, parked_of, tenant_key, trace


def _time(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parked_or_none(amqp_url: str, gateway_txid: str) -> list[Parked] | None:
    """The transaction's parked messages, or None (said in the trace) when the broker cannot be asked."""
    try:
        return asyncio.run(parked_of(amqp_url, gateway_txid))
    except Exception as exc:  # any broker trouble: the storage's answer is still worth printing
        print(f"gateway-trace: broker not asked for parked messages: {exc!r}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gateway-trace", description=__doc__.split("\n\n")[0])
    parser.add_argument("gateway_txid", nargs="?", help="the gateway transaction id (GatewayTransactionID)")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--cvr", help="the company's CVR number")
    who.add_argument("--pid", help="the person's PID")
    parser.add_argument("--service", help="the service folder")
    parser.add_argument("--ftp-txid", help="the client's FTPTransactionID (the uploaded file or folder name)")
    parser.add_argument("--from", dest="since", type=_time, help="search: received at or after (ISO 8601, UTC)")
    parser.add_argument("--to", dest="until", type=_time, help="search: received before (default: now)")
    parser.add_argument("--limit", type=int, default=1000, help="search: list at most this many (oldest first)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--no-broker", action="store_true", help="do not ask the broker for parked messages")
    args = parser.parse_args(argv)
    settings = StatusSettings()
    layout = StorageLayout(settings.data_dir)
    try:
        if args.gateway_txid is None and args.since is not None:
            tenant = tenant_key(args.cvr, args.pid)
            until = args.until or datetime.now(UTC)
            found = search(layout, tenant, args.since, until, args.service, args.limit)
            if args.json:
                print(json.dumps(found.as_json(), indent=1))
            else:
                for r in found.rows:
                    code = "-" if r.current_code is None else r.current_code
                    when = r.received_at.isoformat(timespec="seconds")
                    print(f"{when}  {code}  {r.service}  {r.ftp_txid}  {r.gateway_txid}")
                print(f"{len(found.rows)} of {found.total} transaction(s) in the range")
            return
        gateway_txid = args.gateway_txid
        if gateway_txid is None:
            if not (args.service and args.ftp_txid):
                parser.error("give a gateway transaction id, or --cvr/--pid with --service and --ftp-txid, or --from")
            gateway_txid = find(layout, tenant_key(args.cvr, args.pid), args.service, args.ftp_txid)
        parked = None if args.no_broker else parked_or_none(settings.amqp_url, gateway_txid)
        result = trace(layout, gateway_txid, StatusNaming.of(settings), parked)
    except NotFound as exc:
        parser.exit(1, f"gateway-trace: {exc}\n")
    print(json.dumps(result.as_json(), indent=1) if args.json else result.as_text())


if __name__ == "__main__":
    main()
