"""Pipeline capacity: upload events straight onto the bus, no FTPS in front.

    python -m tests.bench.pipeline [--events N] [--profile]

Starts the router, the heartbeat adapter and the status service as processes on a private
vhost of the real broker (quorum queues, publisher confirms, persistent messages, as in
production), puts a spooled payload in place for each transaction as the ingress would, then
publishes N UploadReceived events as fast as confirms allow and waits until every one of the N
status files says code 2. Prints transactions/s from the first publish to the last status file
and each service's CPU per transaction (and the local broker's, which
counts whatever else uses it during the run). With --profile, py-spy samples each service during the
run and the top functions by own time are printed (sampling slows the services a little).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from pathlib import Path

from gateway_common.events import new_id, timestamp
from gateway_common.identity import CertificateKind, Identity
from gateway_common.messaging import RK_UPLOAD, Bus
from gateway_common.proto.gateway.v1 import events_pb2

from tests.bench.calibrate import report_machine
from tests.bench.procs import brokers, cpu_seconds
from tests.bench.spy import print_profile, recording
from tests.bench.volume import bench_volume
from tests.support.broker import private_vhost
from tests.support.gateway import Gateway

SERVICES = ("router", "adapter-heartbeat", "status")
SENDER = Identity(CertificateKind.EMPLOYEE, "OCES2", "4549", "bench-serial", "Bench Employee", cvr="30808460")
# Publishes in flight at once: enough to keep the broker busy, few enough to stay under its flow control.
IN_FLIGHT = 100


def _events(gateway: Gateway, count: int) -> list[events_pb2.UploadReceived]:
    sender = SENDER.to_proto()
    events = []
    for n in range(count):
        txid = new_id()
        payload = gateway.data_dir / "spool" / txid / "payload"
        payload.parent.mkdir(parents=True)
        payload.write_bytes(b"pipeline bench\n")
        events.append(
            events_pb2.UploadReceived(
                event_id=new_id(),
                gateway_txid=txid,
                sender=sender,
                service="heartbeat",
                ftp_txid=f"pipe-{n}",
                file_name=f"pipe-{n}",
                spool_path=f"spool/{txid}/payload",
                size=15,
                sha256="0" * 64,
                received_at=timestamp(),
                ingress_node="bench",
            )
        )
    return events


async def _publish(amqp_url: str, events: list[events_pb2.UploadReceived]) -> float:
    bus = Bus(amqp_url)
    await bus.connect()
    try:
        await bus.declare_uploads()
        started = time.perf_counter()
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def one(event: events_pb2.UploadReceived) -> None:
            async with gate:
                await bus.publish(RK_UPLOAD, event, event.event_id)

        await asyncio.gather(*(one(event) for event in events))
        return time.perf_counter() - started
    finally:
        await bus.close()


def _wait_accepted(out: Path, count: int, timeout: float) -> None:
    """Until every transaction's status file says code 2.

    Each look starts at the oldest transaction still pending and stops at the first one not at
    code 2 yet: they finish roughly in order, so a look reads a few files, not thousands, and the
    bench leaves the two cores to the services it measures.
    """
    pending = [out / f"status_heartbeat_pipe-{n}.xml" for n in range(count)]
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} of {count} transactions without status code 2 after {timeout}s")
        while pending and pending[0].exists() and b"<StatusCode>2</StatusCode>" in pending[0].read_bytes():
            pending.pop(0)
        time.sleep(0.05)


def run(events: int, profile: bool) -> dict[str, float]:
    with bench_volume("pipeline-bench-") as (work, _volume), private_vhost() as amqp_url:
        report_machine(work)
        gateway = Gateway(work / "gateway", work / "pki", amqp_url, extra_env={"GATEWAY_LOG_LEVEL": "WARNING"})
        gateway.data_dir.mkdir(parents=True)
        gateway.routes_file.write_text("routes:\n  heartbeat:\n    adapter: heartbeat\n")
        try:
            for service in SERVICES:
                gateway.start_service(service)
            for service in SERVICES:
                gateway.wait_ready(service)
            prepared = _events(gateway, events)
            pids = {service: gateway.procs[service].pid for service in SERVICES}
            cpu_before = {service: cpu_seconds([pid]) for service, pid in pids.items()}
            broker_pids = brokers()
            broker_before = cpu_seconds(broker_pids)
            bench_before = resource.getrusage(resource.RUSAGE_SELF)
            with recording(pids if profile else {}, work) as outputs:
                started = time.perf_counter()
                published = asyncio.run(_publish(amqp_url, prepared))
                _wait_accepted(gateway.out_dir(SENDER.tenant), events, timeout=max(120.0, events / 5))
                elapsed = time.perf_counter() - started
            bench_after = resource.getrusage(resource.RUSAGE_SELF)
            figures = {
                "transactions": events,
                "seconds": elapsed,
                "transactions/s": events / elapsed,
                "publish/s": events / published,
                "publisher cpu ms/tx": 1000
                * (bench_after.ru_utime + bench_after.ru_stime - bench_before.ru_utime - bench_before.ru_stime)
                / events,
            }
            for service, pid in pids.items():
                figures[f"{service} cpu ms/tx"] = 1000 * (cpu_seconds([pid]) - cpu_before[service]) / events
            if broker_pids:
                # The machine's shared broker: other users' traffic during the run counts too.
                figures["broker (shared) cpu ms/tx"] = 1000 * (cpu_seconds(broker_pids) - broker_before) / events
            print_profile(outputs)
            return figures
        finally:
            gateway.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    figures = run(args.events, args.profile)
    print()
    for key, value in figures.items():
        print(f"  {key:<32} {value:10.2f}")


if __name__ == "__main__":
    main()
