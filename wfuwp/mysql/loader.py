"""Send INSERT statements to the target on several connections at once.

The loader's threads wait on the server while the producer reads and renders the next batch, so
both run at once. Statements go round-robin to `connections` threads, each with its own
transaction committed every COMMIT_EVERY_BYTES so undo logs stay small; `ordered` statements (tables
without a primary key, whose rows differ only by order) all go to the first connection.
Measured here: MariaDB >= 10.6 loads the first transaction into an EMPTY table in bulk mode (with
unique_checks=0), which locks the table, so a second connection into the same table waits; hence
one connection per table by default and parallelism across tables.

With `load_data=True` the loader can also take rows in LOAD DATA's format (`send_load`): each
connection streams them through a named pipe in a private folder into a running
`LOAD DATA LOCAL INFILE`, which the server ingests with less work than INSERTs (no SQL to parse).
That needs `local_infile` on the server; when the server or the driver refuses, `load_refused` says
why and the loader runs the INSERT given with each piece instead, so nothing is lost.
"""

from __future__ import annotations

import errno
import fcntl
import os
import queue
import shutil
import tempfile
import threading
import time
from typing import Any

import mysql.connector

from wfuwp.mysql.connection import Database, execute, kill_queries, prepare_copy_session, query

# Commit every this many bytes per connection, so InnoDB's undo log stays small.
COMMIT_EVERY_BYTES = 32 << 20
# Statements waiting per connection; bounds memory at about this many statements of ~1 MiB each.
QUEUE_DEPTH = 2

_FLUSH = object()
_STOP = object()

# Stands for the file name in a LOAD DATA statement; each connection puts its own pipe's path there.
LOAD_PATH = "<pipe>"

# Errors that mean "LOAD DATA LOCAL is not allowed here" (server or client), not "the data is wrong":
# 1148 ER_NOT_ALLOWED_COMMAND, 3948 ER_CLIENT_LOCAL_FILES_DISABLED, 2068 CR_LOAD_DATA_LOCAL_INFILE_REJECTED,
# 4166 (MariaDB) ER_LOAD_INFILE_CAPABILITY_DISABLED.
_REFUSED = frozenset({1148, 3948, 2068, 4166})


class _LoadPiece:
    """Rows for a LOAD DATA statement, with the INSERT that loads the same rows when LOAD is refused."""

    __slots__ = ("insert", "rows", "statement")

    def __init__(self, statement: bytes, rows: bytes, insert: bytes) -> None:
        self.statement = statement
        self.rows = rows
        self.insert = insert


class _Feed:
    """One running LOAD DATA statement and the write end of the pipe it reads."""

    def __init__(self, conn: Any, statement: bytes, path: str, cancel: threading.Event) -> None:
        self.statement = statement
        self.error: BaseException | None = None
        self.written = 0
        self.fd = -1
        sql = statement.replace(LOAD_PATH.encode(), path.encode())
        self._thread = threading.Thread(
            target=self._run, args=(conn, sql), daemon=True, name="wfuwp-load-data"
        )
        self._thread.start()
        # The driver opens the pipe once the server asks for the file; open it non-blocking until then,
        # so that a statement refused at once is seen instead of waiting forever for a reader.
        while True:
            try:
                self.fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
            if not self._thread.is_alive() or cancel.is_set():
                self._thread.join()
                raise self.error or InterruptedError("cancelled")
            time.sleep(0.0005)
        flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)

    def _run(self, conn: Any, sql: bytes) -> None:
        try:
            conn.cmd_query(sql)
        except BaseException as exc:
            self.error = exc

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                done = os.write(self.fd, view)
            except BrokenPipeError:
                self._thread.join()  # the driver stopped reading: its error says why
                raise self.error or BrokenPipeError("LOAD DATA stopped reading") from None
            view = view[done:]
        self.written += len(data)

    def running(self) -> bool:
        """Whether the statement still runs (its connection must not be closed under it)."""
        return self._thread.is_alive()

    def abandon(self, wait_s: float) -> None:
        """End the data and wait at most `wait_s` for the statement, ignoring its outcome."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self._thread.join(wait_s)

    def finish(self) -> None:
        """End the data (EOF) and wait for the statement; raise its error."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self._thread.join()
        if self.error is not None:
            raise self.error


