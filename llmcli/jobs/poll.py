"""Polling a remote job: gently, with backoff while nothing changes, bounded by an optional deadline.

A poll that shows change brings the interval back to its base; each poll that shows none stretches it by
half, up to MAX_INTERVAL (or the base, if that is larger). The deadline clips the last sleep, so
`--timeout-wait` is kept to within one request's time. Standard library only; sleep and clock are
parameters so the logic is testable without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

DEFAULT_INTERVAL = 5.0  # the Batch API and fine-tuning jobs move in minutes: a few seconds is plenty
MAX_INTERVAL = 60.0
GROWTH = 1.5


class DeadlinePassed(Exception):
    """The wait's time limit passed before the job ended; `last` is the last state seen."""

    def __init__(self, last: object):
        super().__init__("deadline passed")
        self.last = last


@dataclass(slots=True)
class Backoff:
    base: float
    ceiling: float
    current: float = 0.0

    def __post_init__(self) -> None:
        self.ceiling = max(self.ceiling, self.base)
        self.current = self.base

    def next(self, changed: bool) -> float:
        """The pause before the next poll."""
        if changed:
            self.current = self.base
        else:
            self.current = min(self.ceiling, self.current * GROWTH)
        return self.current


def poll(
    fetch: Callable[[], T],
    *,
    done: Callable[[T], bool],
    fingerprint: Callable[[T], Hashable],
    interval: float = DEFAULT_INTERVAL,
    max_interval: float = MAX_INTERVAL,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[T]:
    """Yield each state fetched, the final one included; raise DeadlinePassed when `timeout` runs out."""
    deadline = None if timeout is None else clock() + timeout
    backoff = Backoff(interval, max_interval)
    last_print: Hashable = object()
    first = True
    while True:
        state = fetch()
        yield state
        if done(state):
            return
        mark = fingerprint(state)
        pause = backoff.next(changed=first or mark != last_print)
        first = False
        last_print = mark
        if deadline is not None:
            left = deadline - clock()
            if left <= 0:
                raise DeadlinePassed(state)
            pause = min(pause, left)  # then one last look when the time is up
        sleep(pause)
