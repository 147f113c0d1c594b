"""Check, before anything is written, everything that would make a migration fail (what `--dry-run` runs).

`preflight()` connects to the source, the target (and the migration database) with a short connect
timeout, reads their grants and information_schema, times nothing and changes no database: its
sessions are read-only and it runs only SELECT and SHOW. The archive location gets one small test
object, written and removed. Every problem found is a `Finding`; `fatal` ones would make the migration
fail, so the caller stops (`PreflightReport.raise_if_fatal()` raises `PreflightError`, exit code 5).
docs/reliability.md lists the privileges checked and why each is needed.

    report = preflight(43, source=prod, target=pprd, archive="s3://backups/wordpress")
    for finding in report.findings:
        print(finding.level, finding.check, finding.message, finding.fix)
    report.raise_if_fatal()
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Collection, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import mysql.connector

from wfuwp.archive.location import ArchiveLocation
from wfuwp.errors import (
    EXIT_LOCKED,
    EXIT_PREFLIGHT,
    EXIT_SITE_NOT_FOUND,
    ArchiveError,
    PreflightError,
    WfuwpError,
)
from wfuwp.mysql.collation import collation_mapping, collations_in, target_collations
from wfuwp.mysql.connection import Database, as_text, error_advice, execute, max_allowed_packet, query
from wfuwp.mysql.grants import Grants
from wfuwp.mysql.lock import SiteLock
from wfuwp.mysql.network import options_table, site_address
from wfuwp.mysql.objects import referencing_objects, site_triggers
from wfuwp.mysql.rowsize import column_octets, largest_row, row_bound
from wfuwp.mysql.schema import (
    Table,
    TableChoice,
    TableFilter,
    base_table_names,
    column_types,
    describe_tables,
    table_ownership,
    validate_site_id,
)
from wfuwp.mysql.sql import insert_prefix, quote_identifier
from wfuwp.mysql.target import LEFTOVER_PATTERN, leftover_tables, work_table_name
from wfuwp.replace import PairLike, Replacer, as_rule

__all__ = [
    "BACKUP_BYTES_PER_S",
    "COMPRESSION_RATIO",
    "EXACT_ROW_SCAN_BYTES",
    "PREFLIGHT_CONNECT_TIMEOUT_S",
    "THROUGHPUT_BYTES_PER_S",
    "Finding",
    "PreflightReport",
    "TableSize",
    "collation_findings",
    "preflight",
]

Level = Literal["fatal", "warning", "info"]

# Seconds to wait for each server during preflight: a dry run should say "unreachable" quickly.
PREFLIGHT_CONNECT_TIMEOUT_S = 5
# Tables up to this size (information_schema DATA_LENGTH) get an exact largest-row scan: a full read of the
# table, about a second per 200 MB on a busy server. Larger ones are judged from their column types.
EXACT_ROW_SCAN_BYTES = 200 * 1024**2
# Throughputs for the duration estimate, in bytes of information_schema DATA_LENGTH per second, measured
# with the default options (2 workers) on a shared, busy 2-core machine, source and target on one MariaDB
# 10.11, archives to a local directory: a 163 MiB site (200,000 postmeta rows) copied in 16.7 s (9.7 MiB/s);
# with a 163 MiB target backup streaming alongside, 20.0 s (the backup adds ~50 MiB/s). See
# docs/reliability.md. Faster servers and networks only make the estimate pessimistic.
THROUGHPUT_BYTES_PER_S = 9 * 1024**2
BACKUP_BYTES_PER_S = 48 * 1024**2
# Archive bytes per DATA_LENGTH byte is ~1/5.7 on WordPress-like SQL (docs/archives.md); DATA_LENGTH
# overstates the SQL text (page fill), so 1/4 errs on the side of asking for more disk.
COMPRESSION_RATIO = 4
# The engine leaves this much of max_allowed_packet for the protocol (wfuwp.ops.migrate: packet_limit).
_PACKET_HEADROOM = 1024
# Privileges the target (and the migration database) needs on the database itself, always.
TARGET_PRIVILEGES = ("SELECT", "INSERT", "CREATE", "DROP", "ALTER")


# A fatal finding that is a missing site or a held lock exits as the migration itself would.
_EXIT_CODE_OF_CHECK = {"source.site": EXIT_SITE_NOT_FOUND, "target.lock": EXIT_LOCKED}


@dataclass(frozen=True)
class Finding:
    """One thing preflight found: `fatal` would make the migration fail; `warning` degrades it; `info`."""

    level: Level
    check: str  # what was checked, e.g. "target.privileges", "archive", "row-size"
    message: str  # what was found, one line
    fix: str = ""  # what to do about it, one line (empty for info that needs nothing)


@dataclass
class TableSize:
    """One source table: size estimates and its largest row (bytes as read, and as an INSERT renders it)."""

    name: str
    engine: str
    rows: int
    data_bytes: int
    largest_row: int | None = None  # bytes of the row's values; None when not measured
    largest_statement: int | None = None  # bytes of a one-row INSERT into its staging table
    exact: bool = False  # measured by a scan (else bounded by the column types, or unknown)


@dataclass
class PreflightReport:
    """What `preflight` found, with the figures it based that on. `to_dict()` gives plain data for JSON."""

    site_id: int
    source: str
    target: str
    archive: str | None
    findings: list[Finding] = field(default_factory=list)
    tables: list[TableSize] = field(default_factory=list)
    target_tables: list[str] = field(default_factory=list)
    # Every source table under the prefix, owned by the site or not, with the rule (see table_ownership).
    ownership: list[TableChoice] = field(default_factory=list)
    privileges: dict[str, dict[str, bool]] = field(default_factory=dict)
    max_allowed_packet: dict[str, int] = field(default_factory=dict)
    estimate: dict[str, float] = field(default_factory=dict)

    @property
    def fatal(self) -> list[Finding]:
        """The findings that would make the migration fail."""
        return [f for f in self.findings if f.level == "fatal"]

    @property
    def warnings(self) -> list[Finding]:
        """The findings that make the migration slower or less safe, but not fail."""
        return [f for f in self.findings if f.level == "warning"]

    @property
    def ok(self) -> bool:
        """Whether nothing fatal was found."""
        return not self.fatal

    def error(self) -> PreflightError | None:
        """The PreflightError naming the first fatal problem and its fix, or None when there is none."""
        fatal = self.fatal
        if not fatal:
            return None
        first = fatal[0]
        more = len(fatal) - 1
        tail = (
            f" (and {more} more fatal problem{'s' if more > 1 else ''}; run a dry run to see all)"
            if more
            else ""
        )
        fix = f"; {first.fix}" if first.fix else ""
        return PreflightError(
            f"preflight {first.check}: {first.message}{fix}{tail}",
            problems=len(fatal),
            exit_code=_EXIT_CODE_OF_CHECK.get(first.check, EXIT_PREFLIGHT),
        )

    def raise_if_fatal(self) -> None:
        """Raise PreflightError when something fatal was found."""
        error = self.error()
        if error is not None:
            raise error

    def add(self, level: Level, check: str, message: str, fix: str = "") -> None:
        """Record a finding (messages are kept to one line)."""
        self.findings.append(Finding(level, check, _one_line(message), _one_line(fix)))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (`--dry-run --json`)."""
        data = asdict(self)
        data["ok"] = self.ok
        data["counts"] = {
            level: sum(f.level == level for f in self.findings) for level in ("fatal", "warning", "info")
        }
        return data


