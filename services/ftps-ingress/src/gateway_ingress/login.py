"""Deciding who may log in: the certificate is the identity; USER and PASS are ignored.

authenticate() validates the certificate; LoginCommands is the control channel's PASS command
around it (rate limit, OCSP off the IO loop, the tenant view of an accepted identity).
"""

from __future__ import annotations

import functools
from concurrent.futures import Future
from typing import Any

from gateway_common import metrics
from gateway_common.identity import Identity, IdentityError, identify
from gateway_common.logging import get_logger
from gateway_common.refusal import Refusal
from OpenSSL import SSL

from gateway_ingress import replies
from gateway_ingress.certificates import CertificateRefused, CertificateValidator, TrustedCertificate
from gateway_ingress.filesystem import SessionAuthorizer
from gateway_ingress.ocsp import Answer
from gateway_ingress.session import Session
from gateway_ingress.tenant import TenantView

log = get_logger(__name__)


class LoginRefused(Refusal):
    """The client may not log in; ``detail`` is the 530 reply's text."""


def authenticate(connection: object, validator: CertificateValidator) -> TrustedCertificate:
    """Validate the certificate of the client on ``connection`` or raise LoginRefused."""
    if not isinstance(connection, SSL.Connection):
        raise LoginRefused("no_tls", "Use AUTH TLS before logging in.")
    peer = connection.get_peer_certificate(as_cryptography=True)
    if peer is None:
        raise LoginRefused("no_certificate", "A client certificate is required: log in with your OCES certificate.")
    sent = connection.get_peer_cert_chain(as_cryptography=True) or []
    try:
        return validator.validate(peer, sent)
    except CertificateRefused as exc:
        raise LoginRefused(exc.reason, f"Your certificate was refused ({exc.reason}): {exc.detail}.") from exc


class LoginCommands(Session):
    """PASS: the login decision, which may wait for an OCSP responder."""

    def ftp_PASS(self, line: str) -> None:
        if self.authenticated:
            self.respond(replies.ALREADY_LOGGED_IN())
            return
        if not self.username:
            self.respond(replies.USER_FIRST())
            return
        if not self.limits.login_attempt(self.remote_ip):
            metrics.FTPS_LOGINS.labels(result="refused", reason="rate_limited", kind="unknown").inc()
            log.warning("login refused", reason="rate_limited", remote_ip=self.remote_ip)
            self.respond(replies.TOO_MANY_LOGINS(ip=self.remote_ip, limit=self.limits.max_logins_per_minute))
            self.close_when_done()
            return
        try:
            accepted = authenticate(self.socket, self.validator)
        except LoginRefused as exc:
            self._refuse_login(exc.reason, exc.detail)
            return
        ocsp = self.validator.ocsp
        if ocsp is None or len(accepted.chain) < 2:
            self._complete_login(accepted.identity, line)
            return
        leaf, issuer = accepted.chain[0], accepted.chain[1]
        answer = ocsp.cached(leaf)
        if answer is not None:
            self._ocsp_decides(accepted.identity, line, answer)
            return
        # The responder is asked in the pipeline thread; the reply to PASS, and the commands a
        # client sent after it without waiting, wait for it.
        self.off_loop(ocsp.query, leaf, issuer, then=functools.partial(self._ocsp_answered, accepted.identity, line))

    def _ocsp_answered(self, identity: Identity, line: str, future: Future[Answer]) -> None:
        self._ocsp_decides(identity, line, "unavailable" if future.exception() else future.result())

    def _ocsp_decides(self, identity: Identity, line: str, answer: Answer) -> None:
        assert self.validator.ocsp is not None
        refusal = self.validator.ocsp.refusal(answer)
        if refusal is None:
            self._complete_login(identity, line)
        else:
            reason, detail = refusal
            self._refuse_login(reason, f"Your certificate was refused ({reason}): {detail}.")

    def _refuse_login(self, reason: str, detail: str) -> None:
        metrics.FTPS_LOGINS.labels(result="refused", reason=reason, kind=self._claimed_kind()).inc()
        log.warning("login refused", reason=reason, detail=detail, remote_ip=self.remote_ip, **self._peer_fields())
        self.respond(replies.LOGIN_REFUSED(detail=detail))
        self.close_when_done()

    def _complete_login(self, identity: Identity, line: str) -> None:
        services = self.routes.current().permitted_services(identity)
        self.view = TenantView.prepare(self.layout, identity, services)
        self.identity = identity
        self.authorizer = SessionAuthorizer(self.view)
        # pyftpdlib writes the code itself before the message.
        welcome = replies.LOGGED_IN.text.format(name=identity.common_name or identity.serial_number)
        self.handle_auth_success(str(self.view.root), line, welcome)
        self.fs.cwd = self.view.home
        metrics.FTPS_LOGINS.labels(result="accepted", reason="", kind=identity.kind.value).inc()
        if identity.not_after is not None:
            self.expiring.seen(identity.fingerprint, identity.not_after.timestamp())
        log.info(
            "login",
            tenant=identity.tenant,
            kind=identity.kind.value,
            serial_number=identity.serial_number,
            services=services,
            remote_ip=self.remote_ip,
        )

    def _peer(self) -> Any:
        if isinstance(self.socket, SSL.Connection):
            return self.socket.get_peer_certificate(as_cryptography=True)
        return None

    def _claimed_kind(self) -> str:
        """The kind a refused certificate claims to be, so on-call sees who is locked out."""
        peer = self._peer()
        try:
            return "unknown" if peer is None else identify(peer).kind.value
        except IdentityError:
            return "unknown"

    def _peer_fields(self) -> dict[str, str]:
        peer = self._peer()
        if peer is None:
            return {}
        return {"subject": peer.subject.rfc4514_string(), "certificate_serial": format(peer.serial_number, "x")}
