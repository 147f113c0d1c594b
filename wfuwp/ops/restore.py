"""Load SQL (an archived export, or any dump) into a database with a migration's safety.

    SQL statements -> vetted (wfuwp.mysql.sqlfile.check_statement) -> renamed into staging tables
                   -> verified (row counts; checksums when the archive recorded them)
                   -> fresh backup of what will be replaced -> one atomic RENAME TABLE

`restore()` brings back a migration's backup (or its migrated export) from the archive;
`import_sql()` loads any `.sql`, `.sql.gz` or `.sql.zst` file, local or in S3.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from wfuwp.archive.location import ArchiveLocation, MigrationArchive
from wfuwp.mysql.connection import Database, closing, database_error, execute, prepare_copy_session, query
from wfuwp.mysql.dump import dump_tables
from wfuwp.errors import SqlFileError, UsageError
from wfuwp.progress import Progress, ProgressCallback
from wfuwp.mysql.schema import NETWORK_TABLES, describe_tables, site_pattern
from wfuwp.mysql.sql import quote_identifier
from wfuwp.mysql.sqlfile import check_statement, iter_statements, open_sql
from wfuwp.mysql.target import STAGING_PREFIX, SiteLock, TargetSite, table_missing, work_table_name

import mysql.connector  # isort: skip


@dataclass
class LoadReport:
    """What a restore or import did."""

    target: str
    source: str
    status: str = "running"
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows now live
    statements: int = 0
    verified_checksums: bool = False
    removed_tables: list[str] = field(default_factory=list)
    backup: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return dict(self.__dict__)


def restore(
    migration_id: str,
    target: Database,
    *,
    archive: str | os.PathLike[str] | ArchiveLocation,
    which: str = "backup",
    backup: bool = True,
    progress: ProgressCallback | None = None,
) -> LoadReport:
    """Put a migration's archived tables back into `target`, exactly as archived.

    `which="backup"` restores what the target held before the migration (and removes the tables that
    migration created); `which="migrated"` restores the migrated site. Checksums recorded in the
    manifest are compared before the swap. With `backup`, what is replaced is archived first (a new
    archive folder). Raises WfuwpError; the target is then unchanged.
    """
    if which not in ("backup", "migrated"):
        raise UsageError(f"which must be 'backup' or 'migrated', not {which!r}")
    location = archive if isinstance(archive, ArchiveLocation) else ArchiveLocation.parse(archive)
    folder = location.migration(migration_id)
    manifest = folder.read_manifest()
    if manifest is None:
        raise UsageError(f"migration {migration_id} has no manifest: it never finished; nothing to restore")
    objects = [o for o in manifest.get("objects", []) if o.get("role") == which]
    if which == "backup":
        expected = {name: tuple(v) for name, v in manifest.get("backup_tables", {}).items()}
        retire = [t["name"] for t in manifest.get("tables", []) if t.get("action") == "created"]
    else:
        expected = {t["name"]: (t["rows"], t["checksum"]) for t in manifest.get("tables", [])}
        retire = []
    if not objects and not retire:
        raise UsageError(f"migration {migration_id} archived no {which} tables: nothing to restore")
    site_id = int(manifest["site"]["id"])
    tables = {o["table"] for o in objects}
    statements = _chain(
        iter_statements(folder.open_read(o["name"]), require_terminator=True) for o in objects
    )
    return _load(
        statements,
        target,
        source=f"{folder.url} ({which})",
        allowed=lambda name: name in tables,
        expected=expected,
        retire=retire,
        lock_site=site_id,
        backup_location=location if backup else None,
        backup_site=(site_id, (manifest.get("site") or {}).get("name")),
        progress=Progress(progress),
    )


def rollback(
    migration_id: str,
    target: Database,
    *,
    archive: str | os.PathLike[str] | ArchiveLocation,
    progress: ProgressCallback | None = None,
) -> LoadReport:
    """Put back the tables a completed migration replaced.

    Instantly (one RENAME TABLE) while the migration's old tables are still in the target (it ran with
    `keep_old`); otherwise from the archived backup, as `restore(which="backup")` does.
    """
    location = archive if isinstance(archive, ArchiveLocation) else ArchiveLocation.parse(archive)
    manifest = location.migration(migration_id).read_manifest()
    if manifest is None or manifest.get("status") != "completed":
        raise UsageError(f"migration {migration_id} did not complete, so it changed nothing to roll back")
    kept = list(manifest.get("old_tables_kept") or [])
    with closing(target.connect()) as conn:
        if not kept or table_missing(conn, target.database, kept):
            return restore(migration_id, target, archive=location, which="backup", progress=progress)
        started = time.monotonic()
        tables = manifest.get("tables", [])
        site = TargetSite(
            target,
            migration_id.rsplit("-", 1)[-1],
            [t["name"] for t in tables],
            [t["name"] for t in tables if t.get("action") == "replaced"],
        )
        if manifest.get("target_only_dropped"):
            site.retire(manifest.get("target_only_tables") or [])
        with SiteLock(target, int(manifest["site"]["id"])):
            site.swap_back(conn)
            site.drop(conn, "staging")
        report = LoadReport(str(target), f"old tables of {migration_id}", status="completed")
        backup = manifest.get("backup_tables") or {}
        report.tables = {name: int(backup.get(name, [0])[0]) for name in site.swap_plan.existing}
        report.removed_tables = [t["name"] for t in tables if t.get("action") == "created"]
        report.seconds = round(time.monotonic() - started, 3)
        Progress(progress).emit("step-end", "rollback")
        return report


def import_sql(
    path_or_url: str | os.PathLike[str],
    target: Database,
    *,
    archive: str | os.PathLike[str] | ArchiveLocation | None = None,
    site_id: int | None = None,
    endpoint_url: str | None = None,
    progress: ProgressCallback | None = None,
) -> LoadReport:
    """Load an SQL dump (this tool's exports or mysqldump/mariadb-dump output) into `target`.

    Every table the file creates is loaded into staging, then swapped in atomically; network tables
    and tables of other sites (when `site_id` is given) are refused. With `archive`, the tables it
    replaces are backed up there first. A truncated or malicious file raises SqlFileError and
    changes nothing.
    """
    prefix = target.table_prefix
    network = {prefix + t for t in NETWORK_TABLES}

    def allowed(name: str) -> bool:
        if name in network or name.startswith("_wf"):
            return False
        if site_id is None:
            return True
        return bool(site_pattern(prefix, site_id).fullmatch(name))

    location = None
    if archive is not None:
        location = archive if isinstance(archive, ArchiveLocation) else ArchiveLocation.parse(archive)
    stream = open_sql(path_or_url, endpoint_url=endpoint_url)
    with stream:
        return _load(
            iter_statements(stream),
            target,
            source=os.fspath(path_or_url),
            allowed=allowed,
            expected={},
            retire=[],
            lock_site=site_id,
            backup_location=location,
            backup_site=(site_id or 1, None),
            progress=Progress(progress),
        )


def _chain(streams: Iterable[Iterator[bytes]]) -> Iterator[bytes]:
    for stream in streams:
        yield from stream


def _load(
    statements: Iterable[bytes],
    target: Database,
    *,
    source: str,
    allowed: Callable[[str], bool],
    expected: dict[str, tuple[int, int]],
    retire: list[str],
    lock_site: int | None,
    backup_location: ArchiveLocation | None,
    backup_site: tuple[int, str | None],
    progress: Progress,
) -> LoadReport:
    started = time.monotonic()
    report = LoadReport(str(target), source)
    lock = SiteLock(target, lock_site) if lock_site is not None else None
    site: TargetSite | None = None
    created: list[str] = []
    try:
        if lock is not None:
            lock.acquire()
        site = TargetSite(target, secrets.token_hex(3), [], [])
        conn = target.connect()
        try:
            prepare_copy_session(conn, reading=False)
            progress.emit("step-start", "load")
            for raw in statements:
                statement = check_statement(raw, allowed)
                report.statements += 1
                if statement.kind in ("lock_tables", "unlock_tables", "transaction"):
                    continue  # staging tables need no locks: nobody else sees them
                if statement.kind == "create_table" and statement.table not in created:
                    created.append(statement.table or "")
                    site.add(statement.table or "")
                elif statement.kind in ("insert", "alter_keys") and statement.table not in created:
                    raise SqlFileError(
                        f"the file writes rows into {statement.table} before creating it: "
                        "import a dump made with table definitions (not --no-create-info)"
                    )
                # Every table the file names becomes its staging twin; only created ones are swapped in.
                sql = statement.with_tables(lambda n: work_table_name(STAGING_PREFIX, site.run_short_id, n))
                try:
                    execute(conn, sql)
                except mysql.connector.Error as exc:
                    raise SqlFileError(
                        f"statement {report.statements} of {source} failed: {exc.msg} (error {exc.errno}); "
                        "nothing was changed"
                    ) from None
            progress.emit("step-end", "load")
            if not created:
                raise SqlFileError(f"{source} creates no tables: nothing to import")
            progress.emit("step-start", "verify")
            for name in created:
                staging = site.staging[name]
                columns = describe_tables(conn, target.database, [staging])[0].column_names
                if name in expected:
                    site.verify(conn, name, columns, *expected[name])
                    report.verified_checksums = True
                (rows,) = query(conn, f"SELECT COUNT(*) FROM {quote_identifier(staging)}")[0]
                report.tables[name] = int(rows)
            missing_expected = sorted(set(expected) - set(created))
            if missing_expected:
                raise SqlFileError(
                    f"the archive lacks tables its manifest lists ({', '.join(missing_expected)}): "
                    "the archive is incomplete; restore from another migration"
                )
            progress.emit("step-end", "verify")
            existing = [n for n in created if n not in table_missing(conn, target.database, created)]
            retire_now = [
                n for n in retire if n not in created and n not in table_missing(conn, target.database, [n])
            ]
            if backup_location is not None and (existing or retire_now):
                report.backup = _backup(target, existing + retire_now, backup_location, backup_site, progress)
            site.set_existing(existing)
            site.retire(retire_now)
            progress.emit("step-start", "swap")
            site.swap(conn)
            site.drop(conn, "old")
            progress.emit("step-end", "swap")
            report.removed_tables = retire_now
            report.status = "completed"
        finally:
            conn.close()
    except BaseException as exc:
        report.status = "failed"
        report.error = str(exc)
        if site is not None and created:
            try:
                with closing(target.connect()) as conn:
                    site.drop(conn, "staging")
            except Exception:
                pass
        if isinstance(exc, mysql.connector.Error):
            raise database_error(exc, f"loading {source} into {target}") from None
        raise
    finally:
        if lock is not None:
            lock.release()
        report.seconds = round(time.monotonic() - started, 3)
    return report


def _backup(
    target: Database,
    names: list[str],
    location: ArchiveLocation,
    site: tuple[int, str | None],
    progress: Progress,
) -> dict[str, Any]:
    """Archive the tables a restore or import is about to replace; return where they went."""
    folder: MigrationArchive = location.new_migration(
        site_id=site[0], site_name=site[1], from_env="archive", to_env=target.name or "target"
    )
    progress.emit("step-start", "backup")
    results = dump_tables(target, names, lambda n: folder.open_table_stream("backup", n))
    folder.write_manifest(
        {
            "status": "backup before restore",
            "backup_tables": {n: list(v) for n, v in results.items()},
            "tables": [],
        }
    )
    progress.emit("step-end", "backup")
    return {"id": folder.id, "location": folder.url}
