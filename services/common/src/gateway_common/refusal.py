"""The one shape of every refusal that carries a reason: a metric label and words for the client."""

from __future__ import annotations


class Refusal(Exception):
    """Refused for ``reason`` (a short snake_case label, for metrics and logs), explained by ``detail``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
