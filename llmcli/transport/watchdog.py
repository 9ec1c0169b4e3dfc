"""Bound the wait for the *next piece of the answer*, whatever the server sends in between.

A socket read timeout is reset by any byte, so a server that sends only keep-alive comments (or empty
deltas) could hold a client forever. Here a helper thread does the blocking network reads and hands
the raw byte pieces over a small bounded queue; the caller parses them and calls `progress()` when
real progress (text, reasoning, finish, usage) arrives. The wait for the next piece is bounded by
what is left of `timeout` since the last progress. Handing over whole network reads (not per-token
events) keeps the cost per token near zero, and the bounded queue keeps memory flat. The same code
guards both transports.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

_ITEM, _END, _ERROR = 0, 1, 2
_DEPTH = 32  # network reads in flight; the producer waits (like a full socket buffer) beyond that
_FINISHED = object()  # the source is exhausted


class BytePump:
    """Iterate `source()` (blocking reads) in a daemon thread; stall after `timeout` s without progress.

    The hand-over runs once per network read, which with a real server is once per token: it is a
    SimpleQueue (a C queue, a fraction of queue.Queue's lock-and-condition cost), bounded by making
    the producer wait on `_room` whenever _DEPTH reads are waiting.
    """

    def __init__(
        self, source: Callable[[], Iterator[bytes]], *, timeout: float, on_stall: Callable[[], BaseException]
    ):
        self._source = source
        self._timeout = timeout
        self._on_stall = on_stall
        self._q: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._room = threading.Event()
        self._room.set()
        self._closed = threading.Event()
        self._waited = 0.0
        self._thread: threading.Thread | None = None

    def progress(self) -> None:
        """Real progress arrived: the clock starts again."""
        self._waited = 0.0

    def close(self) -> None:
        self._closed.set()
        self._room.set()  # a producer waiting for room sees the close at once

    def _run(self) -> None:
        q, room, closed = self._q, self._room, self._closed
        try:
            for piece in self._source():
                if closed.is_set():
                    return
                q.put(piece)
                if q.qsize() >= _DEPTH:
                    room.clear()
                    # Checked again after clear(): the consumer may have made room in between, and
                    # sets the event only when it sees it clear.
                    while q.qsize() >= _DEPTH and not closed.is_set():
                        room.wait(0.2)
            q.put(_FINISHED)
        except BaseException as exc:  # handed over to the caller's thread
            q.put(exc)

    def __iter__(self) -> Iterator[bytes]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="llmcli-reader", daemon=True)
            self._thread.start()
        get, room, clock = self._q.get, self._room, time.monotonic
        while True:
            started = clock()
            try:
                item = get(timeout=max(0.0, self._timeout - self._waited))
            except queue.Empty:
                raise self._on_stall() from None
            # Only time spent waiting on the server counts, not time the caller spent writing output.
            self._waited += clock() - started
            if not room.is_set():
                room.set()
            if type(item) is bytes:
                yield item
            elif item is _FINISHED:
                return
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item  # type: ignore[misc]  # a bytes-like piece that is not bytes


def watched(
    produce: Callable[[], Iterator[T]],
    *,
    timeout: float,
    on_stall: Callable[[], BaseException],
    close: Callable[[], None],
) -> Iterator[T]:
    """Yield what `produce()` yields, from a daemon thread, each within `timeout` s of the previous one.

    Used for whole (non-streamed) responses, where --timeout bounds the entire exchange.
    """
    q: queue.SimpleQueue[tuple[int, object]] = queue.SimpleQueue()

    def run() -> None:
        try:
            for item in produce():
                q.put((_ITEM, item))
            q.put((_END, None))
        except BaseException as exc:
            q.put((_ERROR, exc))

    threading.Thread(target=run, name="llmcli-request", daemon=True).start()
    try:
        while True:
            try:
                kind, value = q.get(timeout=timeout)
            except queue.Empty:
                raise on_stall() from None
            if kind == _ITEM:
                yield value  # type: ignore[misc]
            elif kind == _END:
                return
            else:
                raise value  # type: ignore[misc]
    finally:
        close()
