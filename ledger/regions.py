"""The aimags (provinces) of Mongolia and the capital, by ISO 3166-2:MN numeric code.

A certificate states where its gold came from as one small integer, the ISO 3166-2:MN code
of the aimag (``0`` = not stated); this module turns the code back into a name for people,
in English or in Mongolian Cyrillic, and finds the code of a name typed by a person::

    >>> aimag_by_code(55).en, aimag_by_code(55).mn, aimag_by_code(55).iso
    ('Övörkhangai', 'Өвөрхангай', 'MN-055')
    >>> aimag_code("Uvurkhangai aimag"), aimag_code("ТӨВ"), aimag_code("South Gobi")
    (55, 47, 53)

The name lookup is tolerant of the ways the names are really written: any case, with or
without diacritics, spaces or hyphens, a trailing "aimag"/"аймаг"/"province", "kh" or "h",
"Gobi" or "Govi", Ö/Ü written as o/u, oe/ue or u (Övörkhangai, Ovorkhangai, Uvurkhangai),
Cyrillic typed without Ө/Ү (Тов for Төв), and a few English names (Ulan Bator, South Gobi).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

__all__ = ["AIMAGS", "MONGOLIA", "Aimag", "Bounds", "aimag_by_code", "aimag_code"]

ULAANBAATAR = 1


@dataclass(frozen=True)
class Aimag:
    """An aimag (or the capital): its ISO 3166-2:MN numeric code and its names."""

    code: int
    en: str
    mn: str

    @property
    def iso(self) -> str:
        """The ISO 3166-2 code: ``MN-055``; the capital is ``MN-1``."""
        return f"MN-{self.code}" if self.code == ULAANBAATAR else f"MN-{self.code:03d}"


AIMAGS: tuple[Aimag, ...] = (
    Aimag(1, "Ulaanbaatar", "Улаанбаатар"),
    Aimag(35, "Orkhon", "Орхон"),
    Aimag(37, "Darkhan-Uul", "Дархан-Уул"),
    Aimag(39, "Khentii", "Хэнтий"),
    Aimag(41, "Khövsgöl", "Хөвсгөл"),
    Aimag(43, "Khovd", "Ховд"),
    Aimag(46, "Uvs", "Увс"),
    Aimag(47, "Töv", "Төв"),
    Aimag(49, "Selenge", "Сэлэнгэ"),
    Aimag(51, "Sükhbaatar", "Сүхбаатар"),
    Aimag(53, "Ömnögovi", "Өмнөговь"),
    Aimag(55, "Övörkhangai", "Өвөрхангай"),
    Aimag(57, "Zavkhan", "Завхан"),
    Aimag(59, "Dundgovi", "Дундговь"),
    Aimag(61, "Dornod", "Дорнод"),
    Aimag(63, "Dornogovi", "Дорноговь"),
    Aimag(64, "Govisümber", "Говьсүмбэр"),
    Aimag(65, "Govi-Altai", "Говь-Алтай"),
    Aimag(67, "Bulgan", "Булган"),
    Aimag(69, "Bayankhongor", "Баянхонгор"),
    Aimag(71, "Bayan-Ölgii", "Баян-Өлгий"),
    Aimag(73, "Arkhangai", "Архангай"),
)

# English names in use that are not a transliteration of the Mongolian one
_ALIASES: dict[str, int] = {
    "Ulan Bator": 1,
    "Улан-Батор": 1,
    "Central": 47,
    "South Gobi": 53,
    "Southern Gobi": 53,
    "Middle Gobi": 59,
    "Central Gobi": 59,
    "East Gobi": 63,
    "Eastern Gobi": 63,
    "Khentei": 39,
}

_SUFFIXES = frozenset(
    {"aimag", "aimak", "aymag", "aimagh", "аймаг", "province", "prov", "city", "хот"}
)
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015_.,'’`ʼ/]+")
_ISO = re.compile(r"mn(\d{1,3})")
_REPEATS = re.compile(r"(.)\1+")
_MAX_NAME_CHARS = 100
# Latin transliteration variants, applied in order to lower-case text without diacritics
_LATIN_FOLDS = (("kh", "h"), ("dz", "z"), ("gobi", "govi"), ("y", "i"), ("oe", "o"), ("ue", "u"))
# Cyrillic typed without the Mongolian letters, or in Russian spelling
_CYRILLIC_FOLDS = str.maketrans({"ө": "о", "ү": "у", "э": "е", "ь": None, "ъ": None})


def _words(name: str) -> list[str]:
    """The words of a name, case-folded, without separators or a trailing "aimag"."""
    words = _SEPARATORS.sub(" ", unicodedata.normalize("NFKC", name).casefold()).split()
    if len(words) > 1 and words[-1] in _SUFFIXES:
        words.pop()
    return words


def _fold(name: str) -> str:
    """The comparison key of a name: what is left after everything the lookup tolerates."""
    text = unicodedata.normalize("NFKD", "".join(_words(name)))
    text = "".join(c for c in text if c.isalnum())  # drops the combining diacritics too
    for old, new in _LATIN_FOLDS:
        text = text.replace(old, new)
    text = text.translate(_CYRILLIC_FOLDS)
    # the rounded vowels are the least stable part of a transliteration: Ö, Ü, O and U
    # (and Cyrillic Ө Ү О У) are compared as one vowel; doubled letters as one letter
    text = text.replace("u", "o").replace("у", "о")
    return _REPEATS.sub(r"\1", text)


def _index() -> dict[str, int]:
    index: dict[str, int] = {}
    names = [(a.en, a.code) for a in AIMAGS] + [(a.mn, a.code) for a in AIMAGS]
    for name, code in names + list(_ALIASES.items()):
        key = _fold(name)
        if index.get(key, code) != code:  # pragma: no cover - guarded by the tests
            raise AssertionError(f"aimag names {name!r} collide as {key!r}")
        index[key] = code
    return index


_BY_CODE: dict[int, Aimag] = {a.code: a for a in AIMAGS}
_BY_NAME: dict[str, int] = _index()


def aimag_by_code(code: int) -> Aimag | None:
    """The aimag with ISO 3166-2:MN numeric code ``code`` (55 → Övörkhangai), else None."""
    if type(code) is not int:
        return None
    return _BY_CODE.get(code)


def aimag_code(name: str) -> int | None:
    """The ISO 3166-2:MN numeric code of an aimag named in English or Mongolian Cyrillic.

    Tolerant of case, diacritics, spaces and hyphens, a trailing "aimag"/"аймаг"/"province",
    and the common transliterations ("Uvurkhangai", "Hovsgol", "Tuv", "South Gobi"); the ISO
    code itself ("MN-055") is accepted too. Returns None for a name it does not know; never
    raises.
    """
    if not isinstance(name, str) or len(name) > _MAX_NAME_CHARS:
        return None
    try:
        if match := _ISO.fullmatch("".join(_words(name))):
            code = int(match.group(1))
            return code if code in _BY_CODE else None
        return _BY_NAME.get(_fold(name))
    except (ValueError, UnicodeError):  # pragma: no cover - no known str raises
        return None


@dataclass(frozen=True)
class Bounds:
    """A latitude/longitude box in decimal degrees (WGS 84), edges included; exact
    decimals, so a coordinate on the edge is inside whatever its digits."""

    south: Decimal
    north: Decimal
    west: Decimal
    east: Decimal

    def contains(self, lat: Decimal, lon: Decimal) -> bool:
        """Whether the point lies in the box (edges included)."""
        return self.south <= lat <= self.north and self.west <= lon <= self.east


# Mongolia spans 41°35′ to 52°09′ N and 87°44′ to 119°56′ E (National Atlas of Mongolia,
# mongolianatlas.ac.mn, "Geographical location": southernmost Bor Tolgoi, Nomgon soum,
# Ömnögovi; northernmost Mongol Sharyn Davaa, Sayan range; westernmost Maanit mountain,
# Altai; easternmost Modot Khamar, Dornod), i.e. 41.583-52.150 N and 87.733-119.933 E,
# widened here by 1 to 9 km so that a hand-held GPS reading at the border is not refused.
# It is a box: a point in it near the border may still lie in China or Russia; no
# per-aimag outline is kept here, so no finer check is made.
MONGOLIA: Final = Bounds(
    south=Decimal("41.5"), north=Decimal("52.2"), west=Decimal("87.7"), east=Decimal("119.95")
)
