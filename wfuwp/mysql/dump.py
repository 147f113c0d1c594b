"""Tables as SQL that the stock client loads: the format of every export, backup and archive.

    DUMP_HEADER, DROP TABLE IF EXISTS, CREATE TABLE, START TRANSACTION, INSERT..., COMMIT,
    [the table's triggers, after its rows so that loading fires none], DUMP_FOOTER

`zstd -dc file.sql.zst | mariadb db` recreates the table byte for byte (SET NAMES binary, UTC).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from wfuwp.errors import Cancelled
from wfuwp.mysql.connection import Database, closing
from wfuwp.mysql.objects import Trigger, site_triggers, trigger_sql
from wfuwp.mysql.schema import Table, describe_tables
from wfuwp.mysql.source import Snapshot, stream_rows
from wfuwp.mysql.sql import DUMP_FOOTER, DUMP_HEADER, insert_prefix, table_preamble
from wfuwp.replace import Replacer


class Sink(Protocol):
    """Where one table's SQL goes: close() makes it durable, abort() leaves nothing."""

    def write(self, data: bytes) -> int: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


def dump_table(
    conn: Any,
    database: str,
    table: Table,
    sink: Sink,
    *,
    statement_limit: int = 1 << 20,
    cancel: threading.Event | None = None,
    triggers: Sequence[Trigger] = (),
) -> tuple[int, int]:
    """Write one table as SQL into `sink` (not closed here); return (rows, checksum).

    `triggers`: the table's, written after its rows (see trigger_sql).

    The checksum is comparable with `wfuwp.mysql.sql.checksum_query` on a table loaded from the dump, so a
    restore can prove it brought back exactly these rows.
    """
    copier = Replacer([])
    prefix = insert_prefix(table.name, table.column_names)
    sink.write(DUMP_HEADER + table_preamble(table.name, table.create_sql) + b"START TRANSACTION;\n")
    rows = checksum = 0
    for batch in stream_rows(conn, database, table):
        if cancel is not None and cancel.is_set():
            raise Cancelled
        chunks, _originals, _counts, batch_sum = copier.render_rows(
            batch, table.kinds, max_chunk=statement_limit
        )
        for chunk in chunks:
            sink.write(prefix + chunk + b";\n")
        rows += len(batch)
        checksum += batch_sum
    sink.write(b"COMMIT;\n" + trigger_sql(triggers) + DUMP_FOOTER)
    return rows, checksum


def dump_tables(
    db: Database,
    names: list[str],
    open_sink: Callable[[str], Sink],
    *,
    statement_limit: int = 1 << 20,
    cancel: threading.Event | None = None,
    on_table: Callable[[str, int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, tuple[int, int]]:
    """Dump the named tables of `db` from one consistent snapshot, one sink per table.

    Each sink is closed (durable) once its table is complete, or aborted on any failure. Returns
    {table: (rows, checksum)}; `on_table(name, rows, checksum)` is called as each one completes.
    """
    with closing(db.connect()) as conn:
        # Non-transactional tables first: writers wait on them only until they are read.
        tables = sorted(describe_tables(conn, db.database, names), key=lambda t: t.transactional)
        triggers = site_triggers(conn, db.database, names)
    myisam_left = sum(1 for t in tables if not t.transactional)
    results: dict[str, tuple[int, int]] = {}
    with Snapshot(db, tables, readers=1, log=log) as snap:
        for table in tables:
            sink = open_sink(table.name)
            try:
                rows, checksum = dump_table(
                    snap.connection_for(table, 0),
                    db.database,
                    table,
                    sink,
                    statement_limit=statement_limit,
                    cancel=cancel,
                    triggers=[t for t in triggers if t.table == table.name],
                )
                sink.close()
            except BaseException:
                sink.abort()
                raise
            results[table.name] = (rows, checksum)
            if on_table is not None:
                on_table(table.name, rows, checksum)
            if not table.transactional:
                myisam_left -= 1
                if myisam_left == 0:
                    snap.release_myisam()
    return results
