"""Prometheus exposition text → a Snapshot of samples, parsed by prometheus_client (imported lazily).

A snapshot sums a metric's samples over their label sets (several models or engines behind one
server add up), except where the caller asks for a mean (a cache usage fraction per engine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


class MetricsFormatError(ValueError):
    """The body is not Prometheus exposition text."""


@dataclass(slots=True)
class Histogram:
    """Cumulative bucket counts by upper bound (+Inf included), with the sum and count of observations."""

    buckets: dict[float, float]
    sum: float
    count: float

    def minus(self, earlier: Histogram | None) -> Histogram:
        """What was observed since `earlier`; a server restart (any count going down) starts from zero."""
        if earlier is None:
            return self
        reset = self.count < earlier.count or any(
            self.buckets.get(le, 0.0) < n for le, n in earlier.buckets.items()
        )
        if reset:
            return self
        return Histogram(
            {le: n - earlier.buckets.get(le, 0.0) for le, n in self.buckets.items()},
            self.sum - earlier.sum,
            self.count - earlier.count,
        )

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count > 0 else None

    def quantile(self, q: float) -> float | None:
        """As Prometheus' histogram_quantile: find the bucket holding rank q·count and interpolate
        linearly inside it; the lower bound of the first bucket is 0 (when its upper bound is
        positive), and a rank in the +Inf bucket gives the highest finite upper bound."""
        bounds = sorted(self.buckets)
        if not bounds or not math.isinf(bounds[-1]):
            return None
        total = self.buckets[bounds[-1]]
        if total <= 0:
            return None
        rank = q * total
        prev_bound, prev_count = 0.0, 0.0
        for i, le in enumerate(bounds):
            count = self.buckets[le]
            if count >= rank:
                if math.isinf(le):
                    return bounds[-2] if len(bounds) > 1 else None
                if i == 0 and le <= 0:
                    return le
                lower = prev_bound if i > 0 else 0.0
                if count == prev_count:
                    return le
                return lower + (le - lower) * (rank - prev_count) / (count - prev_count)
            prev_bound, prev_count = le, count
        return None


@dataclass(slots=True)
class Snapshot:
    """One scrape: when it was taken (a monotonic clock) and every sample by its name."""

    at: float
    types: dict[str, str] = field(default_factory=dict)  # family name → counter/gauge/histogram/...
    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.samples

    def value(self, name: str, how: str = "sum") -> float | None:
        found = [v for _, v in self.samples.get(name, ()) if not math.isnan(v)]
        if not found:
            return None
        if how == "mean":
            return sum(found) / len(found)
        if how == "max":
            return max(found)
        return sum(found)

    def histogram(self, family: str) -> Histogram | None:
        buckets: dict[float, float] = {}
        for labels, value in self.samples.get(family + "_bucket", ()):
            try:
                le = float(labels.get("le", "nan"))
            except ValueError:
                continue
            if not math.isnan(le):
                buckets[le] = buckets.get(le, 0.0) + value
        if not buckets:
            return None
        total = self.value(family + "_count")
        return Histogram(buckets, self.value(family + "_sum") or 0.0, total if total is not None else 0.0)

    def names(self) -> list[str]:
        return sorted(self.samples)


def parse(text: str, at: float) -> Snapshot:
    """Parse exposition text. prometheus_client costs ~50 ms to import: only `top` pays it."""
    from prometheus_client.parser import text_string_to_metric_families

    snap = Snapshot(at)
    try:
        for family in text_string_to_metric_families(text):
            snap.types[family.name] = family.type
            for sample in family.samples:
                snap.samples.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    except (ValueError, TypeError, IndexError) as exc:
        raise MetricsFormatError(str(exc) or type(exc).__name__) from None
    return snap


def sample_type(snap: Snapshot, name: str) -> str:
    """The family type of a sample name (`x_total` of counter `x`, `x_sum` of histogram `x`, ...)."""
    if name in snap.types:
        return snap.types[name]
    for suffix in ("_total", "_created", "_sum", "_count", "_bucket"):
        if name.endswith(suffix) and name[: -len(suffix)] in snap.types:
            return snap.types[name[: -len(suffix)]]
    return "untyped"
