"""Export or back up a site's tables as zstd-compressed SQL: `zstd -dc FILE | mariadb DB` loads it back.

    one consistent snapshot of the tables -> wfuwp.mysql.dump (one self-contained dump per table) -> a sink

`export_site` writes every table of a site into one object (a file or s3://bucket/key); each table's
dump is self-contained (session settings, DROP, CREATE, INSERTs in one transaction, settings
restored), so one file holds several. `backup_site` writes them into a new archive folder, where
`wfuwp.ops.restore.restore` finds them like a migration's backup.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import mysql.connector

from wfuwp._version import __version__
from wfuwp.archive.location import ArchiveLocation, ArchiveStream
from wfuwp.mysql.connection import Database, closing, query
from wfuwp.mysql.dump import Sink, dump_tables
from wfuwp.errors import UsageError, WfuwpError
from wfuwp.mysql.network import site_address
from wfuwp.progress import Progress, ProgressCallback
from wfuwp.mysql.schema import require_site_tables, validate_site_id

# INSERT statements of about 1 MiB: what the engine sends too. A row larger than this gets a statement
# of its own, so loading the file needs a max_allowed_packet above the largest row (as mysqldump does).
DEFAULT_STATEMENT_BYTES = 1 << 20
SUFFIX = ".sql.zst"


@dataclass
class TableDump:
    """One table as dumped: rows, their checksum (as `wfuwp.mysql.sql.checksum_query` computes it), SQL bytes."""

    name: str
    rows: int = 0
    checksum: int = 0
    sql_bytes: int = 0
    seconds: float = 0.0


@dataclass
class ExportReport:
    """What `export_site` wrote: where, which tables, and the sizes (`compressed_bytes` stored)."""

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


class _Progressing:
    """A sink that counts what passes and reports it as progress: bytes of SQL against the table's size.

    The rows are only known when the table is complete (wfuwp.mysql.dump counts them), so "rows" events
    carry bytes; "table-end" carries the exact rows.
    """

    def __init__(
        self, sink: Sink, table: str, estimate: tuple[int, int], progress: Progress, step: str
    ) -> None:
        self.sink, self.table, self.progress, self.step = sink, table, progress, step
        self.rows_total, self.bytes_total = estimate
        self.bytes = 0
        self.started = time.monotonic()
        progress.emit(
            "table-start", step, table=table, rows_total=self.rows_total, bytes_total=self.bytes_total
        )

    def write(self, data: bytes) -> int:
        written = self.sink.write(data)
        self.bytes += len(data)
        self.progress.emit(
            "rows",
            self.step,
            table=self.table,
            rows_total=self.rows_total,
            bytes_done=self.bytes,
            bytes_total=max(self.bytes, self.bytes_total),
        )
        return written

    def close(self) -> None:
        self.sink.close()

    def abort(self) -> None:
        self.sink.abort()


def _dump(
    db: Database,
    names: list[str],
    open_sink: Callable[[str], Sink],
    *,
    statement_bytes: int,
    progress: Progress,
    step: str,
) -> list[TableDump]:
    """wfuwp.mysql.dump.dump_tables with progress events and per-table figures."""
    with closing(db.connect()) as conn:
        estimates = _estimates(conn, db.database, names)
    sinks: dict[str, _Progressing] = {}
    done: list[TableDump] = []

    def opened(name: str) -> Sink:
        sinks[name] = _Progressing(open_sink(name), name, estimates.get(name, (0, 0)), progress, step)
        return sinks[name]

    def finished(name: str, rows: int, checksum: int) -> None:
        sink = sinks[name]
        done.append(TableDump(name, rows, checksum, sink.bytes, round(time.monotonic() - sink.started, 3)))
        progress.emit(
            "table-end",
            step,
            table=name,
            rows_done=rows,
            rows_total=rows,
            bytes_done=sink.bytes,
            bytes_total=sink.bytes,
        )

    dump_tables(
        db,
        names,
        opened,
        statement_limit=statement_bytes,
        on_table=finished,
        log=lambda m: progress.log(step, m),
    )
    return done


def _estimates(conn: Any, database: str, names: list[str]) -> dict[str, tuple[int, int]]:
    """The server's (rows, data bytes) estimates of the tables, for progress totals."""
    marks = ",".join(["%s"] * len(names))
    found = query(
        conn,
        "SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH FROM information_schema.TABLES "
        f"WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN ({marks})",
        (database, *names),
    )
    return {_text(n): (int(r or 0), int(b or 0)) for n, r, b in found}


def _text(value: object) -> str:
    return bytes(value).decode("utf-8") if isinstance(value, (bytes, bytearray)) else str(value)


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
        with closing(db.connect()) as conn:
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
    with closing(db.connect()) as conn:
        names = require_site_tables(conn, db.database, db.table_prefix, site, str(db))
    location = archive if isinstance(archive, ArchiveLocation) else ArchiveLocation.parse(archive)
    folder = location.new_migration(site_id=site, site_name=site_name(db, site), from_env=env, to_env=env)
    report = BackupReport(folder.id, site, str(db), {"location": folder.url, "id": folder.id})
    report.tables = _dump(
        db,
        names,
        lambda name: folder.open_table_stream("backup", name),
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
        # What restore() verifies the restored tables against, as the engine records it for a migration.
        backup_tables={t.name: [t.rows, t.checksum] for t in report.tables},
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
    with closing(db.connect()) as conn:
        names = require_site_tables(conn, db.database, db.table_prefix, site, str(db))
    stream = open_object(destination, **(s3_options or {}))
    with stream:  # closed (durable) at the end, aborted on an exception
        shared = _Shared(stream)
        tables = _dump(
            db,
            names,
            lambda _name: shared,
            statement_bytes=statement_bytes,
            progress=Progress(progress),
            step="export",
        )
    report = ExportReport(site, str(db), stream.url, tables, stream.bytes_out)
    report.seconds = round(time.monotonic() - started, 3)
    return report


__all__ = [
    "DEFAULT_STATEMENT_BYTES",
    "BackupReport",
    "ExportReport",
    "TableDump",
    "backup_site",
    "default_export_name",
    "export_site",
    "open_object",
    "site_name",
]
