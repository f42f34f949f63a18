"""Random command lines at a logged-in FTPS session: every line gets a reply, nothing crashes, nothing escapes.

It runs against the real ingress process (the FTP layer is pyftpdlib plus our handler, which only
exist wired together), logged in as a personal certificate whose root is the only place that may change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.clients import ClientCert
from tests.support.ftps import Control
from tests.support.gateway import Gateway

pytestmark = pytest.mark.e2e
CertFactory = Callable[[str], ClientCert]
SOURCE = "127.0.0.12"
# Transfers, active/passive set-up and session resets answer later or elsewhere; they have their own tests.
VERBS = [
    "MKD", "RMD", "DELE", "CWD", "CDUP", "PWD", "SIZE", "MDTM", "MLST", "STAT", "RNFR", "RNTO", "HASH",
    "XSHA256", "OPTS", "FEAT", "HELP", "NOOP", "SITE", "SITE CHMOD", "TYPE", "MODE", "STRU", "REST", "ALLO",
    "SYST", "PROT", "PBSZ", "CCC", "MFMT", "XMKD", "XRMD", "XCWD", "XPWD", "XCUP", "ABOR", "FOO",
]  # fmt: skip
segment = st.one_of(
    st.sampled_from(["..", ".", "out", "in", "heartbeat", "tax-reports", "RID-1", ".tmp-x", "*", "~", "%s", "\x00"]),
    st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), max_size=10),
)
argument = st.lists(segment, max_size=6).map("/".join)
lines = st.one_of(
    st.builds(lambda verb, arg: f"{verb} {arg}".rstrip(), st.sampled_from(VERBS), argument),
    st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), max_size=80),
)
REPLY = re.compile(r"^\d{3}[ -]")


@pytest.fixture(scope="module")
def session(alt_gateway: Gateway, pki: Path, cert: CertFactory) -> Iterator[list[Control]]:
    def connect() -> Control:
        control = Control(alt_gateway.ftps_port, source=SOURCE)
        control.login(pki, cert("personal"))
        return control

    holder = [connect()]
    holder.append(holder[0])  # [current, first]; a refused line may end the session: then reconnect once
    yield holder
    holder[0].close()


def _outside_snapshot(gateway: Gateway, tenant_root: Path) -> set[Path]:
    return {p for p in (gateway.data_dir / "tenants").rglob("*") if tenant_root not in p.parents and p != tenant_root}


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=lines)
def test_random_command_lines(session: list[Control], line: str) -> None:
    reply = session[0].send(line)
    assert REPLY.match(reply), (line, reply)
    assert not reply.startswith("421"), (line, reply)


def test_the_ingress_survived_the_fuzzing(alt_gateway: Gateway, session: list[Control], pki: Path) -> None:
    assert session[0].send("NOOP").startswith("200")
    personal = next(e for e in json.loads((pki / "clients" / "index.json").read_text()) if e["name"] == "personal")
    root = alt_gateway.data_dir / "tenants" / "personal" / personal["serial_number"].removeprefix("PID:")
    before = _outside_snapshot(alt_gateway, root)
    hostile = ["MKD ../../../escape", "MKD /../company", "RNFR /out", "RNTO /../x", "DELE /../../routes.yaml"]
    for line in hostile:
        assert REPLY.match(session[0].send(line))
    assert _outside_snapshot(alt_gateway, root) == before
    assert not (alt_gateway.root / "escape").exists()
    log = alt_gateway.log("ingress")
    assert "Traceback" not in log
    assert '"level": "error"' not in log
