"""Progress events: what the engine tells a UI while it works. The engine itself prints nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """One thing that happened.

    `kind` is one of "step-start", "step-end", "table-start", "table-end", "rows", "log", "state".
    "state" marks a boundary of the cut-over (`message`: "swapping", "renamed", "swapped",
    "old-dropped", "finished"), announced once that state is durable.
    `step` names the step ("connect", "discover", "stage", "copy", "backup", "verify", "swap", "clean").
    For "rows", the counts are cumulative for `table` and the totals are known up front from the
    source's estimates (refined to exact counts at "table-end"), so a UI can show percent and ETA.
    """

    kind: str
    step: str
    table: str | None = None
    rows_done: int = 0
    rows_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


class Progress:
    """Deliver events to a callback one at a time, from whichever thread produced them."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._lock = threading.Lock()

    def emit(self, kind: str, step: str, **fields: object) -> None:
        """Send one event (nothing happens without a callback)."""
        if self._callback is None:
            return
        event = ProgressEvent(kind, step, **fields)  # type: ignore[arg-type]
        with self._lock:
            self._callback(event)

    def log(self, step: str, message: str) -> None:
        """Send a "log" event: something a person may want to read (retries, fallbacks)."""
        self.emit("log", step, message=message)
