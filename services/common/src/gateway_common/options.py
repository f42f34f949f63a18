"""Route options an adapter declares as a pydantic model, and secrets named by reference.

A route's ``options`` reach the adapter as strings (the Dispatch message carries a string map),
so option models use pydantic's ordinary coercion ("30" -> 30.0, "true" -> True). The router
validates every route against its adapter's model at start-up and on reload, so a broken table
is refused before the first file instead of failing deliveries.

Secrets never stand in the route table: an option of type :class:`SecretRef` holds
``env:NAME`` (an environment variable of the adapter) or ``file:/path`` (a mounted Secret),
read only when a delivery needs it, so rotated secrets take effect without a restart.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler
from pydantic_core import core_schema

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class RouteOptions(BaseModel):
    """Base of every adapter's options: unknown keys are errors, so a typo cannot pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoOptions(RouteOptions):
    """For adapters that take no options."""


class SecretUnavailable(Exception):
    """The secret a reference names is not there (unset variable, missing or empty file)."""


@dataclass(frozen=True)
class SecretRef:
    """``env:NAME`` or ``file:/absolute/path``; anything else is refused as a possibly inline secret."""

    kind: Literal["env", "file"]
    target: str

    @classmethod
    def parse(cls, value: str) -> SecretRef:
        kind, _, target = value.partition(":")
        if kind == "env" and _ENV_NAME.fullmatch(target):
            return cls("env", target)
        if kind == "file" and target.startswith("/"):
            return cls("file", target)
        # The value itself is never echoed: it may be the very secret someone pasted in.
        raise ValueError(
            "must reference a secret as env:VARIABLE_NAME or file:/absolute/path; secrets are never written inline"
        )

    def reveal(self) -> str:
        """The secret's current value; surrounding whitespace (a file's newline) is dropped."""
        if self.kind == "env":
            value = os.environ.get(self.target, "").strip()
        else:
            try:
                value = Path(self.target).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SecretUnavailable(f"secret file {self.target} cannot be read: {exc.strerror}") from exc
        if not value:
            raise SecretUnavailable(f"secret {self} is empty or not set")
        return value

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls.parse, core_schema.str_schema(), serialization=core_schema.to_string_ser_schema()
        )