def preflight(
    site_id: int | str,
    *,
    source: str | Database,
    target: str | Database,
    archive: str | os.PathLike[str] | ArchiveLocation | None,
    work_dir: Path | None = None,
    migration_db: str | Database | None = None,
    replacements: Sequence[PairLike] | None = None,
    connect_timeout: int = PREFLIGHT_CONNECT_TIMEOUT_S,
    exact_row_scan_bytes: int = EXACT_ROW_SCAN_BYTES,
    in_place: bool = False,
    resume: str | None = None,
    tables: TableFilter | None = None,
) -> PreflightReport:
    """Check that migrating site `site_id` from `source` into `target` can work, writing nothing.

    Takes what `migrate_site` takes: `replacements` None means the pairs are derived from both networks,
    which then need the site's `wp_blogs` row and options. `archive`: local directory, s3:// URL or
    ArchiveLocation (None: no archive and so no backup, a warning). `work_dir`: another directory local
    files will be written to (its free space is checked too). `migration_db`: checked for connection
    and privileges. `connect_timeout` (seconds) bounds each connection attempt; `exact_row_scan_bytes`
    is the largest table (DATA_LENGTH) whose largest row is measured exactly. `in_place`: source and
    target are meant to be the same database (a search-replace within it), which is otherwise fatal.
    `resume`: the id of the migration being resumed, whose staging tables are then not leftovers.
    `tables`: table-name patterns to include or exclude, as migrate_site takes them; `ownership` in the
    report lists every source table under the prefix with the rule that put it in or out.

    Raises UsageError for an invalid site id or replacement pair (as migrate_site does); every other
    problem is a Finding in the returned report.
    """
    site = validate_site_id(site_id)
    src = _as_database(source, "source", connect_timeout)
    tgt = _as_database(target, "target", connect_timeout)
    mig = _as_database(migration_db, "migration", connect_timeout) if migration_db is not None else None
    rules = [as_rule(p) for p in replacements] if replacements is not None else None
    if rules is not None:
        Replacer(rules)  # raises UsageError for an empty search string and other unusable pairs
    report = PreflightReport(site, str(src), str(tgt), None)
    check = _Checks(
        report,
        site,
        src,
        tgt,
        derive=rules is None,
        archive=archive is not None,
        in_place=in_place,
        resume_run=resume.rsplit("-", 1)[-1] if resume else None,
        tables=tables or TableFilter(),
    )
    with ExitStack() as stack:
        src_conn = stack.enter_context(check.connection(src, "source"))
        tgt_conn = stack.enter_context(check.connection(tgt, "target"))
        # Each side's ownership looks for per-site twins in the other network too, as migrate_site's does.
        if src_conn is not None and tgt_conn is not None:
            check.src_all = base_table_names(src_conn, src.database)
            check.tgt_all = base_table_names(tgt_conn, tgt.database)
        if mig is not None:
            mig_conn = stack.enter_context(check.connection(mig, "migration"))
            if mig_conn is not None:
                check.database_privileges(
                    mig_conn, mig, "migration", {p: ("fatal", "") for p in TARGET_PRIVILEGES}
                )
        if src_conn is not None:
            check.source_side(src_conn)
        if tgt_conn is not None:
            check.target_side(tgt_conn)
        if src_conn is not None and tgt_conn is not None:
            check.both_sides(src_conn, tgt_conn)
        if src_conn is not None:
            check.row_sizes(src_conn, exact_row_scan_bytes)
    location = check.archive_location(archive)
    check.disk(location, work_dir)
    check.estimate()
    return report


