"""What `batch run` sends: the input checked in one pass before anything is sent, then read again, lazily,
as the requests still to do.

The input is a batch JSONL file, or a prompt file (`--prompts`, prompts.py) whose lines become chat
requests. Both passes stream the file: nothing but the custom_id table (ids.py) grows with its size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..load.types import LoadRequest
from .ids import IdSet
from .prompts import CHAT_URL, RequestShape, prompt_requests
from .reader import Source
from .validate import URLS, Checked, Problem, Validator

KEEP = 1000  # problems kept for the listing (the first 20 are shown)


def run_problem(request: dict) -> str | None:
    """What the Batch API format allows but a local run cannot do."""
    body = request.get("body")
    if isinstance(body, dict) and body.get("stream") is True:
        return "body.stream is true; batch run writes each answer whole (drop stream, or set it to false)"
    return None


def api_path(url: str) -> str:
    """`/v1/chat/completions` → `chat/completions`, relative to the base URL (which ends in /v1, or its
    equivalent: the Batch API's urls are relative to the API root)."""
    return url.removeprefix("/v1/").lstrip("/")


@dataclass
class InputCheck:
    lines: int = 0
    requests: int = 0  # valid requests
    done: int = 0  # of them, the ones whose custom_id already has a success line
    problems: list[Problem] = field(default_factory=list)  # the first KEEP
    problem_lines: int = 0
    skip: set[int] = field(default_factory=set)  # line numbers of invalid lines (--skip-invalid)

    @property
    def todo(self) -> int:
        return self.requests - self.done


class _Unclaimed(Validator):
    """The second pass: uniqueness was checked by the first (a repeated id's line is in `skip`)."""

    def claim_id(self, custom_id: str) -> bool:
        return True


def _checked(src: Source, shape: RequestShape | None, validator: Validator) -> Iterator[Checked]:
    if shape is not None:
        yield from prompt_requests(src, shape, validator=validator)
        return
    for line in src.lines():
        yield validator.check(line)


def check_input(src: Source, shape: RequestShape | None, done: IdSet) -> InputCheck:
    """One streaming pass: every line checked (with line numbers), the requests counted, and how many of
    them are done already."""
    report = InputCheck()
    resuming = len(done) > 0
    validator = Validator((CHAT_URL,) if shape is not None else URLS)
    for checked in _checked(src, shape, validator):
        report.lines += 1
        problems = checked.problems
        if checked.request is not None:
            extra = run_problem(checked.request)
            if extra is None:
                report.requests += 1
                if resuming and checked.request["custom_id"] in done:
                    report.done += 1
                continue
            problems = [extra]
        report.problem_lines += 1
        report.skip.add(checked.line)
        for message in problems:
            if len(report.problems) < KEEP:
                report.problems.append(Problem(checked.line, message))
    if report.lines == 0:
        report.problems.append(Problem(0, "the file is empty: no requests"))
    return report


def pending_requests(
    src: Source, shape: RequestShape | None, done: IdSet, skip: set[int]
) -> Iterator[LoadRequest]:
    """The requests still to do, in file order, each tagged with its custom_id; read as the engine asks
    for them. The lines in `skip` (invalid, from check_input) and the custom_ids in `done` are passed over."""
    resuming = len(done) > 0
    if shape is not None:
        for checked in prompt_requests(src, shape, validator=_Unclaimed((CHAT_URL,))):
            request = checked.request
            if request is None or checked.line in skip or (resuming and request["custom_id"] in done):
                continue
            yield LoadRequest(
                body=request["body"], path=api_path(CHAT_URL), stream=False, tag=request["custom_id"]
            )
        return
    loads = json.loads
    for line in src.lines():
        if line.number in skip or line.text is None:
            continue
        request = loads(line.text)
        custom_id = request["custom_id"]
        if resuming and custom_id in done:
            continue
        yield LoadRequest(body=request["body"], path=api_path(request["url"]), stream=False, tag=custom_id)
