"""Back up a site's tables as SQL into an archive folder.

This is the one way anything is archived before it is replaced:

    one consistent snapshot of the tables -> wfuwp.mysql.dump (one self-contained dump per table)
        -> the folder's backup/ objects, each durable before this returns -> {table: TableSum}

Used by `migrate_site` (the target's tables, while the copy runs), `restore`/`import_sql` (what they
are about to replace) and `backup_site` (a backup on demand, listed and restored like a migration's).
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from wfuwp import runlog
from wfuwp._version import __version__
from wfuwp.archive.folder import MigrationArchive
from wfuwp.archive.location import ArchiveLocation
from wfuwp.archive.manifest import Audit, Manifest, TableSum
from wfuwp.mysql.connection import Database, closing
from wfuwp.mysql.dump import Sink, dump_tables
from wfuwp.mysql.identity import network_or_none
from wfuwp.mysql.network import site_label
from wfuwp.mysql.schema import TableFilter, require_site_tables, table_estimates, validate_site_id
from wfuwp.progress import Progress, ProgressCallback

__all__ = [
    "DEFAULT_STATEMENT_BYTES",
    "BackupReport",
    "TableDump",
    "audit",
    "back_up",
    "back_up_before_replacing",
    "backup_site",
    "dump_with_progress",
]

# INSERT statements of about 1 MiB: what the engine sends too. A row larger than this gets a statement
# of its own, so loading the file needs a max_allowed_packet above the largest row (as mysqldump does).
DEFAULT_STATEMENT_BYTES = 1 << 20
_log = logging.getLogger(__name__)


@dataclass
class TableDump:
    """One table as dumped: rows, their checksum, SQL bytes.

    The checksum is the one `wfuwp.mysql.sql.checksum_query` computes.
    """

    name: str
    rows: int = 0
    checksum: int = 0
    sql_bytes: int = 0
    seconds: float = 0.0


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
        """Plain data for JSON."""
        data = asdict(self)
        data["totals"] = {
            "tables": len(self.tables),
            "rows": sum(t.rows for t in self.tables),
            "sql_bytes": sum(t.sql_bytes for t in self.tables),
        }
        return data


def audit() -> Audit:
    """Who is running this, where, with which version, now."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in a bare container: the manifest still gets written
        user = "unknown"
    return Audit(
        user=user,
        host=socket.gethostname(),
        tool=f"wfuwp {__version__}",
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


class _Progressing:
    """A sink that counts what passes and reports it as progress: bytes of SQL against the table's size.

    The rows are only known when the table is complete (wfuwp.mysql.dump counts them), so "rows"
    events carry bytes; "table-end" carries the exact rows.
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


def dump_with_progress(
    db: Database,
    names: list[str],
    open_sink: Callable[[str], Sink],
    *,
    statement_bytes: int = DEFAULT_STATEMENT_BYTES,
    progress: Progress,
    step: str,
    cancel: threading.Event | None = None,
) -> list[TableDump]:
    """wfuwp.mysql.dump.dump_tables with progress events and per-table figures, in completion order."""
    with closing(db.connect()) as conn:
        estimates = table_estimates(conn, db.database, names)
    sinks: dict[str, _Progressing] = {}
    done: list[TableDump] = []

    def opened(name: str) -> Sink:
        sinks[name] = _Progressing(open_sink(name), name, estimates.get(name, (0, 0)), progress, step)
        return sinks[name]

    def finished(name: str, rows: int, checksum: int) -> None:
        sink = sinks[name]
        done.append(TableDump(name, rows, checksum, sink.bytes, round(time.monotonic() - sink.started, 3)))
        runlog.event(_log, logging.INFO, "table-end", f"archived {rows:,} rows", step=step, table=name,
                     rows=rows, checksum=checksum, bytes=sink.bytes, seconds=done[-1].seconds)  # fmt: skip
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
        cancel=cancel,
        on_table=finished,
        log=lambda m: progress.log(step, m),
    )
    return done


def back_up(
    db: Database,
    names: list[str],
    folder: MigrationArchive,
    *,
    statement_bytes: int = DEFAULT_STATEMENT_BYTES,
    progress: Progress,
    cancel: threading.Event | None = None,
) -> list[TableDump]:
    """Dump tables `names` of `db` into `folder`'s backup/ objects from one snapshot.

    Each object is durable on return.
    """
    progress.emit("step-start", "backup")
    runlog.event(_log, logging.INFO, "step-start", f"backing up {len(names)} tables of the target into "
                 f"{folder.url}", step="backup", tables=len(names))  # fmt: skip
    dumped = dump_with_progress(
        db,
        names,
        lambda name: folder.open_table_stream("backup", name),
        statement_bytes=statement_bytes,
        progress=progress,
        step="backup",
        cancel=cancel,
    )
    progress.emit("step-end", "backup")
    runlog.event(_log, logging.INFO, "step-end", f"backed up {len(dumped)} tables", step="backup")
    return dumped


def _write_backup_manifest(
    folder: MigrationArchive, db: Database, tables: list[TableDump], details: dict[str, Any]
) -> Manifest:
    manifest = folder.new_manifest(kind="backup", status="completed")
    # A backup is of one network: restore compares the target with it.
    manifest.source_network = manifest.target_network = network_or_none(db)
    manifest.backup_tables = {t.name: TableSum(t.rows, t.checksum) for t in tables}
    manifest.audit = audit()
    manifest.details = {"target": str(db), **details}
    return folder.write_manifest(manifest)


def backup_site(
    db: Database,
    site_id: int | str,
    archive: str | os.PathLike[str] | ArchiveLocation,
    *,
    statement_bytes: int = DEFAULT_STATEMENT_BYTES,
    progress: ProgressCallback | None = None,
    tables: TableFilter | None = None,
) -> BackupReport:
    """Back up site `site_id`'s tables of `db` into `archive` (a directory, s3:// URL or ArchiveLocation).

    The backup is an archive folder from `db.name` to itself holding only `backup/` tables and a
    manifest of kind "backup", so it is listed and restored like a migration's backup. `tables`:
    table-name patterns to include or exclude (see `wfuwp.mysql.schema.table_ownership`). Raises
    SiteNotFoundError, DatabaseError, ArchiveError; on error no table object is left behind and no
    manifest is written.
    """
    site = validate_site_id(site_id)
    env = db.name or "db"
    started = time.monotonic()
    with closing(db.connect()) as conn:
        names = require_site_tables(conn, db.database, db.table_prefix, site, str(db), tables=tables)
    location = archive if isinstance(archive, ArchiveLocation) else ArchiveLocation.parse(archive)
    folder = location.new_migration(site_id=site, site_name=site_label(db, site), from_env=env, to_env=env)
    report = BackupReport(folder.id, site, str(db), {"location": folder.url, "id": folder.id})
    report.tables = back_up(db, names, folder, statement_bytes=statement_bytes, progress=Progress(progress))
    report.seconds = round(time.monotonic() - started, 3)
    details = report.to_dict()
    for typed in ("status", "tables"):
        details.pop(typed)
    details["dumped"] = [asdict(t) for t in report.tables]
    _write_backup_manifest(folder, db, report.tables, details)
    return report


def back_up_before_replacing(
    target: Database,
    names: list[str],
    location: ArchiveLocation,
    *,
    site_id: int,
    site_name: str | None,
    reason: str,
    progress: Progress,
) -> dict[str, str]:
    """Archive the tables of `target` that a restore or import is about to replace; return where they went.

    The folder is a backup of `target.name` (kind "backup"), restorable like any other.
    """
    env = target.name or "target"
    folder = location.new_migration(site_id=site_id, site_name=site_name, from_env=env, to_env=env)
    tables = back_up(target, names, folder, progress=progress)
    _write_backup_manifest(folder, target, tables, {"before": reason})
    return {"id": folder.id, "location": folder.url}
