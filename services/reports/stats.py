"""Exact order statistics for recovery figures (Fractions in, Fractions out).

Quartiles use linear interpolation between closest ranks (Hyndman & Fan type 7, the default
of R, NumPy and spreadsheets): the p-quantile of sorted x[0..n-1] is x[h] interpolated at
h = (n - 1)·p. The robust outlier rule is Tukey's "far out" fence: a value is an outlier
when it lies beyond Q3 + 3·IQR or below Q1 - 3·IQR, and only when there are at least
`MIN_FOR_FENCES` values (with fewer the quartiles say nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

FENCE_FACTOR: Final = 3
MIN_FOR_FENCES: Final = 4
QUARTILE_METHOD: Final = "linear interpolation between closest ranks (type 7)"
FENCE_RULE: Final = (
    f"outside [Q1 - {FENCE_FACTOR}·IQR, Q3 + {FENCE_FACTOR}·IQR], with at least "
    f"{MIN_FOR_FENCES} runs"
)


def quantile(ordered: Sequence[Fraction], p: Fraction) -> Fraction:
    """The p-quantile of sorted, non-empty values (type 7)."""
    h = (len(ordered) - 1) * p
    lo = int(h)  # floor: h >= 0
    if lo + 1 >= len(ordered):
        return ordered[-1]
    return ordered[lo] + (h - lo) * (ordered[lo + 1] - ordered[lo])


@dataclass(frozen=True)
class Distribution:
    """Min, quartiles, max and the far-out fences of a set of values."""

    count: int
    minimum: Fraction
    q1: Fraction
    median: Fraction
    q3: Fraction
    maximum: Fraction

    @classmethod
    def of(cls, values: Sequence[Fraction]) -> Distribution | None:
        if not values:
            return None
        ordered = sorted(values)
        return cls(
            count=len(ordered),
            minimum=ordered[0],
            q1=quantile(ordered, Fraction(1, 4)),
            median=quantile(ordered, Fraction(1, 2)),
            q3=quantile(ordered, Fraction(3, 4)),
            maximum=ordered[-1],
        )

    @property
    def fences(self) -> tuple[Fraction, Fraction] | None:
        if self.count < MIN_FOR_FENCES:
            return None
        iqr = self.q3 - self.q1
        return self.q1 - FENCE_FACTOR * iqr, self.q3 + FENCE_FACTOR * iqr

    def outlier(self, value: Fraction) -> bool:
        fences = self.fences
        return fences is not None and not fences[0] <= value <= fences[1]

    def to_json(self) -> dict[str, Any]:
        fences = self.fences
        return {
            "count": self.count,
            "min": number(self.minimum),
            "q1": number(self.q1),
            "median": number(self.median),
            "q3": number(self.q3),
            "max": number(self.maximum),
            "lower_fence": None if fences is None else number(fences[0]),
            "upper_fence": None if fences is None else number(fences[1]),
            "quartile_method": QUARTILE_METHOD,
            "outlier_rule": FENCE_RULE,
        }


def number(value: Fraction, places: int = 3) -> float:
    """An exact value rounded (half even) for people and charts."""
    return float(round(value, places))
