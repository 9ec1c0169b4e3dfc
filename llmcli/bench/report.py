"""Report shapes: the JSON document (vLLM's field names), CSV, and the per-request JSONL log."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .. import __version__
from ..errors import OutputError, UsageError
from ..load.types import RequestRecord
from .metrics import DEFINITIONS
from .runner import BenchPlan, BenchResult


def public_url(url: str) -> str:
    """The base URL without credentials, query or fragment: safe to print and save."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _num(value: Any) -> Any:
    """JSON has no inf/nan: those become null (strict JSON, as every consumer expects)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def document(
    result: BenchResult,
    plan: BenchPlan,
    *,
    base_url: str,
    profile: str,
    timeout: float,
) -> dict[str, Any]:
    first = plan.stages[0].shape if plan.stages else None
    open_loop = first is not None and first.rate is not None
    stages = []
    for n, sr in enumerate(result.stages, 1):
        shape = sr.stage.shape
        stats = sr.summary.stats if sr.summary is not None else None
        entry: dict[str, Any] = {
            "stage": n,
            "label": sr.stage.label,
            "max_concurrency": shape.concurrency,
            "request_rate": _num(shape.rate) if shape.rate is not None else None,
            "burstiness": shape.burstiness if shape.rate is not None else None,
            "num_prompts": stats.measured_launched if stats is not None else 0,
            "interrupted": sr.interrupted,
        }
        entry.update({k: _num(v) for k, v in sr.metrics.items()})
        stages.append(entry)
    template = plan.template
    request = {
        "output_len": template.output_len,
        "ignore_eos": template.ignore_eos,
        "system_prompt": bool(template.system),
        "params": {**template.params, **template.extra},
    }
    return {
        "llmcli_version": __version__,
        "date": result.started_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "backend": "openai-chat",
        "base_url": public_url(base_url),
        "model_id": template.model,
        "profile": profile,
        "load": {
            "mode": "open" if open_loop else "closed",
            "latency_origin": "due" if open_loop else "start",
            "concurrency": [s.shape.concurrency for s in plan.stages],
            "request_rate": [_num(s.shape.rate) for s in plan.stages] if open_loop else None,
            "burstiness": first.burstiness if open_loop and first is not None else None,
            "requests": plan.stop.requests,
            "duration_s": plan.stop.duration,
            "warmup": plan.stop.warmup,
            "retries": plan.retries,
            "timeout_s": timeout,
        },
        "request": request,
        "dataset": plan.dataset.describe(),
        "percentiles": plan.percentiles,
        "slo_ms": {k: v * 1000 for k, v in plan.slo.items()} if plan.slo else None,
        "interrupted": result.interrupted_by is not None,
        "definitions": DEFINITIONS,
        "stages": stages,
    }


def to_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def to_csv(doc: dict[str, Any]) -> str:
    """One row per stage: the scalar figures, and errors as `kind:count` pairs."""
    rows = []
    columns: list[str] = []
    for stage in doc["stages"]:
        row = {}
        for key, value in stage.items():
            if key == "errors":
                value = ";".join(f"{kind}:{e['count']}" for kind, e in value.items())
            elif isinstance(value, dict | list):
                continue
            row[key] = value
            if key not in columns:
                columns.append(key)
        rows.append(row)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


def distribution_samples(result: BenchResult) -> dict[str, list[float]]:
    """TTFT and E2EL of every completed request of the first stage, in ms: what a single stage's charts
    show."""
    if not result.stages:
        return {}
    done = [r for r in result.stages[0].records if r.ok and not r.warmup]
    return {
        "TTFT": [r.ttft * 1000 for r in done if r.ttft is not None],
        "E2EL": [r.e2el * 1000 for r in done if r.e2el is not None],
    }


# -- files -----------------------------------------------------------------------------------------


def check_new(path: str, *, force: bool, option: str) -> Path:
    """Refuse, before any request is sent, to overwrite a file without --force."""
    p = Path(path).expanduser()
    if p.exists() and not force:
        raise UsageError(f"{option}: {path} already exists", hint="choose another name, or add --force")
    if p.is_dir():
        raise UsageError(f"{option}: {path} is a folder")
    if not p.parent.is_dir():
        raise UsageError(f"{option}: the folder {p.parent} does not exist")
    return p


def save_document(path: Path, data: str | bytes) -> None:
    """A report file (JSON, PNG, HTML), atomically: 0600 temp file beside it, fsync, rename."""
    from ..core.settings import atomic_write

    try:
        atomic_write(path, data)
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: {exc.strerror or exc}", hint="check the path and free space"
        ) from None


class RequestLog:
    """--save-requests: one JSON line per request, written and flushed as it ends (0600, complete lines).
    The answer's text goes into its line and is then dropped from memory."""

    def __init__(self, path: Path, *, force: bool):
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            raise UsageError(f"--save-requests: {path} already exists", hint="add --force") from None
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror}") from None
        self.path = path
        self._fh = os.fdopen(fd, "w", encoding="utf-8")

    def write(self, stage: int, rec: RequestRecord) -> None:
        try:
            self._fh.write(json.dumps(request_line(stage, rec), ensure_ascii=False) + "\n")
            self._fh.flush()
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror}") from None
        rec.text = None

    def close(self) -> None:
        try:
            self._fh.close()
        except OSError:
            pass


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def request_line(stage: int, rec: RequestRecord) -> dict[str, Any]:
    return {
        "stage": stage,
        "index": rec.index,
        "warmup": rec.warmup,
        "due_s": _r(rec.due),
        "sent_s": _r(rec.sent),
        "wait_s": _r(rec.wait),
        "ttft_s": _r(rec.ttft),
        "e2el_s": _r(rec.e2el),
        "input_tokens": rec.prompt_tokens,
        "output_tokens": rec.output_tokens,
        "usage_estimated": rec.usage_estimated,
        "chunks": rec.chunks,
        "status": "cancelled" if rec.cancelled else ("ok" if rec.ok else "error"),
        "http_status": rec.status,
        "finish_reason": rec.finish_reason,
        "attempts": rec.attempts,
        "error_kind": rec.kind,
        "error": rec.error.message if rec.error is not None else None,
        "text": rec.text,
    }


__all__ = ["document", "to_json", "to_csv", "RequestLog", "check_new", "save_document"]
