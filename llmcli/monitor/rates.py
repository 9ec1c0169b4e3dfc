"""Two snapshots → what the server did between them: gauges now, counter rates, histogram statistics.

Rates and latency statistics cover the interval between the two scrapes, never the time since the
server started: a counter's delta over the interval's length (a counter that went down was reset by
a restart, and counts from zero, as Prometheus' rate() assumes), and histogram quantiles interpolated
from the bucket deltas, as Prometheus' histogram_quantile does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .prom import Histogram, Snapshot, sample_type
from .servers import QUANTITIES, ServerMetrics, Source, recognise


def counter_delta(now: float | None, before: float | None) -> float | None:
    if now is None:
        return None
    if before is None or now < before:  # new, or reset by a restart: it counted up from zero
        return now
    return now - before


@dataclass(slots=True)
class Quantity:
    key: str
    label: str
    kind: str  # gauge / counter / histogram / absent
    metric: str | None = None  # the metric it was read from
    value: float | None = None  # gauge value; counter: rate per second
    delta: float | None = None  # counter: increase over the interval
    mean: float | None = None  # histogram statistics over the interval
    p50: float | None = None
    p99: float | None = None
    count: float | None = None  # histogram: observations in the interval

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metric": self.metric, "kind": self.kind}
        if self.kind == "gauge":
            out["value"] = _r(self.value)
        elif self.kind == "counter":
            out.update(per_s=_r(self.value), delta=_r(self.delta))
        elif self.kind == "histogram":
            out.update(mean=_r(self.mean), p50=_r(self.p50), p99=_r(self.p99), count=_r(self.count))
        return out


@dataclass(slots=True)
class GenericMetric:
    """A metric of a server llmcli does not know: shown as it is, with a rate for counters."""

    name: str
    kind: str
    value: float | None
    per_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "value": _r(self.value), "per_s": _r(self.per_s)}


@dataclass(slots=True)
class View:
    server: str | None
    interval_s: float | None  # None: one scrape only, no rates yet
    quantities: dict[str, Quantity] = field(default_factory=dict)
    generic: list[GenericMetric] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "server": self.server,
            "interval_s": _r(self.interval_s),
            # rates and latency statistics cover the interval between two scrapes, not server uptime
            "window": "interval",
        }
        if self.server is not None:
            out["quantities"] = {k: q.to_dict() for k, q in self.quantities.items()}
        else:
            out["metrics"] = [m.to_dict() for m in self.generic]
        return out


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 6)


def _first(snap: Snapshot, src: Source) -> str | None:
    for name in src.names:
        if src.kind == "histogram":
            if snap.has(name + "_bucket"):
                return name
        elif snap.has(name):
            return name
    return None


def _quantity(
    key: str, spec: ServerMetrics, now: Snapshot, before: Snapshot | None, dt: float | None
) -> Quantity:
    q = Quantity(key, QUANTITIES[key], "absent")
    src: Source | None = spec.quantities.get(key)
    while src is not None and _first(now, src) is None:
        src = src.fallback
    if src is None:
        return q
    name = _first(now, src)
    q.kind, q.metric = src.kind, name
    assert name is not None
    if src.kind == "gauge":
        q.value = now.value(name, src.how)
    elif src.kind == "counter":
        if before is not None and dt:
            q.delta = counter_delta(now.value(name), before.value(name))
            q.value = q.delta / dt if q.delta is not None else None
    else:
        h_now = now.histogram(name)
        if before is not None and h_now is not None:
            _histogram_stats(q, h_now.minus(before.histogram(name)))
    return q


def _histogram_stats(q: Quantity, h: Histogram) -> None:
    q.count = h.count
    q.mean = h.mean
    q.p50 = h.quantile(0.5)
    q.p99 = h.quantile(0.99)


def compute(now: Snapshot, before: Snapshot | None = None) -> View:
    """What the server is doing: `before` is the previous scrape (None for the first one)."""
    dt = (now.at - before.at) if before is not None else None
    if dt is not None and dt <= 0:
        dt = None
    spec = recognise(now.names())
    if spec is None:
        return View(None, dt, generic=_generic(now, before, dt))
    view = View(spec.server, dt)
    for key in QUANTITIES:
        view.quantities[key] = _quantity(key, spec, now, before, dt)
    return view


def _generic(now: Snapshot, before: Snapshot | None, dt: float | None) -> list[GenericMetric]:
    out = []
    for name in now.names():
        kind = sample_type(now, name)
        if name.endswith(("_bucket", "_created")) or kind in ("info", "stateset"):
            continue
        value = now.value(name)
        per_s = None
        counting = kind == "counter" or (
            kind in ("histogram", "summary") and name.endswith(("_sum", "_count"))
        )
        if counting and before is not None and dt:
            delta = counter_delta(value, before.value(name))
            per_s = delta / dt if delta is not None else None
        out.append(GenericMetric(name, kind, value, per_s))
    return out
