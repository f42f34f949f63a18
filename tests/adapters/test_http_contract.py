"""The adapter test kit's broker contract, run for the HTTP adapter against the demo backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from gateway_adapter_http.adapter import HttpAdapter
from gateway_common.proto.gateway.v1 import events_pb2
from gateway_common.testing import AdapterContract

from tests.support.ports import free_port

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def demo_backend() -> Iterator[str]:
    port = free_port()
    env = os.environ | {"GATEWAY_DEMO_BACKEND_PORT": str(port)}
    proc = subprocess.Popen([str(BIN / "gateway-demo-backend")], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/deliveries", timeout=1).close()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert time.monotonic() < deadline, "the demo backend did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


class TestHttpContract(AdapterContract):
    adapter_class = HttpAdapter
    backend: str

    @pytest.fixture(autouse=True)
    def _backend(self, demo_backend: str) -> None:
        self.backend = demo_backend

    def route_options(self) -> Mapping[str, object]:
        return {"url": f"{self.backend}/files", "timeout": 10}

    def unreachable_options(self) -> Mapping[str, object]:
        return {"url": f"http://127.0.0.1:{free_port()}/files", "timeout": 5}

    def delivered(self, upload: events_pb2.UploadReceived) -> int:
        # The demo backend keeps one transaction per Idempotency-Key, however often it is posted.
        with urllib.request.urlopen(f"{self.backend}/deliveries", timeout=5) as response:
            return 1 if upload.gateway_txid in json.load(response) else 0

    def response_case(self) -> tuple[Mapping[str, object], str]:
        return self.route_options(), "respond.xml"
