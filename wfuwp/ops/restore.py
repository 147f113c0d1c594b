"""Put tables back into a database from SQL: an archived migration or backup, or any dump file.

    SQL statements -> vetted (wfuwp.mysql.sqlfile.check_statement) -> renamed into staging tables
                   -> verified (row counts; checksums when the archive recorded them)
                   -> a backup of what will be replaced (wfuwp.ops.backup)
                   -> the cut-over (wfuwp.ops.cutover): one atomic RENAME TABLE

`restore()` brings back a migration's backup (or its migrated export) from the archive;
`rollback()` undoes a completed migration (instantly while its old tables are kept);
`import_sql()` loads any `.sql`, `.sql.gz` or `.sql.zst` file, local or in S3.
"""

from __future__ import annotations

import io
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import mysql.connector

from wfuwp.archive.folder import MigrationArchive, manifest_of_object
from wfuwp.archive.location import ArchiveLocation
from wfuwp.archive.manifest import Manifest, Role, TableSum
from wfuwp.errors import NetworkMismatchError, SqlFileError, UsageError, WfuwpError
from wfuwp.mysql.collation import collation_mapping, collations_in, target_collations, to_target_collations
from wfuwp.mysql.connection import (
    Database,
    as_text,
    closing,
    database_error,
    execute,
    prepare_copy_session,
    query,
)
from wfuwp.mysql.identity import network_of
from wfuwp.mysql.schema import NETWORK_TABLES, describe_tables, name_choice
from wfuwp.mysql.sql import quote_identifier
from wfuwp.mysql.sqlfile import Statement, check_statement, iter_statements
from wfuwp.mysql.target import STAGING_PREFIX, table_missing, work_table_name
from wfuwp.ops.backup import audit, back_up_before_replacing
from wfuwp.ops.cutover import CutOver, swap_back_kept
from wfuwp.progress import Progress, ProgressCallback
from wfuwp.storage.objects import S3Options, open_reader

__all__ = [
    "LoadReport",
    "check_file_network",
    "check_network",
    "import_sql",
    "open_sql",
    "restore",
    "rollback",
]

# MySQL's client-side error numbers (lost connection, server gone, ...) start here; below are the
# server's answers to the statement itself.
_CLIENT_ERRORS = 2000


@dataclass
class LoadReport:
    """What a restore, rollback or import did."""

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
    # A Ctrl-C or SIGTERM arrived while the swap could not be stopped: the load finished first.
    interrupt_deferred: bool = False
    # Collations the file names that the target lacks -> the nearest it has, used instead (MySQL 8's
    # utf8mb4_0900_* on MariaDB), and the tables created with them.
    collations: dict[str, str] = field(default_factory=dict)
    collation_tables: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return dict(self.__dict__)


def _location(archive: str | os.PathLike[str] | ArchiveLocation) -> ArchiveLocation:
    return archive if isinstance(archive, ArchiveLocation) else ArchiveLocation.parse(archive)


