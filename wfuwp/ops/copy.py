"""The row path of a migration: every row of a site's tables, from the source snapshot into staging.

    Snapshot (wfuwp.mysql.source) -> stream_rows -> Replacer.render_rows (replace, escape, checksum, chunk)
        -> Loader (LOAD DATA LOCAL, or INSERTs, into the staging table) -> verify (rows + checksum)
        -> archive: source/ (the rows as read) and migrated/ (as written), per table

Tables are taken from one shared queue, biggest first, by one worker per snapshot reader.
Rows go to the server as LOAD DATA LOCAL INFILE (through a pipe, see wfuwp.mysql.loader) when the
target allows it, the table's rows are small (LOAD_DATA_MAX_ROW_BYTES) and it has no BIT or spatial
column (LOAD DATA cannot take those as bytes); otherwise, and when the target refuses, as multi-row
INSERTs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import mysql.connector

from wfuwp import runlog
from wfuwp.archive.folder import MigrationArchive
from wfuwp.archive.manifest import Role, TableSum
from wfuwp.errors import Cancelled, MigrationError, WfuwpError
from wfuwp.mysql.connection import Database, closing, database_error, with_retries
from wfuwp.mysql.loader import Loader
from wfuwp.mysql.objects import Trigger, trigger_sql
from wfuwp.mysql.schema import Table
from wfuwp.mysql.source import Snapshot, stream_rows
from wfuwp.mysql.sql import DUMP_FOOTER, DUMP_HEADER, insert_prefix, table_preamble
from wfuwp.ops.cutover import CutOver
from wfuwp.progress import Progress
from wfuwp.replace import Replacer, Rule
from wfuwp.report import TableReport
from wfuwp.storage.compress import ArchiveStream

__all__ = ["Copied", "TableCopier"]

_log = logging.getLogger(__name__)

# Column types LOAD DATA cannot fill from the bytes the source gives (BIT takes a number, spatial types
# their own format): tables with them are loaded with INSERTs.
_NOT_LOADABLE = frozenset({"bit", "geometry", "point", "linestring", "polygon", "multipoint",
                           "multilinestring", "multipolygon", "geometrycollection"})  # fmt: skip


# LOAD DATA only for tables whose rows average at most this many bytes (in the first batch). Measured
# on MariaDB 10.11 (benchmarks/bench_ingest.py, server ingest only, median of 5): postmeta (150-byte
# rows) 0.76x the time of INSERTs, comments (1.1 KB) 0.96x, options (3.6 KB) 1.26x, posts (20 KB of
# HTML) 1.57x: the server reads a LOAD DATA field byte by byte, slower than it parses a quoted string.
LOAD_DATA_MAX_ROW_BYTES = 1024


def loadable(table: Table) -> bool:
    """Whether LOAD DATA can load `table`'s rows byte for byte."""
    return not any(c.data_type.lower() in _NOT_LOADABLE for c in table.copied_columns)


@dataclass(frozen=True)
class Copied:
    """One table copied and verified: its figures and the notes for the report."""

    report: TableReport
    notes: list[str]


