"""Bound the wait for the *next piece of the answer*, whatever the server sends in between.

A socket read timeout is reset by any byte, so a server that sends only keep-alive comments (or empty
deltas) could hold a client forever. Here the network reading happens in a helper thread and the
caller waits on a queue with a deadline that only real progress (text, reasoning, finish, usage)
pushes back. The same code guards both transports.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from ..core.types import ModelSeen

T = TypeVar("T")

_ITEM, _END, _ERROR = 0, 1, 2


def is_progress(event: object) -> bool:
    return not isinstance(event, ModelSeen)


def watched(
    produce: Callable[[], Iterator[T]],
    *,
    timeout: float,
    on_stall: Callable[[], BaseException],
    close: Callable[[], None],
) -> Iterator[T]:
    """Yield what `produce()` yields, from a daemon thread; raise on_stall() after `timeout` s without progress.

    Time the caller spends handling an item (a slow pipe reader) does not count as the server's.
    `close` runs when the caller stops for any reason (end, error, Ctrl-C): it must release the
    connection, which also ends the reading thread.
    """
    q: queue.SimpleQueue[tuple[int, object]] = queue.SimpleQueue()

    def run() -> None:
        try:
            for item in produce():
                q.put((_ITEM, item))
            q.put((_END, None))
        except BaseException as exc:  # handed over to the caller's thread
            q.put((_ERROR, exc))

    threading.Thread(target=run, name="llmcli-reader", daemon=True).start()
    waited = 0.0
    try:
        while True:
            started = time.monotonic()
            try:
                kind, value = q.get(timeout=max(0.0, timeout - waited))
            except queue.Empty:
                raise on_stall() from None
            waited += time.monotonic() - started
            if kind == _ITEM:
                if is_progress(value):
                    waited = 0.0
                elif waited >= timeout:
                    raise on_stall()
                yield value  # type: ignore[misc]
            elif kind == _END:
                return
            else:
                raise value  # type: ignore[misc]
    finally:
        close()
