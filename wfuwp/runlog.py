"""The log of one migration: what its steps did, as JSON lines kept beside its manifest.

wfuwp logs through Python's `logging`: one named logger per module (`wfuwp.ops.copy`,
`wfuwp.mysql.connection`, ...), no handler of its own but a NullHandler on `wfuwp`, so a host program
routes the records where it likes, at the levels it sets. The operations log through `event()`,
which puts structured fields on the record (`event`, `step`, `table`, `details`).

`capture()` keeps one run's records whatever the host's levels: every `event()` of level INFO and
up (DEBUG too when the `wfuwp` logger is enabled for it), and the MySQL driver's own records when
the host enabled the `mysql.connector` logger (`wfuwp --debug` enables both). When the run ends it
adds one record of the outcome and hands the lines to `save`. One line per record:

    {"time": "2026-11-25T10:15:02.123Z", "level": "info", "logger": "wfuwp.ops.copy",
     "event": "table-end", "step": "copy", "table": "wp_43_posts", "message": "...", "rows": 3, ...}

A run's records are those logged from its own thread and the threads it started with `inherit()`; a
record from any other thread goes to every capture open at the time (one, unless a host runs several
migrations at once in one process). No record holds a password: no message carries one, and any
given in `secrets` (six characters or more) is replaced by ******** before a line is written.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import orjson

from wfuwp.errors import ArchiveError
from wfuwp.report import MigrationReport

__all__ = ["LOG_LIMIT", "RunLog", "capture", "event", "inherit", "parse"]

logging.getLogger("wfuwp").addHandler(logging.NullHandler())

# At most this many records are kept per run; the outcome record says how many more there were.
LOG_LIMIT = 100_000
_MASK = "********"
_MIN_SECRET = 6
_DRIVER_LOGGER = "mysql.connector"

_lock = threading.Lock()
_open: list[RunLog] = []
_current: contextvars.ContextVar[RunLog | None] = contextvars.ContextVar("wfuwp_runlog", default=None)


def event(
    log: logging.Logger,
    level: int,
    name: str,
    message: str,
    *,
    step: str | None = None,
    table: str | None = None,
    **details: Any,
) -> None:
    """Log `message` through `log` as event `name` ("step-start", "table-end", "retry", ...).

    The host's handlers get it when `log` is enabled for `level`; an open `capture()` gets it anyway
    (DEBUG only when `log` is enabled for DEBUG). `details` are JSON-able figures (rows, seconds, ...).
    """
    enabled = log.isEnabledFor(level)
    if not enabled and (level < logging.INFO or not _open):
        return
    record = log.makeRecord(
        log.name,
        level,
        "(wfuwp)",
        0,
        message,
        (),
        None,
        extra={"event": name, "step": step, "table": table, "details": details},
    )
    _deliver(record)
    if enabled:
        log.handle(record)


def inherit() -> Callable[[], None]:
    """A ThreadPoolExecutor `initializer` that makes the pool's threads log into the caller's run."""
    run = _current.get()

    def adopt() -> None:
        _current.set(run)

    return adopt


def _deliver(record: logging.LogRecord) -> None:
    run = _current.get()
    with _lock:
        targets = [run] if run is not None and run in _open else list(_open)
    for target in targets:
        target.add(record)


class _DriverHandler(logging.Handler):
    """Hands the MySQL driver's records (when its logger is enabled) to the runs they belong to."""

    def emit(self, record: logging.LogRecord) -> None:
        _deliver(record)


_DRIVER = _DriverHandler()


