"""Reading the console's forms: text fields in, typed values or field mistakes out.

A form is parsed whole: every mistake is found at once (a clerk corrects the form once), each
named by its form field and a glossary key (`services.console.glossary`). Masses are read
with `Decimal` and converted to whole grams exactly, never through a binary float; what is a
rule of the ledger (a mass within bounds, a day not in the future, a miner's own site) is left
to the event pipeline, whose refusal comes back worded by `services.problem_texts`.

Numbers are read the way a Mongolian counter writes them as well as the English way: a
comma or a point marks the decimals (``1,5`` = ``1.5``), spaces may group thousands
(``1 250``); a number with both a comma and a point is refused, and so is a comma followed
by exactly three digits after a non-zero whole part (``1,500``: 1.5 to a Mongolian clerk,
1500 to an English one), so a mass is never recorded a thousand times off.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Final, Literal

__all__ = [
    "GRAMS_PER_UNIT",
    "DeliveryForm",
    "FormMistakes",
    "MassUnit",
    "form_key",
    "new_lot_id",
    "parse_delivery",
    "parse_mass",
]

MassUnit = Literal["kg", "t"]
GRAMS_PER_UNIT: Final[dict[MassUnit, int]] = {"kg": 1_000, "t": 1_000_000}
_AMBIGUOUS = re.compile(r"^[1-9][0-9]{0,2},[0-9]{3}$")  # 1,500: 1.5 or 1500?
_NUMBER = re.compile(r"^[0-9]+(?:[.,][0-9]+)?$")  # ASCII digits only
MAX_MASS_CHARS = 32
MAX_NOTES_CHARS = 2000


class FormMistakes(Exception):
    """The mistakes of a form: form field -> glossary key of what is wrong."""

    def __init__(self, mistakes: dict[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in mistakes.items()))
        self.mistakes = mistakes


@dataclass(frozen=True)
class DeliveryForm:
    """A delivery as the form states it, ready to become an `ore.delivered` body."""

    lot: str
    miner: str
    site: str
    mass_g: int
    mined_on: str
    notes: str | None = None

    def body(self, occurred_at: str) -> dict[str, object]:
        """The event body (`schemas.events.OreDelivered`)."""
        out: dict[str, object] = {
            "occurred_at": occurred_at,
            "lot": self.lot,
            "miner": self.miner,
            "site": self.site,
            "mass_g": self.mass_g,
            "mined_on": self.mined_on,
        }
        if self.notes:
            out["notes"] = self.notes
        return out


def parse_mass(amount: str, unit: str) -> int:
    """Exact whole grams of `amount` `unit` (kg or t); raises FormMistakes for a mass
    that is not a number, not above zero, or not whole grams."""
    if unit not in GRAMS_PER_UNIT:
        raise FormMistakes({"unit": "error.unit"})
    text = amount.strip().replace("\u00a0", " ")
    text = re.sub(r"(?<=[0-9]) (?=[0-9]{3}(?![0-9]))", "", text)  # "1 250" -> "1250"
    if not text:
        raise FormMistakes({"mass": "error.required"})
    if _AMBIGUOUS.match(text):
        raise FormMistakes({"mass": "error.mass_ambiguous"})
    if len(text) > MAX_MASS_CHARS or not _NUMBER.match(text):
        raise FormMistakes({"mass": "error.mass_number"})
    try:
        value = Decimal(text.replace(",", "."))
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise FormMistakes({"mass": "error.mass_number"}) from exc
    grams = value * GRAMS_PER_UNIT[unit]
    if grams <= 0:
        raise FormMistakes({"mass": "error.mass_positive"})
    if grams != grams.to_integral_value():
        raise FormMistakes({"mass": "error.mass_grams"})
    return int(grams)


def parse_delivery(fields: dict[str, str]) -> DeliveryForm:
    """A delivery from the form's fields (`lot`, `miner_site` as ``miner|site``, `mass`,
    `unit`, `mined_on`, `notes`), or FormMistakes naming every field at fault."""
    mistakes: dict[str, str] = {}
    lot = fields.get("lot", "").strip()
    if not lot:
        mistakes["lot"] = "error.required"
    miner, _, site = fields.get("miner_site", "").partition("|")
    if not miner or not site:
        mistakes["miner_site"] = "error.miner_site"
    mass_g = 0
    try:
        mass_g = parse_mass(fields.get("mass", ""), fields.get("unit", ""))
    except FormMistakes as exc:
        mistakes.update(exc.mistakes)
    mined_on = fields.get("mined_on", "").strip()
    if not mined_on:
        mistakes["mined_on"] = "error.required"
    else:
        try:
            date.fromisoformat(mined_on)
        except ValueError:
            mistakes["mined_on"] = "error.date"
    notes = fields.get("notes", "").strip()[:MAX_NOTES_CHARS] or None
    if mistakes:
        raise FormMistakes(mistakes)
    return DeliveryForm(lot, miner, site, mass_g, mined_on, notes)


def form_key() -> str:
    """A fresh key for one rendering of a form: sent back with it, it becomes the event's
    Idempotency-Key, so a double submit records once."""
    return "console-" + secrets.token_hex(16)


def new_lot_id(day: date) -> str:
    """A new ore lot id for a delivery on `day`, unique without asking the database:
    ``ORE-<yyyymmdd>-<8 hex>`` (the bag's own tag may replace it)."""
    return f"ORE-{day:%Y%m%d}-{secrets.token_hex(4).upper()}"
