"""Validation of an OpenAI batch JSONL file, line by line, with line numbers.

Each line: one JSON object `{"custom_id", "method", "url", "body"}` — `custom_id` a non-empty string,
unique in the file; `method` "POST"; `url` one of URLS; `body` an object with a `model` (and the field
its endpoint needs: `messages`, `prompt` or `input`). `provider_limits` adds what the provider's Batch
API enforces on a file as a whole (request count, size, one model, one endpoint).

Memory stays small for any file size: lines are streamed, and `custom_id`s are remembered as 64-bit
hashes in a compact table (ids.py: about 16 MB for a million lines).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from .ids import IdSet
from .reader import Line, Source

URLS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
REQUEST_KEYS = ("custom_id", "method", "url", "body")
# What each endpoint's body must carry besides `model`.
BODY_NEEDS = {"/v1/chat/completions": "messages", "/v1/completions": "prompt", "/v1/embeddings": "input"}

# The provider Batch API's limits on one input file (OpenAI's published limits).
MAX_REQUESTS = 50_000
MAX_BYTES = 200 * 1024 * 1024
MAX_EMBEDDING_INPUTS = 50_000

SHOWN = 20  # problems listed before "... and N more"


@dataclass(slots=True)
class Problem:
    line: int  # 0 = the file as a whole
    message: str


@dataclass(slots=True)
class Checked:
    """One line, checked: the request when it is valid, else the problems found."""

    line: int
    request: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)


class Validator:
    """Checks lines one after another; remembers what uniqueness and the whole-file limits need."""

    def __init__(self, urls: Iterable[str] = URLS):
        self.urls_allowed = tuple(urls)
        self._ids = IdSet()
        self.requests = 0  # valid ones
        self.models: dict[str, int] = {}  # model → first line using it
        self.urls: dict[str, int] = {}  # url → first line using it
        self.embedding_inputs = 0

    def claim_id(self, custom_id: str) -> bool:
        """Record a custom_id; False when it was seen before."""
        return self._ids.add(custom_id)

    def check(self, line: Line) -> Checked:
        if line.text is None or (line.problem and line.number == 1):
            return Checked(line.number, None, [line.problem or "unreadable line"])
        text = line.text
        if not text.strip():
            return Checked(line.number, None, ["empty line (every line must be one request)"])
        try:
            obj = json.loads(text)
        except ValueError as exc:
            return Checked(line.number, None, [f"not JSON: {exc}"])
        return self.check_request(line.number, obj)

    def check_request(self, number: int, obj: Any) -> Checked:
        if not isinstance(obj, dict):
            return Checked(number, None, [f"a request must be a JSON object, not {kind_of(obj)}"])
        problems: list[str] = []
        for key in obj:
            if key not in REQUEST_KEYS:
                problems.append(f"unknown key {key!r} (a request has custom_id, method, url, body)")
        custom_id = obj.get("custom_id")
        if "custom_id" not in obj:
            problems.append("custom_id is missing")
        elif not isinstance(custom_id, str) or not custom_id:
            problems.append(f"custom_id must be a non-empty string, not {kind_of(custom_id)}")
        elif not self.claim_id(custom_id):
            problems.append(f"custom_id {custom_id!r} is used by an earlier line (custom_ids must be unique)")
        method = obj.get("method")
        if method != "POST":
            problems.append(
                'method is missing (it must be "POST")'
                if method is None
                else f'method must be "POST", not {method!r}'
            )
        url = obj.get("url")
        if url is None:
            problems.append(f"url is missing (one of {', '.join(self.urls_allowed)})")
        elif url not in self.urls_allowed:
            problems.append(f"url {url!r} is not one of {', '.join(self.urls_allowed)}")
        body = obj.get("body")
        if body is None:
            problems.append("body is missing")
        elif not isinstance(body, dict):
            problems.append(f"body must be a JSON object, not {kind_of(body)}")
        else:
            model = body.get("model")
            if not isinstance(model, str) or not model:
                problems.append(
                    "body.model is missing" if model is None else "body.model must be a non-empty string"
                )
            need = BODY_NEEDS.get(url) if isinstance(url, str) else None
            if need and need not in body:
                problems.append(f"body.{need} is missing (a {url} request needs it)")
            elif need == "messages" and not isinstance(body.get("messages"), list):
                problems.append("body.messages must be a list of messages")
        if problems:
            return Checked(number, None, problems)
        self.requests += 1
        self.models.setdefault(body["model"], number)
        self.urls.setdefault(url, number)
        if url == "/v1/embeddings":
            inputs = body.get("input")
            self.embedding_inputs += len(inputs) if isinstance(inputs, list) else 1
        return Checked(number, obj)


def kind_of(value: Any) -> str:
    """A JSON value's kind in words, for messages: 'a string', 'a list', 'null'..."""
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


