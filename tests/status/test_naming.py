"""Status and response file names are unambiguous by construction (issue 9.8), and fit in 255 bytes."""

from __future__ import annotations

import pytest
from gateway_common.naming import TRANSACTION_NAME_MAX, Naming, check_transaction_names, template_parts
from gateway_common.routes import SERVICE_NAME
from gateway_common.storage import NAME_MAX, TMP_OVERHEAD
from hypothesis import given, settings
from hypothesis import strategies as st

# What the route table and the ingress accept (gateway_common.routes, gateway_ingress.tenant).
services = st.from_regex(SERVICE_NAME, fullmatch=True)
txids = st.from_regex(r"[\w(),+=@-][\w .(),+=@-]{0,40}", fullmatch=True).filter(
    lambda t: not t.endswith((" ", ".")) and len(t.encode()) <= TRANSACTION_NAME_MAX - 64
)
codes = st.sampled_from([0, 1, 2, 3])
response_names = st.from_regex(r"[\w.~_-]{1,16}", fullmatch=True).filter(lambda n: not n.startswith("."))
# Every status file a writer makes: the single one (code None) and, per code, the per-code ones.
status_keys = st.tuples(services, txids, st.one_of(st.none(), codes))
# Few letters, many separators: the names that collided before are found within a few examples.
tight_keys = st.tuples(
    st.from_regex(r"[a1][a1_.-]{0,4}", fullmatch=True),
    st.from_regex(r"[a1_][a1_.]{0,5}", fullmatch=True).filter(lambda t: not t.endswith(".")),
    st.one_of(st.none(), codes),
)
NAMING = Naming()


def test_the_guides_name_is_kept_for_services_without_underscore() -> None:
    assert NAMING.status("tax-reports", "report_1.xml") == "status_tax-reports_report_1.xml.xml"
    assert NAMING.status("heartbeat", "æøå", 2) == "status_heartbeat_æøå~2.xml"


def test_the_issues_collisions_are_gone() -> None:
    assert NAMING.status("tax", "reports_1.xml") != NAMING.status("tax_reports", "1.xml")
    assert NAMING.status("svc", "x", 1) != NAMING.status("svc", "x_1")
    assert NAMING.response("svc", "a", "b_c") != NAMING.response("svc", "a_b", "c")


@st.composite
def resplit(draw: st.DrawFn) -> tuple[tuple[str, str, int | None], tuple[str, str, int | None]]:
    """Two transactions made of the same words, split between service and id at different '_'.

    With a plain '_' join both would get one name ('tax' + 'reports_1' = 'tax_reports' + '1');
    a trailing '_<code>' on an id is the per-code variant of the same trap.
    """
    words = draw(st.lists(st.from_regex(r"[a-z0-9]{1,3}", fullmatch=True), min_size=3, max_size=6))
    first, second = draw(st.lists(st.integers(1, len(words) - 1), min_size=2, max_size=2, unique=True))
    code = draw(st.one_of(st.none(), codes))
    return (
        ("_".join(words[:first]), "_".join(words[first:]), code),
        ("_".join(words[:second]), "_".join(words[second:]), code),
    )


@settings(max_examples=200)
@given(resplit(), codes)
def test_names_of_the_same_words_split_differently_never_collide(
    pair: tuple[tuple[str, str, int | None], tuple[str, str, int | None]], code: int
) -> None:
    one, other = pair
    assert NAMING.status(*one) != NAMING.status(*other)
    service, txid, _ = one
    assert NAMING.status(service, f"{txid}_{code}") != NAMING.status(service, txid, code)


def read_back(name: str) -> tuple[str, str, int | None]:
    """The README's rule for reading a status file name, in code: the left inverse of Naming.status."""
    assert name.startswith("status_")
    assert name.endswith(".xml")
    service, _, rest = name.removeprefix("status_").removesuffix(".xml").partition("_")
    txid, mark, code = rest.partition("~")
    return service.replace("~", "_"), txid, int(code) if mark else None


@settings(max_examples=400)
@given(st.one_of(status_keys, tight_keys))
def test_every_status_file_name_reads_back_as_its_transaction_and_code(key: tuple[str, str, int | None]) -> None:
    assert read_back(NAMING.status(*key)) == key


@settings(max_examples=400)
@given(st.lists(st.one_of(status_keys, tight_keys), min_size=2, max_size=8, unique=True))
def test_status_file_names_never_collide(keys: list[tuple[str, str, int | None]]) -> None:
    names = [NAMING.status(*key) for key in keys]
    assert len(set(names)) == len(names), (keys, names)


@settings(max_examples=400)
@given(st.lists(st.tuples(services, txids, response_names), min_size=2, max_size=6, unique=True), status_keys)
def test_response_names_never_collide_with_each_other_or_status_files(
    keys: list[tuple[str, str, str]], status: tuple[str, str, int | None]
) -> None:
    names = [NAMING.response(*key) for key in keys]
    assert len(set(names)) == len(names), (keys, names)
    assert NAMING.status(*status) not in names


prefixes = st.from_regex(r"[A-Za-z0-9_.-]{1,8}", fullmatch=True).filter(lambda p: not p.startswith("."))
suffixes = st.from_regex(r"[A-Za-z0-9_.-]{0,8}", fullmatch=True)


@settings(max_examples=200)
@given(prefixes, suffixes, suffixes, st.lists(status_keys, min_size=2, max_size=5, unique=True))
def test_any_accepted_template_keeps_names_apart(
    prefix: str, suffix: str, code_suffix: str, keys: list[tuple[str, str, int | None]]
) -> None:
    try:
        naming = Naming(f"{prefix}{{service}}_{{txid}}{suffix}", f"{prefix}{{service}}_{{txid}}~{{code}}{code_suffix}")
    except ValueError:
        return  # refused at start-up: never used
    names = [naming.status(*key) for key in keys]
    assert len(set(names)) == len(names), (naming, keys, names)


@pytest.mark.parametrize(
    "template",
    ["status_{service}{txid}.xml", "status_{service}-{txid}.xml", "status_{service}_{txid}~x.xml", "{txid}.xml"],
)
def test_templates_that_could_collide_are_refused(template: str) -> None:
    with pytest.raises(ValueError, match="must have the form"):
        template_parts(template, per_code=False)


@settings(max_examples=300)
@given(services, st.text(alphabet="aæøå€𝄞_-", min_size=1, max_size=200))
def test_a_transaction_that_passes_the_byte_check_has_names_that_fit(service: str, txid: str) -> None:
    try:
        check_transaction_names(service, txid, txid)
    except ValueError:
        return
    longest_response = NAMING.response(service, txid, "r" * 16)
    for name in (NAMING.status(service, txid), NAMING.status(service, txid, 3), longest_response, txid):
        assert len(name.encode()) <= NAME_MAX - TMP_OVERHEAD


def test_the_issues_long_danish_name_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="bytes in UTF-8"):
        check_transaction_names("heartbeat", "æ" * 118 + ".xml", "x")
    check_transaction_names("heartbeat", "a" * 200, "x")  # the 200 ASCII characters the ingress allows
