"""What the resource commands (files, batch, finetune) share: the client, --format, --metadata, output,
and stopping a wait on Ctrl-C without touching the remote job."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from ..core.settings import Settings
from ..errors import AuthFailed, Interrupted, UsageError
from .common import api_key, keyring_hint, load_settings, stdout_is_tty, transport_config, warn

Format = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="table (a terminal's default), text (tab-separated, a pipe's default) or json.",
    ),
]
Metadata = Annotated[
    list[str] | None,
    typer.Option("--metadata", help="KEY=VALUE to attach (repeatable; at most 16).", show_default=False),
]
Interval = Annotated[
    float | None,
    typer.Option(
        "--interval", help="Seconds between polls at first (it backs off up to 60 while nothing changes) [5]."
    ),
]
TimeoutWait = Annotated[
    float | None,
    typer.Option("--timeout-wait", help="Stop waiting after this many seconds (exit 124); the job goes on."),
]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing output file.")]


def output_format(fmt: str | None, allowed: Sequence[str] = ("table", "text", "json")) -> str:
    if fmt is None:
        return (
            "table"
            if "table" in allowed and stdout_is_tty()
            else ("text" if "text" in allowed else allowed[0])
        )
    if fmt not in allowed:
        raise UsageError(f"--format must be {', '.join(allowed[:-1])} or {allowed[-1]}, not {fmt!r}")
    return fmt


def parse_metadata(items: list[str] | None) -> dict[str, str] | None:
    """--metadata k=v pairs, held to the API's limits (16 pairs, keys ≤ 64 and values ≤ 512 characters)."""
    if not items:
        return None
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"--metadata wants KEY=VALUE, got {item!r}", hint="for example --metadata project=tickets"
            )
        key = key.strip()
        if len(key) > 64 or len(value) > 512:
            raise UsageError(f"--metadata {key[:20]}...: keys may have 64 characters, values 512")
        out[key] = value
    if len(out) > 16:
        raise UsageError(f"--metadata: {len(out)} pairs; at most 16 are allowed")
    return out


def interval_value(interval: float | None) -> float:
    from ..jobs.poll import DEFAULT_INTERVAL

    if interval is None:
        return DEFAULT_INTERVAL
    if not interval > 0 or interval != interval:
        raise UsageError("--interval must be a number of seconds greater than 0")
    return interval


def timeout_value(timeout: float | None) -> float | None:
    if timeout is not None and (not timeout > 0 or timeout == float("inf")):
        raise UsageError("--timeout-wait must be a number of seconds greater than 0")
    return timeout


@dataclass(slots=True)
class Remote:
    client: Any  # jobs.client.ResourceClient
    settings: Settings


@contextmanager
def remote() -> Iterator[Remote]:
    """The resource client for the resolved settings (always the openai SDK), closed afterwards."""
    settings = load_settings()
    key = api_key(settings)
    from ..jobs.client import ResourceClient

    client = ResourceClient(transport_config(settings, key))
    try:
        yield Remote(client, settings)
    except AuthFailed as exc:
        hint = keyring_hint(settings, key)
        if hint:  # the likely reason the server said no
            exc.hint = hint
        raise
    finally:
        client.close()


def write_stdout(text: str) -> None:
    from ..render.sink import write_out

    write_out(sys.stdout.buffer, text.encode("utf-8"))


def emit_json(obj: Any) -> None:
    write_stdout(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def emit_jsonl(obj: Any) -> None:
    write_stdout(json.dumps(obj, ensure_ascii=False) + "\n")


_TAB_OR_NEWLINE = re.compile(r"[\t\r\n]")


def emit_rows(rows: Sequence[Sequence[Any]]) -> None:
    """Tab-separated lines for a pipe (no header, no styling; tabs and newlines in values become spaces)."""
    out = []
    for row in rows:
        out.append("\t".join(_TAB_OR_NEWLINE.sub(" ", "" if v is None else str(v)) for v in row))
    write_stdout("".join(line + "\n" for line in out))


def emit_list(
    items: Sequence[dict],
    fmt: str,
    *,
    columns: Sequence[str],
    row: Callable[[dict], list],
    empty: str,
    shown: int = 99,
) -> None:
    """A list of objects: JSON array, tab-separated rows (all columns), or a table of the first `shown` columns."""
    if fmt == "json":
        emit_json(list(items))
    elif fmt == "text":
        emit_rows([row(x) for x in items])
    else:
        from ..render.jobs import table

        table(columns[:shown], [row(x)[:shown] for x in items], empty=empty)


def limit_value(limit: int) -> int | None:
    if limit < 0:
        raise UsageError("--limit must be 0 (all) or more")
    return limit or None


def stopped_waiting(what: str, resume: str, cancel: str) -> Interrupted:
    """Ctrl-C (or SIGTERM) during a wait: say that the remote job goes on, and how to get back to it."""
    from .. import interrupts

    warn(
        f"stopped waiting; {what} goes on (Ctrl-C never cancels it): `{resume}` to wait again, `{cancel}` to cancel it"
    )
    return Interrupted(interrupts.received() or 2)


def note(message: str) -> None:
    warn(message)