@dataclass(slots=True)
class Report:
    label: str
    lines: int = 0
    requests: int = 0
    size: int = 0
    problems: list[Problem] = field(default_factory=list)  # the first `keep` of them
    problem_lines: int = 0  # lines with at least one problem
    models: dict[str, int] = field(default_factory=dict)
    urls: dict[str, int] = field(default_factory=dict)
    embedding_inputs: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_lines == 0 and not self.problems

    def add(self, line: int, messages: Iterable[str], keep: int) -> None:
        for message in messages:
            if len(self.problems) < keep:
                self.problems.append(Problem(line, message))


def scan(source: Source, validator: Validator | None = None) -> Iterator[Checked]:
    """Every line of `source`, checked (one pass; blank last lines included as problems)."""
    validator = validator or Validator()
    for line in source.lines():
        yield validator.check(line)


def validate(source: Source, *, urls: Iterable[str] = URLS, keep: int = 1000) -> Report:
    """One streaming pass over a batch file."""
    validator = Validator(urls)
    report = Report(source.label, size=source.size)
    for checked in scan(source, validator):
        report.lines += 1
        if checked.problems:
            report.problem_lines += 1
            report.add(checked.line, checked.problems, keep)
    report.requests = validator.requests
    report.models = validator.models
    report.urls = validator.urls
    report.embedding_inputs = validator.embedding_inputs
    if report.lines == 0:
        report.problems.append(Problem(0, "the file is empty: no requests"))
    return report


def provider_limits(report: Report, *, endpoint: str | None) -> list[Problem]:
    """What the provider's Batch API refuses in a file that is valid line by line."""
    out: list[Problem] = []
    if report.requests > MAX_REQUESTS:
        out.append(
            Problem(
                0,
                f"{report.requests:,} requests; the Batch API takes at most {MAX_REQUESTS:,} per file (split the file)",
            )
        )
    if report.size > MAX_BYTES:
        out.append(
            Problem(
                0,
                f"{report.size / 1048576:,.1f} MB; the Batch API takes files of at most 200 MB (split the file)",
            )
        )
    if len(report.models) > 1:
        listed = ", ".join(f"{m!r} (first on line {n})" for m, n in list(report.models.items())[:4])
        out.append(Problem(0, f"more than one model: {listed}; the Batch API wants one model per file"))
    if len(report.urls) > 1:
        listed = ", ".join(f"{u} (first on line {n})" for u, n in report.urls.items())
        out.append(Problem(0, f"more than one url: {listed}; the Batch API wants one endpoint per file"))
    elif endpoint is not None and report.urls and endpoint not in report.urls:
        url, line = next(iter(report.urls.items()))
        out.append(Problem(line, f"url {url} does not match --endpoint {endpoint}"))
    if report.embedding_inputs > MAX_EMBEDDING_INPUTS:
        out.append(
            Problem(
                0,
                f"{report.embedding_inputs:,} embedding inputs; the Batch API takes at most {MAX_EMBEDDING_INPUTS:,} per file",
            )
        )
    return out


def describe(label: str, problems: list[Problem], total_lines: int, *, shown: int = SHOWN) -> list[str]:
    """`FILE:LINE: message` lines (compiler style) for the first problems, then how many more."""
    out = [f"{label}:{p.line}: {p.message}" if p.line else f"{label}: {p.message}" for p in problems[:shown]]
    if len(problems) > shown:
        out.append(f"... and {len(problems) - shown} more problems")
    return out


def invalid_input(label: str, problem_lines: int, *, sent: str = "nothing was sent") -> UsageError:
    what = (
        f"{problem_lines} invalid line{'s' if problem_lines != 1 else ''}" if problem_lines else "not usable"
    )
    return UsageError(f"{label}: {what}; {sent}", hint="fix the lines listed above and try again")