class TableCopier:
    """Copies tables into the cut-over's staging tables; safe to use from several threads at once.

    `statement_limit`: bytes of one INSERT; `packet_limit`: the target's max_allowed_packet less
    headroom; `on_copied(table_copied)` is called from the worker thread once a table is verified;
    `load_data`: use LOAD DATA LOCAL where the target allows it (else INSERTs only).
    """

    def __init__(
        self,
        *,
        source: Database,
        target: Database,
        cut: CutOver,
        rules: Sequence[Rule],
        statement_limit: int,
        packet_limit: int,
        load_connections: int,
        archive: MigrationArchive | None,
        cancel: threading.Event,
        progress: Progress,
        on_copied: Callable[[Copied], None],
        triggers: Sequence[Trigger] = (),
        load_data: bool = True,
    ) -> None:
        """`triggers`: the source's triggers of the tables, written into their archived exports."""
        self.triggers = list(triggers)
        self.source = source
        self.target = target
        self.cut = cut
        self.rules = list(rules)
        self.statement_limit = statement_limit
        self.packet_limit = packet_limit
        self.load_connections = load_connections
        self.archive = archive
        self.cancel = cancel
        self.progress = progress
        self.on_copied = on_copied
        self.load_data = load_data
        self._queue_lock = threading.Lock()
        self._refusal_noted = False

    def work(self, snap: Snapshot, pending: list[Table], reader: int, *, myisam: bool) -> None:
        """Copy tables from `pending` (shared, consumed) until it is empty or the run is cancelled."""
        replacer = Replacer(self.rules)
        with Loader(self.target, self.load_connections, self.cancel, load_data=self.load_data) as loader:
            while not self.cancel.is_set():
                with self._queue_lock:
                    if not pending:
                        break
                    table = pending.pop(0)
                copied = self._copy(snap.connection_for(table, reader), loader, table, replacer)
                # Recorded (state.json) before it is announced: a run killed after "table-end" resumes
                # without copying the table again.
                try:
                    self.on_copied(copied)
                except BaseException as exc:
                    _raise_in_table(exc, table.name)
                done = copied.report
                self.progress.emit(
                    "table-end",
                    "copy",
                    table=done.name,
                    rows_done=done.rows,
                    rows_total=done.rows,
                    bytes_done=done.bytes_read,
                    bytes_total=done.bytes_read,
                )
        if myisam:
            snap.release_myisam()

    def _copy(self, src: Any, loader: Loader, table: Table, replacer: Replacer) -> Copied:
        started = time.monotonic()
        result = TableReport(table.name, action="replaced" if table.name in self.cut.replaced else "created")
        self.progress.emit(
            "table-start",
            "copy",
            table=table.name,
            rows_total=table.rows_estimate,
            bytes_total=table.data_bytes,
        )
        runlog.event(_log, logging.INFO, "table-start", f"copying about {table.rows_estimate:,} rows",
                     step="copy", table=table.name, rows_estimate=table.rows_estimate)  # fmt: skip
        exports: dict[str, ArchiveStream] = {}
        replacer.reset_stats()
        try:
            self._open_exports(table, exports)
            used_load = self._stream(src, loader, table, replacer, result, exports)
            loader.flush()
            self._verify(table, TableSum(result.rows, result.checksum))
            for stream in exports.values():
                own = [t for t in self.triggers if t.table == table.name]
                stream.write(b"COMMIT;\n" + trigger_sql(own) + DUMP_FOOTER)
                stream.close()
        except BaseException as exc:
            for stream in exports.values():
                stream.abort()
            _raise_in_table(exc, table.name)
        stats = replacer.stats
        result.values_changed = stats.values_changed
        result.replacements = stats.replacements
        result.malformed_serialized = stats.malformed_serialized
        result.skipped_custom = stats.skipped_custom
        result.too_deep = stats.too_deep
        notes = []
        if self.load_data and loader.load_refused and not self._refusal_noted:
            with self._queue_lock:
                first, self._refusal_noted = not self._refusal_noted, True
            if first:
                notes.append(
                    f"rows were sent as INSERTs, not LOAD DATA LOCAL: {loader.load_refused} (LOAD DATA is "
                    "about a fifth faster to ingest; SET GLOBAL local_infile = 1 on the target allows it)"
                )
        if stats.too_deep:
            notes.append(
                f"{table.name}: {stats.too_deep} value(s) nest serialized data more than 64 levels deep and "
                "were copied unchanged: a source URL inside one still points at the source (search the "
                "table for the source host to find them)"
            )
        if stats.skipped_custom:
            notes.append(
                f"{table.name}: {stats.skipped_custom} value(s) hold PHP objects in a format of their own "
                "(C:, custom serialization) and were copied unchanged: a source URL inside one stays as "
                "it is; WordPress itself writes none, so this matters only if the plugin that stored them "
                "uses such a URL (search the table for the source host to check)"
            )
        result.seconds = round(time.monotonic() - started, 3)
        runlog.event(
            _log,
            logging.INFO,
            "table-end",
            f"copied and verified {result.rows:,} rows, {result.replacements:,} replacements",
            step="copy",
            table=table.name,
            rows=result.rows,
            checksum=result.checksum,
            bytes_read=result.bytes_read,
            sql_bytes=result.sql_bytes,
            replacements=result.replacements,
            values_changed=result.values_changed,
            malformed_serialized=result.malformed_serialized,
            seconds=result.seconds,
            load_data=used_load and loader.load_refused is None,
        )
        for note in notes:
            runlog.event(_log, logging.WARNING, "warning", note, step="copy", table=table.name)
        return Copied(result, notes)

    def _stream(
        self,
        src: Any,
        loader: Loader,
        table: Table,
        replacer: Replacer,
        result: TableReport,
        exports: dict[str, ArchiveStream],
    ) -> bool:
        """Read, replace, render and send every row of `table`, counting into `result`; return whether
        the rows were meant for LOAD DATA."""
        staging_prefix = insert_prefix(self.cut.staging_name(table.name), table.column_names)
        live_prefix = insert_prefix(table.name, table.column_names)
        # Without a primary key, row order is all that tells rows apart: keep it.
        ordered = not table.has_primary_key
        load: bool | None = None  # decided on the first batch
        load_sql = loader.load_statement(self.cut.staging_name(table.name), table.column_names)
        loads: list[bytes] | None = None
        for batch in stream_rows(src, self.source.database, table):
            if self.cancel.is_set():
                raise Cancelled
            if load is None:
                average = sum(len(v) for row in batch for v in row if v is not None) / len(batch)
                load = average <= LOAD_DATA_MAX_ROW_BYTES and self.load_data and loadable(table)
            if load and loader.load_refused is None:
                chunks, originals, _counts, checksum, loads = replacer.render_rows_and_load(
                    batch, table.kinds, max_chunk=self.statement_limit, with_original="source" in exports
                )
            else:
                loads = None
                chunks, originals, _counts, checksum = replacer.render_rows(
                    batch, table.kinds, max_chunk=self.statement_limit, with_original="source" in exports
                )
            for index, chunk in enumerate(chunks):
                statement = staging_prefix + chunk
                if len(statement) > self.packet_limit:
                    raise MigrationError(
                        f"a row of {len(chunk)} bytes is larger than the target's max_allowed_packet "
                        f"({self.packet_limit} bytes); raise it on the target server "
                        "(SET GLOBAL max_allowed_packet = 1073741824) and run again",
                        step="copy",
                        table=table.name,
                    )
                if loads is not None:
                    # The INSERT is kept for a refusal only until the target has taken a LOAD DATA.
                    fallback = b"" if loader.load_accepted else statement
                    loader.send_load(load_sql, loads[index], fallback, ordered=ordered)
                else:
                    loader.send(statement, ordered=ordered)
                if "migrated" in exports:
                    exports["migrated"].write(live_prefix + chunk + b";\n")
                result.sql_bytes += len(statement)
            if originals is not None:
                for original in originals:
                    exports["source"].write(live_prefix + original + b";\n")
            result.rows += len(batch)
            result.checksum += checksum
            result.bytes_read += sum(len(v) for row in batch for v in row if v is not None)
            self.progress.emit(
                "rows",
                "copy",
                table=table.name,
                rows_done=result.rows,
                rows_total=max(result.rows, table.rows_estimate),
                bytes_done=result.bytes_read,
                bytes_total=max(result.bytes_read, table.data_bytes),
            )
        return bool(load)

    def _verify(self, table: Table, expected: TableSum) -> None:
        def verify() -> None:
            with closing(self.target.connect()) as conn:
                self.cut.verify(conn, table.name, table.column_names, expected)

        with_retries(verify, what=f"verifying {table.name}", log=lambda m: self.progress.log("copy", m))

    def _open_exports(self, table: Table, exports: dict[str, ArchiveStream]) -> None:
        """Open the table's source and migrated exports into `exports` (so a failure aborts what opened)."""
        if self.archive is None:
            return
        kinds: tuple[Role, ...] = ("source", "migrated")
        for kind in kinds:
            stream = self.archive.open_table_stream(kind, table.name)
            exports[kind] = stream
            stream.write(DUMP_HEADER + table_preamble(table.name, table.create_sql) + b"START TRANSACTION;\n")


def _raise_in_table(exc: BaseException, table: str) -> NoReturn:
    """Raise `exc`, or an error for it that names `table` (call it from an except block)."""
    error = _in_table(exc, table)
    if error is exc:
        raise exc
    # A driver error or an interruption says all in the new message; an archive error is the cause.
    raise error from (exc if isinstance(exc, WfuwpError) else None)


def _in_table(exc: BaseException, table: str) -> BaseException:
    """The error to raise for `exc` while copying `table`: one that names the table where it can."""
    if isinstance(exc, InterruptedError):
        return Cancelled()
    if isinstance(exc, (MigrationError, Cancelled)):
        return exc
    if isinstance(exc, WfuwpError):  # an archive or database error: say where it happened
        return MigrationError(str(exc), step="copy", table=table)
    if isinstance(exc, mysql.connector.Error):
        return MigrationError(str(database_error(exc, "database error")), step="copy", table=table)
    return exc
