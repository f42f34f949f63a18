"""Route option models and secret references (tests/common/test_route_options.py checks them in route tables)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_adapter_http.adapter import HttpOptions
from gateway_common.options import NoOptions, SecretRef, SecretUnavailable
from pydantic import ValidationError


@pytest.mark.parametrize(
    ("text", "kind", "target"),
    [
        ("env:HTTP_TOKEN", "env", "HTTP_TOKEN"),
        ("env:_t1", "env", "_t1"),
        ("file:/run/secrets/k", "file", "/run/secrets/k"),
    ],
)
def test_references_parse_and_print_as_written(text: str, kind: str, target: str) -> None:
    ref = SecretRef.parse(text)
    assert (ref.kind, ref.target, str(ref)) == (kind, target, text)


@pytest.mark.parametrize(
    "text", ["env:1TOKEN", "env:A-B", "env:A B", "ENV:TOKEN", "file:", "file:secrets/k", "vault:x"]
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="must reference a secret"):
        SecretRef.parse(text)


def test_a_missing_unreadable_or_empty_secret_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_TEST_NO_SUCH_SECRET", raising=False)
    monkeypatch.setenv("GATEWAY_TEST_BLANK_SECRET", "  \n")
    (tmp_path / "empty").write_text("\n")
    cases = {
        "env:GATEWAY_TEST_NO_SUCH_SECRET": "is empty or not set",
        "env:GATEWAY_TEST_BLANK_SECRET": "is empty or not set",
        f"file:{tmp_path}/missing": "cannot be read: No such file or directory",
        f"file:{tmp_path}": "cannot be read: Is a directory",
        f"file:{tmp_path}/empty": "is empty or not set",
    }
    for text, reason in cases.items():
        with pytest.raises(SecretUnavailable, match=reason):
            SecretRef.parse(text).reveal()


def test_a_secret_is_read_anew_each_time_so_rotation_needs_no_restart(tmp_path: Path) -> None:
    ref = SecretRef.parse(f"file:{tmp_path}/token")
    (tmp_path / "token").write_text("first\n")
    assert ref.reveal() == "first"
    (tmp_path / "token").write_text("second\n")
    assert ref.reveal() == "second"


def test_option_models_coerce_strings_forbid_unknown_keys_and_are_frozen() -> None:
    options = HttpOptions.model_validate({"url": "https://b.example/f", "timeout": "30", "token": "env:T"})
    assert options.timeout == 30.0
    assert isinstance(options.token, SecretRef)
    assert options.model_dump(mode="json")["token"] == "env:T"  # the reference, never a value
    with pytest.raises(ValidationError):
        options.timeout = 5.0  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        NoOptions.model_validate({"folder": "/tmp"})
    assert NoOptions.model_validate({}) == NoOptions()
