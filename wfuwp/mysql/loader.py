"""Send INSERT statements to the target on several connections at once.

The loader's threads wait on the server while the producer reads and renders the next batch, so
both run at once. Statements go round-robin to `connections` threads, each with its own
transaction committed every COMMIT_EVERY_BYTES so undo logs stay small; `ordered` statements (tables
without a primary key, whose rows differ only by order) all go to the first connection.
Measured here: MariaDB >= 10.6 loads the first transaction into an EMPTY table in bulk mode (with
unique_checks=0), which locks the table, so a second connection into the same table waits; hence
one connection per table by default and parallelism across tables.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from wfuwp.mysql.connection import Database, execute, kill_queries, prepare_copy_session

# Commit every this many bytes per connection, so InnoDB's undo log stays small.
COMMIT_EVERY_BYTES = 32 << 20
# Statements waiting per connection; bounds memory at about this many statements of ~1 MiB each.
QUEUE_DEPTH = 2

_FLUSH = object()
_STOP = object()


class Loader:
    """A pool of target connections executing statements in the background.

    `send()` queues a statement; `flush()` waits until every queued statement has run and is
    committed, then raises the first error any connection hit. Use as a context manager.
    """

    def __init__(self, db: Database, connections: int, cancel: threading.Event | None = None) -> None:
        self._db = db
        self._cancel = cancel or threading.Event()
        self._queues: list[queue.Queue[object]] = []
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None
        self._done = threading.Semaphore(0)
        self._next = 0
        self._width = max(1, connections)
        self.connections = [db.connect() for _ in range(self._width)]
        for conn in self.connections:
            prepare_copy_session(conn, reading=False)
        for index, conn in enumerate(self.connections):
            q: queue.Queue[object] = queue.Queue(QUEUE_DEPTH)
            thread = threading.Thread(
                target=self._run, args=(conn, q), name=f"wfuwp-load-{index}", daemon=True
            )
            self._queues.append(q)
            self._threads.append(thread)
            thread.start()

    def __enter__(self) -> Loader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, conn: Any, q: queue.Queue[object]) -> None:
        uncommitted = 0
        in_transaction = False
        while True:
            item = q.get()
            if item is _STOP:
                return
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
        for conn in self.connections:
            try:
                conn.close()
            except Exception:
                pass  # a connection the server already dropped: nothing to close

    def _stop_threads(self, wait_s: float) -> None:
        for q in self._queues:
            try:
                q.put(_STOP, timeout=0.5)
            except queue.Full:
                pass  # its thread is busy in a statement; joining below waits for it
        for thread in self._threads:
            thread.join(timeout=wait_s)
