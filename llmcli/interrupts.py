"""Ctrl-C and SIGTERM: the first one stops the answer cleanly, a second one ends the process at once.

Python's default turns SIGINT into a KeyboardInterrupt at whatever bytecode happens to run, which can be
halfway through writing an escape sequence to the terminal or through a sink's bookkeeping. Here a
turn runs *shielded*: a signal is only recorded, and raised (as KeyboardInterrupt, a BaseException, so
no library's `except Exception` swallows it or retries on it) at the next point where the turn waits
for the network — the only places that are `interruptible()`. Waiting is where a turn spends its time,
so the answer still stops at once; outside a turn a signal raises immediately, as usual.

A second signal while the first is being handled (the turn is settling the screen, the process is
ending, or it is stuck writing to a reader that does not read) exits on the spot with 128 + signal
number. Outside a turn (a REPL waiting at its prompt) every signal is an ordinary KeyboardInterrupt.

Standard library only: `__main__` installs the handlers before anything else is imported.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class _State:
    def __init__(self) -> None:
        self.received: int | None = None  # the first signal since the last reset()
        self.shielded = 0  # > 0: a signal is recorded, raised at the next interruptible point


_state = _State()


def install() -> None:
    """Handle SIGINT and SIGTERM as described above (leaves a signal alone that the parent ignores)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            if signal.getsignal(sig) is signal.SIG_IGN:
                continue  # e.g. a background job started with SIGINT ignored: keep it that way
            signal.signal(sig, _handler)
        except (ValueError, OSError):  # not the main thread (embedded use)
            pass


def _handler(signum: int, frame: object) -> None:
    if _state.received is not None and _state.shielded:
        _exit_now(signum)  # the first one is being dealt with (the screen settled, the process ending)
    _state.received = signum
    if _state.shielded == 0:
        raise KeyboardInterrupt


_saved_tty: list | None = None  # stdin's terminal modes while keystroke echo is off


@contextmanager
def keyboard_quiet() -> Iterator[None]:
    """While an answer is drawn, keystrokes (and the terminal's own `^C` echo) must not land in the middle
    of it: a live region is erased by moving the cursor, and two stray characters at a line's end would
    shift everything by a line. Echo is turned off on a terminal stdin and always restored."""
    silenced = _silence_echo()
    try:
        # Nothing may catch the body's exceptions here (a `yield` inside an `except` would turn any
        # ValueError or OSError of the turn into "generator didn't stop after throw()").
        yield
    finally:
        if silenced:
            _restore_echo()


def _silence_echo() -> bool:
    """Turn keystroke echo off on a terminal stdin; True when it was turned off here."""
    global _saved_tty
    try:
        import termios

        fd = sys.stdin.fileno() if sys.stdin is not None else -1
        if fd < 0 or not os.isatty(fd) or _saved_tty is not None:
            return False
        saved = termios.tcgetattr(fd)
        quiet = list(saved)
        quiet[3] &= ~(termios.ECHO | termios.ECHOCTL)
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except (ImportError, OSError, ValueError):
        return False
    _saved_tty = [fd, saved]
    return True


def _restore_echo() -> None:
    global _saved_tty
    if _saved_tty is None:
        return
    fd, saved = _saved_tty
    _saved_tty = None
    try:
        import termios

        termios.tcsetattr(fd, termios.TCSANOW, saved)
    except (ImportError, OSError, ValueError):
        pass


def _exit_now(signum: int) -> None:
    # Give the terminal back its cursor (a live display hides it) and a fresh line, then leave: nothing
    # else runs. The write happens aside, so a terminal that does not take output (paused with Ctrl-S)
    # cannot hold the exit.
    _restore_echo()
    helper = threading.Thread(target=_restore_terminal, daemon=True)
    helper.start()
    helper.join(0.2)
    os._exit(128 + signum)


# What a process ending at once writes to the terminal before it goes: the cursor shown, a fresh line.
# A live region (render/region.py) that rests the cursor at its top asks for itself to be erased first.
_EPILOGUE = b"\x1b[?25h\n"
_epilogue = _EPILOGUE


def set_exit_epilogue(data: bytes | None) -> None:
    """What to write to the terminal if the process must end at once (None: the default)."""
    global _epilogue
    _epilogue = _EPILOGUE if data is None else data


def _restore_terminal() -> None:
    for fd in (1, 2):
        try:
            if os.isatty(fd):
                os.write(fd, _epilogue)
                return
        except OSError:
            pass


def received() -> int | None:
    """The signal number that interrupted the current turn, if one did."""
    return _state.received


def exit_code(default: int = 130) -> int:
    return 128 + _state.received if _state.received is not None else default


def reset() -> None:
    """A new turn begins (the REPL runs many): the next signal is a first one again."""
    _state.received = None


@contextmanager
def shielded() -> Iterator[None]:
    """Signals inside only set the flag; `interruptible()` regions inside raise it."""
    _state.shielded += 1
    try:
        yield
    finally:
        _state.shielded -= 1


@contextmanager
def interruptible() -> Iterator[None]:
    """Inside a shielded region: here a signal raises at once, and one that came meanwhile raises now."""
    saved = _state.shielded
    _state.shielded = 0
    try:
        if _state.received is not None:
            raise KeyboardInterrupt
        yield
    finally:
        _state.shielded = saved


def interruptible_iter(items: Iterable[T]) -> Iterator[T]:
    """Iterate `items`, interruptible while waiting for each next item, shielded while the caller works.

    The same as `with interruptible(): next(it)` per item, written out: this runs once per token.
    """
    it = iter(items)
    state = _state
    while True:
        saved = state.shielded
        state.shielded = 0
        try:
            if state.received is not None:
                raise KeyboardInterrupt
            item = next(it)
        except StopIteration:
            return
        finally:
            state.shielded = saved
        yield item


@contextmanager
def asyncio_signals(loop, on_first: Callable[[int], None]) -> Iterator[None]:
    """The asyncio counterpart of a shielded turn, for an event loop that runs many requests (bench).

    Inside, SIGINT and SIGTERM never raise into the loop: the first is recorded (`received()`,
    `exit_code()`) and `on_first(signum)` runs as a loop callback — stop issuing, cancel what is in
    flight — so the caller can still report what completed. A second one ends the process at once,
    as everywhere else. A signal that came before the loop started (while shielded) counts as the first.
    The handlers in place before are put back afterwards (asyncio would leave the defaults).
    """
    previous: dict[int, object] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            prev = signal.getsignal(sig)
            if prev is signal.SIG_IGN:
                continue
            loop.add_signal_handler(sig, _async_signal, sig, on_first)
            previous[sig] = prev
        except (ValueError, OSError, RuntimeError, NotImplementedError):  # not the main thread, Windows
            pass
    try:
        if _state.received is not None:
            loop.call_soon(on_first, _state.received)
        yield
    finally:
        for sig, prev in previous.items():
            try:
                loop.remove_signal_handler(sig)
                signal.signal(sig, prev)  # type: ignore[arg-type]
            except (ValueError, OSError, RuntimeError):
                pass


def _async_signal(signum: int, on_first: Callable[[int], None]) -> None:
    if _state.received is not None:
        _exit_now(signum)
    _state.received = signum
    on_first(signum)


def hold() -> None:
    """The work is done (the process is exiting): from now on a signal is only recorded."""
    _state.shielded += 1
