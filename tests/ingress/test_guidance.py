"""guidance.py: a command aimed at the wrong place is told where to go; FEAT lists what works."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_ingress import replies

from tests.support.ftps import Control
from tests.support.ingress import Ingress


@pytest.fixture
def employee(ingress: Ingress) -> Control:
    control = ingress.control("employee")
    control.protect()
    return control


@pytest.fixture
def home(demo_index: dict[str, dict[str, Any]]) -> str:
    return f"/RID-{demo_index['employee']['subject_id']}"


def _services(home: str) -> str:
    return ", ".join(f"{home}/{s}" for s in ["companies-only", "heartbeat", "small-files", "tax-reports"])


def test_an_upload_into_the_login_folder_names_the_service_folders(employee: Control, home: str) -> None:
    reply = employee.send("STOR report.xml").strip()
    assert reply == replies.UPLOAD_INTO_ROOT(path=home, services=_services(home))
    reply = employee.send("STOR /report.xml").strip()
    assert reply == replies.UPLOAD_INTO_ROOT(path="/", services=_services(home))


def test_an_upload_into_out_is_sent_to_the_service_folders(employee: Control, home: str) -> None:
    assert employee.send("STOR /out/x.xml").strip() == replies.UPLOAD_INTO_OUT(services=_services(home))


def test_a_file_directly_in_a_transaction_folder_is_sent_into_its_in_folder(employee: Control, home: str) -> None:
    assert employee.send("MKD heartbeat/tx-guided").startswith("257")
    reply = employee.send("STOR heartbeat/tx-guided/file.xml").strip()
    assert reply == replies.UPLOAD_INTO_TXID(path=f"{home}/heartbeat/tx-guided")


@pytest.mark.parametrize(
    "command",
    ["CWD /RID-00000000", "LIST /RID-00000000/heartbeat", "CWD secret", "SIZE /etc/passwd", "MKD /other/x"],
)
def test_places_outside_the_view_are_unknown_and_the_reply_says_where_to_go(
    employee: Control, home: str, command: str
) -> None:
    path = command.split(" ", 1)[1]
    where = path if path.startswith("/") else f"{home}/{path}"
    assert employee.send(command).strip() == replies.UNKNOWN_PLACE(path=where, services=_services(home))


def test_path_tricks_are_judged_where_they_lead(employee: Control, home: str) -> None:
    # ../.. leaves the login folder for the company root, which the employee may list but not write.
    reply = employee.send("STOR heartbeat/../../x.xml").strip()
    assert reply == replies.UPLOAD_INTO_ROOT(path="/", services=_services(home))
    reply = employee.send("CWD heartbeat/../../../../../etc").strip()
    assert reply == replies.UNKNOWN_PLACE(path="/etc", services=_services(home))


@pytest.mark.parametrize(
    ("command", "path"),
    [("RETR heartbeat", "heartbeat"), ("DELE /out", "/out"), ("MKD /out/x", "/out/x"), ("RMD heartbeat", "heartbeat")],
)
def test_commands_not_allowed_where_they_point_are_named(employee: Control, home: str, command: str, path: str) -> None:
    verb = command.split(" ", 1)[0]
    where = path if path.startswith("/") else f"{home}/{path}"
    assert employee.send(command).strip() == replies.NOT_PERMITTED(command=verb, path=where)


def test_appe_is_refused_wherever_it_points(employee: Control) -> None:
    assert employee.send("APPE /out/x").strip() == replies.APPEND_UNSUPPORTED()


def test_a_name_the_filesystem_cannot_hold_gets_the_byte_rule_and_the_session_goes_on(ingress: Ingress) -> None:
    # 200 characters pass the name rule, but 400 bytes are more than a file name can hold: where the
    # reservation's shard exists (as every shard soon does), looking the id up would fail with
    # ENAMETOOLONG; MKD says the byte rule before it gets there.
    txid = "ø" * 200
    ingress.layout.reservation("company/30808460", "heartbeat", txid).parent.mkdir(parents=True, exist_ok=True)
    control = ingress.control("employee")
    reply = control.send(f"MKD heartbeat/{txid}").strip()
    assert reply.startswith("553 the transaction id is 400 bytes in UTF-8"), reply
    assert control.send("NOOP").startswith("200")
    control.close()


def test_ls_flags_are_no_path(employee: Control) -> None:
    # "LIST -la" as many clients send it lists the current folder, not a folder called "-la".
    reply = employee.send("LIST -la")
    assert reply.startswith("150"), reply


def test_feat_lists_only_what_works(ingress: Ingress) -> None:
    control = ingress.control(None)
    reply = control.send("FEAT")
    lines = reply.splitlines()
    assert lines[0] == replies.FEATURES.continued().strip()
    assert lines[-1] == replies.FEATURES_END()
    features = {line.strip() for line in lines[1:-1]}
    assert {"AUTH TLS", "PBSZ", "PROT", "EPSV", "MDTM", "MFMT", "SIZE", "UTF8", "HASH SHA-256*"} <= features
    assert not {"AUTH SSL", "EPRT", "REST STREAM"} & features
    assert any(f.startswith("MLST ") and "size*;" in f for f in features)
    control.close()
