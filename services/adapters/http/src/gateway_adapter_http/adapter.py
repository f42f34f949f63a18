"""Delivers files to a backend over HTTP: one POST per transaction, streamed from the spool.

Route options (:class:`HttpOptions`, checked by the router before the first file):
    url            where to POST (required, http or https)
    timeout        seconds for the whole request (default 60)
    token          bearer token by reference: env:VARIABLE or file:/mounted/secret (optional)

The backend answers 2xx to accept (JSON ``transaction_id`` and ``message`` are optional, and
``response: {"name": ..., "content_base64": ...}`` hands the sender a response file),
4xx to refuse (JSON ``reason``/``detail`` or the text becomes the status error),
408/429/5xx or no answer to have the delivery retried.

Names (file name, FTP transaction id, sender serial number) are UTF-8 and often Danish; HTTP
headers carry only ASCII, so they are percent-encoded (RFC 3986: letters, digits and -._~
stay as they are, so plain ASCII names arrive unchanged) and the file name also travels as
``Content-Disposition: attachment; filename*=UTF-8''<percent-encoded>`` (RFC 6266 / 5987).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from gateway_common.adapter import (
    Accepted,
    Adapter,
    AdapterSettings,
    Delivery,
    PermanentError,
    Response,
    TransientError,
)
from gateway_common.options import RouteOptions, SecretRef
from pydantic import AnyHttpUrl, Field, PositiveFloat

CHUNK = 1 << 20
_RETRYABLE = {408, 425, 429}


async def _stream(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk


def _header_text(value: str) -> str:
    return quote(value, safe="")


def _reason(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("reason", "detail", "message", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])[:500]
    return str(body)[:500]


class HttpAdapterSettings(AdapterSettings):
    http_port: int = Field(default=9104, description="Port of /metrics and probes.")


class HttpOptions(RouteOptions):
    url: AnyHttpUrl
    timeout: PositiveFloat = 60.0
    token: SecretRef | None = None


@dataclass
class HttpAdapter(Adapter[HttpOptions]):
    name = "http"
    settings_model = HttpAdapterSettings
    client: httpx.AsyncClient = field(init=False)

    async def start(self) -> None:
        self.client = httpx.AsyncClient(follow_redirects=False)

    async def stop(self) -> None:
        await self.client.aclose()

    async def deliver(self, delivery: Delivery[HttpOptions]) -> Accepted:
        options = delivery.options
        upload = delivery.upload
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(upload.size),
            "Idempotency-Key": delivery.idempotency_key,
            "X-Gateway-Transaction-Id": upload.gateway_txid,
            "X-FTP-Transaction-Id": _header_text(upload.ftp_txid),
            "X-File-Name": _header_text(upload.file_name),
            "Content-Disposition": f"attachment; filename*=UTF-8''{_header_text(upload.file_name)}",
            "X-Service": _header_text(upload.service),
            "X-Sender-Tenant": _header_text(upload.sender.tenant),
            "X-Sender-Serial-Number": _header_text(upload.sender.serial_number),
            "X-Content-SHA256": upload.sha256,
            "X-Delivery-Attempt": str(delivery.attempt),
        }
        if options.token is not None:
            headers["Authorization"] = f"Bearer {options.token.reveal()}"
        try:
            response = await self.client.post(
                str(options.url), content=_stream(delivery.path), headers=headers, timeout=options.timeout
            )
        except httpx.TransportError as exc:
            raise TransientError("backend_unreachable", f"backend not reachable: {type(exc).__name__}") from exc
        status = response.status_code
        if status >= 500 or status in _RETRYABLE:
            raise TransientError(f"backend_http_{status}", f"backend answered {status}: {_reason(response)}")
        if status >= 400:
            raise PermanentError(
                f"backend_http_{status}",
                _reason(response),
                "Correct the file as the backend system describes and upload it with a new transaction id.",
            )
        if not 200 <= status < 300:
            raise PermanentError(f"backend_http_{status}", f"unexpected answer {status} from the backend")
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        return Accepted(
            backend_txid=str(body.get("transaction_id", "")) or response.headers.get("X-Transaction-Id", ""),
            message=str(body.get("message", "")),
            response=_response_file(body.get("response")),
        )


def _response_file(value: Any) -> Response | None:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    try:
        content = base64.b64decode(str(value.get("content_base64", "")), validate=True)
    except binascii.Error:
        return None
    return Response(name=value["name"], content=content)
