"""The ingress's replies come from one catalogue, and docs/hardening.md shows that catalogue as it is."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from gateway_ingress import replies

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import reply_catalogue  # noqa: E402

INGRESS = ROOT / "services/ftps-ingress/src/gateway_ingress"
# A string literal that starts like an FTP reply: three digits and a space or hyphen.
REPLY_LITERAL = re.compile(r"""(?<![\w.])[rbf]?["'][1-5][0-9]{2}[ -]""")


def test_hardening_doc_shows_the_catalogue() -> None:
    doc = (ROOT / "docs/hardening.md").read_text()
    assert reply_catalogue.BEGIN in doc
    assert reply_catalogue.render(doc) == doc, "run `make docs` to refresh docs/hardening.md's reply catalogue"


def test_handler_modules_write_no_reply_outside_the_catalogue() -> None:
    found = []
    for module in sorted(INGRESS.glob("*.py")):
        if module.name == "replies.py":
            continue
        for number, line in enumerate(module.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if REPLY_LITERAL.search(code):
                found.append(f"{module.name}:{number}: {line.strip()}")
    assert not found, "replies written outside gateway_ingress/replies.py:\n" + "\n".join(found)


def test_every_catalogue_entry_is_used() -> None:
    names = [name for name, value in vars(replies).items() if isinstance(value, replies.Reply)]
    assert len(names) == len(replies.CATALOGUE)
    sources = "\n".join(m.read_text() for m in INGRESS.glob("*.py") if m.name != "replies.py")
    unused = [name for name in names if not re.search(rf"\breplies\.{name}\b", sources)]
    assert not unused, f"catalogue entries no module sends: {unused}"


def test_catalogue_entries_are_distinct_and_well_formed() -> None:
    texts = [(r.code, r.text) for r in replies.CATALOGUE]
    assert len(set(texts)) == len(texts)
    for reply in replies.CATALOGUE:
        assert 100 <= reply.code < 600
        assert reply.action.endswith("."), reply
        assert not reply.text.startswith(str(reply.code))
