"""A deadline for a blocking call that no socket timeout bounds.

httpx's (and httpx2's) read timeout applies to each read, so a server that trickles its status line and
headers a byte at a time never trips it: waiting for the headers could last forever. Here the call runs
in a daemon thread and the caller waits at most `timeout` seconds for it; what the call returns after
the caller gave up is handed to `discard` (a response is closed, so its connection is released).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class DeadlineTimeout(TimeoutError):
    """The call did not return in time (it goes on in its thread; its result will be discarded)."""


def within(fn: Callable[[], T], *, timeout: float, discard: Callable[[T], None]) -> T:
    """`fn()`, or DeadlineTimeout after `timeout` seconds. Exceptions from `fn` are raised here as they are.

    A signal (Ctrl-C) while waiting raises here too, and the call is abandoned the same way.
    """
    lock = threading.Lock()
    done = threading.Event()
    state: dict[str, object] = {}

    def run() -> None:
        try:
            outcome: tuple[bool, object] = (True, fn())
        except BaseException as exc:  # handed over to the caller's thread
            outcome = (False, exc)
        with lock:
            if state.get("abandoned"):
                if outcome[0]:
                    try:
                        discard(outcome[1])  # type: ignore[arg-type]
                    except Exception:
                        pass
                return
            state["outcome"] = outcome
            done.set()

    def abandon() -> None:
        with lock:
            state["abandoned"] = True
            outcome = state.pop("outcome", None)
        if isinstance(outcome, tuple) and outcome[0]:  # it finished just now: nobody will use it
            discard(outcome[1])  # type: ignore[arg-type]

    threading.Thread(target=run, name="llmcli-deadline", daemon=True).start()
    try:
        finished = done.wait(min(timeout, threading.TIMEOUT_MAX))
    except BaseException:
        abandon()
        raise
    if not finished:
        abandon()
        raise DeadlineTimeout()
    ok, value = state["outcome"]  # type: ignore[misc]
    if ok:
        return value  # type: ignore[return-value]
    raise value  # type: ignore[misc]
