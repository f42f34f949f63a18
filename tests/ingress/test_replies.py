"""replies.py: how a catalogue entry becomes the line a client reads, and the OS's words for a failure.

tests/docs/test_reply_catalogue.py checks the catalogue as a whole (used, distinct, documented).
"""

from __future__ import annotations

import errno
import os
import re

import pytest
from gateway_ingress import replies
from gateway_ingress.replies import os_reason

# An RFC 959 reply line: three digits, then a space (last line) or a hyphen (a line before it).
REPLY_LINE = re.compile(r"[1-5][0-5][0-9][ -][^\r\n]*")


def test_a_reply_is_its_code_and_its_text_filled_in() -> None:
    assert replies.TXID_USED(txid="tx-1") == "553 Transaction id 'tx-1' was already used; choose a new one."
    assert replies.OUT_QUOTA(used=200, quota=100).startswith("552 Your /out holds 200 bytes, over its quota of 100")
    with pytest.raises(KeyError):
        replies.TXID_USED()  # a field left out is a bug, not a reply with braces in it


def test_a_continued_line_opens_a_multi_line_reply() -> None:
    assert replies.FEATURES.continued() == "211-Features supported:\r\n"
    # LISTING_TRUNCATED precedes pyftpdlib's own 125 or 150, so it takes that code.
    line = replies.LISTING_TRUNCATED.continued(125, shown=2, total=5)
    assert line == "125-Listing only the first 2 of 5 entries; fetch and delete files to see the rest.\r\n"


def test_every_entry_renders_as_one_reply_line() -> None:
    fields = {name: "x" for reply in replies.CATALOGUE for name in re.findall(r"{(\w+)", reply.text)}
    for reply in replies.CATALOGUE:
        line = reply(**fields)
        assert REPLY_LINE.fullmatch(line), line
        assert line.startswith(f"{reply.code} ")
        assert reply.continued(**fields) == line.replace(" ", "-", 1) + "\r\n"


def test_refusals_carry_a_metric_reason_of_label_form() -> None:
    reasons = {reply.reason for reply in replies.CATALOGUE if reply.reason}
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", reason) for reason in reasons), reasons
    # Every refusal the gateway counts is a 4xx or 5xx reply: a 2xx would be counted as refused.
    assert all(reply.code >= 400 for reply in replies.CATALOGUE if reply.reason)


def test_the_reason_of_a_failed_file_operation_is_the_errno_text() -> None:
    assert os_reason(OSError(errno.ENOSPC, "ignored")) == os.strerror(errno.ENOSPC)
    assert os_reason(FileNotFoundError(errno.ENOENT, "x")) == "No such file or directory"
    assert os_reason(OSError("no errno")) == os.strerror(errno.EIO)
    assert os_reason(ValueError("not an OS error"), "storage error") == "storage error"
    assert os_reason(TimeoutError(), "storage error") == "storage error"
