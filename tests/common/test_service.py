"""The lifecycle every service shares: the HTTP face beside the work, one line and exit 1 on failure,
SIGTERM ending the process within the drain time even when shutting down hangs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from gateway_common.service import failure_reason, run_service, service_main
from gateway_common.settings import ServiceSettings
from pydantic import ValidationError

from tests.support.ports import free_port

pytestmark = pytest.mark.usefixtures("restore_logging", "restore_signals")


def _settings(port: int, **fields: object) -> ServiceSettings:
    return ServiceSettings.model_validate({"demo": True, "http_host": "127.0.0.1", "http_port": port, **fields})


def _events(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_failure_reason_names_the_variable_of_a_bad_setting() -> None:
    with pytest.raises(ValidationError) as bad:
        _settings(0, http_port="eighty", drain_timeout=0)
    reason = failure_reason(bad.value)
    assert reason.startswith("GATEWAY_HTTP_PORT: Input should be a valid integer")
    assert "; GATEWAY_DRAIN_TIMEOUT: Input should be greater than 0" in reason


def test_failure_reason_is_one_line_with_the_exceptions_type() -> None:
    assert failure_reason(FileNotFoundError("no such file:\n  /etc/routes.yaml")) == (
        "FileNotFoundError: no such file: /etc/routes.yaml"
    )
    assert failure_reason(TimeoutError()) == "TimeoutError"


def test_service_main_turns_any_failure_into_one_error_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    @service_main("router")
    def main() -> None:
        raise RuntimeError("route table\nunreadable")

    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 1
    [line] = _events(capsys)
    assert (line["event"], line["level"], line["reason"]) == (
        "service failed",
        "error",
        "RuntimeError: route table unreadable",
    )


def test_the_http_face_runs_beside_the_work_and_a_finished_work_stops_the_service(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    seen: list[tuple[int, object]] = []

    async def work() -> None:
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"http://127.0.0.1:{port}/readyz")
            seen.append((answer.status_code, answer.json()))
            seen.append((0, (await client.get(f"http://127.0.0.1:{port}/metrics")).text))

    run_service("router", _settings(port, log_format="json"), work, checks=[lambda: "no broker connection"])
    assert seen[0] == (503, {"status": "not ready", "reasons": ["no broker connection"]})
    assert 'gateway_build_info{service="router",version=' in str(seen[1][1])
    ours = [event["event"] for event in _events(capsys) if event["logger"] == "router"]
    assert ours == ["service started", "service stopped"]


def test_a_failing_work_ends_the_service_with_exit_1_and_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    async def work() -> None:
        raise ConnectionRefusedError("broker down")

    with pytest.raises(SystemExit) as exit_:
        run_service("router", _settings(free_port(), log_format="json"), work)
    assert exit_.value.code == 1
    failed = _events(capsys)[-1]
    assert (failed["event"], failed["reason"]) == ("service failed", "ConnectionRefusedError: broker down")


def test_a_taken_port_fails_before_the_work_starts() -> None:
    started: list[bool] = []

    async def work() -> None:
        started.append(True)

    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(OSError, match="GATEWAY_HTTP_PORT"):
            run_service("router", _settings(port, log_format="json"), work)
    assert started == []


# A service whose work waits forever ("idle") or blocks its event loop so it cannot stop ("stuck").
SERVICE = """
import asyncio, sys, time
from gateway_common.service import run_service
from gateway_common.settings import ServiceSettings

async def work():
    if sys.argv[1] == "stuck":
        time.sleep(60)
    await asyncio.Event().wait()

settings = ServiceSettings(demo=True, http_host="127.0.0.1", http_port=int(sys.argv[2]), drain_timeout=1.0,
                           log_format="json")
run_service("probe", settings, work)
"""


def _start(mode: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVICE, mode, str(free_port())], stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    assert json.loads(process.stderr.readline())["event"] == "service started"
    time.sleep(0.5)  # into the work (and, stuck, into its blocking sleep)
    return process


@pytest.mark.parametrize(
    ("mode", "code", "last"),
    [("idle", 0, "service stopped"), ("stuck", 1, "service did not stop within its drain time; exiting")],
)
def test_sigterm_ends_the_process_within_the_drain_time(mode: str, code: int, last: str) -> None:
    process = _start(mode)
    began = time.monotonic()
    os.kill(process.pid, signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()  # a no-op once it has exited; no process outlives a failed test
    took = time.monotonic() - began
    assert process.returncode == code
    assert json.loads(err.splitlines()[-1])["event"] == last
    assert took < 5  # drain time 1 s; a stuck service would otherwise sleep its 60 s
