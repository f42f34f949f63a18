"""Prints the ingress's FTP reply catalogue (gateway_ingress.replies) into docs/hardening.md.

`make docs` rewrites the table; a test fails when docs/hardening.md is out of date.
"""

from __future__ import annotations

from pathlib import Path

from gateway_ingress.replies import CATALOGUE
from settings_table import between_markers, regenerate

BEGIN = "<!-- reply-catalogue:begin -->"
END = "<!-- reply-catalogue:end -->"
DOC = Path("docs/hardening.md")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table() -> str:
    rows = ["| Code | Reply | What the client should do | Refusal reason |", "|---|---|---|---|"]
    for reply in sorted(CATALOGUE, key=lambda r: (r.code, r.text)):
        reason = f"`{reply.reason}`" if reply.reason else ""
        rows.append(f"| {reply.code} | `{_cell(reply.text)}` | {_cell(reply.action)} | {reason} |")
    return "\n".join(rows)


def render(doc: str) -> str:
    return between_markers(doc, BEGIN, END, table())


def main() -> None:
    regenerate(DOC, render, "reply catalogue")


if __name__ == "__main__":
    main()
