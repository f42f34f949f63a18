"""tokens.py: backend tokens and their scopes, deny by default."""

from __future__ import annotations

import hashlib

import pytest
from fastapi import HTTPException
from gateway_status.tokens import BackendScope, authenticate
from pydantic import ValidationError


def _scope(token: str, **fields: object) -> BackendScope:
    return BackendScope(token_sha256=hashlib.sha256(token.encode()).hexdigest(), **fields)  # type: ignore[arg-type]


def test_an_empty_scope_allows_nothing() -> None:
    scope = _scope("t")
    assert not scope.may_send_to("personal", "9208-2002-2-123456789012")
    assert not scope.may_send_to("company", "30808460")
    assert not scope.may_name("letter.pdf")
    assert not scope.names_recipient("company", "30808460")


def test_recipients_kinds_companies_and_name_patterns() -> None:
    scope = _scope("t", kinds=["company"], cvrs=["30808460"], names=["*.pdf"])
    assert scope.may_send_to("company", "30808460")
    assert not scope.may_send_to("company", "12345678")
    assert not scope.may_send_to("personal", "30808460")
    assert scope.names_recipient("company", "30808460")
    assert scope.may_name("letter.pdf")
    assert not scope.may_name("letter.PDF")  # patterns are case-sensitive
    assert not scope.may_name("letter.pdf.exe")
    any_company = _scope("t", kinds=["company"])
    assert any_company.may_send_to("company", "12345678")
    assert not any_company.names_recipient("company", "12345678")


@pytest.mark.parametrize("cvr", ["1234567", "123456789", "1234567a", "١٢٣٤٥٦٧٨"])
def test_a_cvr_must_be_eight_ascii_digits(cvr: str) -> None:
    with pytest.raises(ValidationError, match="8 ASCII digits"):
        _scope("t", cvrs=[cvr])


def test_the_token_hash_must_be_a_sha256() -> None:
    with pytest.raises(ValidationError):
        BackendScope(token_sha256="secret")


def test_authenticate_finds_the_backend_of_a_bearer_token() -> None:
    scopes = {"tax": _scope("tax-token"), "post": _scope("post-token")}
    assert authenticate(scopes, "Bearer post-token")[0] == "post"
    assert authenticate(scopes, "bearer  tax-token ")[0] == "tax"  # scheme in any case, spaces around the token


@pytest.mark.parametrize("authorization", ["", "Bearer", "Bearer wrong", "Basic tax-token", "tax-token"])
def test_anything_else_is_401_with_a_bearer_challenge(authorization: str) -> None:
    with pytest.raises(HTTPException) as refused:
        authenticate({"tax": _scope("tax-token")}, authorization)
    assert refused.value.status_code == 401
    assert refused.value.headers == {"WWW-Authenticate": "Bearer"}
