"""Random bytes at the PROXY header reader: it refuses or parses, and never reads past the header."""

from __future__ import annotations

from gateway_ingress.proxy import V1_MAX, V2_MAX_BODY, ProxyHeaderError, ProxyHeaderReader
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.proxy import V2_SIGNATURE, v1_header, v2_header

ipv4 = st.ip_addresses(v=4).map(str)
port = st.integers(1, 65535)
prefixes = st.sampled_from([b"", b"PROXY ", b"PROXY TCP4 ", V2_SIGNATURE, V2_SIGNATURE[:9], V2_SIGNATURE + b"\x21\x11"])


@settings(max_examples=300, deadline=None)
@given(prefix=prefixes, noise=st.binary(max_size=700), mode=st.sampled_from(["v1", "v2", "auto"]))
def test_random_streams_are_parsed_or_refused(prefix: bytes, noise: bytes, mode: str) -> None:
    stream = prefix + noise
    reader = ProxyHeaderReader(mode)  # type: ignore[arg-type]
    position = 0
    try:
        while not reader.done:
            wanted = reader.wanted()
            assert wanted > 0
            reader.feed(stream[position : position + wanted])
            position += wanted
    except ProxyHeaderError:
        return
    assert position <= max(V1_MAX, 16 + V2_MAX_BODY)
    if reader.source is not None:
        assert 0 <= reader.source[1] <= 65535


@settings(max_examples=200, deadline=None)
@given(
    client=st.tuples(ipv4, port),
    balancer=st.tuples(ipv4, port),
    version=st.sampled_from([v1_header, v2_header]),
    tail=st.binary(max_size=64),
)
def test_valid_headers_name_the_client_and_keep_what_follows(client, balancer, version, tail) -> None:  # type: ignore[no-untyped-def]
    stream = version(client, balancer) + tail
    reader = ProxyHeaderReader("auto")
    position = 0
    while not reader.done:
        wanted = reader.wanted()
        reader.feed(stream[position : position + wanted])
        position += wanted
    assert reader.source == client
    assert stream[position:] == tail