# ------------------------------------------------------------------------------------------------------
# The checks, in the order preflight() runs them.


class _Checks:
    def __init__(
        self,
        report: PreflightReport,
        site_id: int,
        src: Database,
        tgt: Database,
        *,
        derive: bool,
        archive: bool,
        in_place: bool = False,
        resume_run: str | None = None,
        tables: TableFilter | None = None,
    ) -> None:
        self.table_filter = tables or TableFilter()
        self.src_all: list[str] = []
        self.tgt_all: list[str] = []
        self.in_place = in_place
        self.resume_run = resume_run
        self.report = report
        self.site_id = site_id
        self.src = src
        self.tgt = tgt
        self.derive = derive
        self.archive = archive
        self.tables: list[Table] = []
        self.target_tables: list[str] = []
        self.target_engines: dict[str, str] = {}
        self.target_bytes = 0
        self.source_triggers = 0  # triggers on the source's site tables (the target must create them)

    # -- connections ------------------------------------------------------------------------------------

    @contextmanager
    def connection(self, db: Database, role: str) -> Iterator[Any]:
        """A read-only connection, or None after recording why there is none."""
        try:
            conn = mysql.connector.connect(**db.connect_kwargs(), database=db.database)
        except mysql.connector.Error as exc:
            self.report.add(
                "fatal",
                f"{role}.connect",
                f"cannot connect to {db}: {_server_message(exc)}",
                error_advice(exc.errno, connecting=db.connect_timeout),
            )
            yield None
            return
        try:
            # Belt and braces: nothing preflight runs writes, and the server refuses it if something did.
            execute(conn, b"SET SESSION TRANSACTION READ ONLY")
            yield conn
        finally:
            with contextlib.suppress(Exception):  # a dead connection is closed already
                conn.close()

    # -- privileges -------------------------------------------------------------------------------------

    def grants(self, conn: Any, db: Database, role: str) -> Grants | None:
        try:
            account = as_text(query(conn, "SELECT CURRENT_USER()")[0][0])
            lines = [as_text(row[0]) for row in query(conn, "SHOW GRANTS")]
        except mysql.connector.Error as exc:
            self.report.add(
                "warning",
                f"{role}.privileges",
                f"cannot read the grants of {db.user} on {db}: {_server_message(exc)}",
                "check the privileges by hand against docs/reliability.md",
            )
            return None
        return Grants.parse(account, lines)

    def database_privileges(
        self, conn: Any, db: Database, role: str, wanted: dict[str, tuple[Level, str]]
    ) -> Grants | None:
        """Record which privileges of `wanted` (privilege -> (level if missing, why)) the user holds on db."""
        grants = self.grants(conn, db, role)
        if grants is None:
            return None
        held = grants.on_database(db.database)
        self.report.privileges[role] = {p: p in held for p in wanted}
        unsure = " (the user has roles; SHOW GRANTS may not show what they give)" if grants.has_roles else ""
        for level in ("fatal", "warning"):
            missing = [p for p, (lvl, _why) in wanted.items() if lvl == level and p not in held]
            if not missing:
                continue
            why = "; ".join(f"{p} is {wanted[p][1]}" for p in missing if wanted[p][1])
            self.report.add(
                "warning" if grants.has_roles else level,
                f"{role}.privileges",
                f"{grants.account} lacks {', '.join(missing)} on database {db.database} of {db}"
                + (f" ({why})" if why else "")
                + unsure,
                f"GRANT {', '.join(missing)} ON {quote_identifier(db.database)}.* TO {grants.grantee}",
            )
        return grants

    # -- the source -------------------------------------------------------------------------------------

    def source_side(self, conn: Any) -> None:
        db = self.src
        self.report.ownership = table_ownership(
            conn, db.database, db.table_prefix, self.site_id, tables=self.table_filter, peer=self.tgt_all
        )
        names = [c.name for c in self.report.ownership if c.owned]
        if not names:
            self.report.add(
                "fatal",
                "source.site",
                f"site {self.site_id} has no tables with prefix {db.table_prefix!r} in {db}",
                "check the site id and the table prefix",
            )
        unreadable = []
        for name in names:  # one at a time: a table the user may not SHOW CREATE must not hide the rest
            try:
                self.tables += describe_tables(conn, db.database, [name])
            except mysql.connector.Error as exc:
                unreadable.append((name, _server_message(exc)))
        self.report.tables = [TableSize(t.name, t.engine, t.rows_estimate, t.data_bytes) for t in self.tables]
        self.schema_objects(conn, db, "source", names)
        myisam = [t.name for t in self.tables if not t.transactional]
        lock: tuple[Level, str] = ("warning", "needed for the flush lock of a parallel snapshot")
        if myisam:
            lock = ("fatal", f"needed to read the non-transactional {', '.join(myisam[:3])} consistently")
        wanted: dict[str, tuple[Level, str]] = {
            # Tables a user cannot read are invisible to it: the site would be copied without them.
            "SELECT": ("warning", "needed database-wide, or tables the user cannot read are left out unseen"),
            "LOCK TABLES": lock,
        }
        grants = self.database_privileges(conn, db, "source", wanted)
        for table in self.tables:
            # The columns the copy reads: column-level grants can cover some and not others.
            columns = ", ".join(quote_identifier(c) for c in table.column_names) or "1"
            try:
                where = f"{quote_identifier(db.database)}.{quote_identifier(table.name)}"
                query(conn, f"SELECT {columns} FROM {where} LIMIT 0")
            except mysql.connector.Error as exc:
                unreadable.append((table.name, _server_message(exc)))
        if unreadable:
            name, why = unreadable[0]
            grantee = grants.grantee if grants else repr(db.user)
            self.report.add(
                "fatal",
                "source.privileges",
                f"{db.user} cannot read {len(unreadable)} of the site's tables in {db} ({name}: {why})",
                f"GRANT SELECT ON {quote_identifier(db.database)}.* TO {grantee}",
            )
        if grants is not None:
            flush = grants.global_privileges & {"RELOAD", "FLUSH_TABLES"} or grants.has_all_global
            self.report.privileges["source"]["RELOAD or FLUSH_TABLES"] = bool(flush)
            if not flush:
                self.report.add(
                    "warning",
                    "source.privileges",
                    f"{grants.account} lacks RELOAD (or FLUSH_TABLES) on {db}: the consistent snapshot is "
                    "taken on one connection, so tables are read one at a time",
                    f"GRANT RELOAD ON *.* TO {grants.grantee}",
                )
        if self.derive:
            self.site_row(conn, db, "source", required=True)

    def schema_objects(self, conn: Any, db: Database, role: str, tables: list[str]) -> None:
        """Report views, routines and events naming the site's tables (not migrated), and its triggers."""
        try:
            found = referencing_objects(conn, db.database, tables)
            trigger_count = len(site_triggers(conn, db.database, tables)) if role == "source" else 0
        except mysql.connector.Error as exc:
            self.report.add(
                "warning",
                f"{role}.objects",
                f"cannot read the views, routines and events of {db}: {_server_message(exc)}",
                "check by hand whether any of them names the site's tables",
            )
            return
        if role == "source":
            self.source_triggers = trigger_count
        if trigger_count:
            self.report.add(
                "info",
                "source.triggers",
                f"{trigger_count} triggers on the site's tables are migrated with them"
                " (staged under work names, given their own after the swap)",
            )
        if not found:
            return
        listed = "; ".join(f"{o.kind} {o.name} ({', '.join(o.tables)})" for o in found)
        if role == "source":
            self.report.add(
                "warning",
                "source.objects",
                f"{len(found)} views, stored routines or events of {db} name the site's tables and are not "
                f"migrated: {listed}",
                "create them in the target by hand if the site needs them there",
            )
        else:
            self.report.add(
                "info",
                "target.objects",
                f"{len(found)} views, stored routines or events of {db} name the site's tables: {listed}; "
                "they are left as they are and see the migrated tables after the swap",
            )

    def site_row(self, conn: Any, db: Database, role: str, *, required: bool) -> None:
        """Check the site's wp_blogs row (and, to derive pairs, its options table)."""
        level: Level = "fatal" if required else "warning"
        try:
            site_address(conn, db.database, db.table_prefix, self.site_id, str(db))
        except WfuwpError:
            self.report.add(
                level,
                f"{role}.site",
                f"site {self.site_id} has no row in {db.table_prefix}blogs of {db}",
                "create the site there first, or pass the replacement pairs yourself"
                if required
                else "create the site in the network (or WordPress will not serve it there)",
            )
            return
        except mysql.connector.Error as exc:
            self.report.add(
                level,
                f"{role}.site",
                f"cannot read {db.table_prefix}blogs of {db}: {_server_message(exc)}",
                "check that it is a multisite network and the table prefix is right",
            )
            return
        if required and role == "source":
            table = options_table(db.table_prefix, self.site_id)
            if table not in {t.name for t in self.tables}:
                self.report.add(
                    "fatal",
                    f"{role}.site",
                    f"site {self.site_id} has no {table} table in {db}, which deriving the pairs reads",
                    "pass the replacement pairs yourself",
                )

    # -- the target -------------------------------------------------------------------------------------

    def target_side(self, conn: Any) -> None:
        db = self.tgt
        self.target_tables = [
            c.name
            for c in table_ownership(
                conn, db.database, db.table_prefix, self.site_id, tables=self.table_filter, peer=self.src_all
            )
            if c.owned
        ]
        self.report.target_tables = list(self.target_tables)
        self.schema_objects(conn, db, "target", self.target_tables)
        if self.target_tables:
            marks = ",".join(["%s"] * len(self.target_tables))
            for name, engine, size in query(
                conn,
                "SELECT TABLE_NAME, ENGINE, DATA_LENGTH FROM information_schema.TABLES "
                f"WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN ({marks})",
                (db.database, *self.target_tables),
            ):
                self.target_engines[as_text(name)] = as_text(engine or "")
                self.target_bytes += int(size or 0)
        target_myisam = [n for n, engine in self.target_engines.items() if not _transactional(engine)]
        wanted: dict[str, tuple[Level, str]] = {p: ("fatal", "") for p in TARGET_PRIVILEGES}
        if self.archive and target_myisam:
            wanted["LOCK TABLES"] = (
                "fatal",
                f"needed to back up the non-transactional {', '.join(target_myisam[:3])}",
            )
        elif self.archive:
            wanted["LOCK TABLES"] = ("warning", "needed to back up non-transactional (MyISAM, Aria) tables")
        if self.source_triggers:
            wanted["TRIGGER"] = ("fatal", f"needed to create the site's {self.source_triggers} triggers")
            wanted.setdefault(
                "LOCK TABLES", ("warning", "needed to give the triggers their own names after the swap")
            )
        self.database_privileges(conn, db, "target", wanted)
        self.site_row(conn, db, "target", required=self.derive)
        # A resumed run's own staging tables are its work in progress, not leftovers.
        leftovers = [
            n
            for n in leftover_tables(conn, db.database)
            if _run_of(n) != self.resume_run or not self.resume_run
        ]
        if leftovers:
            shown = ", ".join(leftovers[:3]) + (", ..." if len(leftovers) > 3 else "")
            self.report.add(
                "warning",
                "target.leftovers",
                f"{len(leftovers)} staging/old tables of earlier runs are in {db} ({shown})",
                "run `wfuwp migrate clean` once no migration is running, to drop them",
            )
        lock = SiteLock(db, self.site_id)
        (holder,) = query(conn, "SELECT IS_USED_LOCK(%s)", (lock.name,))[0]
        if holder is not None:
            self.report.add(
                "fatal",
                "target.lock",
                f"another migration (connection {int(holder)}) is writing site {self.site_id} of {db}",
                "wait for it to finish (the lock goes when its process ends)",
            )

    # -- both -------------------------------------------------------------------------------------------

    def both_sides(self, src: Any, tgt: Any) -> None:
        if self.src.table_prefix != self.tgt.table_prefix:
            self.report.add(
                "fatal",
                "prefix",
                f"source prefix {self.src.table_prefix!r} differs from target prefix "
                f"{self.tgt.table_prefix!r}",
                "migrating between prefixes is not supported: use databases with the same table prefix",
            )
        here = query(src, "SELECT @@hostname, @@port, DATABASE()")[0]
        there = query(tgt, "SELECT @@hostname, @@port, DATABASE()")[0]
        if [as_text(v) for v in here] == [as_text(v) for v in there] and not self.in_place:
            self.report.add(
                "fatal",
                "target",
                "the source and the target are the same database"
                f" ({self.src.database} on {as_text(here[0])})",
                "name a different target database",
            )
        for role, conn in (("source", src), ("target", tgt)):
            self.report.max_allowed_packet[role] = max_allowed_packet(conn)
        self.schema_differences(src, tgt)
        self.report.findings += collation_findings(self.tables, target_collations(tgt), str(self.tgt))

    def schema_differences(self, src: Any, tgt: Any) -> None:
        """Report, as info, how the site's tables differ; the migrated site takes the source's schema."""
        source_names = [t.name for t in self.tables]
        shared = [n for n in source_names if n in set(self.target_tables)]
        source_columns = column_types(src, self.src.database, shared)
        target_columns = column_types(tgt, self.tgt.database, shared)
        for name in shared:
            theirs, ours = target_columns.get(name, {}), source_columns.get(name, {})
            changes = [f"adds {c} {t}" for c, t in ours.items() if c not in theirs]
            changes += [f"removes {c}" for c in theirs if c not in ours]
            changes += [
                f"changes {c} from {theirs[c]} to {t}"
                for c, t in ours.items()
                if c in theirs and theirs[c] != t
            ]
            if changes:
                self.report.add(
                    "info",
                    "schema",
                    f"{name}: the source {'; '.join(changes)} (the migrated site takes the source's schema)",
                )
        created = [n for n in source_names if n not in set(self.target_tables)]
        if created:
            self.report.add(
                "info", "schema", f"{len(created)} tables are new to the target: {', '.join(created[:5])}"
            )
        only_target = [n for n in self.target_tables if n not in set(source_names)]
        if only_target:
            self.report.add(
                "info",
                "schema",
                f"{len(only_target)} of the site's tables exist only in the target and are kept: "
                f"{', '.join(only_target[:5])}",
                "pass drop_target_only to take them out of the site",
            )

    # -- rows -------------------------------------------------------------------------------------------

    def row_sizes(self, conn: Any, exact_limit: int) -> None:
        """Compare each table's largest row, as an INSERT, with both servers' max_allowed_packet.

        The target must take it (else the copy fails before the swap: fatal). The source only sends rows,
        which max_allowed_packet does not limit (measured: a 2.7 MB row reads from a server set to 1 MiB),
        but it could not load the row back: the archive's source export, or a migration the other way.
        """
        packets = self.report.max_allowed_packet
        source_limit = (packets.get("source") or max_allowed_packet(conn)) - _PACKET_HEADROOM
        target_limit = packets["target"] - _PACKET_HEADROOM if "target" in packets else None
        checks = {c.name: c for c in self.report.tables}
        columns = column_octets(conn, self.src.database, [t.name for t in self.tables])
        for table in self.tables:
            result = checks[table.name]
            prefix = len(insert_prefix(work_table_name("_wfs_", "000000", table.name), table.column_names))
            if table.data_bytes <= exact_limit:
                raw, rendered = largest_row(conn, self.src.database, table)
                result.largest_row, result.largest_statement, result.exact = raw, rendered + prefix, True
            else:
                bound = row_bound(table, columns.get(table.name, {}))
                if bound is not None:
                    result.largest_row, result.largest_statement = bound[0], bound[1] + prefix
            statement = result.largest_statement
            if result.exact and statement is not None:
                row = f"{table.name} has a row of {result.largest_row} bytes ({statement} as an INSERT)"
                if target_limit is not None and statement > target_limit:
                    self.report.add(
                        "fatal",
                        "row-size",
                        f"{row}, more than the target's max_allowed_packet allows ({target_limit})",
                        "raise max_allowed_packet on the target (SET GLOBAL max_allowed_packet = 1073741824)",
                    )
                if statement > source_limit:
                    self.report.add(
                        "warning",
                        "row-size",
                        f"{row}, more than the source's max_allowed_packet allows ({source_limit}): the "
                        "source export cannot be loaded back into it, nor the site migrated back to it",
                        "raise max_allowed_packet on the source (SET GLOBAL max_allowed_packet = 1073741824)",
                    )
            elif statement is None or statement > min(source_limit, target_limit or source_limit):
                average = table.data_bytes // table.rows_estimate if table.rows_estimate else 0
                likely = target_limit is not None and average > target_limit
                self.report.add(
                    "warning" if likely else "info",
                    "row-size",
                    f"{table.name} ({_mib(table.data_bytes)}) was not scanned for its largest row; "
                    + (
                        f"its rows average {average} bytes, above the target's packet limit"
                        if likely
                        else "its column types allow rows above the packet limits"
                    )
                    + "; the copy stops before the swap if one is",
                    "raise max_allowed_packet on the target to be safe (SET GLOBAL max_allowed_packet = "
                    "1073741824), or measure it with `SELECT MAX(LENGTH(...))` on its longest columns",
                )

    # -- archive and disk -------------------------------------------------------------------------------

    def archive_location(
        self, archive: str | os.PathLike[str] | ArchiveLocation | None
    ) -> ArchiveLocation | None:
        if archive is None:
            self.report.add(
                "warning",
                "archive",
                "no archive location: the migration keeps no backup of the target's site tables",
                "pass an archive location (a directory or s3://bucket/prefix)",
            )
            return None
        try:
            location = archive if isinstance(archive, ArchiveLocation) else ArchiveLocation.parse(archive)
        except WfuwpError as exc:
            self.report.add("fatal", "archive", str(exc), "fix the archive location")
            return None
        self.report.archive = location.url
        try:
            location.check()
            leftover = _write_and_remove_test_object(location)
        except WfuwpError as exc:
            self.report.add("fatal", "archive", str(exc), "fix the archive location or its permissions")
            return None
        if leftover:
            self.report.add(
                "warning", "archive", leftover, "remove it by hand (the migration never deletes objects)"
            )
        return location

    def disk(self, location: ArchiveLocation | None, work_dir: Path | None) -> None:
        """Compare free space where local files go with the estimated compressed archive size."""
        source_bytes = sum(t.data_bytes for t in self.tables)
        need = (2 * source_bytes + self.target_bytes) // COMPRESSION_RATIO
        self.report.estimate["archive_bytes"] = need
        places: list[Path] = []
        if location is not None and not location.is_s3:
            places.append(Path(location.url))
        if work_dir is not None:
            places.append(Path(work_dir))
        by_device: dict[int, tuple[Path, int]] = {}
        for place in places:
            existing = _existing_ancestor(place)
            device = existing.stat().st_dev
            first, total = by_device.get(device, (place, 0))
            by_device[device] = (first, total + need)
        for place, wanted in by_device.values():
            free = shutil.disk_usage(_existing_ancestor(place)).free
            if free < wanted:
                self.report.add(
                    "fatal",
                    "disk",
                    f"{place} has {_mib(free)} free, the archives need about {_mib(wanted)}",
                    "free disk space or choose another directory",
                )
            elif free < 2 * wanted:
                self.report.add(
                    "warning",
                    "disk",
                    f"{place} has {_mib(free)} free, close to the {_mib(wanted)} the archives need",
                    "free disk space or choose another directory",
                )

    def estimate(self) -> None:
        rows = sum(t.rows_estimate for t in self.tables)
        size = sum(t.data_bytes for t in self.tables)
        backup = self.target_bytes if self.archive else 0
        seconds = size / THROUGHPUT_BYTES_PER_S + backup / BACKUP_BYTES_PER_S
        self.report.estimate.update(
            {"tables": len(self.tables), "rows": rows, "source_bytes": size, "backup_bytes": backup,
             "seconds": round(seconds, 1)}
        )  # fmt: skip
        if self.tables:
            self.report.add(
                "info",
                "estimate",
                f"{len(self.tables)} tables, about {rows} rows and {_mib(size)} to copy"
                + (f", {_mib(backup)} to back up" if backup else "")
                + f": about {_duration(seconds)} at {_mib(THROUGHPUT_BYTES_PER_S)}/s",
            )