def restore(
    migration_id: str,
    target: Database,
    *,
    archive: str | os.PathLike[str] | ArchiveLocation,
    which: str = "backup",
    backup: bool = True,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> LoadReport:
    """Put a migration's archived tables back into `target`, exactly as archived.

    `which="backup"` restores what the target held before the migration (and removes the tables that
    migration created); `which="migrated"` restores the migrated site. Checksums recorded in the
    manifest are compared before the swap. With `backup`, what is replaced is archived first (a new
    archive folder). Both belong to the network the migration wrote into (a backup's: the network it
    was made of): NetworkMismatchError when `target` is another network or environment (see
    `check_network`), unless `force`. Raises WfuwpError; the target is then unchanged.
    """
    if which not in ("backup", "migrated"):
        raise UsageError(f"which must be 'backup' or 'migrated', not {which!r}")
    location = _location(archive)
    folder = location.migration(migration_id)
    manifest = folder.read_record()
    if manifest is None:
        raise UsageError(f"migration {migration_id} recorded nothing (it never started): nothing to restore")
    if not force:
        check_network(manifest, "backup" if which == "backup" else "migrated", target)
    objects = manifest.objects_of("backup" if which == "backup" else "migrated")
    if which == "backup":
        expected = dict(manifest.backup_tables)
        retire = [t.name for t in manifest.tables if t.action == "created"]
    else:
        expected = {t.name: TableSum(t.rows, t.checksum) for t in manifest.tables}
        retire = []
    if not objects and not retire:
        raise UsageError(f"migration {migration_id} archived no {which} tables: nothing to restore")
    tables = {o.table for o in objects}
    statements = _chain(iter_statements(folder.open_read(o.name), require_terminator=True) for o in objects)
    return _load(
        statements,
        target,
        source=f"{folder.url} ({which})",
        allowed=lambda name: name in tables,
        # A foreign key or a trigger of an archived table may name one the archive does not hold (a
        # migration that excluded it): another table of the site, which stays as the target has it.
        allowed_parent=_site_table(target.table_prefix, manifest.site_id),
        expected=expected,
        retire=retire,
        lock_site=manifest.site_id,
        backup_location=location if backup else None,
        backup_site=(manifest.site_id, manifest.site_name),
        progress=Progress(progress),
    )


def rollback(
    migration_id: str,
    target: Database,
    *,
    archive: str | os.PathLike[str] | ArchiveLocation,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> LoadReport:
    """Put back the tables a migration replaced, whenever its swap happened and whatever happened after.

    Instantly (one RENAME TABLE) while the migration's old tables are still in the target (it ran with
    `keep_old`, or stopped before dropping them); otherwise from the archived backup, as
    `restore(which="backup")` does. Works for a run that died before writing its manifest (from its
    state.json). The migration's manifest then says "rolled-back". UsageError when its tables never
    went live (the target holds what it held before). NetworkMismatchError when `target` is not the
    network the migration wrote into, unless `force`.
    """
    location = _location(archive)
    folder = location.migration(migration_id)
    record = folder.read_record()
    if record is None:
        raise UsageError(
            f"migration {migration_id} recorded nothing (it never started): nothing to roll back"
        )
    if record.kind != "migration":
        raise UsageError(
            f"{migration_id} is a backup, not a migration: put it back with `wfuwp migrate restore`"
        )
    if record.status == "rolled-back":
        raise UsageError(f"migration {migration_id} was rolled back already: nothing to roll back")
    if not force:
        check_network(record, "backup", target, verb="roll it back")
    replaced = [t.name for t in record.tables if t.action == "replaced"]
    retired = record.target_only_tables if record.target_only_dropped else []
    cut = CutOver(
        target, migration_id.rsplit("-", 1)[-1], lock_site=None, names=[t.name for t in record.tables],
        existing=replaced,
    )  # fmt: skip
    cut.retire(retired)
    position = cut.position() if record.cutover != "staging" and not record.swapped_back else "before"
    if position == "before":
        raise UsageError(
            f"migration {migration_id} never put its tables live (it stopped at {record.status}, before the "
            "swap): the target holds what it held before; nothing to roll back "
            "(`wfuwp migrate clean` drops its staging tables)"
        )
    if position == "swapped":
        report = _swap_back(record, target, Progress(progress))
    else:
        # Its network was checked above (or forced).
        report = restore(
            migration_id, target, archive=location, which="backup", force=True, progress=progress
        )
    _mark_rolled_back(folder, record, report)
    return report


def check_network(manifest: Manifest, role: Role, target: Database, *, verb: str = "restore it") -> None:
    """Raise NetworkMismatchError unless `target` is the network whose tables `role` holds.

    backup/ and migrated/ hold tables of the network the migration wrote into, source/ those of the
    network it read from; a backup's are of the network it was made of. Another network id (another
    database, table prefix or main domain: see wfuwp.mysql.identity) or, when both are named, another
    environment is refused. A manifest written before archives recorded their network is not refused
    (it cannot tell); nor is a target whose network cannot be read (DatabaseError is raised then).
    """
    recorded = manifest.network_of(role)
    if recorded is None:
        return
    actual = network_of(target)
    if not recorded.same_as(actual):
        raise NetworkMismatchError(
            f"archive {manifest.id} ({role}) was made for network {recorded.describe()} but the target is "
            f"{actual.describe()}: {verb} to its own network, or pass --force"
        )


def check_file_network(
    path_or_url: str | os.PathLike[str], target: Database, *, s3: S3Options | None = None
) -> None:
    """Raise NetworkMismatchError when the file is an object of an archive folder made for another
    network than `target` (see check_network); any other file records no network and passes."""
    found = manifest_of_object(path_or_url, options=s3)
    if found is not None:
        check_network(found[0], found[1], target, verb="import it")


def _mark_rolled_back(folder: MigrationArchive, record: Manifest, report: LoadReport) -> None:
    """Say in the migration's manifest that it was rolled back (so `status` and `list` tell). The
    rollback itself is done: a failure to say so is reported, not raised."""
    record.status = "rolled-back"
    record.details["rolled_back"] = asdict(audit())
    try:
        folder.write_manifest(record)
    except WfuwpError as exc:
        report.error = f"rolled back, but its manifest could not be marked so ({exc})"


def _swap_back(manifest: Manifest, target: Database, progress: Progress) -> LoadReport:
    started = time.monotonic()
    replaced = [t.name for t in manifest.tables if t.action == "replaced"]
    swap_back_kept(
        target,
        manifest.id.rsplit("-", 1)[-1],
        site_id=manifest.site_id,
        names=[t.name for t in manifest.tables],
        replaced=replaced,
        retired=manifest.target_only_tables if manifest.target_only_dropped else [],
        progress=progress,
    )
    report = LoadReport(str(target), f"old tables of {manifest.id}", status="completed")
    report.tables = {name: manifest.backup_tables.get(name, TableSum(0, 0)).rows for name in replaced}
    report.removed_tables = [t.name for t in manifest.tables if t.action == "created"]
    report.seconds = round(time.monotonic() - started, 3)
    progress.emit("step-end", "rollback")
    return report


def open_sql(path_or_url: str | os.PathLike[str], *, s3: S3Options | None = None) -> io.BufferedReader:
    """Open an SQL dump (a file or s3://bucket/key) and return its decompressed bytes, streaming.

    The extension decides: `.sql` as is, `.sql.gz` gunzipped, `.sql.zst` through zstd (a cut or
    corrupt file raises SqlFileError when read). Raises SqlFileError.
    """
    text = os.fspath(path_or_url)
    if not text.lower().endswith((".sql", ".sql.gz", ".sql.zst")):
        raise SqlFileError(f"{text} must end in .sql, .sql.gz or .sql.zst (that decides how it is read)")
    return open_reader(text, error=SqlFileError, options=s3)


def import_sql(
    path_or_url: str | os.PathLike[str],
    target: Database,
    *,
    archive: str | os.PathLike[str] | ArchiveLocation | None = None,
    site_id: int | None = None,
    s3: S3Options | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> LoadReport:
    """Load an SQL dump (this tool's exports or mysqldump/mariadb-dump output) into `target`.

    Every table the file creates is loaded into staging, then swapped in atomically; network tables
    and tables of other sites (when `site_id` is given) are refused. With `archive`, the tables it
    replaces are backed up there first. `s3`: how to reach an s3:// file. A truncated or malicious
    file raises SqlFileError and changes nothing. A file of an archive folder (`site-<n>/<id>/<role>/`)
    is checked against the network its manifest recorded for that role: NetworkMismatchError for
    another network or environment, unless `force` (a source/ export then loads its source's URLs
    unchanged; a migration rewrites them).
    """
    allowed = _site_table(target.table_prefix, site_id)
    if not force:
        check_file_network(path_or_url, target, s3=s3)
    location = _location(archive) if archive is not None else None
    with open_sql(path_or_url, s3=s3) as stream:
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


def _site_table(prefix: str, site_id: int | None) -> Callable[[str], bool]:
    """Whether a file may load a table of this name for site `site_id` (any site's when None): never a
    network table or a work table; otherwise a table the site owns by the name rules alone."""
    network = {prefix + t for t in NETWORK_TABLES}

    def allowed(name: str) -> bool:
        if name in network or name.startswith("_wf"):
            return False
        if site_id is None:
            return True
        # The rules of table_ownership that the name alone decides; the rest need the database.
        choice = name_choice(prefix, site_id, name)
        return name.startswith(prefix) and (choice is None or choice.owned)

    return allowed


def _chain(streams: Iterable[Iterator[bytes]]) -> Iterator[bytes]:
    for stream in streams:
        yield from stream


def _load(
    statements: Iterable[bytes],
    target: Database,
    *,
    source: str,
    allowed: Callable[[str], bool],
    expected: dict[str, TableSum],
    retire: list[str],
    allowed_parent: Callable[[str], bool] | None = None,
    lock_site: int | None,
    backup_location: ArchiveLocation | None,
    backup_site: tuple[int, str | None],
    progress: Progress,
) -> LoadReport:
    """Load `statements` into staging tables, verify them, back up what they replace, cut over."""
    started = time.monotonic()
    report = LoadReport(str(target), source)
    try:
        with CutOver(target, secrets.token_hex(3), lock_site=lock_site, progress=progress) as cut:
            with closing(target.connect()) as conn:
                # Undoing a migration into a target that had none of the site's tables restores no
                # table and only takes out the ones it created.
                created = _stage(
                    conn,
                    cut,
                    statements,
                    allowed,
                    source,
                    report,
                    progress,
                    allow_none=bool(retire),
                    allowed_parent=allowed_parent,
                )
                _verify(conn, cut, target, created, expected, report, progress)
                existing = [n for n in created if n not in table_missing(conn, target.database, created)]
                retire_now = [
                    n
                    for n in retire
                    if n not in created and n not in table_missing(conn, target.database, [n])
                ]
                if backup_location is not None and (existing or retire_now):
                    report.backup = back_up_before_replacing(
                        target,
                        existing + retire_now,
                        backup_location,
                        site_id=backup_site[0],
                        site_name=backup_site[1],
                        reason=f"loading {source}",
                        progress=progress,
                    )
                cut.swap(conn, existing=existing, retire=retire_now)
            report.interrupt_deferred = bool(cut.interrupted)
            report.removed_tables = retire_now
            report.status = "completed"
    except BaseException as exc:
        report.status = "failed"
        report.error = str(exc)
        if isinstance(exc, mysql.connector.Error):
            raise database_error(exc, f"loading {source} into {target}") from None
        raise
    finally:
        report.seconds = round(time.monotonic() - started, 3)
    return report


def _stage(
    conn: Any,
    cut: CutOver,
    statements: Iterable[bytes],
    allowed: Callable[[str], bool],
    source: str,
    report: LoadReport,
    progress: Progress,
    *,
    allow_none: bool = False,
    allowed_parent: Callable[[str], bool] | None = None,
) -> list[str]:
    """Run the vetted statements against staging twins of their tables; return the tables created."""
    created: list[str] = []
    triggers: list[str] = []
    prepare_copy_session(conn, reading=False)
    collations = target_collations(conn)
    progress.emit("step-start", "load")
    for raw in statements:
        statement = check_statement(raw, allowed, allowed_parent)
        report.statements += 1
        if statement.kind in ("lock_tables", "unlock_tables", "transaction"):
            continue  # staging tables need no locks: nobody else sees them
        if statement.kind == "create_table" and statement.table not in created:
            created.append(statement.table or "")
            cut.add(statement.table or "")
        elif statement.kind in ("insert", "alter_keys", "create_trigger") and statement.table not in created:
            raise SqlFileError(
                f"the file writes rows into {statement.table} before creating it: "
                "import a dump made with table definitions (not --no-create-info)"
            )
        # Every table the file names becomes its staging twin; only created ones are swapped in.
        sql = statement.with_tables(lambda n: work_table_name(STAGING_PREFIX, cut.run_id, n))
        if statement.kind == "create_table":
            sql = cut.stage_foreign_keys(statement.table or "", statement.sql, sql)
        elif statement.kind == "create_trigger" and statement.trigger is not None:
            # A body may name a site table the file does not hold (as a foreign key may reference one).
            _check_trigger_body(
                conn, cut.target.database, statement.body_names, allowed_parent or allowed, created
            )
            # Staged under a staging name on the staging table; its body keeps naming the live tables,
            # which the staged ones are from the swap on. It gets its own name after the swap.
            sql = statement.with_tables(
                lambda n: work_table_name(STAGING_PREFIX, cut.run_id, n), trigger=cut.staged_trigger_name
            )
            staged = cut.staged_trigger_name(statement.trigger.name)
            execute(conn, f"DROP TRIGGER IF EXISTS {quote_identifier(staged)}")
            triggers.append(statement.trigger.name)
        if statement.kind in ("create_table", "set"):
            sql = _target_collations(collations, statement, sql, report, source)
        try:
            execute(conn, sql)
        except mysql.connector.Error as exc:
            if exc.errno is None or exc.errno >= _CLIENT_ERRORS:  # the connection, not the file
                raise database_error(exc, f"loading statement {report.statements} of {source}") from None
            raise SqlFileError(
                f"statement {report.statements} of {source} failed: {exc.msg} (error {exc.errno}); "
                "nothing was changed"
            ) from None
    progress.emit("step-end", "load")
    if not created and not allow_none:
        raise SqlFileError(f"{source} creates no tables: nothing to import")
    cut.adopt_staged_triggers(conn, triggers)
    return created


def _target_collations(
    available: frozenset[str], statement: Statement, sql: bytes, report: LoadReport, source: str
) -> bytes:
    """`sql` with the collations the target lacks replaced by the nearest it has (noted in `report`)."""
    mapping = collation_mapping(collations_in(sql), available)
    if not mapping:
        return sql
    missing = [name for name, nearest in mapping.items() if nearest is None]
    if missing:
        raise SqlFileError(
            f"statement {report.statements} of {source} uses collation {missing[0]}, which {report.target} "
            "lacks and has nothing near to: create the tables on a server that has it, or change the "
            "collation in the file; nothing was changed"
        )
    report.collations.update({name: str(nearest) for name, nearest in mapping.items()})
    if statement.table and statement.table not in report.collation_tables:
        report.collation_tables.append(statement.table)
    return to_target_collations(sql, available)


def _check_trigger_body(
    conn: Any, database: str, names: tuple[str, ...], allowed: Callable[[str], bool], created: list[str]
) -> None:
    """Refuse a trigger whose body names a table outside what is being loaded, or another database:
    it would reach them on every write to the site (the import's rule that a file only writes the
    site's own tables holds for the code it brings too)."""
    wanted = {n.lower() for n in names}
    tables = [
        as_text(n)
        for (n,) in query(
            conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (database,)
        )
    ]
    for table in [*tables, *created]:
        if table.lower() in wanted and table not in created and not allowed(table):
            raise SqlFileError(
                f"a trigger in the file names table {table}, which is not among the tables being loaded: "
                "import a dump whose triggers touch this site's tables only"
            )
    schemas = [as_text(n) for (n,) in query(conn, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")]
    for schema in schemas:
        if schema.lower() in wanted and schema != database:
            raise SqlFileError(
                f"a trigger in the file names database {schema}: import a dump whose triggers touch "
                "this site's tables only"
            )


def _verify(
    conn: Any,
    cut: CutOver,
    target: Database,
    created: list[str],
    expected: dict[str, TableSum],
    report: LoadReport,
    progress: Progress,
) -> None:
    """Check each staging table against the archive's checksums (when it has them); count its rows."""
    progress.emit("step-start", "verify")
    for name in created:
        staging = cut.staging_name(name)
        if name in expected:
            columns = describe_tables(conn, target.database, [staging])[0].column_names
            cut.verify(
                conn,
                name,
                columns,
                expected[name],
                expected_from="are recorded in the archive's manifest: the archive was changed or damaged, "
                "and nothing was swapped; restore from another migration or backup",
            )
            report.verified_checksums = True
        (rows,) = query(conn, f"SELECT COUNT(*) FROM {quote_identifier(staging)}")[0]
        report.tables[name] = int(rows)
    missing = sorted(set(expected) - set(created))
    if missing:
        raise SqlFileError(
            f"the archive lacks tables its manifest lists ({', '.join(missing)}): "
            "the archive is incomplete; restore from another migration"
        )
    progress.emit("step-end", "verify")
