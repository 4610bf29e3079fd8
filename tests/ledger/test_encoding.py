"""Canonical JSON (RFC 8785) and strict base64: the bytes every hash is taken over."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.encoding import b64decode, b64encode, canonical_json
from ledger.entry import ZERO_HASH, Entry, Event
from ledger.errors import MalformedInput
from support.encoding import fast_or_not
from support.paths import VECTORS

JCS = VECTORS / "jcs-rfc8785"
CASES = sorted(p.stem for p in (JCS / "input").glob("*.json"))


@pytest.mark.parametrize("name", CASES)
def test_rfc8785_vectors(name: str) -> None:
    value = json.loads((JCS / "input" / f"{name}.json").read_text(encoding="utf-8"))
    expected = (JCS / "output" / f"{name}.json").read_bytes()
    hexed = bytes.fromhex((JCS / "outhex" / f"{name}.txt").read_text())
    assert expected == hexed
    assert canonical_json(value) == expected


def test_all_six_vector_files_are_present() -> None:
    assert CASES == ["arrays", "french", "structures", "unicode", "values", "weird"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_canonical_json_is_idempotent_and_parses_back(value: object) -> None:
    data = canonical_json(value)
    assert json.loads(data) == value
    assert canonical_json(json.loads(data)) == data


@given(st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=6))
def test_entries_round_trip_through_their_bytes(body: dict[str, str]) -> None:
    entry = Entry(3, ZERO_HASH, "2026-09-01T08:00:00.000000Z", Event("ore.delivered", "c:1", body))
    again = Entry.from_bytes(entry.to_bytes())
    assert again == entry
    assert again.to_bytes() == entry.to_bytes()


def test_numbers_beyond_the_safe_integer_range_are_refused() -> None:
    with pytest.raises(MalformedInput):
        canonical_json({"mass": 2**53 + 1})
    with pytest.raises(MalformedInput):
        canonical_json({"mass": float("nan")})


@given(st.binary(max_size=64))
def test_base64_round_trip(data: bytes) -> None:
    assert b64decode(b64encode(data)) == data


@pytest.mark.parametrize(
    "text",
    [
        "AAAA=",
        "A===",
        "AA",
        "AB==",
        "AAAA AAAA",
        "****",
        "ÄÄÄÄ",
        base64.urlsafe_b64encode(b"\xfb\xff").decode(),
    ],
)
def test_base64_is_strict(text: str) -> None:
    with pytest.raises(MalformedInput):
        b64decode(text)


def test_base64_length_is_checked() -> None:
    with pytest.raises(MalformedInput, match="32 bytes"):
        b64decode(b64encode(b"x" * 31), size=32, what="leaf hash")


@pytest.mark.parametrize(
    ("mutation", "match"),
    [
        (lambda o: o.pop("prev"), "missing"),
        (lambda o: o.update(extra=1), "unknown"),
        (lambda o: o.update(v=2), "v:"),
        (lambda o: o.update(index="3"), "index"),
        (lambda o: o.update(prev="AAAA"), "prev"),
        (lambda o: o.update(time="yesterday"), "time"),
        (lambda o: o.update(type="Bad Type"), "type"),
    ],
)
def test_malformed_entries_name_the_field(mutation, match: str) -> None:  # type: ignore[no-untyped-def]
    obj = Entry(3, ZERO_HASH, "2026-09-01T08:00:00.000000Z", Event("a.b", "c", {})).to_json()
    mutation(obj)
    with pytest.raises(MalformedInput, match=match):
        Entry.from_bytes(canonical_json(obj))


# -- the json.dumps fast path writes exactly what rfc8785 writes -----------------------------


def _rfc8785(value: object) -> bytes | str:
    import rfc8785

    try:
        return rfc8785.dumps(value)
    except Exception as exc:  # any refusal; compared below as "it refused"
        return f"refused: {type(exc).__name__}"


@settings(max_examples=400)
@given(fast_or_not)
def test_canonical_json_equals_rfc8785_on_every_value(value: object) -> None:
    expected = _rfc8785(value)
    try:
        got: bytes | str = canonical_json(value)
    except MalformedInput:
        got = "refused"
    if isinstance(expected, str):
        assert got == "refused", (value, got)
    else:
        assert got == expected, value


@pytest.mark.parametrize(
    "value",
    [
        2**53 - 1,
        -(2**53) + 1,
        {"a": '\x7f\u2028\u2029\x00\x1f"\\/\U0001f600'},
        {"b": 1, "a": [True, None, "é"], "A": {"z": 0, "_": -1}},
        {"\ue000": 1, "\U0001f600": 2},  # UTF-16 order differs from code points: slow path
        [1.5, 0.1, 1e21],  # floats: slow path
    ],
)
def test_canonical_json_edges(value: object) -> None:
    assert canonical_json(value) == _rfc8785(value)


@pytest.mark.parametrize("value", [2**53, -(2**53), {"a": "\ud800"}, float("nan")])
def test_canonical_json_refusals(value: object) -> None:
    with pytest.raises(MalformedInput):
        canonical_json(value)
