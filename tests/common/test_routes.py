from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from gateway_common.identity import CertificateKind, Identity
from gateway_common.routes import Allow, RouteTable, RouteTableSource, load_routes
from pydantic import ValidationError

EMPLOYEE = Identity(CertificateKind.EMPLOYEE, "OCES2", "45490598", "CVR:30808460-RID:45490598", "E", "30808460")
PERSON = Identity(CertificateKind.PERSONAL, "OCES2", "9208-2002-2-175183276275", "PID:9208-2002-2-175183276275", "P")


def test_allow_defaults_to_every_kind() -> None:
    assert Allow().permits(EMPLOYEE)
    assert Allow().permits(PERSON)


def test_allow_narrows_by_kind_and_company() -> None:
    companies = Allow(kinds=[CertificateKind.EMPLOYEE, CertificateKind.COMPANY], cvrs=["30808460"])
    assert companies.permits(EMPLOYEE)
    assert not companies.permits(PERSON)
    other = Allow(cvrs=["12345678"])
    assert not other.permits(EMPLOYEE)


def test_permitted_services_are_sorted_and_filtered() -> None:
    table = RouteTable.model_validate(
        {
            "routes": {
                "zeta": {"adapter": "http"},
                "alpha": {"adapter": "heartbeat"},
                "firms": {"adapter": "http", "allow": {"kinds": ["employee", "company"]}},
            }
        }
    )
    assert table.permitted_services(PERSON) == ["alpha", "zeta"]
    assert table.permitted_services(EMPLOYEE) == ["alpha", "firms", "zeta"]
    assert table.adapters() == {"http", "heartbeat"}


@pytest.mark.parametrize("name", ["../etc", "a/b", ".hidden", "", "x" * 65])
def test_service_names_that_could_be_paths_are_rejected(name: str) -> None:
    with pytest.raises(ValidationError):
        RouteTable.model_validate({"routes": {name: {"adapter": "http"}}})


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ValidationError):
        RouteTable.model_validate({"routes": {"a": {"adapter": "http", "adaptor": "typo"}}})


def test_source_reloads_changes_and_keeps_the_last_good_table(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("routes:\n  one: {adapter: http}\n")
    source = RouteTableSource(path, interval=0)
    assert set(source.current().routes) == {"one"}

    path.write_text("routes:\n  two: {adapter: http}\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert set(source.current().routes) == {"two"}

    path.write_text("routes: [this is not a mapping")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2_000_000))
    assert set(source.current().routes) == {"two"}
    assert source.last_error is not None


def test_demo_routes_load() -> None:
    table = load_routes(Path(__file__).resolve().parents[2] / "config" / "routes.yaml")
    assert {"heartbeat", "tax-reports"} <= set(table.routes)
