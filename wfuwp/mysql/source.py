"""Consistent streaming reads: several connections that all see the tables as of one moment.

The snapshot is taken the way mydumper does it: `FLUSH TABLES <site tables> WITH READ LOCK` for a
moment, every reader starts `START TRANSACTION WITH CONSISTENT SNAPSHOT`, non-transactional
(MyISAM) tables get `LOCK TABLES ... READ` on a connection of their own, then the flush lock goes.
Writers to InnoDB tables wait only for that moment; writers to MyISAM tables wait until those tables
are read. Without the privilege for the flush lock, one connection reads everything in one snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import mysql.connector

from wfuwp.mysql.connection import Database, database_error, execute, kill_queries, prepare_copy_session
from wfuwp.mysql.schema import Table
from wfuwp.mysql.sql import quote_identifier

Row = tuple[bytes | None, ...]


@dataclass
class SnapshotInfo:
    """How the snapshot was taken, for the report."""

    method: str = "single-connection"
    readers: int = 1
    lock_seconds: float = 0.0
    myisam_tables: list[str] = field(default_factory=list)
    myisam_lock_seconds: float = 0.0


class Snapshot:
    """Reader connections over `tables` of `db`, all as of one moment.

    Use as a context manager. `readers` is how many transactional tables can be read at once; the
    snapshot falls back to one reader when the server refuses the flush lock (no RELOAD privilege).
    """

    def __init__(
        self,
        db: Database,
        tables: list[Table],
        *,
        readers: int = 2,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.db = db
        self.tables = tables
        self.info = SnapshotInfo(readers=max(1, readers))
        self._log = log or (lambda _msg: None)
        self.connections: list[Any] = []
        self.myisam_connection: Any = None
        self._myisam_locked_at = 0.0

    def __enter__(self) -> Snapshot:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reader(self) -> Any:
        conn = self.db.connect()
        prepare_copy_session(conn, reading=True)
        execute(conn, b"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return conn

    def _open(self) -> None:
        myisam = [t.name for t in self.tables if not t.transactional]
        self.info.myisam_tables = myisam
        wanted = self.info.readers
        if wanted == 1 and not myisam:
            conn = self._reader()
            execute(conn, b"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            self.connections = [conn]
            return
        control = self.db.connect()
        names = ", ".join(
            f"{quote_identifier(self.db.database)}.{quote_identifier(t.name)}" for t in self.tables
        )
        try:
            started = time.monotonic()
            try:
                execute(control, f"FLUSH TABLES {names} WITH READ LOCK")
                locked = True
                self.info.method = "flush-tables-with-read-lock"
            except mysql.connector.Error as exc:
                locked = False
                self._log(
                    f"cannot take a flush lock on {self.db} ({exc.msg}); reading with one connection instead"
                )
                self.info.readers = 1
            for _ in range(self.info.readers):
                conn = self._reader()
                execute(conn, b"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                self.connections.append(conn)
            if myisam:
                self.myisam_connection = self._reader()
                execute(
                    self.myisam_connection,
                    "LOCK TABLES " + ", ".join(f"{quote_identifier(n)} READ" for n in myisam),
                )
                self._myisam_locked_at = time.monotonic()
            if locked:
                execute(control, b"UNLOCK TABLES")
                self.info.lock_seconds = time.monotonic() - started
        except mysql.connector.Error as exc:
            raise database_error(exc, f"cannot take a consistent snapshot of {self.db}") from None
        finally:
            control.close()

    def release_myisam(self) -> None:
        """Let writers at the MyISAM tables again (call once they are read)."""
        if self.myisam_connection is not None and self._myisam_locked_at:
            try:
                execute(self.myisam_connection, b"UNLOCK TABLES")
            finally:
                self.info.myisam_lock_seconds = time.monotonic() - self._myisam_locked_at
                self._myisam_locked_at = 0.0

    def connection_for(self, table: Table, reader: int) -> Any:
        """The connection that must read `table` (MyISAM tables have their own)."""
        if not table.transactional and self.myisam_connection is not None:
            return self.myisam_connection
        return self.connections[reader % len(self.connections)]

    def interrupt(self) -> None:
        """Cut short the reads running now (from another thread), so that readers notice a cancel at once."""
        kill_queries(self.db, [c for c in [*self.connections, self.myisam_connection] if c is not None])

    def close(self) -> None:
        """End every transaction and lock, and close the connections."""
        if self._myisam_locked_at:
            try:
                self.release_myisam()
            except Exception:
                pass
        for conn in [*self.connections, self.myisam_connection]:
            if conn is None:
                continue
            try:
                conn.close()
            except Exception:
                pass
        self.connections = []
        self.myisam_connection = None


# Rows in the first batch of a table at most (see stream_rows).
FIRST_BATCH_ROWS = 256


def stream_rows(
    conn: Any,
    database: str,
    table: Table,
    *,
    batch_bytes: int = 2 << 20,
    max_rows: int = 20_000,
) -> Iterator[list[Row]]:
    """Yield the table's rows (copied columns, raw bytes) in batches of about `batch_bytes`.

    Unbuffered: the server streams, so memory holds one batch whatever the table's size. The batch
    size in rows follows the table's average row length and adapts to what actually arrives.
    """
    columns = ", ".join(quote_identifier(c) for c in table.column_names)
    statement = f"SELECT {columns} FROM {quote_identifier(database)}.{quote_identifier(table.name)}"
    # The first batch is sized from the server's statistics, but never past FIRST_BATCH_ROWS: right
    # after a bulk load they can be absent or far off (LONGTEXT stored off-page hardly counts in
    # DATA_LENGTH), and one batch of a whole 200 MB table once came of it. Later batches follow the
    # rows that actually arrive.
    average = table.data_bytes // table.rows_estimate if table.rows_estimate else 512
    size = max(1, min(FIRST_BATCH_ROWS, max_rows, batch_bytes // max(average, 64)))
    cursor = conn.cursor(raw=True, buffered=False)
    try:
        cursor.execute(statement)
        while True:
            rows = cursor.fetchmany(size)
            if not rows:
                return
            yield rows
            sample = rows[:: max(1, len(rows) // 8)]
            seen = sum(len(v) for row in sample for v in row if v is not None) // len(sample) + 16
            size = max(1, min(max_rows, batch_bytes // seen))
    finally:
        try:
            cursor.close()
        except Exception:
            pass