# ------------------------------------------------------------------------------------------------------
# Helpers.


def collation_findings(tables: Sequence[Table], available: Collection[str], target: str) -> list[Finding]:
    """What becomes of the collations of `tables` (as the source defines them) that the target lacks.

    A warning naming each collation the target has a near one for, what it becomes and the tables
    using it (MySQL 8's utf8mb4_0900_* on MariaDB: the tables are created with the near one, see
    wfuwp.mysql.collation); a fatal finding naming those with nothing near (CREATE TABLE would fail).
    """
    users: dict[str, list[str]] = {}
    for table in tables:
        for name in collations_in(table.create_sql):
            users.setdefault(name, []).append(table.name)

    def used_by(name: str) -> str:
        names = users[name]
        return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")

    mapping = collation_mapping(users, available)
    findings = []
    missing = [name for name, nearest in mapping.items() if nearest is None]
    if missing:
        findings.append(
            Finding(
                "fatal",
                "collation",
                f"{target} has no collation like "
                + "; ".join(f"{name} (used by {used_by(name)})" for name in missing),
                "migrate to a server that has it, or ALTER those tables in the source to another collation",
            )
        )
    mapped = [(name, nearest) for name, nearest in mapping.items() if nearest is not None]
    if mapped:
        findings.append(
            Finding(
                "warning",
                "collation",
                f"{target} lacks collations the site's tables use; they get the nearest it has: "
                + "; ".join(f"{name} -> {nearest} ({used_by(name)})" for name, nearest in mapped),
                "nothing to do unless sorting must match the source exactly (then use a server with them)",
            )
        )
    return findings


