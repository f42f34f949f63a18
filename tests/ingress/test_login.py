"""login.py: the certificate is the identity; PASS is answered by the certificate's validity alone."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from gateway_ingress import replies
from gateway_ingress.certificates import CertificateValidator, build_validator, load_certificates
from gateway_ingress.login import LoginRefused, authenticate

from tests.support.ftps import Control
from tests.support.ingress import Ingress, running_ingress, server_end, tls_settings
from tests.support.pki_server import PkiServer


@pytest.fixture(scope="module")
def validator(demo_pki: Path) -> CertificateValidator:
    return build_validator(tls_settings(demo_pki))


def test_authenticate_names_the_certificates_identity(
    demo_pki: Path, validator: CertificateValidator, demo_index: dict[str, dict[str, Any]]
) -> None:
    accepted = authenticate(server_end(demo_pki, "employee"), validator)
    assert accepted.identity.serial_number == demo_index["employee"]["serial_number"]
    assert accepted.identity.tenant == "company/30808460"


def test_authenticate_refuses_a_plain_connection_and_a_missing_certificate(
    demo_pki: Path, validator: CertificateValidator
) -> None:
    with pytest.raises(LoginRefused) as plain:
        authenticate(socket.socket(), validator)
    assert plain.value.reason == "no_tls"
    with pytest.raises(LoginRefused) as anonymous:
        authenticate(server_end(demo_pki, None), validator)
    assert anonymous.value.reason == "no_certificate"
    assert "client certificate is required" in anonymous.value.detail


@pytest.mark.parametrize("name", ["revoked", "expired", "foreign-ca", "wrong-policy"])
def test_authenticate_says_why_a_certificate_is_refused(
    demo_pki: Path, validator: CertificateValidator, demo_index: dict[str, dict[str, Any]], name: str
) -> None:
    with pytest.raises(LoginRefused) as refused:
        authenticate(server_end(demo_pki, name), validator)
    reason = demo_index[name]["reason"]
    assert refused.value.reason == reason
    assert refused.value.detail.startswith(f"Your certificate was refused ({reason}): ")


def test_login_lands_in_the_login_folder_with_the_permitted_service_folders(
    ingress: Ingress, demo_index: dict[str, dict[str, Any]]
) -> None:
    control = ingress.control(None)
    control.secure(ingress.pki, ingress.cert("function"))
    assert control.send("USER anything").startswith("331")
    welcome = control.send("PASS anything")
    assert welcome.strip() == f"230 {replies.LOGGED_IN.text.format(name=demo_index['function']['common_name'])}"
    home = f"/FID-{demo_index['function']['subject_id']}"
    assert control.send("PWD").startswith(f'257 "{home}"')
    folders = ingress.tenant_root("company/30808460") / home.lstrip("/")
    assert sorted(p.name for p in folders.iterdir()) == ["companies-only", "heartbeat", "small-files", "tax-reports"]
    control.close()


def test_a_personal_certificate_sees_only_the_services_it_may_use(
    ingress: Ingress, demo_index: dict[str, dict[str, Any]]
) -> None:
    session = ingress.client("personal")
    assert session.pwd() == "/"
    assert sorted(session.nlst()) == ["heartbeat", "out", "small-files", "tax-reports"]
    session.quit()
    root = ingress.tenant_root(f"personal/{demo_index['personal']['subject_id']}")
    assert not (root / "companies-only").exists()


def test_pass_before_user_and_twice_get_their_replies(ingress: Ingress) -> None:
    control = ingress.control(None)
    control.secure(ingress.pki, ingress.cert("employee"))
    assert control.send("PASS x").strip() == replies.USER_FIRST()
    assert control.send("USER x").startswith("331")
    assert control.send("PASS x").startswith("230")
    assert control.send("PASS x").strip() == replies.ALREADY_LOGGED_IN()
    control.close()


@pytest.mark.parametrize(
    ("name", "says"),
    [("revoked", "(revoked)"), ("self-signed", "(self_signed)"), (None, "A client certificate is required")],
)
def test_a_refused_certificate_gets_530_and_the_connection_ends(ingress: Ingress, name: str | None, says: str) -> None:
    control = ingress.control(None)
    control.secure(ingress.pki, None if name is None else ingress.cert(name))
    assert control.send("USER x").startswith("331")
    refused = control.send("PASS x").strip()
    assert refused.startswith("530 Login refused: ")
    assert says in refused
    assert control.closed_by_server()


def test_logins_over_the_per_address_rate_are_refused(tmp_path: Path, demo_pki: Path, module_vhost: str) -> None:
    with running_ingress(tmp_path, demo_pki, module_vhost, max_logins_per_minute_per_ip=2) as server:
        for _ in range(2):
            server.control("employee").close()
        control = Control(server.port)
        control.secure(demo_pki, server.cert("employee"))
        assert control.send("USER x").startswith("331")
        assert control.send("PASS x").strip() == replies.TOO_MANY_LOGINS(ip="127.0.0.1", limit=2)
        assert control.closed_by_server()


def test_commands_sent_after_pass_wait_for_the_responders_answer(
    tmp_path: Path, responder: PkiServer, module_vhost: str
) -> None:
    """A client that does not wait for the reply to PASS gets its replies in order, as if it had."""
    responder.delay = 0.3
    try:
        with running_ingress(tmp_path, responder.pki, module_vhost, ocsp_mode="require") as server:
            control = server.control(None)
            control.secure(server.pki, server.cert("function"))
            assert control.send("USER x").startswith("331")
            control.sock.sendall(b"PASS x\r\nPWD\r\nPASS x\r\nCWD heartbeat\r\n")
            assert control.reply().startswith("230"), "PASS first"
            assert control.reply().startswith("257"), "then PWD, logged in"
            assert control.reply().strip() == replies.ALREADY_LOGGED_IN()
            assert control.reply().startswith("250")
            control.close()
    finally:
        responder.delay = 0.0


def _pass(server: Ingress, name: str) -> str:
    control = server.control(None)
    control.secure(server.pki, server.cert(name))
    assert control.send("USER x").startswith("331")
    reply = control.send("PASS x").strip()
    control.close()
    return reply


def test_with_ocsp_required_the_responder_decides_the_login(
    tmp_path: Path, responder: PkiServer, module_vhost: str
) -> None:
    revoked = load_certificates(responder.pki / "clients" / "employee2.pem")[0].serial_number
    responder.revoked.add(revoked)
    try:
        with running_ingress(tmp_path, responder.pki, module_vhost, ocsp_mode="require") as server:
            assert _pass(server, "employee").startswith("230")
            refused = _pass(server, "employee2")
            assert refused == replies.LOGIN_REFUSED(
                detail="Your certificate was refused (revoked): the certificate is revoked (OCSP)."
            )
            responder.stop()
            assert _pass(server, "employee").startswith("230")  # the good answer is cached
            unavailable = _pass(server, "company")  # nobody to ask, and an answer is required
            assert unavailable.startswith("530 Login refused: Your certificate was refused (ocsp_unavailable)")
    finally:
        responder.revoked.discard(revoked)
