"""Running health rounds and top scrapes over time, and handing results to the right drawing.

Where output goes (CONTRACT.md: stdout carries the report, live views go to stderr and only to a
terminal):
- health, once: a terminal stdout gets rows as checks complete; a pipe gets plain lines; --format
  json one document at the end. A spinner naming the running check goes to stderr when it is a terminal.
- health --watch and top: the live view is drawn on stderr when it is a terminal. stdout gets one
  record per round/interval when it is not a terminal (a plain line, or a JSON document per line).
  After Ctrl-C the live view is erased and, on a terminal stdout, the last round is printed once.
Ctrl-C and SIGTERM stop at the next wait for the network or the clock, never halfway through
drawing: the loops run shielded (see interrupts.py) and only their waits are interruptible.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from .. import interrupts
from ..errors import Interrupted
from .checks import HealthOptions, Probe, check_names, exit_code, latency, run_checks


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _emit(line: str) -> None:
    from ..render.sink import write_out

    write_out(sys.stdout.buffer, (line + "\n").encode("utf-8"))


def health_document(
    settings, probe: Probe | None, results: list, code: int, full: bool, when: str
) -> dict[str, Any]:
    return {
        "base_url": settings.base_url,
        "model": probe.model if probe is not None else None,
        "time": when,
        "ok": code == 0,
        "exit_code": code,
        "full": full,
        "checks": [r.to_dict() for r in results],
    }


def _round(settings, key, options: HealthOptions, factory, on_begin, on_result) -> tuple[Probe, list]:
    probe = Probe(settings, key, options, factory)
    results: list = []
    names = check_names(options.full)
    try:
        on_begin(names[0])
        checks = run_checks(probe)
        # Each check runs interruptibly; drawing its row does not.
        for result in interrupts.interruptible_iter(checks):
            results.append(result)
            on_result(result)
            if len(results) < len(names):
                on_begin(names[len(results)])
    finally:
        probe.close()
    return probe, results


def run_health(
    settings,
    key,
    options: HealthOptions,
    factory,
    *,
    fmt: str,
    watch: float | None,
    stdout_tty: bool,
    stderr_tty: bool,
) -> int:
    interrupts.reset()
    with interrupts.shielded():
        if watch is None:
            return _health_once(
                settings, key, options, factory, fmt=fmt, stdout_tty=stdout_tty, stderr_tty=stderr_tty
            )
        return _health_watch(
            settings,
            key,
            options,
            factory,
            fmt=fmt,
            every=watch,
            stdout_tty=stdout_tty,
            stderr_tty=stderr_tty,
        )


def _health_once(settings, key, options, factory, *, fmt, stdout_tty, stderr_tty) -> int:
    from ..render import health as draw

    title = f"health of {settings.base_url}"
    if fmt == "json":
        report = draw.Progress(spinner=stderr_tty)  # stdout gets the document at the end
    elif stdout_tty:
        report = draw.TerminalReport(title, spinner=stderr_tty)
    else:
        report = draw.PlainReport(title)
    when = _now_iso()
    try:
        probe, results = _round(settings, key, options, factory, report.begin, report.row)
    except KeyboardInterrupt:
        report.close()
        raise Interrupted(interrupts.received() or 2) from None
    code = exit_code(results)
    report.end(results, code)
    if fmt == "json":
        _emit(
            json.dumps(
                health_document(settings, probe, results, code, options.full, when), ensure_ascii=False
            )
        )
    return code


def _health_watch(settings, key, options, factory, *, fmt, every, stdout_tty, stderr_tty) -> int:
    from ..render.health import final_report, watch_frame, watch_line

    live_view = stderr_tty
    records = not stdout_tty or not live_view  # one line per round where it will not fight the view
    title = f"health of {settings.base_url} every {every:g} s"
    names = check_names(options.full)
    latencies: list[float | None] = []
    rounds = failures = 0
    last: list = []
    last_code = 0
    live = console = None
    if live_view:
        from rich.console import Console
        from rich.live import Live

        console = Console(stderr=True, highlight=False)
        live = Live(
            console=console, auto_refresh=False, transient=True, redirect_stdout=False, redirect_stderr=False
        )

    def draw(results: list) -> None:
        if live is not None:
            pending = names[len(results) :]
            frame = watch_frame(title, results, pending, latencies, rounds + 1, failures, console.size.width)
            live.update(frame, refresh=True)

    try:
        with interrupts.keyboard_quiet():
            if live is not None:
                live.start()
            while True:
                began = time.monotonic()
                when = _now_iso()
                current: list = []

                def on_result(result, current=current) -> None:
                    current.append(result)
                    draw(current)

                draw(current)
                probe, results = _round(settings, key, options, factory, lambda name: None, on_result)
                rounds += 1
                code = exit_code(results)
                failures += 1 if code else 0
                latencies.append(latency(results))
                del latencies[:-200]
                last, last_code = results, code
                if records:
                    if fmt == "json":
                        _emit(
                            json.dumps(
                                health_document(settings, probe, results, code, options.full, when),
                                ensure_ascii=False,
                            )
                        )
                    else:
                        _emit(watch_line(when, results, code, latency(results)))
                draw(results)
                with interrupts.interruptible():
                    time.sleep(max(0.0, began + every - time.monotonic()))
    except KeyboardInterrupt:
        pass
    finally:
        if live is not None:
            live.update("", refresh=False)
            live.stop()  # transient: the region is erased and the cursor shown again
    if live_view and stdout_tty and rounds:
        final_report(last, last_code, rounds, latencies)
    raise Interrupted(interrupts.received() or 2)


# --- top ---------------------------------------------------------------------------------------


def _scrape(client, url: str):
    from ..core.urls import host_of
    from ..errors import RequestRejected
    from .net import fetch_metrics
    from .prom import MetricsFormatError, parse

    text = fetch_metrics(client, url)
    try:
        return parse(text, time.monotonic())
    except MetricsFormatError as exc:
        raise RequestRejected(
            f"{host_of(url)} sent metrics that cannot be parsed: {exc}",
            host=host_of(url),
            hint="check --metrics-url: it must be a Prometheus text endpoint",
        ) from None


def top_document(url: str, view, when: str) -> dict[str, Any]:
    return {"url": url, "time": when, **view.to_dict()}


def run_top(
    settings, key, url: str, *, interval: float, once: bool, fmt: str, stdout_tty: bool, stderr_tty: bool
) -> int:
    from ..transport.base import TransportConfig
    from .net import RootClient

    client = RootClient(
        TransportConfig.from_settings(settings, key.key), min(settings.timeout, max(5.0, 2 * interval))
    )
    interrupts.reset()
    try:
        with interrupts.shielded():
            with interrupts.interruptible():
                first = _scrape(client, url)  # a server without metrics fails here: one line, exit 4
            if once:
                return _top_once(client, url, first, interval=interval, fmt=fmt, stdout_tty=stdout_tty)
            return _top_live(
                client, url, first, interval=interval, fmt=fmt, stdout_tty=stdout_tty, stderr_tty=stderr_tty
            )
    except KeyboardInterrupt:
        raise Interrupted(interrupts.received() or 2) from None
    finally:
        client.close()


def _top_once(client, url, first, *, interval, fmt, stdout_tty) -> int:
    from .rates import compute

    with interrupts.interruptible():
        time.sleep(max(0.0, first.at + interval - time.monotonic()))
        second = _scrape(client, url)
    view = compute(second, first)
    if fmt == "json":
        _emit(json.dumps(top_document(url, view, _now_iso()), ensure_ascii=False))
    else:
        from ..render.top import print_once

        print_once(url, view, interval, terminal=stdout_tty)
    return 0


def _top_live(client, url, first, *, interval, fmt, stdout_tty, stderr_tty) -> int:
    from ..errors import LlmcliError
    from .rates import compute

    live_view = stderr_tty
    records = not stdout_tty or not live_view
    history: dict[str, list[float | None]] = {}
    before = first
    view = compute(first)
    error: str | None = None
    live = console = None
    if live_view:
        from rich.console import Console
        from rich.live import Live

        from ..render.top import top_frame

        console = Console(stderr=True, highlight=False)
        live = Live(
            console=console, auto_refresh=False, transient=True, redirect_stdout=False, redirect_stderr=False
        )

    def draw() -> None:
        if live is not None:
            size = console.size
            live.update(top_frame(url, view, history, interval, size.width, size.height, error), refresh=True)

    try:
        with interrupts.keyboard_quiet():
            if live is not None:
                live.start()
            draw()
            next_at = first.at + interval
            while True:
                with interrupts.interruptible():
                    time.sleep(max(0.0, next_at - time.monotonic()))
                    next_at = time.monotonic() + interval
                    try:
                        now = _scrape(client, url)
                    except LlmcliError as exc:  # a restart or a blip: say so and keep watching
                        now, error = None, exc.message
                if now is None:
                    draw()
                    continue
                view, before, error = compute(now, before), now, None
                for key in ("prompt_tokens", "generation_tokens", "preemptions"):
                    q = view.quantities.get(key)
                    if q is not None and q.kind == "counter":
                        history.setdefault(key, []).append(q.value)
                        del history[key][:-200]
                if records:
                    when = _now_iso()
                    if fmt == "json":
                        _emit(json.dumps(top_document(url, view, when), ensure_ascii=False))
                    else:
                        from ..render.top import record_line

                        _emit(record_line(when, view))
                draw()
    except KeyboardInterrupt:
        pass
    finally:
        if live is not None:
            live.update("", refresh=False)
            live.stop()
    if live_view and stdout_tty and view.interval_s:
        from ..render.top import print_once

        print_once(url, view, interval, terminal=True)
    raise Interrupted(interrupts.received() or 2)