class RunLog:
    """The records of one run, as JSON-able dicts; see `capture`."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self.records: list[dict[str, Any]] = []
        self.dropped = 0
        self.retries = 0
        self.warnings = 0
        self.step = "start"
        self._thread = threading.get_ident()
        # Shorter ones would blank ordinary words (`wp`, `root`) all over the log; no message holds a
        # password in the first place, this is a second line of defence.
        self._secrets = [s for s in secrets if len(s) >= _MIN_SECRET]
        self._lock = threading.Lock()

    def add(self, record: logging.LogRecord) -> None:
        """Keep one record (thread-safe). A step-start logged by the run's own thread sets the step of
        the records that name none (a backup running beside the copy does not)."""
        fields: dict[str, Any] = getattr(record, "details", None) or {}
        name = getattr(record, "event", None) or ("driver" if record.name.startswith("mysql") else "log")
        step: str | None = getattr(record, "step", None)
        with self._lock:
            if name == "step-start" and step and record.thread == self._thread:
                self.step = step
            self.retries += name == "retry"
            self.warnings += record.levelno == logging.WARNING
            if len(self.records) >= LOG_LIMIT:
                self.dropped += 1
                return
            line: dict[str, Any] = {
                "time": _iso(record.created),
                "level": record.levelname.lower(),
                "logger": record.name,
                "event": name,
                "step": step or self.step,
                "table": getattr(record, "table", None),
                "message": record.getMessage(),
                **{k: v for k, v in fields.items() if k not in _LINE_KEYS},
            }
            if record.exc_info and record.exc_info[1] is not None:
                line["error"] = _error(record.exc_info[1], line["step"])
            self.records.append(line)

    def lines(self) -> bytes:
        """Every record as one JSON line, passwords masked."""
        out = []
        for record in self.records:
            text = orjson.dumps(record, default=str).decode()
            for secret in self._secrets:
                text = text.replace(orjson.dumps(secret).decode()[1:-1], _MASK).replace(secret, _MASK)
            out.append(text)
        return ("\n".join(out) + "\n").encode() if out else b""


_LINE_KEYS = frozenset({"time", "level", "logger", "event", "step", "table", "message"})


@contextmanager
def capture(
    report: MigrationReport,
    save: Callable[[], Callable[[bytes], None] | None],
    *,
    secrets: Sequence[str] = (),
) -> Iterator[RunLog]:
    """Keep the records of the run in this block; when it ends, log its outcome and save them.

    `report` is the run's report (read at the end: status, id, totals, warnings). `save()` returns
    where the lines go (called at the end, so it may depend on how far the run got) or None to keep
    them nowhere. An exception leaving the block is logged with its context (step, table, type,
    cause, traceback) and raised again. A failure to save is added to `report.skipped` (which the
    CLI prints as a warning) and never changes the run's outcome. `secrets` never appear in a line.
    """
    run = RunLog(secrets)
    token = _current.set(run)
    with _lock:
        _open.append(run)
        if len(_open) == 1:  # one handler for every open capture: a record is delivered once
            logging.getLogger(_DRIVER_LOGGER).addHandler(_DRIVER)
    log = logging.getLogger("wfuwp.runlog")
    event(
        log,
        logging.INFO,
        "start",
        f"migration of site {report.site_id} from {report.source} to {report.target}",
        site_id=report.site_id,
        source=report.source,
        target=report.target,
        implementation=report.implementation,
    )
    try:
        yield run
    except BaseException as exc:
        table = getattr(exc, "table", None)
        event(log, logging.ERROR, "error", _one_line(str(exc)) or type(exc).__name__, step=run.step,
              table=table, error=_error(exc, run.step))  # fmt: skip
        raise
    finally:
        _finish(run, report, log)
        with _lock:
            _open.remove(run)
            if not _open:
                logging.getLogger(_DRIVER_LOGGER).removeHandler(_DRIVER)
        _current.reset(token)
        _save(run, report, save)


def _finish(run: RunLog, report: MigrationReport, log: logging.Logger) -> None:
    totals = report.to_dict()["totals"]
    event(
        log,
        logging.INFO if report.status == "completed" else logging.ERROR,
        "end",
        f"migration {report.migration_id or '(not started)'} {report.status}: {totals['tables']} tables, "
        f"{totals['rows']:,} rows, {totals['replacements']:,} replacements",
        step=run.step,
        migration_id=report.migration_id,
        status=report.status,
        totals=totals,
        timings=report.timings,
        retries=run.retries,
        warnings=list(report.skipped),
        swapped_back=report.swapped_back,
        cleanup_error=report.cleanup_error,
        archive=report.archive,
        records_left_out=run.dropped,
    )


def _save(run: RunLog, report: MigrationReport, save: Callable[[], Callable[[bytes], None] | None]) -> None:
    try:
        writer = save()
        if writer is not None:
            writer(run.lines())
    except Exception as exc:  # the log is secondary: the migration's outcome stands
        report.skipped.append(f"the migration's log could not be written: {_one_line(str(exc))}")
        logging.getLogger("wfuwp.runlog").warning(
            "the log of %s was not written: %s", report.migration_id, exc
        )


def _error(exc: BaseException, step: str) -> dict[str, Any]:
    """An exception as JSON-able context: type, message, step and table, its causes, the traceback."""
    causes: list[dict[str, str]] = []
    cause = exc.__cause__ or exc.__context__
    while cause is not None and len(causes) < 5:
        causes.append({"type": type(cause).__name__, "message": _one_line(str(cause))})
        cause = cause.__cause__ or cause.__context__
    return {
        "type": type(exc).__name__,
        "message": _one_line(str(exc)),
        "step": getattr(exc, "step", None) or step,
        "table": getattr(exc, "table", None),
        "exit_code": getattr(exc, "exit_code", None),
        "causes": causes,
        "traceback": traceback.format_exception(exc)[-12:],
    }


def parse(data: bytes, where: str) -> list[dict[str, Any]]:
    """The records of a saved log (JSON lines); ArchiveError naming `where` for a damaged line."""
    records = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            raise ArchiveError(f"{where} line {number} is not a JSON record: the log is damaged")
        records.append(record)
    return records


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _iso(created: float) -> str:
    return datetime.fromtimestamp(created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
