"""Ctrl-C and SIGTERM: turned into KeyboardInterrupt, or held back while a step must not be cut.

`interruptible()` makes SIGTERM behave like Ctrl-C (a KeyboardInterrupt in the main thread), so every
operation cleans up the same way whichever signal stops it. `deferred()` holds both signals during a
critical section (the swap and what must follow it); the block learns of them through the returned
list and decides, and once the outermost block ends they are no longer pending. Both act in the
main thread only: Python delivers signals there, and other threads cannot install handlers.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["deferred", "interruptible", "pending", "was_interrupted"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_held: list[int] = []  # signals that arrived inside the outermost deferred() block
_depth = 0
_lock = threading.Lock()
_interrupted = threading.Event()  # a stop signal arrived since the outermost interruptible() began


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    _interrupted.set()
    raise KeyboardInterrupt


@contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, Ctrl-C and SIGTERM raise KeyboardInterrupt (main thread only), and are remembered
    (`was_interrupted`) even where a library turns the KeyboardInterrupt into an error of its own.

    A SIGINT that the parent process ignores (`nohup`) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        s: signal.signal(s, _raise_interrupt)
        for s in _STOP_SIGNALS
        if signal.getsignal(s) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def was_interrupted() -> bool:
    """Whether Ctrl-C or SIGTERM stopped something in this process (see interruptible)."""
    return _interrupted.is_set()


def _hold(signum: int, _frame: FrameType | None) -> None:
    _interrupted.set()
    _held.append(signum)


@contextmanager
def deferred() -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM until the outermost such block ends; yield the list of those held.

    Nested blocks share one list, which is emptied when the outermost block ends: read it inside.
    Outside the main thread nothing is held (the list stays empty).
    """
    global _depth
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    with _lock:
        _depth += 1
        outermost = _depth == 1
        if outermost:
            _held.clear()
            previous = {s: signal.signal(s, _ignore_if_ignored(s)) for s in _STOP_SIGNALS}
    try:
        yield _held
    finally:
        with _lock:
            _depth -= 1
            if outermost:
                for s, handler in previous.items():
                    signal.signal(s, handler)
                _held.clear()  # what the block did not act on is over: it decided, and said so


def _ignore_if_ignored(signum: int) -> Any:
    """Hold a signal, unless the process ignores it (then it stays ignored)."""
    return signal.SIG_IGN if signal.getsignal(signum) is signal.SIG_IGN else _hold


def pending() -> bool:
    """Whether a stop signal arrived inside the current deferred() block."""
    return bool(_held)
