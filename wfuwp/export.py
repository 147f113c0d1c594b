"""Export a site's tables as SQL text, zstd-compressed: `zstd -dc FILE | mariadb DB` loads it back.

    one consistent snapshot of the tables -> Replacer([]).render_rows -> one dump per table -> a sink

`dump_tables` is the shared routine: it streams any tables of one database into per-table sinks
(a migration's backup can use it with the archive's per-table streams; `backup_site` does);
`export_site` points it at one object (a file or s3://bucket/key) that holds every table of a site.
Each table's dump is self-contained (session settings, DROP, CREATE, INSERTs in one transaction,
settings restored), so one file may hold several.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import mysql.connector

from wfuwp._version import __version__
from wfuwp.archive import ArchiveLocation, ArchiveStream
from wfuwp.db import Database, connection
from wfuwp.errors import UsageError, WfuwpError
from wfuwp.network import site_address
from wfuwp.progress import Progress, ProgressCallback
from wfuwp.replace import Replacer
from wfuwp.schema import Table, describe_tables, require_site_tables, validate_site_id
from wfuwp.source import Snapshot, stream_rows
from wfuwp.sql import DUMP_FOOTER, DUMP_HEADER, insert_prefix, table_preamble

# INSERT statements of about 1 MiB: what the engine sends too. A row larger than this gets a statement
# of its own, so loading the file needs a max_allowed_packet above the largest row (as mysqldump does).
DEFAULT_STATEMENT_BYTES = 1 << 20
SUFFIX = ".sql.zst"


class SqlSink(Protocol):
    """Where one table's dump goes: `close()` makes it durable, `abort()` leaves nothing behind."""

    def write(self, data: bytes) -> int: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


@dataclass
class TableDump:
    """One table as dumped: rows, raw bytes read, SQL bytes written, seconds."""

    name: str
    rows: int = 0
    bytes_read: int = 0
    sql_bytes: int = 0
    seconds: float = 0.0