def _as_database(value: str | Database, role: str, timeout: int) -> Database:
    value = Database.coerce(value, role)
    return replace(value, connect_timeout=max(1, min(value.connect_timeout, timeout)))


def _write_and_remove_test_object(location: ArchiveLocation) -> str | None:
    """Write a small object where archives go and remove it; ArchiveError if writing fails.

    Returns a description when the object could not be removed (S3: no s3:DeleteObject, which the
    migration itself never needs), else None.
    """
    name = f".wfuwp-preflight-{secrets.token_hex(4)}"
    backend = location.backend
    backend.put_bytes(name, b"wfuwp preflight test object: safe to delete\n")
    try:
        backend.delete(name)
    except ArchiveError as exc:
        return f"cannot remove the test object: {exc}"
    return None


def _run_of(work_table: str) -> str | None:
    """The run id in a staging or old table's name."""
    found = LEFTOVER_PATTERN.match(work_table)
    return found.group(1) if found else None


def _transactional(engine: str) -> bool:
    """Whether a consistent-snapshot transaction covers tables of `engine` (the rule of schema.Table)."""
    return Table("", engine, "", (), 0, 0).transactional


def _existing_ancestor(path: Path) -> Path:
    path = path.expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _server_message(exc: BaseException) -> str:
    msg = getattr(exc, "msg", None) or str(exc)
    return f"{_one_line(str(msg))} (error {getattr(exc, 'errno', None)})"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _mib(n: float) -> str:
    if n >= 1024**3:
        return f"{n / 1024**3:.1f} GiB"
    return f"{n / 1024**2:.1f} MiB"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
