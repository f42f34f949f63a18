"""Read-only support API: the answers of gateway-trace over HTTP, for a support desk's UI.

    GET  /support/transactions/{gateway_txid}     the whole life of one transaction
    POST /support/transactions/find               {"cvr"|"pid", "service", "ftp_txid"} -> the same
    POST /support/transactions/search             {"cvr"|"pid", "service"?, "from", "to"?, "limit"?}
                                                  -> {"total": n, "transactions": [the first limit]}
         Authorization: Bearer <a support token>  (GATEWAY_SUPPORT_TOKENS; empty refuses everyone)

Tenants are named in the request body, never in the URL: a CVR or PID must not end up in access
logs and proxies' URL records. Nothing here changes anything; every answer is logged with the
support user's name.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException
from gateway_common.logging import get_logger
from gateway_common.storage import StorageLayout
from pydantic import BaseModel, Field

from gateway_status.search import search
from gateway_status.settings import StatusSettings
from gateway_status.tokens import bearer_name
from gateway_status.trace import NotFound, Parked, StatusNaming, find, parked_of, tenant_key, trace

log = get_logger(__name__)


class Tenant(BaseModel):
    cvr: str | None = Field(default=None, pattern=r"^[0-9]{8}$")
    pid: str | None = Field(default=None, max_length=64)


class FindRequest(Tenant):
    service: str = Field(min_length=1, max_length=255)
    ftp_txid: str = Field(min_length=1, max_length=255)


class SearchRequest(Tenant):
    service: str | None = Field(default=None, min_length=1, max_length=255)
    since: datetime = Field(alias="from")
    until: datetime | None = Field(default=None, alias="to")
    limit: int = Field(default=1000, ge=1, le=10_000)


@contextlib.contextmanager
def _not_found_is_404() -> Iterator[None]:
    try:
        yield
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def build_support_router(layout: StorageLayout, settings: StatusSettings, naming: StatusNaming) -> APIRouter:
    router = APIRouter(prefix="/support")

    def who(authorization: str) -> str:
        return bearer_name(settings.support_tokens, authorization)

    async def parked(gateway_txid: str) -> list[Parked] | None:
        try:
            return await parked_of(settings.amqp_url, gateway_txid)
        except Exception as exc:  # the storage's answer is still worth giving; the trace says so
            log.warning("support trace without the broker", error=repr(exc))
            return None

    async def answer(user: str, gateway_txid: str) -> dict[str, Any]:
        found = await asyncio.to_thread(trace, layout, gateway_txid, naming, await parked(gateway_txid))
        log.info("support trace", user=user, gateway_txid=gateway_txid)
        return found.as_json()

    @router.get("/transactions/{gateway_txid}")
    async def by_id(gateway_txid: str, authorization: Annotated[str, Header()] = "") -> dict[str, Any]:
        user = who(authorization)
        with _not_found_is_404():
            return await answer(user, gateway_txid)

    @router.post("/transactions/find")
    async def by_client_id(body: FindRequest, authorization: Annotated[str, Header()] = "") -> dict[str, Any]:
        user = who(authorization)
        with _not_found_is_404():
            tenant = tenant_key(body.cvr, body.pid)
            gateway_txid = await asyncio.to_thread(find, layout, tenant, body.service, body.ftp_txid)
            return await answer(user, gateway_txid)

    @router.post("/transactions/search")
    async def in_range(body: SearchRequest, authorization: Annotated[str, Header()] = "") -> dict[str, Any]:
        user = who(authorization)
        until = _utc(body.until) if body.until else datetime.now(UTC)
        with _not_found_is_404():
            tenant = tenant_key(body.cvr, body.pid)
            found = await asyncio.to_thread(search, layout, tenant, _utc(body.since), until, body.service, body.limit)
        log.info("support search", user=user, results=found.total)
        return found.as_json()

    return router
