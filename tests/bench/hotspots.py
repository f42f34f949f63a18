"""Where the gateway's CPU goes under the small-files workload: py-spy on every service.

python -m tests.bench.hotspots [--clients 4] [--files 50]
"""

from __future__ import annotations

import argparse
import os
import subprocess

from tests.bench import workloads as w
from tests.bench.calibrate import report_machine
from tests.bench.peers import GatewayPeer
from tests.bench.spy import print_profile, recording
from tests.bench.volume import bench_volume
from tests.support.gateway import BIN, SERVICES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--no-spy", action="store_true", help="measure only (py-spy costs the services a little)")
    args = parser.parse_args()
    with bench_volume("profile-bench-") as (work, _volume):
        report_machine(work)
        subprocess.run([str(BIN / "gateway-pki"), "demo", "--dir", str(work / "pki")], check=True, capture_output=True)
        small = work / "small.bin"
        small.write_bytes(os.urandom(10 * 1024))
        peer = GatewayPeer(work, work / "pki")
        peer.start()
        try:
            pids = {service: peer.running.procs[service].pid for service in SERVICES if service != "adapter-http"}
            with recording({} if args.no_spy else pids, work) as outputs:
                sample = w.small_files(peer, w.Client(work / "pki"), small, args.clients, args.files)
            uploads = args.clients * args.files
            print(
                f"{uploads} uploads: wall {sample.wall:.2f} s, gateway CPU {1000 * sample.cpu / uploads:.1f} ms/upload,"
                f" ingress CPU {1000 * sample.ftp_cpu / uploads:.1f} ms/upload"
            )
            print_profile(outputs)
        finally:
            peer.stop()


if __name__ == "__main__":
    main()
