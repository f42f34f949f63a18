"""Every status file the writer produces validates against the XSD that ships with the project."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest
from gateway_common.events import new_id, status_event, timestamp
from gateway_common.proto.gateway.v1 import events_pb2, identity_pb2
from gateway_common.storage import StorageLayout
from gateway_status.settings import StatusSettings
from gateway_status.writer import StatusWriter
from lxml import etree
from pydantic import ValidationError

SCHEMA = etree.XMLSchema(etree.parse(str(files("gateway_status") / "status.xsd")))
TENANT = "company/30808460"


def upload(ftp_txid: str) -> events_pb2.UploadReceived:
    return events_pb2.UploadReceived(
        event_id=new_id(),
        gateway_txid=new_id(),
        sender=identity_pb2.Sender(tenant=TENANT, cvr="30808460", subject_id="1"),
        service="tax-reports",
        ftp_txid=ftp_txid,
        file_name=ftp_txid,
        size=12,
        sha256="ab" * 32,
        received_at=timestamp(),
    )


def journeys() -> list[list[events_pb2.StatusEvent]]:
    ok = upload("report (1).xml")
    failed = upload("ÆØÅ-æøå")
    answered = upload("query")
    odd = upload("odd")
    return [
        [
            status_event(ok, events_pb2.STATUS_CODE_SENT, "router"),
            status_event(ok, events_pb2.STATUS_CODE_ACCEPTED, "adapter-http", backend_txid="DEMO-1"),
        ],
        [
            status_event(failed, events_pb2.STATUS_CODE_SENT, "router"),
            status_event(
                failed,
                events_pb2.STATUS_CODE_ERROR,
                "adapter-http",
                error=events_pb2.StatusError(code="backend_http_422", message="<not xml> & more", resolution="Fix"),
            ),
        ],
        [
            status_event(answered, events_pb2.STATUS_CODE_SENT, "router"),
            status_event(answered, events_pb2.STATUS_CODE_ACCEPTED, "adapter-http"),
            status_event(answered, events_pb2.STATUS_CODE_RESPONSE, "adapter-http", response_file="answer_query.xml"),
        ],
        [status_event(odd, events_pb2.STATUS_CODE_ERROR, "router", message="control \x01 char")],
    ]


@pytest.mark.parametrize("naming", ["single", "per-code"])
def test_every_written_status_file_validates(tmp_path: Path, naming: str) -> None:
    layout = StorageLayout(tmp_path)
    layout.ensure()
    writer = StatusWriter(layout, per_code_files=naming == "per-code")
    for journey in journeys():
        for event in journey:
            if event.response_file:  # as an adapter leaves it: in the spool, before the event
                response = layout.spool_txn(event.gateway_txid) / "responses" / event.response_file
                response.parent.mkdir(parents=True)
                response.write_bytes(b"<answer/>")
            writer._write(event)
    written = sorted(layout.out_dir(TENANT).glob("status_*.xml"))
    assert len(written) == (4 if naming == "single" else 4 + 8)
    for path in written:
        document = etree.parse(str(path))
        assert SCHEMA.validate(document), (path.name, SCHEMA.error_log)


def test_schema_rejects_what_the_writer_never_writes() -> None:
    bad = b'<FTPStatus version="1"><FileName>x</FileName></FTPStatus>'
    assert not SCHEMA.validate(etree.fromstring(bad))


def test_configurable_file_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_STATUS_FILE_TEMPLATE", "gw-status_{service}_{txid}.status.xml")
    monkeypatch.setenv("GATEWAY_STATUS_FILE_CODE_TEMPLATE", "gw-status_{service}_{txid}~{code}.status.xml")
    settings = StatusSettings()
    layout = StorageLayout(tmp_path)
    layout.ensure()
    writer = StatusWriter(layout, True, settings.naming())
    for event in journeys()[0]:
        writer._write(event)
    names = sorted(p.name for p in layout.out_dir(TENANT).iterdir())
    assert names == [
        "gw-status_tax-reports_report (1).xml.status.xml",
        "gw-status_tax-reports_report (1).xml~1.status.xml",
        "gw-status_tax-reports_report (1).xml~2.status.xml",
    ]


@pytest.mark.parametrize(
    ("variable", "template"),
    [
        ("GATEWAY_STATUS_FILE_TEMPLATE", "status_{txid}.xml"),
        ("GATEWAY_STATUS_FILE_TEMPLATE", "../{service}_{txid}.xml"),
        ("GATEWAY_STATUS_FILE_TEMPLATE", "{service}_{txid}_{user}.xml"),
        ("GATEWAY_STATUS_FILE_CODE_TEMPLATE", "status_{service}_{txid}.xml"),
        ("GATEWAY_STATUS_FILE_CODE_TEMPLATE", "status_{service}_{txid}_{code}.xml"),
        ("GATEWAY_STATUS_FILE_CODE_TEMPLATE", "other_{service}_{txid}~{code}.xml"),
        ("GATEWAY_STATUS_FILE_TEMPLATE", "response_{service}_{txid}.xml"),
    ],
)
def test_unsafe_templates_are_refused(monkeypatch: pytest.MonkeyPatch, variable: str, template: str) -> None:
    monkeypatch.setenv(variable, template)
    with pytest.raises(ValidationError):
        StatusSettings()
