"""Distribution summaries with true quantiles. Standard library only."""

from __future__ import annotations

import math
from collections.abc import Sequence

QUANTILE_METHOD = (
    "linear interpolation between order statistics (Hyndman & Fan type 7, numpy's default): "
    "the q-quantile of n sorted values is at position (n-1)q"
)
POINTS = (("min", 0.0), ("p10", 0.1), ("median", 0.5), ("p90", 0.9), ("max", 1.0))


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (0 ≤ q ≤ 1) of already sorted values, Hyndman & Fan definition 7."""
    if not sorted_values:
        raise ValueError("no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError("q must be within [0, 1]")
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def summary(values: Sequence[float]) -> dict[str, float] | None:
    """min, p10, median, p90, max (None for no values); whole numbers stay whole."""
    if not values:
        return None
    ordered = sorted(values)
    out: dict[str, float] = {}
    for name, q in POINTS:
        value = quantile(ordered, q)
        out[name] = int(value) if float(value).is_integer() else round(value, 2)
    return out
