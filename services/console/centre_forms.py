"""Reading the processing centre's later forms (a processing run, an offer, a case's
answer): text fields in, an event body or the fields at fault (glossary keys) out.

Masses go through `forms.parse_mass` (Decimal, exact, the Mongolian and English decimal
marks): ore used in kg to whole grams, gold out in g or kg to whole milligrams (a gram of
gold is to `parse_mass` what a kilogram of ore is: a thousand of the unit recorded).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final

from services.console.forms import MAX_NOTES_CHARS, FormMistakes, parse_mass

__all__ = [
    "GOLD_UNITS",
    "METHODS",
    "OUTPUT_ROWS",
    "RunForm",
    "kg_text",
    "new_id",
    "parse_answer",
    "parse_gold_mg",
    "parse_run",
]

METHODS: Final = ("gravity", "flotation", "cyanidation", "amalgamation", "other")
GOLD_FORMS: Final = ("dore", "concentrate")
GOLD_UNITS: Final[dict[str, str]] = {"g": "kg", "kg": "t"}
"""A gold unit and the ore unit `parse_mass` reads the same way (g of gold -> mg as kg of
ore -> g)."""
OUTPUT_ROWS: Final = 3
"""How many gold outputs the form offers (a run gives one doré bar, at times a concentrate
as well); more are recorded through the API."""


@dataclass(frozen=True)
class RunForm:
    """A processing run as the form states it, ready to become a `processing.recorded`."""

    run: str
    inputs: tuple[tuple[str, int], ...]  # (lot, grams)
    outputs: tuple[tuple[str, str, int], ...]  # (lot, form, milligrams)
    method: str
    mercury_free: bool
    started_on: str
    finished_on: str
    output_rows: tuple[int, ...] = ()  # the form's row of each output

    def body(self, occurred_at: str) -> dict[str, object]:
        """The event body (`schemas.events.ProcessingRecorded`)."""
        return {
            "occurred_at": occurred_at,
            "run": self.run,
            "inputs": [{"lot": lot, "mass_g": grams} for lot, grams in self.inputs],
            "outputs": [
                {"lot": lot, "form": form, "mass_mg": mg} for lot, form, mg in self.outputs
            ],
            "method": self.method,
            "mercury_free": self.mercury_free,
            "started_on": self.started_on,
            "finished_on": self.finished_on,
        }


def parse_gold_mg(amount: str, unit: str) -> int:
    """Exact whole milligrams of `amount` `unit` (g or kg) of gold; FormMistakes with the
    keys `mass`/`unit` otherwise."""
    if unit not in GOLD_UNITS:
        raise FormMistakes({"unit": "error.gold_unit"})
    try:
        return parse_mass(amount, GOLD_UNITS[unit])
    except FormMistakes as exc:
        said = {
            k: ("error.mass_mg" if v == "error.mass_grams" else v) for k, v in exc.mistakes.items()
        }
        raise FormMistakes(said) from exc


def _day(fields: dict[str, str], name: str, mistakes: dict[str, str]) -> str:
    value = fields.get(name, "").strip()
    if not value:
        mistakes[name] = "error.required"
        return value
    try:
        date.fromisoformat(value)
    except ValueError:
        mistakes[name] = "error.date"
    return value


def parse_run(pairs: list[tuple[str, str]]) -> RunForm:
    """A run from the form's fields: `use` (repeated: the ore lots ticked), `used.<lot>`
    (kg of that lot used; the form fills in all that is left, so that the same form sent
    twice states the same run), `out_lot_<n>`,
    `out_form_<n>`, `out_mass_<n>`, `out_unit_<n>` (n < OUTPUT_ROWS; a row without a lot
    and a mass is skipped), `method`, `mercury_free`, `started_on`, `finished_on`, `run`.
    Raises FormMistakes naming every field at fault."""
    fields = dict(pairs)
    mistakes: dict[str, str] = {}
    run = fields.get("run", "").strip()
    if not run:
        mistakes["run"] = "error.required"
    inputs: list[tuple[str, int]] = []
    ticked = list(dict.fromkeys(v for k, v in pairs if k == "use"))
    for lot in ticked:
        amount = fields.get(f"used.{lot}", "").strip()
        if not amount:
            mistakes[f"used.{lot}"] = "error.required"
            continue
        try:
            inputs.append((lot, parse_mass(amount, "kg")))
        except FormMistakes as exc:
            mistakes[f"used.{lot}"] = next(iter(exc.mistakes.values()))
    if not ticked:
        mistakes["inputs"] = "error.inputs_required"
    outputs: list[tuple[str, str, int]] = []
    rows: list[int] = []
    for n in range(OUTPUT_ROWS):
        lot = fields.get(f"out_lot_{n}", "").strip()
        amount = fields.get(f"out_mass_{n}", "").strip()
        if not lot and not amount:
            continue
        if not lot:
            mistakes[f"out_lot_{n}"] = "error.required"
        form = fields.get(f"out_form_{n}", "")
        if form not in GOLD_FORMS:
            mistakes[f"out_form_{n}"] = "error.gold_form"
        try:
            mg = parse_gold_mg(amount, fields.get(f"out_unit_{n}", ""))
        except FormMistakes as exc:
            for key, said in exc.mistakes.items():
                mistakes.setdefault(f"out_{key}_{n}", said)
            mg = 0
        outputs.append((lot, form, mg))
        rows.append(n)
    if not outputs and "out_lot_0" not in mistakes:
        mistakes["out_lot_0"] = "error.outputs_required"
    method = fields.get("method", "")
    if method not in METHODS:
        mistakes["method"] = "error.run_method"
    started_on = _day(fields, "started_on", mistakes)
    finished_on = _day(fields, "finished_on", mistakes)
    if mistakes:
        raise FormMistakes(mistakes)
    return RunForm(
        run,
        tuple(inputs),
        tuple(outputs),
        method,
        fields.get("mercury_free") == "yes",
        started_on,
        finished_on,
        tuple(rows),
    )


def kg_text(grams: int) -> str:
    """Grams as the kg a form field is filled with (a point, never a comma: ``1.234``, which
    `parse_mass` reads back exactly, where ``1,234`` is refused as ambiguous)."""
    number = f"{Decimal(grams) / 1000:f}"
    return number.rstrip("0").rstrip(".") if "." in number else number


def parse_answer(fields: dict[str, str]) -> str:
    """A case's answer: the text, required, at most `MAX_NOTES_CHARS`."""
    answer = fields.get("response", "").strip()
    if not answer:
        raise FormMistakes({"response": "error.required"})
    if len(answer) > MAX_NOTES_CHARS:
        raise FormMistakes({"response": "error.too_long"})
    return answer


def new_id(prefix: str, day: date) -> str:
    """A new object id (run, gold lot, offer) made at the counter, unique without asking the
    database: ``<PREFIX>-<yyyymmdd>-<8 hex>``."""
    return f"{prefix}-{day:%Y%m%d}-{secrets.token_hex(4).upper()}"