@dataclass
class ExportReport:
    """What `export_site` wrote: where, which tables, and the sizes (`compressed_bytes` on disk)."""

    site_id: int
    source: str
    destination: str
    tables: list[TableDump] = field(default_factory=list)
    compressed_bytes: int = 0
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        """Rows written, all tables."""
        return sum(t.rows for t in self.tables)

    @property
    def sql_bytes(self) -> int:
        """Uncompressed SQL bytes written, all tables."""
        return sum(t.sql_bytes for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (`wfuwp migrate export --json`)."""
        data = asdict(self)
        data["totals"] = {"tables": len(self.tables), "rows": self.rows, "sql_bytes": self.sql_bytes}
        return data


def dump_tables(
    db: Database,
    names: Sequence[str],
    open_sink: Callable[[Table], SqlSink],
    *,
    statement_bytes: int = DEFAULT_STATEMENT_BYTES,
    progress: Progress | None = None,
    step: str = "export",
    check: Callable[[], None] | None = None,
) -> list[TableDump]:
    """Dump the tables `names` of `db`, all as of one moment, each into the sink `open_sink` gives.

    Each sink is closed (durable) once its table is written and aborted on any error, which is then
    raised. MyISAM tables are read first so their read lock is held as briefly as possible. `check` is
    called between batches and may raise to stop (a cancelled migration). `progress` gets table-start,
    rows and table-end events under `step`. Raises DatabaseError, or what a sink or `check` raises.
    """
    progress = progress or Progress(None)
    with connection(db) as conn:
        tables = describe_tables(conn, db.database, list(names))
    # MyISAM first: their lock blocks writers until released; the InnoDB snapshot blocks nobody.
    tables.sort(key=lambda t: t.transactional)
    last_myisam = max((i for i, t in enumerate(tables) if not t.transactional), default=-1)
    copier = Replacer([])
    done: list[TableDump] = []
    with Snapshot(db, tables, readers=1, log=lambda m: progress.log(step, m)) as snap:
        for index, table in enumerate(tables):
            sink = open_sink(table)
            try:
                done.append(
                    _dump_table(
                        sink,
                        snap.connection_for(table, 0),
                        db.database,
                        table,
                        copier,
                        statement_bytes,
                        progress,
                        step,
                        check,
                    )
                )
                sink.close()
            except BaseException:
                sink.abort()
                raise
            if index == last_myisam:
                snap.release_myisam()
    return done


def _dump_table(
    sink: SqlSink,
    conn: Any,
    database: str,
    table: Table,
    copier: Replacer,
    statement_bytes: int,
    progress: Progress,
    step: str,
    check: Callable[[], None] | None,
) -> TableDump:
    started = time.monotonic()
    result = TableDump(table.name)
    progress.emit(
        "table-start", step, table=table.name, rows_total=table.rows_estimate, bytes_total=table.data_bytes
    )
    head = DUMP_HEADER + table_preamble(table.name, table.create_sql) + b"START TRANSACTION;\n"
    sink.write(head)
    result.sql_bytes += len(head)
    prefix = insert_prefix(table.name, table.column_names)
    for batch in stream_rows(conn, database, table):
        if check is not None:
            check()
        chunks, _originals, _counts, _checksum = copier.render_rows(
            batch, table.kinds, max_chunk=statement_bytes
        )
        for chunk in chunks:
            sink.write(prefix + chunk + b";\n")
            result.sql_bytes += len(prefix) + len(chunk) + 2
        result.rows += len(batch)
        result.bytes_read += sum(len(v) for row in batch for v in row if v is not None)
        progress.emit(
            "rows",
            step,
            table=table.name,
            rows_done=result.rows,
            rows_total=max(result.rows, table.rows_estimate),
            bytes_done=result.bytes_read,
            bytes_total=max(result.bytes_read, table.data_bytes),
        )
    tail = b"COMMIT;\n" + DUMP_FOOTER
    sink.write(tail)
    result.sql_bytes += len(tail)
    result.seconds = round(time.monotonic() - started, 3)
    progress.emit(
        "table-end",
        step,
        table=table.name,
        rows_done=result.rows,
        rows_total=result.rows,
        bytes_done=result.bytes_read,
        bytes_total=result.bytes_read,
    )
    return result


class _Shared:
    """One stream seen as a sink per table: closing a table keeps the stream open; aborting aborts it."""

    def __init__(self, stream: ArchiveStream) -> None:
        self.stream = stream

    def write(self, data: bytes) -> int:
        return self.stream.write(data)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        self.stream.abort()


@dataclass
class BackupReport:
    """What `backup_site` wrote: the backup's id (a migration id from and to the same environment)."""

    backup_id: str
    site_id: int
    source: str
    archive: dict[str, Any] = field(default_factory=dict)
    tables: list[TableDump] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "completed"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON and the backup's manifest."""
        data = asdict(self)
        data["totals"] = {
            "tables": len(self.tables),
            "rows": sum(t.rows for t in self.tables),
            "sql_bytes": sum(t.sql_bytes for t in self.tables),
        }
        return data


def site_name(db: Database, site_id: int) -> str:
    """A file-name-safe name for the site: its path ("biology") or first host label; `site<id>` if unknown."""
    try:
        with connection(db) as conn:
            domain, path = site_address(conn, db.database, db.table_prefix, site_id, str(db))
    except (WfuwpError, mysql.connector.Error):
        return f"site{site_id}"
    name = (domain.split(".")[0] if path.strip("/") == "" else path.strip("/").replace("/", "-")) or "site"
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def backup_site(
    db: Database,
    site_id: int | str,
    archive: str | os.PathLike[str] | ArchiveLocation,
    *,
    statement_bytes: int = DEFAULT_STATEMENT_BYTES,
    progress: ProgressCallback | None = None,
) -> BackupReport:
    """Back up site `site_id`'s tables of `db` into `archive` (a directory, s3:// URL or ArchiveLocation).

    The backup is a migration folder from `db.name` to itself holding only `backup/` tables and a
    manifest with status "completed" and kind "backup", so it is listed and restored like a
    migration's backup. Raises SiteNotFoundError, DatabaseError, ArchiveError; on error no table
    object is left behind and no manifest is written.
    """
    site = validate_site_id(site_id)
    env = db.name or "db"
    started = time.monotonic()
    with connection(db) as conn:
        names = require_site_tables(conn, db.database, db.table_prefix, site, str(db))
    location = archive if isinstance(archive, ArchiveLocation) else ArchiveLocation.parse(archive)
    folder = location.new_migration(site_id=site, site_name=site_name(db, site), from_env=env, to_env=env)
    report = BackupReport(folder.id, site, str(db), {"location": folder.url, "id": folder.id})
    report.tables = dump_tables(
        db,
        names,
        lambda t: folder.open_table_stream("backup", t.name),
        statement_bytes=statement_bytes,
        progress=Progress(progress),
        step="backup",
    )
    report.seconds = round(time.monotonic() - started, 3)
    manifest = report.to_dict()
    manifest.update(
        migration_id=report.backup_id,
        kind="backup",
        target=str(db),
        backup_tables=[t.name for t in report.tables],
        audit={
            "host": socket.gethostname(),
            "tool": f"wfuwp {__version__}",
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "site_id": site,
            "from": env,
            "to": env,
        },
    )
    folder.write_manifest(manifest)
    return report


def default_export_name(site_id: int, env: str, when: float | None = None) -> str:
    """`site<id>-<env>-export-<UTC YYYYmmddTHHMMSSZ>.sql.zst`, the file name used when none is given."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
    return f"site{site_id}-{env or 'db'}-export-{stamp}{SUFFIX}"


def open_object(destination: str | os.PathLike[str], **s3_options: Any) -> ArchiveStream:
    """A zstd-compressing stream that becomes `destination` (a file, or s3://bucket/key) once closed.

    Nothing is visible until `close()` returns (a local temp file is fsynced and renamed; an S3
    multipart upload is completed); `abort()` or an exception leaves nothing. `s3_options` are
    `ArchiveLocation.parse`'s (endpoint_url, region, sse, sse_kms_key_id, storage_class) and apply to
    s3:// destinations only. Raises UsageError for a destination that is a directory or has no key.
    """
    text = os.fspath(destination)
    if text.startswith("s3://"):
        root, _, name = text.rstrip("/").rpartition("/")
        if not name or root in ("s3:", "s3:/"):
            raise UsageError(f"{text} names no object: give s3://bucket/path/file{SUFFIX}")
        location = ArchiveLocation.parse(root, **s3_options)
    else:
        path = Path(text).expanduser().absolute()
        if path.is_dir():
            raise UsageError(f"{path} is a directory: give a file name, like {path / ('export' + SUFFIX)}")
        root, name = str(path.parent), path.name
        location = ArchiveLocation.parse(root)
    return ArchiveStream(
        location.backend.open_sink(name),
        name=name,
        level=location.level,
        threads=location.threads,
        part_size=location.part_size if location.is_s3 else None,
    )


def export_site(
    db: Database,
    site_id: int | str,
    destination: str | os.PathLike[str],
    *,
    statement_bytes: int = DEFAULT_STATEMENT_BYTES,
    progress: ProgressCallback | None = None,
    s3_options: dict[str, Any] | None = None,
) -> ExportReport:
    """Write every table of site `site_id` in `db` to one zstd-compressed SQL object at `destination`.

    `destination` is a local file or s3://bucket/key (`s3_options`: see `open_object`). It appears
    only once complete; on any error nothing is left. Load it with `zstd -dc FILE | mariadb DB`: it
    drops and recreates each table. Raises SiteNotFoundError when the site has no tables, UsageError
    for a bad destination, ArchiveError when it cannot be written.
    """
    site = validate_site_id(site_id)
    started = time.monotonic()
    with connection(db) as conn:
        names = require_site_tables(conn, db.database, db.table_prefix, site, str(db))
    stream = open_object(destination, **(s3_options or {}))
    with stream:  # closed (durable) at the end, aborted on an exception
        shared = _Shared(stream)
        tables = dump_tables(
            db, names, lambda _t: shared, statement_bytes=statement_bytes, progress=Progress(progress)
        )
    report = ExportReport(site, str(db), stream.url, tables, stream.bytes_out)
    report.seconds = round(time.monotonic() - started, 3)
    return report


__all__ = [
    "DEFAULT_STATEMENT_BYTES",
    "BackupReport",
    "ExportReport",
    "SqlSink",
    "TableDump",
    "backup_site",
    "default_export_name",
    "dump_tables",
    "export_site",
    "open_object",
    "site_name",
]
