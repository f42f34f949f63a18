"""``gateway-adapter``: list, pick the adapter to run, scaffold; a failing start is one line and exit 1."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from gateway_adapter_http.adapter import HttpAdapter
from gateway_common.adapter_cli import main, run_adapter_main

pytestmark = pytest.mark.usefixtures("restore_logging", "restore_signals")


def test_list_names_each_installed_adapter_once_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    main(["list"])
    assert capsys.readouterr().out == "heartbeat\nhttp\nsftp\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run"], "gateway-adapter: name the adapter to run (installed: heartbeat, http, sftp)"),
        (
            ["run", "archive"],
            "gateway-adapter: no adapter named 'archive' is installed (installed: heartbeat, http, sftp)",
        ),
    ],
)
def test_run_refuses_an_ambiguous_or_unknown_name(argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as refused:
        main(argv)
    assert refused.value.code == message


def test_new_scaffolds_under_the_root_and_says_what_it_made(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["new", "archive", "--root", str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert all(line.startswith(f"created {tmp_path}/services/adapters/archive/") for line in lines)
    assert all(Path(line.removeprefix("created ")).is_file() for line in lines)


def test_an_adapter_that_cannot_start_is_one_error_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("GATEWAY_HTTP_HOST", "127.0.0.1")
        monkeypatch.setenv("GATEWAY_HTTP_PORT", str(taken.getsockname()[1]))
        monkeypatch.setenv("GATEWAY_LOG_FORMAT", "json")
        with pytest.raises(SystemExit) as exit_:
            run_adapter_main(HttpAdapter)
    assert exit_.value.code == 1
    [line] = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert (line["event"], line["component"]) == ("service failed", "adapter-http")
    assert "(GATEWAY_HTTP_PORT)" in line["reason"]


def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GATEWAY_MAX_ATTEMPTS", "many")
    with pytest.raises(SystemExit) as exit_:
        main(["run", "http"])
    assert exit_.value.code == 1
    [line] = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert line["reason"].startswith("GATEWAY_MAX_ATTEMPTS: ")
