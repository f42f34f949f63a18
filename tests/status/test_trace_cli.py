"""gateway-trace's command line over a real data directory: which question each argument set asks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from gateway_common.storage import StorageLayout
from gateway_status.trace_cli import main, parked_or_none

from tests.support.ports import free_port
from tests.support.transactions import stored_transaction

TXID = "1" * 32
RECEIVED = datetime(2026, 11, 2, 9, tzinfo=UTC)


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    layout = StorageLayout(tmp_path)
    layout.ensure()
    stored_transaction(layout, "company/30808460", TXID, "tx-1", RECEIVED)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    main(list(argv))
    return capsys.readouterr().out


def test_trace_by_gateway_id_as_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    text = _run(capsys, TXID, "--no-broker")
    assert text.startswith(f"transaction {TXID}: company/30808460 tax-reports tx-1, current status code 2\n")
    assert "note: the broker was not asked: parked messages unknown" in text
    data = json.loads(_run(capsys, TXID, "--no-broker", "--json"))
    assert (data["gateway_txid"], data["current_code"]) == (TXID, 2)


def test_find_by_the_clients_id(capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(
        _run(capsys, "--cvr", "30808460", "--service", "tax-reports", "--ftp-txid", "tx-1", "--no-broker", "--json")
    )
    assert data["gateway_txid"] == TXID


def test_search_lists_rows_and_counts_naive_times_as_utc(capsys: pytest.CaptureFixture[str]) -> None:
    text = _run(capsys, "--cvr", "30808460", "--from", "2026-11-02T09:00", "--to", "2026-11-02T10:00")
    assert text == f"2026-11-02T09:00:00+00:00  2  tax-reports  tx-1  {TXID}\n1 of 1 transaction(s) in the range\n"
    data = json.loads(
        _run(capsys, "--cvr", "30808460", "--from", "2026-11-02T08:00", "--to", "2026-11-02T09:00", "--json")
    )
    assert data == {"total": 0, "transactions": []}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["f" * 32, "--no-broker"], f"nothing is known of transaction {'f' * 32}"),
        (["--pid", "PID-9", "--service", "tax-reports", "--ftp-txid", "tx-1", "--no-broker"], "no transaction 'tx-1'"),
        (["--service", "tax-reports", "--ftp-txid", "tx-1"], "name the tenant by exactly one of CVR or PID"),
        (["--cvr", "30808460", "--service", "..", "--from", "2026-11-01"], "not a service name: '..'"),
    ],
)
def test_what_is_not_found_exits_1_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("gateway-trace: ")
    assert message in err
    assert err.count("\n") == 1


def test_no_question_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--cvr", "30808460"])
    assert exit_.value.code == 2
    assert "give a gateway transaction id" in capsys.readouterr().err


def test_an_unreachable_broker_is_said_and_the_trace_still_printed(capsys: pytest.CaptureFixture[str]) -> None:
    assert parked_or_none(f"amqp://guest:guest@127.0.0.1:{free_port()}/", TXID) is None
    assert "gateway-trace: broker not asked for parked messages" in capsys.readouterr().err
