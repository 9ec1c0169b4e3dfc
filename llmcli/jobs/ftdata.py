"""Checks of fine-tuning data (chat format for supervised training, preference pairs for DPO), with line
numbers, warnings, token statistics and the billed-token estimate. No server needed; no heavy imports.

Errors make a file unusable (the provider would reject it, or train on something else than meant);
warnings are worth a look but allowed. Token counts follow the usual chat accounting: each message costs
3 tokens of framing plus its role, content and name (a name 1 more), and every example 3 more for the
reply's priming.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..batch.reader import Line, Source
from ..batch.validate import kind_of as _kind
from .stats import QUANTILE_METHOD, summary
from .tokens import Counter

ROLES = ("system", "user", "assistant", "tool", "function")  # function: older data
MESSAGE_KEYS = ("role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call")
CHAT_KEYS = ("messages", "tools", "functions", "parallel_tool_calls")
DPO_KEYS = ("input", "preferred_output", "non_preferred_output")
DPO_INPUT_KEYS = ("messages", "tools", "parallel_tool_calls")
METHODS = ("supervised", "dpo")

DEFAULT_MAX_TOKENS = 4096  # examples longer than this are truncated by providers
# The common default-epoch rule: aim at 3 passes, but see at least ~100 and at most ~25,000 examples
# in all, within 1-25 epochs.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_EPOCHS, MAX_EPOCHS = 1, 25

KEEP_ERRORS = 1000
KEEP_LINES = 20  # line numbers kept per warning kind

WARNINGS = {
    "no_system_message": "examples without a system message",
    "no_user_message": "examples without a user message",
    "over_token_limit": "examples over the token limit (they will be truncated)",
    "same_preferred_and_non_preferred": "preference pairs whose two outputs are the same",
}


def default_epochs(examples: int) -> int:
    if examples <= 0:
        return TARGET_EPOCHS
    if examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_EPOCHS, MIN_TARGET_EXAMPLES // examples)
    if examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_EPOCHS, MAX_TARGET_EXAMPLES // examples)
    return TARGET_EPOCHS


@dataclass(slots=True)
class Finding:
    line: int
    message: str


@dataclass(slots=True)
class Warning_:
    count: int = 0
    lines: list[int] = field(default_factory=list)

    def add(self, line: int) -> None:
        self.count += 1
        if len(self.lines) < KEEP_LINES:
            self.lines.append(line)


@dataclass
class DataReport:
    label: str
    method: str
    counter: Counter
    max_tokens: int
    epochs_given: int | None
    examples: int = 0  # valid examples
    lines: int = 0
    errors: list[Finding] = field(default_factory=list)
    error_count: int = 0
    error_lines: int = 0
    warnings: dict[str, Warning_] = field(default_factory=lambda: {k: Warning_() for k in WARNINGS})
    messages_per_example: list[int] = field(default_factory=list)
    tokens_per_example: list[int] = field(default_factory=list)
    assistant_tokens_per_example: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error_count == 0 and self.examples > 0

    @property
    def epochs(self) -> int:
        return self.epochs_given if self.epochs_given is not None else default_epochs(self.examples)

    @property
    def billed_tokens_per_epoch(self) -> int:
        return sum(min(self.max_tokens, n) for n in self.tokens_per_example)

    def error(self, line: int, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < KEEP_ERRORS:
            self.errors.append(Finding(line, message))

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.label,
            "method": self.method,
            "valid": self.ok,
            "lines": self.lines,
            "examples": self.examples,
            "error_count": self.error_count,
            "errors": [{"line": e.line, "message": e.message} for e in self.errors],
            "warnings": [
                {"kind": k, "description": WARNINGS[k], "count": w.count, "lines": w.lines}
                for k, w in self.warnings.items()
                if w.count
            ],
            "stats": {
                "messages_per_example": summary(self.messages_per_example),
                "tokens_per_example": summary(self.tokens_per_example),
                "assistant_tokens_per_example": summary(self.assistant_tokens_per_example),
            },
            "quantile_method": QUANTILE_METHOD,
            "tokens": {"exact": self.counter.exact, "counter": self.counter.name, "note": self.counter.note},
            "max_tokens_per_example": self.max_tokens,
            "epochs": {
                "value": self.epochs,
                "source": "--epochs" if self.epochs_given is not None else "default rule",
            },
            "billed_tokens": {
                "per_epoch": self.billed_tokens_per_epoch,
                "total": self.billed_tokens_per_epoch * self.epochs,
                "estimated": not self.counter.exact,
            },
        }


class _Example:
    """What one valid example contributes to the statistics."""

    def __init__(self) -> None:
        self.messages = 0
        self.tokens = 3  # the reply's priming
        self.assistant_tokens = 0
        self.roles: set[str] = set()


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _message_tokens(msg: dict, counter: Counter) -> tuple[int, int]:
    """(tokens the message costs, of which the trained-on assistant part)."""
    n = 3 + counter.count(str(msg.get("role", "")))
    content = _text_of(msg.get("content"))
    body = counter.count(content) if content else 0
    for key in ("tool_calls", "function_call"):
        if msg.get(key):
            body += counter.count(json.dumps(msg[key], ensure_ascii=False))
    n += body
    if isinstance(msg.get("name"), str):
        n += 1 + counter.count(msg["name"])
    return n, body if msg.get("role") == "assistant" else 0


def _check_messages(
    messages: Any,
    where: str,
    example: _Example,
    counter: Counter,
    problems: list[str],
    *,
    assistant_needed: bool,
) -> None:
    if not isinstance(messages, list):
        problems.append(
            f"{where} is missing" if messages is None else f"{where} must be a list, not {_kind(messages)}"
        )
        return
    if not messages:
        problems.append(f"{where} is empty")
        return
    for i, msg in enumerate(messages, 1):
        label = f"{where}[{i}]"
        if not isinstance(msg, dict):
            problems.append(f"{label} must be an object, not {_kind(msg)}")
            continue
        for key in msg:
            if key not in MESSAGE_KEYS:
                problems.append(f"{label}: unknown key {key!r} (allowed: {', '.join(MESSAGE_KEYS)})")
        role = msg.get("role")
        if role is None:
            problems.append(f"{label}: role is missing")
        elif role not in ROLES:
            problems.append(f"{label}: unknown role {role!r} (roles: {', '.join(ROLES)})")
        calls = msg.get("tool_calls") or msg.get("function_call")
        content = msg.get("content")
        if "content" not in msg and not (role == "assistant" and calls):
            problems.append(f"{label}: content is missing")
        elif content is None and not (role == "assistant" and calls):
            problems.append(f"{label}: content is null")
        elif content is not None and not isinstance(content, str | list):
            problems.append(
                f"{label}: content must be a string or a list of content parts, not {_kind(content)}"
            )
        elif isinstance(content, list) and not all(isinstance(p, dict) and "type" in p for p in content):
            problems.append(f"{label}: content parts must be objects with a type")
        elif (
            content is not None
            and not calls
            and not _text_of(content).strip()
            and not (isinstance(content, list) and any(p.get("type") != "text" for p in content))
        ):
            problems.append(f"{label}: content is empty")
        if "weight" in msg and (msg["weight"] not in (0, 1) or isinstance(msg["weight"], bool)):
            problems.append(f"{label}: weight must be 0 or 1")
        if "weight" in msg and role != "assistant":
            problems.append(f"{label}: weight is only allowed on assistant messages")
        if isinstance(role, str):
            example.roles.add(role)
        total, assistant = _message_tokens(msg, counter)
        example.messages += 1
        example.tokens += total
        example.assistant_tokens += assistant
    if assistant_needed and "assistant" not in example.roles:
        problems.append(f"{where} has no assistant message (nothing to learn from)")


def _check_chat(obj: dict, counter: Counter, problems: list[str]) -> _Example:
    example = _Example()
    for key in obj:
        if key not in CHAT_KEYS:
            problems.append(
                f"unknown key {key!r} (an example has messages, and optionally tools, functions, parallel_tool_calls)"
            )
    _check_messages(obj.get("messages"), "messages", example, counter, problems, assistant_needed=True)
    return example


def _check_dpo(obj: dict, counter: Counter, problems: list[str], report: DataReport, number: int) -> _Example:
    example = _Example()
    for key in obj:
        if key not in DPO_KEYS:
            problems.append(
                f"unknown key {key!r} (a preference example has input, preferred_output, non_preferred_output)"
            )
    inp = obj.get("input")
    if not isinstance(inp, dict):
        problems.append("input is missing" if inp is None else f"input must be an object, not {_kind(inp)}")
    else:
        for key in inp:
            if key not in DPO_INPUT_KEYS:
                problems.append(f"input: unknown key {key!r} (allowed: {', '.join(DPO_INPUT_KEYS)})")
        _check_messages(
            inp.get("messages"), "input.messages", example, counter, problems, assistant_needed=False
        )
    outputs = []
    for name in ("preferred_output", "non_preferred_output"):
        side = _Example()
        value = obj.get(name)
        _check_messages(value, name, side, counter, problems, assistant_needed=True)
        if isinstance(value, list):
            if len(value) != 1:
                problems.append(f"{name} must hold exactly one assistant message, not {len(value)}")
            elif isinstance(value[0], dict) and value[0].get("role") != "assistant":
                problems.append(f"{name}[1] must be an assistant message")
            outputs.append(value)
        if name == "preferred_output":
            example.tokens += side.tokens - 3
            example.assistant_tokens += side.assistant_tokens
            example.messages += side.messages
            example.roles |= side.roles
        else:
            example.tokens += side.tokens - 3
    if len(outputs) == 2 and outputs[0] == outputs[1] and not problems:
        report.warnings["same_preferred_and_non_preferred"].add(number)
    return example


def validate_data(
    source: Source,
    counter: Counter,
    *,
    method: str = "supervised",
    max_tokens: int = DEFAULT_MAX_TOKENS,
    epochs: int | None = None,
) -> DataReport:
    """One streaming pass over a training (or validation) file."""
    report = DataReport(source.label, method, counter, max_tokens, epochs)
    for line in source.lines():
        report.lines += 1
        check_line(line, report)
    return report


def check_line(line: Line, report: DataReport) -> None:
    number = line.number
    if line.text is None or (line.problem and number == 1):
        report.error_lines += 1
        report.error(number, line.problem or "unreadable line")
        return
    if line.blank:
        report.error_lines += 1
        report.error(number, "empty line (every line must be one example)")
        return
    try:
        obj = json.loads(line.text)
    except ValueError as exc:
        report.error_lines += 1
        report.error(number, f"not JSON: {exc}")
        return
    if not isinstance(obj, dict):
        report.error_lines += 1
        report.error(number, f"an example must be a JSON object, not {_kind(obj)}")
        return
    problems: list[str] = []
    if report.method == "dpo":
        example = _check_dpo(obj, report.counter, problems, report, number)
    else:
        example = _check_chat(obj, report.counter, problems)
    if problems:
        report.error_lines += 1
        for p in problems:
            report.error(number, p)
        return
    report.examples += 1
    report.messages_per_example.append(example.messages)
    report.tokens_per_example.append(example.tokens)
    report.assistant_tokens_per_example.append(example.assistant_tokens)
    if "system" not in example.roles:
        report.warnings["no_system_message"].add(number)
    if "user" not in example.roles:
        report.warnings["no_user_message"].add(number)
    if example.tokens > report.max_tokens:
        report.warnings["over_token_limit"].add(number)


def render_text(report: DataReport, *, shown: int = 20) -> str:
    """The report for a person (also fine in a pipe: plain text, no styling)."""
    out: list[str] = []
    kind = "preference pairs (DPO)" if report.method == "dpo" else "chat examples (supervised)"
    out.append(f"{report.label}: {report.lines} lines, {report.examples} valid {kind}")
    if report.error_count:
        out.append(f"errors ({report.error_count} on {report.error_lines} lines):")
        for e in report.errors[:shown]:
            out.append(f"  line {e.line}: {e.message}")
        if report.error_count > shown:
            out.append(f"  ... and {report.error_count - shown} more")
    elif report.examples == 0:
        out.append("errors: the file holds no examples")
    warned = [(k, w) for k, w in report.warnings.items() if w.count]
    if warned:
        out.append("warnings:")
        for k, w in warned:
            more = ", ..." if w.count > len(w.lines) else ""
            out.append(f"  {w.count} {WARNINGS[k]} (lines {', '.join(map(str, w.lines))}{more})")
    if report.examples:
        est = "" if report.counter.exact else "~"
        rows = [
            ("messages per example", summary(report.messages_per_example), ""),
            ("tokens per example", summary(report.tokens_per_example), est),
            ("assistant tokens per example", summary(report.assistant_tokens_per_example), est),
        ]
        out.append("")
        out.append(f"{'':30}{'min':>9}{'p10':>9}{'median':>9}{'p90':>9}{'max':>9}")
        for name, s, mark in rows:
            assert s is not None
            cells = "".join(f"{mark + _num(s[k]):>9}" for k in ("min", "p10", "median", "p90", "max"))
            out.append(f"{name:30}{cells}")
        out.append(f"tokens: {report.counter.describe()}")
        out.append(f"quantiles: {QUANTILE_METHOD}")
        over = report.warnings["over_token_limit"].count
        out.append(f"{over} of {report.examples} examples over {report.max_tokens} tokens per example")
        source = (
            "--epochs"
            if report.epochs_given is not None
            else "the default rule: 3, fewer for large sets, more for small, 1-25"
        )
        per_epoch = report.billed_tokens_per_epoch
        approx = "about " if not report.counter.exact else ""
        out.append(
            f"billed tokens: {approx}{per_epoch:,} per epoch × {report.epochs} epochs ({source}) = "
            f"{approx}{per_epoch * report.epochs:,}"
        )
    verdict = "valid" if report.ok else "NOT valid"
    out.append(f"{report.label}: {verdict}")
    return "\n".join(out) + "\n"


def _num(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def lines_of(values: Iterable[int]) -> str:
    return ", ".join(str(v) for v in values)