class Loader:
    """A pool of target connections executing statements in the background.

    `send()` queues a statement; `flush()` waits until every queued statement has run and is
    committed, then raises the first error any connection hit. Use as a context manager.
    """

    def __init__(
        self,
        db: Database,
        connections: int,
        cancel: threading.Event | None = None,
        *,
        load_data: bool = False,
    ) -> None:
        """`load_data`: try LOAD DATA LOCAL for `send_load` (see the module's docstring)."""
        self._db = db
        self._cancel = cancel or threading.Event()
        self._queues: list[queue.Queue[object]] = []
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None
        self._done = threading.Semaphore(0)
        self._next = 0
        self._width = max(1, connections)
        #: Why LOAD DATA is not used (None while it is, or may be, used).
        self.load_refused: str | None = None if load_data else "not asked for"
        #: Whether a LOAD DATA has started: the target accepts it, `send_load` needs no INSERT any more.
        self.load_accepted = False
        self._pipes: str | None = None
        self._feeds: dict[int, _Feed] = {}
        if load_data:
            self._pipes = tempfile.mkdtemp(prefix="wfuwp-load-")
        self.connections = [db.connect(local_infile_dir=self._pipes) for _ in range(self._width)]
        for conn in self.connections:
            prepare_copy_session(conn, reading=False)
        if load_data:
            (allowed,) = query(self.connections[0], "SELECT @@GLOBAL.local_infile")[0]
            if not int(allowed):
                self.load_refused = "the target server has local_infile off"
        for index, conn in enumerate(self.connections):
            q: queue.Queue[object] = queue.Queue(QUEUE_DEPTH)
            thread = threading.Thread(
                target=self._run, args=(conn, q, index), name=f"wfuwp-load-{index}", daemon=True
            )
            self._queues.append(q)
            self._threads.append(thread)
            thread.start()

    def __enter__(self) -> Loader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, conn: Any, q: queue.Queue[object], index: int) -> None:
        uncommitted = 0
        in_transaction = False
        feed: _Feed | None = None
        pipe = os.path.join(self._pipes, f"rows-{index}") if self._pipes else ""
        if pipe:
            os.mkfifo(pipe, 0o600)
        while True:
            item = q.get()
            if item is _STOP:
                if feed is not None:
                    feed.abandon(5)
                return
            if isinstance(item, _LoadPiece):
                if self._error is not None:
                    continue
                try:
                    if feed is not None and feed.statement != item.statement:
                        done, feed = feed, None
                        done.finish()
                    if feed is None and self.load_refused is None:
                        if in_transaction:  # rows sent as INSERTs first are committed first
                            execute(conn, b"COMMIT")
                            in_transaction = False
                            uncommitted = 0
                        try:
                            feed = self._feeds[index] = _Feed(conn, item.statement, pipe, self._cancel)
                            self.load_accepted = True
                        except mysql.connector.Error as exc:
                            if exc.errno not in _REFUSED or not item.insert:
                                raise
                            self.load_refused = f"the target refused LOAD DATA LOCAL ({exc.msg})"
                    if feed is not None:
                        feed.write(item.rows)
                        if feed.written > COMMIT_EVERY_BYTES:
                            done, feed = feed, None
                            done.finish()
                        continue
                except BaseException as exc:
                    self._error = self._error or exc
                    continue
                item = item.insert  # LOAD DATA refused: the same rows as an INSERT
            elif feed is not None:  # anything else ends the LOAD DATA first
                try:
                    done, feed = feed, None
                    done.finish()
                except BaseException as exc:
                    self._error = self._error or exc
            if item is _FLUSH:
                if in_transaction and self._error is None:
                    try:
                        execute(conn, b"COMMIT")
                    except BaseException as exc:
                        self._error = self._error or exc
                in_transaction = False
                uncommitted = 0
                self._done.release()
                continue
            if self._error is not None:
                continue  # drain: the producer learns of the error at its next send or flush
            statement = item
            assert isinstance(statement, bytes)
            try:
                if not in_transaction:
                    execute(conn, b"START TRANSACTION")
                    in_transaction = True
                conn.cmd_query(statement)
                uncommitted += len(statement)
                if uncommitted > COMMIT_EVERY_BYTES:
                    execute(conn, b"COMMIT")
                    in_transaction = False
                    uncommitted = 0
            except BaseException as exc:
                self._error = self._error or exc

    def send_load(self, statement: bytes, rows: bytes, insert: bytes, *, ordered: bool = False) -> None:
        """Queue `rows` (LOAD DATA's format) for the LOAD DATA LOCAL `statement`, whose file name must be
        LOAD_PATH; `insert` loads the same rows when the target refuses LOAD DATA (see load_refused):
        it may be empty once `load_accepted`. Pieces of one statement in a row on one connection stream
        into one LOAD DATA."""
        self.send(_LoadPiece(statement, rows, insert), ordered=ordered)  # type: ignore[arg-type]

    def load_statement(self, table: str, columns: list[str]) -> bytes:
        """The LOAD DATA LOCAL statement for `send_load` into `table` (copied `columns`, in order)."""
        from wfuwp.mysql.sql import quote_identifier

        cols = ", ".join(quote_identifier(c) for c in columns)
        return (
            f"LOAD DATA LOCAL INFILE '{LOAD_PATH}' INTO TABLE {quote_identifier(table)}"
            f" CHARACTER SET binary ({cols})"
        ).encode()

    def send(self, statement: bytes, *, ordered: bool = False) -> None:
        """Queue one statement (on the first connection when `ordered`); raise a connection's error."""
        self._raise()
        if ordered:
            index = 0
        else:
            index = self._next
            self._next = (self._next + 1) % self._width
        while True:
            try:
                self._queues[index].put(statement, timeout=0.5)
                return
            except queue.Full:
                # A stuck connection must not make the producer deaf to cancellation.
                if self._cancel.is_set():
                    raise InterruptedError("cancelled") from None
                self._raise()

    def flush(self) -> None:
        """Wait until everything sent has run and is committed; raise the first error."""
        for q in self._queues:
            while True:  # a connection stuck in a statement must not make a cancel wait for it
                try:
                    q.put(_FLUSH, timeout=0.5)
                    break
                except queue.Full:
                    if self._cancel.is_set():
                        raise InterruptedError("cancelled") from None
        for _ in self._queues:
            while not self._done.acquire(timeout=0.5):
                if self._cancel.is_set():
                    raise InterruptedError("cancelled")
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop the threads and close the connections (uncommitted work is rolled back).

        Returns within about a second even when a statement is still running: what is queued is
        dropped, and a running statement is cut short with KILL QUERY.
        """
        if any(thread.is_alive() for thread in self._threads):
            # Threads skip what is still queued once an error is set, so the stop marker gets through.
            self._error = self._error or InterruptedError("closed")
            self._stop_threads(0.5)
            if any(thread.is_alive() for thread in self._threads):
                kill_queries(self._db, self.connections)
                self._stop_threads(5)
        for index, conn in enumerate(self.connections):
            feed = self._feeds.get(index)
            if feed is not None and feed.running():
                continue  # closing a connection in use by another thread crashes the C driver
            try:
                conn.close()
            except Exception:
                pass  # a connection the server already dropped: nothing to close
        if self._pipes:
            shutil.rmtree(self._pipes, ignore_errors=True)

    def _stop_threads(self, wait_s: float) -> None:
        for q in self._queues:
            try:
                q.put(_STOP, timeout=0.5)
            except queue.Full:
                pass  # its thread is busy in a statement; joining below waits for it
        for thread in self._threads:
            thread.join(timeout=wait_s)
