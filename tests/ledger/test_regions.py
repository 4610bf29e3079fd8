"""The aimags of Mongolia by ISO 3166-2:MN code, and the tolerant lookup of their names."""

from __future__ import annotations

import doctest
import unicodedata
from collections.abc import Callable
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ledger.regions
from ledger.regions import AIMAGS, Aimag, aimag_by_code, aimag_code

# ISO 3166-2:MN: the capital and the 21 aimags
EXPECTED = {
    1: ("Ulaanbaatar", "Улаанбаатар"),
    35: ("Orkhon", "Орхон"),
    37: ("Darkhan-Uul", "Дархан-Уул"),
    39: ("Khentii", "Хэнтий"),
    41: ("Khövsgöl", "Хөвсгөл"),
    43: ("Khovd", "Ховд"),
    46: ("Uvs", "Увс"),
    47: ("Töv", "Төв"),
    49: ("Selenge", "Сэлэнгэ"),
    51: ("Sükhbaatar", "Сүхбаатар"),
    53: ("Ömnögovi", "Өмнөговь"),
    55: ("Övörkhangai", "Өвөрхангай"),
    57: ("Zavkhan", "Завхан"),
    59: ("Dundgovi", "Дундговь"),
    61: ("Dornod", "Дорнод"),
    63: ("Dornogovi", "Дорноговь"),
    64: ("Govisümber", "Говьсүмбэр"),
    65: ("Govi-Altai", "Говь-Алтай"),
    67: ("Bulgan", "Булган"),
    69: ("Bayankhongor", "Баянхонгор"),
    71: ("Bayan-Ölgii", "Баян-Өлгий"),
    73: ("Arkhangai", "Архангай"),
}


def test_the_table() -> None:
    assert len(AIMAGS) == 22
    assert {a.code: (a.en, a.mn) for a in AIMAGS} == EXPECTED
    assert [a.code for a in AIMAGS] == sorted(EXPECTED)
    for a in AIMAGS:
        assert unicodedata.normalize("NFC", a.en) == a.en
        assert unicodedata.normalize("NFC", a.mn) == a.mn


def test_iso_codes() -> None:
    assert [a.iso for a in AIMAGS[:3]] == ["MN-1", "MN-035", "MN-037"]
    assert Aimag(55, "Övörkhangai", "Өвөрхангай").iso == "MN-055"
    assert all(aimag_code(a.iso) == a.code for a in AIMAGS)
    assert aimag_code("mn-55") == 55 and aimag_code("MN-001") == 1
    assert aimag_code("MN-036") is None and aimag_code("MN-999") is None


def test_aimag_by_code() -> None:
    found = aimag_by_code(55)
    assert found is not None and found.en == "Övörkhangai"
    for code in (0, 2, 36, 74, 99, -55, 10**6):
        assert aimag_by_code(code) is None
    assert aimag_by_code(True) is None  # a bool is not a code
    assert aimag_by_code("55") is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Övörkhangai", 55),
        ("Ovorkhangai", 55),
        ("Uvurkhangai", 55),
        ("Övörhangay", 55),
        ("Oevoerkhangai", 55),
        ("ÖVÖRKHANGAI AIMAG", 55),
        ("Övörkhangai province", 55),
        ("Өвөрхангай аймаг", 55),
        ("Оворхангай", 55),  # typed without Ө
        ("O\u0308vo\u0308rkhangai", 55),  # decomposed diacritics
        ("  övör-khangai  ", 55),
        ("Töv", 47),
        ("Tov", 47),
        ("Tuv", 47),
        ("TÖV", 47),
        ("Төв", 47),
        ("Тов", 47),
        ("Central province", 47),
        ("Khövsgöl", 41),
        ("Khovsgol", 41),
        ("Hovsgol", 41),
        ("Khuvsgul", 41),
        ("Hövsgöl aimag", 41),
        ("Ömnögovi", 53),
        ("Omnogovi", 53),
        ("Umnugovi", 53),
        ("Omnogobi", 53),
        ("South Gobi", 53),
        ("south gobi province", 53),
        ("Dundgobi", 59),
        ("Middle Gobi", 59),
        ("Dornogobi", 63),
        ("East Gobi", 63),
        ("Gobi-Altay", 65),
        ("Govi Altai", 65),
        ("Говь Алтай", 65),
        ("Gobisumber", 64),
        ("Govi-Sümber", 64),
        ("Khentiy", 39),
        ("Hentii", 39),
        ("Khentei", 39),
        ("Хентий", 39),  # Russian spelling
        ("Sukhbaatar", 51),
        ("Сухбаатар", 51),
        ("Bayan-Ulgii", 71),
        ("Bayan Olgiy", 71),
        ("Dzavhan", 57),
        ("Zavhan", 57),
        ("Darhan Uul", 37),
        ("Orhon", 35),
        ("Ulaanbaatar", 1),
        ("Ulan Bator", 1),
        ("Ulaanbaatar city", 1),
        ("Улаанбаатар хот", 1),
        ("Улан-Батор", 1),
    ],
)
def test_tolerant_lookup(name: str, code: int) -> None:
    assert aimag_code(name) == code


@pytest.mark.parametrize(
    "name",
    [
        "",
        " ",
        "aimag",
        "Аймаг",
        "Mongolia",
        "Uyanga",  # a soum, not an aimag
        "Övörkhangai/Uyanga",
        "Gobi",
        "Khangai",
        "55",
        "MN",
        "MN-",
        "Övörkhangai Töv",
        "x" * 1000,
        "\ud800",
        "\x00",
    ],
)
def test_unknown_names(name: str) -> None:
    assert aimag_code(name) is None


def test_not_a_string() -> None:
    assert aimag_code(55) is None  # type: ignore[arg-type]
    assert aimag_code(None) is None  # type: ignore[arg-type]


_CASES: list[Callable[[str], str]] = [str.upper, str.lower, str.title, str.casefold, str]
_FORMS: list[Literal["NFC", "NFD"]] = ["NFC", "NFD"]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(AIMAGS),
    st.booleans(),
    st.sampled_from(_CASES),
    st.sampled_from(["", " aimag", " Aimag", " аймаг", " province", " AIMAG"]),
    st.sampled_from(_FORMS),
)
def test_every_name_maps_back_to_its_code(
    aimag: Aimag,
    cyrillic: bool,
    case: Callable[[str], str],
    suffix: str,
    form: Literal["NFC", "NFD"],
) -> None:
    name = aimag.mn if cyrillic else aimag.en
    assert aimag_code(unicodedata.normalize(form, case(name) + suffix)) == aimag.code


def test_every_name_exactly() -> None:
    for a in AIMAGS:
        for name in (a.en, a.mn, a.en.upper(), a.mn.lower(), f"{a.en} aimag", f"{a.mn} аймаг"):
            assert aimag_code(name) == a.code, name


@settings(max_examples=500, deadline=None)
@given(st.text(st.characters(exclude_categories=()), max_size=40) | st.text(max_size=200))
def test_aimag_code_never_raises(text: str) -> None:
    code = aimag_code(text)
    assert code is None or aimag_by_code(code) is not None


def test_module_examples() -> None:
    result = doctest.testmod(ledger.regions)
    assert result.attempted >= 2 and result.failed == 0
