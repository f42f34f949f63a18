"""The demo PKI's revocation services on a free local port: CRL files and an OCSP responder."""

from __future__ import annotations

import functools
import http.server
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from gateway_pki.authority import CertificateAuthority, now


class PkiServer:
    """GET /<ca>.crl from <pki>/crls; POST /ocsp answers "good" unless the serial is in ``revoked``.

    Start it before minting the PKI (``url`` is the --base-url); ``signer`` may name another CA
    directory under <pki>/ca to sign answers with the wrong key; OCSP answers wait ``delay`` seconds.
    """

    def __init__(self, pki: Path) -> None:
        self.pki = pki
        self.revoked: set[int] = set()
        self.signer: str | None = None
        self.delay = 0.0
        handler = functools.partial(_Handler, self, directory=str(pki / "crls"))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self._stopped = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.server.shutdown()
            self.server.server_close()

    def answer(self, body: bytes) -> bytes:
        request = ocsp.load_der_ocsp_request(body)
        leaf = next(
            cert
            for path in (self.pki / "clients").glob("*.crt")
            if (cert := x509.load_pem_x509_certificate(path.read_bytes())).serial_number == request.serial_number
        )
        cas = [CertificateAuthority.load(path.parent) for path in (self.pki / "ca").glob("*/ca.json")]
        issuer = next(ca for ca in cas if ca.cert.subject == leaf.issuer)
        signer = CertificateAuthority.load(self.pki / "ca" / self.signer) if self.signer else issuer
        revoked = leaf.serial_number in self.revoked
        response = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=leaf,
                issuer=issuer.cert,
                algorithm=hashes.SHA1(),
                cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
                this_update=now() - timedelta(minutes=1),
                next_update=now() + timedelta(hours=1),
                revocation_time=now() - timedelta(minutes=1) if revoked else None,
                revocation_reason=None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, signer.cert)
            .sign(signer.key, hashes.SHA256())
        )
        return response.public_bytes(serialization.Encoding.DER)


class _Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, owner: PkiServer, *args: Any, **kwargs: Any) -> None:
        self.owner = owner
        super().__init__(*args, **kwargs)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        time.sleep(self.owner.delay)
        answer = self.owner.answer(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/ocsp-response")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests' output is for the gateway's logs."""
