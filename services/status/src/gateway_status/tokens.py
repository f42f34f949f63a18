"""Bearer tokens of the status service's HTTP APIs (kept as SHA-256 hashes); backends' are scoped.

GATEWAY_OUTBOUND_TOKENS maps a backend's name to its token's SHA-256 and its scope, deny by
default (an empty list allows nothing):

    {"tax-agency": {"token_sha256": "<hex>",
                    "kinds": ["company"],          # outbound recipients: personal and/or company
                    "cvrs": ["30808460"],          # only these companies (empty: any company)
                    "names": ["*.pdf", "*.xml"],   # outbound file names (shell patterns)
                    "services": ["tax-reports"]}}  # transactions it may answer (responses API)
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
from typing import Literal

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator

RecipientKind = Literal["personal", "company"]


class BackendScope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token_sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    kinds: list[RecipientKind] = Field(default_factory=list)
    cvrs: list[str] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)

    @field_validator("cvrs")
    @classmethod
    def _cvrs(cls, value: list[str]) -> list[str]:
        for cvr in value:
            if not (cvr.isascii() and cvr.isdigit() and len(cvr) == 8):
                raise ValueError(f"CVR {cvr!r} must be 8 ASCII digits")
        return value

    def may_send_to(self, kind: str, recipient: str) -> bool:
        if kind not in self.kinds:
            return False
        return kind != "company" or not self.cvrs or recipient in self.cvrs

    def names_recipient(self, kind: str, recipient: str) -> bool:
        """Whether the scope lists this recipient by name (so it may be a tenant not seen yet)."""
        return kind == "company" and recipient in self.cvrs

    def may_name(self, file_name: str) -> bool:
        return any(fnmatch.fnmatchcase(file_name, pattern) for pattern in self.names)


def bearer_name(token_hashes: dict[str, str], authorization: str) -> str:
    """The name whose token hash matches the Authorization header; 401 for anyone else."""
    scheme, _, token = authorization.partition(" ")
    digest = hashlib.sha256(token.strip().encode()).hexdigest()
    found = None
    for name, expected in token_hashes.items():
        # Every entry is compared, so the time taken does not tell which names exist.
        if hmac.compare_digest(digest, expected.lower()) and scheme.lower() == "bearer":
            found = name
    if found is None:
        raise HTTPException(401, "unknown or missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return found


def authenticate(scopes: dict[str, BackendScope], authorization: str) -> tuple[str, BackendScope]:
    """The backend whose bearer token this is, with its scope, or 401."""
    backend = bearer_name({name: scope.token_sha256 for name, scope in scopes.items()}, authorization)
    return backend, scopes[backend]
