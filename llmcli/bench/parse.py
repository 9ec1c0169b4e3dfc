"""The small languages of `bench`'s options: durations, SLOs, comma lists, percentiles."""

from __future__ import annotations

import math
import re

from ..errors import UsageError

_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$", re.I)
SLO_METRICS = ("ttft", "tpot", "e2el")


def duration(text: str, *, option: str = "--duration", bare: str = "s") -> float:
    """'60s', '2m', '500ms', '1h', '1.5' (a bare number is in `bare` units) → seconds."""
    m = _DURATION.match(text)
    unit = (m.group(2).lower() or bare) if m else ""
    if not m or unit not in _UNITS:
        raise UsageError(f"{option}: {text!r} is not a duration", hint="write it like 500ms, 30s, 2m or 1h")
    seconds = float(m.group(1)) * _UNITS[unit]
    if not seconds > 0:
        raise UsageError(f"{option} must be longer than 0, not {text!r}")
    return seconds


def slo(text: str) -> dict[str, float]:
    """'ttft=500ms,tpot=50ms,e2el=5s' → seconds per metric. A bare number is milliseconds (vLLM's
    --goodput unit); `:` works as well as `=`."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.replace(":", "=", 1).partition("=")
        name = name.strip().lower()
        if not sep or name not in SLO_METRICS:
            raise UsageError(
                f"--slo: {part!r} is not METRIC=TIME",
                hint="metrics: ttft, tpot, e2el; for example --slo ttft=500ms,tpot=50ms,e2el=5s",
            )
        out[name] = duration(value, option=f"--slo {name}", bare="ms")
    if not out:
        raise UsageError("--slo needs at least one target", hint="for example --slo ttft=500ms")
    return out


def int_list(text: str, option: str) -> list[int]:
    values = []
    for part in _parts(text, option):
        try:
            value = int(part)
        except ValueError:
            raise UsageError(
                f"{option}: {part!r} is not a whole number", hint=f"for example {option} 1,4,16"
            ) from None
        if value < 1:
            raise UsageError(f"{option} must be at least 1, not {value}")
        values.append(value)
    return values


def rate_list(text: str, option: str = "--rate") -> list[float]:
    values = []
    for part in _parts(text, option):
        try:
            value = float(part)
        except ValueError:
            raise UsageError(
                f"{option}: {part!r} is not a number", hint=f"for example {option} 1,2,4 or inf"
            ) from None
        if not value > 0 or math.isnan(value):
            raise UsageError(f"{option} must be above 0, not {part}")
        values.append(value)
    return values


def percentiles(text: str) -> list[float]:
    values = []
    for part in _parts(text, "--percentiles"):
        try:
            value = float(part.lstrip("pP"))
        except ValueError:
            raise UsageError(
                f"--percentiles: {part!r} is not a number", hint="for example --percentiles 50,90,99"
            ) from None
        if not 0 < value < 100:
            raise UsageError(f"--percentiles: {part} is not between 0 and 100")
        values.append(value)
    return sorted(set(values))


def _parts(text: str, option: str) -> list[str]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise UsageError(f"{option} needs a value")
    return parts


def fraction(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(
            f"{option}: {text!r} is not a number", hint=f"a fraction, for example {option} 0.05"
        ) from None
    if not 0 <= value <= 1:
        raise UsageError(f"{option} is a fraction between 0 and 1, not {text}")
    return value


def percentile_key(p: float) -> str:
    """vLLM's spelling: 99 → 'p99', 99.9 → 'p99.9'."""
    return f"p{int(p)}" if p == int(p) else f"p{p:g}"
