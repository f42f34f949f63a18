"""Log output: JSON lines or console text, the library levels, and reconnect noise kept at DEBUG."""

from __future__ import annotations

import json
import logging

import pytest
from gateway_common.logging import RECONNECT_NOISE, ReconnectNoise, configure_logging, get_logger

from tests.common.conftest import LIBRARIES

pytestmark = pytest.mark.usefixtures("restore_logging")


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_json_lines_carry_component_level_logger_and_utc_time(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("status", "INFO", "json")
    get_logger("gateway_status.writer", replica="r1").info("status written", code=2)
    get_logger("gateway_status.writer").debug("not shown at INFO")
    logging.getLogger("some.library").warning("plain %s", "stdlib")
    first, second = (json.loads(line) for line in _lines(capsys))
    assert first["event"] == "status written"
    assert (first["code"], first["replica"], first["component"]) == (2, "r1", "status")
    assert (first["level"], first["logger"]) == ("info", "gateway_status.writer")
    assert first["timestamp"].endswith("Z")
    # Lines of other libraries go through the same chain, so they are JSON with the component too.
    assert (second["event"], second["level"], second["component"]) == ("plain stdlib", "warning", "status")


def test_json_lines_carry_the_traceback_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("router", "INFO", "json")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        get_logger("gateway_router").exception("route failed")
    [line] = _lines(capsys)
    assert "RuntimeError: boom" in json.loads(line)["exception"]


def test_console_format_is_for_people_and_auto_is_json_when_not_on_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("router", "INFO", "console")
    get_logger("gateway_router").info("routed", service="tax-reports")
    [line] = _lines(capsys)
    assert "routed" in line
    assert "service=tax-reports" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
    configure_logging("router", "INFO", "auto")  # pytest's captured stderr is no terminal
    get_logger("gateway_router").info("routed")
    [line] = _lines(capsys)
    assert json.loads(line)["event"] == "routed"


@pytest.mark.parametrize(
    ("level", "libraries"), [("DEBUG", logging.WARNING), ("info", logging.WARNING), ("ERROR", logging.ERROR)]
)
def test_library_chatter_stays_out_of_info_but_follows_a_stricter_level(level: str, libraries: int) -> None:
    configure_logging("ingress", level, "json")
    assert logging.getLogger().level == logging.getLevelName(level.upper())
    assert {logging.getLogger(name).level for name in LIBRARIES} == {libraries}


def _record(name: str, level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


@pytest.mark.parametrize("noise", RECONNECT_NOISE)
def test_reconnect_noise_of_the_amqp_libraries_is_demoted_to_debug(noise: str) -> None:
    logging.getLogger().setLevel(logging.INFO)
    record = _record("aiormq.connection", logging.ERROR, noise + " 127.0.0.1:5672")
    assert ReconnectNoise().filter(record) is False
    assert (record.levelno, record.levelname) == (logging.DEBUG, "DEBUG")
    logging.getLogger().setLevel(logging.DEBUG)
    assert ReconnectNoise().filter(_record("aio_pika.robust_connection", logging.WARNING, noise)) is True


@pytest.mark.parametrize(
    ("name", "level", "message"),
    [
        ("gateway_common.messaging", logging.ERROR, "Connection attempt to broker failed"),  # ours
        ("aio_pika", logging.ERROR, "Channel closed by the broker"),  # a real error
        ("aiormq", logging.INFO, "Connection attempt to 127.0.0.1"),  # below WARNING already
    ],
)
def test_other_lines_pass_unchanged(name: str, level: int, message: str) -> None:
    logging.getLogger().setLevel(logging.INFO)
    record = _record(name, level, message)
    assert ReconnectNoise().filter(record) is True
    assert record.levelno == level


def test_the_handler_filters_the_noise_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("router", "INFO", "json")
    logging.getLogger("aiormq.connection").error("Connection attempt to 127.0.0.1:5672 failed")
    logging.getLogger("aiormq.connection").error("Unexpected frame")
    assert [json.loads(line)["event"] for line in _lines(capsys)] == ["Unexpected frame"]
