"""Bursts of curl uploads and the wait for their final statuses, for the fault tests."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.broker import private_vhost
from tests.support.clients import ClientCert, curl, read_status
from tests.support.gateway import Gateway


@contextmanager
def own_gateway(
    root: Path, pki: Path, env: dict[str, str], prepare: Callable[[Gateway], None] | None = None
) -> Iterator[Gateway]:
    """A started gateway on a vhost of its own (else two gateways would consume each other's events)."""
    with private_vhost() as url:
        gw = Gateway(root, pki, url, extra_env=env)
        if prepare is not None:
            prepare(gw)
        try:
            gw.start()
            yield gw
        finally:
            gw.stop()


def upload_until(
    gw: Gateway, client: ClientCert, folder: Path, stop: threading.Event, service: str, port: int | None = None
) -> dict[str, bool]:
    """Upload one file after another until ``stop``; return txid -> whether the gateway said 226."""
    results: dict[str, bool] = {}
    while not stop.is_set():
        txid = f"burst-{uuid.uuid4().hex[:12]}.xml"
        payload = folder / txid
        payload.write_bytes(f"<report id='{txid}'/>".encode())
        result = curl(port or gw.ftps_port, gw.pki, client, f"/{service}/", "-T", str(payload), timeout=20)
        results[txid] = result.returncode == 0
        if result.returncode != 0:
            time.sleep(0.2)  # the ingress may be restarting
    return results


def final_statuses(out: Path, service: str, txids: list[str], timeout: float) -> dict[str, Path]:
    """Wait until every upload in ``txids`` has a final status file (code 0 or 2); return their paths."""
    deadline = time.monotonic() + timeout
    waiting = set(txids)
    while waiting and time.monotonic() < deadline:
        for txid in list(waiting):
            path = out / f"status_{service}_{txid}.xml"
            if path.exists() and read_status(path).findtext("StatusCode") in ("0", "2"):
                waiting.discard(txid)
        time.sleep(0.2)
    assert not waiting, f"{len(waiting)} acknowledged uploads have no final status: {sorted(waiting)[:5]}"
    return {txid: out / f"status_{service}_{txid}.xml" for txid in txids}
