"""Bearer tokens of the status service's HTTP APIs, kept as SHA-256 hashes in the settings."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import HTTPException


def bearer_name(token_hashes: dict[str, str], authorization: str) -> str:
    """The name whose token hash matches the Authorization header; 401 for anyone else."""
    scheme, _, token = authorization.partition(" ")
    digest = hashlib.sha256(token.strip().encode()).hexdigest()
    for name, expected in token_hashes.items():
        if scheme.lower() == "bearer" and hmac.compare_digest(digest, expected.lower()):
            return name
    raise HTTPException(401, "unknown or missing bearer token", headers={"WWW-Authenticate": "Bearer"})
