"""A small backend system for demos and tests: it takes files the way the HTTP adapter sends them.

It refuses empty files and ``.xml`` files that are not well-formed XML (422 with the reason),
answers 503 while ``/unavailable`` is switched on, and recognises retried deliveries by their
Idempotency-Key, answering with the transaction id it gave the first time. Files whose name
starts with ``respond`` get a response file (a small XML receipt) back. It decodes the
percent-encoded name headers as a backend should, and shows what it read under ``/names``.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Annotated
from urllib.parse import unquote
from xml.etree import ElementTree as ET

import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DemoBackendSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_DEMO_BACKEND_")

    host: str = Field(default="127.0.0.1", description="Bind address of the demo backend.")
    port: int = Field(default=9180, description="Port of the demo backend.")


def build_app() -> FastAPI:
    app = FastAPI(title="demo backend")
    transactions: dict[str, str] = {}
    deliveries: dict[str, int] = {}
    names: dict[str, dict[str, str]] = {}
    raw_names: dict[str, str] = {}
    state = {"unavailable": False}

    @app.post("/files")
    async def receive(
        request: Request,
        idempotency_key: Annotated[str, Header()],
        x_file_name: Annotated[str, Header()] = "",
        x_ftp_transaction_id: Annotated[str, Header()] = "",
        content_disposition: Annotated[str, Header()] = "",
        x_content_sha256: Annotated[str, Header()] = "",
    ) -> JSONResponse:
        raw_names[idempotency_key] = x_file_name
        x_file_name = unquote(x_file_name)
        names[idempotency_key] = {
            "x-file-name": x_file_name,
            "filename*": unquote(content_disposition.partition("filename*=UTF-8''")[2]),
            "x-ftp-transaction-id": unquote(x_ftp_transaction_id),
        }
        if state["unavailable"]:
            return JSONResponse({"reason": "backend under maintenance"}, status_code=503)
        digest = hashlib.sha256()
        body = bytearray()
        async for chunk in request.stream():
            digest.update(chunk)
            body += chunk
        deliveries[idempotency_key] = deliveries.get(idempotency_key, 0) + 1
        if x_content_sha256 and digest.hexdigest() != x_content_sha256:
            return JSONResponse({"reason": "content does not match its SHA-256"}, status_code=400)
        if not body:
            return JSONResponse({"reason": "the file is empty"}, status_code=422)
        if x_file_name.lower().endswith(".xml"):
            try:
                ET.fromstring(bytes(body))  # noqa: S314 - demo input from the test suite
            except ET.ParseError as exc:
                return JSONResponse({"reason": f"the file is not well-formed XML: {exc}"}, status_code=422)
        duplicate = idempotency_key in transactions
        txid = transactions.setdefault(idempotency_key, f"DEMO-{uuid.uuid4().hex[:12]}")
        answer: dict[str, object] = {
            "transaction_id": txid,
            "message": "duplicate delivery recognised" if duplicate else "file accepted",
        }
        if x_file_name.startswith("respond"):
            receipt = f'<receipt transaction="{txid}" sha256="{digest.hexdigest()}"/>'.encode()
            answer["response"] = {"name": "receipt.xml", "content_base64": base64.b64encode(receipt).decode()}
        return JSONResponse(answer, status_code=200 if duplicate else 201)

    @app.get("/deliveries")
    def list_deliveries() -> dict[str, int]:
        return deliveries

    @app.get("/names")
    def list_names() -> dict[str, dict[str, str]]:
        return names

    @app.get("/raw-names")
    def list_raw_names() -> dict[str, str]:
        return raw_names

    @app.put("/unavailable/{flag}")
    def set_unavailable(flag: bool) -> dict[str, bool]:
        state["unavailable"] = flag
        return state

    return app


def main() -> None:
    settings = DemoBackendSettings()
    uvicorn.run(build_app(), host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
