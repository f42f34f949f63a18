"""Status texts are the client guide's sentences, word for word: scripts written against the guide match them."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_common.events import STATUS_TEXT, XML_CODE
from gateway_common.proto.gateway.v1 import events_pb2

GUIDE = Path("/work/shared/reference/client-guide.txt")
# The guide's three scenarios (section 3.1); code 3 is the gateway's own.
GUIDE_SENTENCES = {
    1: "File has been sent to requested Backend System / Business Service.",
    2: "Requested Backend System / Business Service has successfully accepted the file.",
    0: "An error has occurred.",
}


@pytest.mark.parametrize(("code", "sentence"), sorted(GUIDE_SENTENCES.items()))
def test_status_text_is_the_guides_sentence(code: int, sentence: str) -> None:
    by_xml_code = {XML_CODE[internal]: text for internal, text in STATUS_TEXT.items()}
    assert by_xml_code[code] == sentence


@pytest.mark.skipif(not GUIDE.exists(), reason="the client guide is kept outside the repository")
def test_the_sentences_are_quoted_from_the_guide() -> None:
    guide = " ".join(GUIDE.read_text().split())
    for sentence in GUIDE_SENTENCES.values():
        assert sentence in guide


def test_response_text_is_a_sentence() -> None:
    text = STATUS_TEXT[events_pb2.STATUS_CODE_RESPONSE]
    assert text.endswith(".")
    assert "/out" in text
