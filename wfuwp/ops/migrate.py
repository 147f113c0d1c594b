"""Migrate one site: the one entry point that wires the stages together.

    source snapshot -> wfuwp.ops.copy (replace, render, load into staging, verify) -> wfuwp.ops.cutover swap
                                    \\-> archive: source export, migrated export
    target's current site tables -> wfuwp.ops.backup -> archive backup (durable before the swap)

The target stays untouched until the swap: every failure before it drops the staging tables; a
failure after it swaps back. Progress is kept in the archive's state.json so a killed run can be
resumed; the manifest is written last. Errors reach the caller as `WfuwpError`s naming the step
and table.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import mysql.connector

from wfuwp import runlog, signals
from wfuwp._version import __version__
from wfuwp.archive.folder import MigrationArchive, new_migration_id
from wfuwp.archive.location import ArchiveLocation
from wfuwp.archive.manifest import BackupState, MigrationState, StagedTable, TableSum
from wfuwp.config.plan import checked_rules, plan_for
from wfuwp.errors import Cancelled, MigrationError, UsageError, WfuwpError
from wfuwp.mysql.connection import (
    DRIVER,
    Database,
    closing,
    database_error,
    max_allowed_packet,
    prepare_copy_session,
    with_retries,
)
from wfuwp.mysql.identity import NetworkIdentity, network_or_none
from wfuwp.mysql.network import read_site, site_label
from wfuwp.mysql.objects import Trigger, site_triggers
from wfuwp.mysql.schema import (
    NETWORK_SITE,
    Table,
    TableFilter,
    base_table_names,
    describe_tables,
    require_site_tables,
    site_table_names,
    table_estimates,
    validate_site_id,
)
from wfuwp.mysql.source import Snapshot
from wfuwp.ops.backup import audit, back_up
from wfuwp.ops.copy import Copied, TableCopier
from wfuwp.ops.cutover import SWAP_ATTEMPTS, CutOver
from wfuwp.progress import Progress, ProgressCallback
from wfuwp.replace import IMPLEMENTATION, PairLike, Replacer, Rule, as_rule
from wfuwp.report import MigrationReport

__all__ = ["DEFAULT_STATEMENT_BYTES", "RunHooks", "migrate_site"]

T = TypeVar("T")
_log = logging.getLogger(__name__)

# Multi-row INSERTs of about 1 MiB loaded fastest here; never more than the target's max_allowed_packet.
DEFAULT_STATEMENT_BYTES = 1 << 20
# What the protocol needs of max_allowed_packet beside the statement itself.
PACKET_HEADROOM = 1024


@dataclass(frozen=True)
class Options:
    """Knobs of one migration (see migrate_site)."""

    workers: int = 2
    load_connections: int = 1
    statement_bytes: int = DEFAULT_STATEMENT_BYTES
    drop_target_only: bool = False
    keep_old: bool = False
    swap_attempts: int = SWAP_ATTEMPTS
    tables: TableFilter = dataclasses.field(default_factory=TableFilter)
    load_data: bool = True


@dataclass(frozen=True)
class RunHooks:
    """For callers inside the package (wfuwp.ops.network): a migration of a given table set, watched.

    `tables`: migrate exactly these tables (those the source has; the target's of them are replaced)
    instead of the site's; migrate_site then takes site id NETWORK_SITE, the network tables' own
    (archive folder network/, their own lock). `label`: the name in the archive folder. `on_start`
    gets the migration id as soon as it is known (before anything is written). Setting `cancel`
    stops the run as Ctrl-C would.
    `before_swap(conn, staging_name)` runs on a target connection after every table verified and
    before the RENAME; it may add rows to staging tables (they are then not in the archives).
    """

    tables: tuple[str, ...] | None = None
    label: str | None = None
    on_start: Callable[[str], None] | None = None
    cancel: threading.Event | None = None
    before_swap: Callable[[Any, Callable[[str], str]], None] | None = None


def migrate_site(
    site_id: int | str,
    *,
    source: str | Database,
    target: str | Database,
    replacements: Sequence[PairLike] | None = None,
    archive: str | os.PathLike[str] | ArchiveLocation | None = None,
    progress: ProgressCallback | None = None,
    workers: int = 2,
    load_connections: int = 1,
    statement_bytes: int = DEFAULT_STATEMENT_BYTES,
    drop_target_only: bool = False,
    keep_old: bool = False,
    verify_after_swap: Callable[[MigrationReport], None] | None = None,
    resume: str | None = None,
    swap_attempts: int = SWAP_ATTEMPTS,
    force: bool = False,
    tables: TableFilter | None = None,
    _hooks: RunHooks | None = None,
    load_data: bool = True,
) -> MigrationReport:
    """Migrate site `site_id` from `source` into `target` and return what was done.

    `source`/`target`: mysql:// URLs or `Database`s (their `name` labels environments in archive names).
    `replacements`: ordered (search, replace) pairs or `Rule`s, checked by `wfuwp.config.plan.checked_rules`
    (a search shorter than 4 characters needs `force=True`; a pair that would rewrite what an earlier
    one wrote is moved in front of it when their matches can never overlap, else UsageError); None
    plans the site's own hosts and URL from both networks' `wp_blogs` rows and siteurl/home options
    (`wfuwp.config.plan.plan_for`, as the command line does). `archive`: a local directory, an
    s3:// URL or an `ArchiveLocation` for the source export, the target backup and the migrated export
    (see docs/archives.md); None writes no archives and so keeps no backup. `progress` receives
    ProgressEvents (one at a time). `drop_target_only` drops the site's tables that exist only in the
    target (kept by default); `workers` tables are read at once, each loaded on `load_connections`
    target connections. `keep_old` keeps the replaced tables (`_wfo_*`) after the swap.
    `verify_after_swap` may raise to have the swap undone. `resume`: the id of a migration whose
    process died (state.json in its archive folder); tables it had loaded and verified are checked
    again and kept, the rest are copied, with the rules it started with; a run killed after its
    swap's RENAME is finished instead. `swap_attempts`: how often the swap tries, waiting at most
    SWAP_LOCK_WAIT_S seconds each time, for other connections' locks on the site's tables before
    SwapBlockedError. `tables`: table-name patterns to include or exclude (see TableFilter and
    `table_ownership`, which decides the site's tables in both databases; an excluded table of the target
    is neither backed up nor replaced nor dropped). `load_data`: load rows with LOAD DATA LOCAL INFILE
    where the target allows it (`local_infile` on; else INSERTs, and the report says why). Raises a
    `WfuwpError` subclass whose message says what the target holds: as it was (or swapped back), or,
    when the swap had finished, the migrated site.
    """
    hooks = _hooks or RunHooks()
    network = site_id == NETWORK_SITE and hooks.tables is not None
    run = _Migration(
        NETWORK_SITE if network else validate_site_id(site_id),
        Database.coerce(source, "source"),
        Database.coerce(target, "target"),
        checked_rules([as_rule(p) for p in replacements], force=force) if replacements is not None else None,
        archive,
        Progress(progress),
        Options(
            max(1, workers),
            max(1, load_connections),
            statement_bytes,
            drop_target_only,
            keep_old,
            swap_attempts,
            tables or TableFilter(),
            load_data,
        ),
        verify_after_swap,
        resume,
        hooks,
    )
    with signals.interruptible():
        return run.run()


def _existing(conn: Any, database: str, names: Sequence[str]) -> list[str]:
    """Those of `names` that are base tables of `database`, sorted."""
    return sorted(set(names) & set(table_estimates(conn, database, names)))


class _Migration:
    """The state of one migrate_site call: the steps in order, and what a failure puts back."""

    def __init__(
        self,
        site_id: int,
        source: Database,
        target: Database,
        rules: list[Rule] | None,
        archive: str | os.PathLike[str] | ArchiveLocation | None,
        progress: Progress,
        options: Options,
        verify_after_swap: Callable[[MigrationReport], None] | None,
        resume: str | None,
        hooks: RunHooks,
    ) -> None:
        if resume is not None and archive is None:
            raise UsageError("resuming needs the archive the migration was started with: pass archive=")
        self.site_id = site_id
        self.source = source
        self.target = target
        self.rules = rules
        self.archive_spec = archive
        self.progress = progress
        self.options = options
        self.verify_after_swap = verify_after_swap
        self.resume_id = resume
        self.report = MigrationReport("", site_id, str(source), str(target))
        self.report.implementation = {"core": IMPLEMENTATION, "driver": DRIVER, "version": __version__}
        self.hooks = hooks
        self.cancel = hooks.cancel or threading.Event()
        self.archive: MigrationArchive | None = None
        self.cut: CutOver | None = None
        self.owned = False  # whether this run may write into the archive folder (see run)
        self.step = "connect"
        self.state = MigrationState(site_id)
        # (source, target) networks for the manifest, read once connected (restore checks them).
        self.networks: tuple[NetworkIdentity | None, NetworkIdentity | None] = (None, None)
        # Copy and backup workers record into the report and the state from their own threads.
        self.lock = threading.Lock()
        self.packet_limit = self.statement_limit = options.statement_bytes
        self.triggers: list[Trigger] = []  # the source's triggers of the site's tables

    # -- the steps, in order ---------------------------------------------------------------------------

    def run(self) -> MigrationReport:
        """Run the steps, keeping their log beside the manifest (log.jsonl, see wfuwp.runlog)."""
        with runlog.capture(
            self.report,
            lambda: self.archive.append_log if self.owned and self.archive is not None else None,
            secrets=(self.source.password, self.target.password),
        ):
            return self._run()

    def _run(self) -> MigrationReport:
        started = time.monotonic()
        try:
            self._open_archive()
            if self.hooks.on_start is not None:
                self.hooks.on_start(self.report.migration_id)
            self.cut = CutOver(
                self.target,
                self.report.migration_id.rsplit("-", 1)[-1],
                lock_site=self.site_id,
                progress=self.progress,
                swap_attempts=self.options.swap_attempts,
            )
            with self._step("connect"):
                self.cut.open(retry=self._retry)
                if self.archive is not None:
                    self.networks = (network_or_none(self.source), network_or_none(self.target))
            if self.resume_id is not None:
                self._load_resume_state()  # under the lock: no other process writes it now
            # From here on the archive folder is this run's: a failure is recorded in it. Before,
            # it may belong to a run that holds the lock, or to one that finished.
            self.owned = True
            if self.state.cutover != "staging" and self._finish_after_swap():
                return self._completed(started)
            with self._step("discover"):
                tables, target_tables = self._retry(self._discover, "reading the site's tables")
            self.cut.set_existing(target_tables)
            with self._step("stage"), closing(self.target.connect()) as conn:
                prepare_copy_session(conn, reading=False)
                for table in tables:
                    self.cut.add(table.name)
                to_copy = [t for t in tables if not self._already_loaded(conn, t)]
                for table in tables:
                    if table in to_copy:
                        self.cut.create_staging(conn, table)
                    else:
                        self.cut.remember(table)
            self._save_state()
            with self._step("copy"):
                self._copy_all(to_copy, target_tables)
            # Signals are held from the swap until the manifest says so: a run is never reported
            # as stopped while the migrated site is live, nor cut between the RENAME and its record.
            with signals.deferred():
                # The cut-over reports the swap step's start and end itself.
                with self._step("swap", emit=False), closing(self.target.connect()) as conn:
                    self._swap(conn)
                return self._completed(started)
        except BaseException as exc:
            if self.report.status == "completed" and isinstance(exc, KeyboardInterrupt):
                # Arrived after the completed run was recorded: it stands, and says it was interrupted.
                self.report.interrupt_deferred = True
                return self.report
            self._fail(exc)
            self.report.timings["total"] = round(time.monotonic() - started, 3)
            if self.owned:
                self._write_manifest()
            raise self._as_error(exc) from exc
        finally:
            if self.cut is not None:
                self.cut.close()

    def _completed(self, started: float) -> MigrationReport:
        """Record a finished migration: state.json, then the manifest (the migrated site is live)."""
        self.report.status = "completed"
        self.report.cutover = "finished"
        self.report.interrupt_deferred = self.report.interrupt_deferred or signals.pending()
        self.report.timings["total"] = round(time.monotonic() - started, 3)
        if self.cut is not None and self.cut.old_left:
            self.report.skipped.append(self.cut.old_left)
        try:
            self._save_state(status="completed", cutover="finished")
            self._write_manifest()
        except WfuwpError as exc:
            raise MigrationError(
                f"the site was migrated (it is live), but its manifest could not be written ({exc}); "
                "fix the archive location, then `wfuwp migrate rollback` can find it",
                step="manifest",
            ) from exc
        return self.report

    def _open_archive(self) -> None:
        """Name the migration: a new archive folder (nothing written yet), or the folder to resume."""
        if self.archive_spec is None:
            self.report.migration_id = new_migration_id(self.source.name, self.target.name)
            return
        location = (
            self.archive_spec
            if isinstance(self.archive_spec, ArchiveLocation)
            else ArchiveLocation.parse(self.archive_spec)
        )
        if self.resume_id is not None:
            self.archive = location.migration(self.resume_id)
        else:
            self.archive = location.new_migration(
                site_id=self.site_id,
                site_name=self.hooks.label or site_label(self.source, self.site_id),
                from_env=self.source.name,
                to_env=self.target.name,
            )
        self.report.migration_id = self.archive.id
        self.report.archive = {"location": self.archive.url, "id": self.archive.id}

    def _load_resume_state(self) -> None:
        """Take over the state.json of the migration being resumed: its rules and finished tables."""
        assert self.archive is not None
        state = self.archive.read_state()
        manifest = self.archive.read_manifest()
        ended = manifest is not None and manifest.status in ("completed", "rolled-back")
        if state is None or state.status != "running" or state.site_id != self.site_id or ended:
            raise UsageError(
                f"migration {self.resume_id} cannot be resumed (it finished, failed and was cleaned up, "
                f"or is not of site {self.site_id}): start a new migration"
            )
        self.state = state
        self.rules = list(state.rules)
        self.report.pairs_origin = f"resumed from {self.resume_id}"
        if state.table_filter is not None and state.table_filter != self.options.tables:
            # Like the rules: the tables are those the run started with, whatever this call says.
            if self.options.tables != TableFilter():
                _log.warning(
                    "resuming %s with the table patterns it started with (%s), not those given now",
                    self.resume_id,
                    state.table_filter,
                )
            self.options = dataclasses.replace(self.options, tables=state.table_filter)

    def _discover(self) -> tuple[list[Table], list[str]]:
        """The source's site tables (described), the target's site table names, and the rules."""
        with closing(self.source.connect()) as src, closing(self.target.connect()) as tgt:
            # Each side's ownership looks for per-site twins in the other network too.
            filter_, src_all = self.options.tables, base_table_names(src, self.source.database)
            tgt_all = base_table_names(tgt, self.target.database)
            if self.hooks.tables is not None:
                names = _existing(src, self.source.database, self.hooks.tables)
                if not names:
                    raise UsageError(f"none of the tables {', '.join(self.hooks.tables)} is in {self.source}")
                target_tables = _existing(tgt, self.target.database, self.hooks.tables)
            else:
                names = require_site_tables(
                    src, self.source.database, self.source.table_prefix, self.site_id, str(self.source),
                    tables=filter_, peer=tgt_all,
                )  # fmt: skip
                target_tables = site_table_names(
                    tgt,
                    self.target.database,
                    self.target.table_prefix,
                    self.site_id,
                    tables=filter_,
                    peer=src_all,
                )
            tables = describe_tables(src, self.source.database, names)
            self.triggers = site_triggers(src, self.source.database, names)
            if self.target.table_prefix != self.source.table_prefix:
                raise UsageError(
                    f"source prefix {self.source.table_prefix!r} differs from target prefix "
                    f"{self.target.table_prefix!r}: migrating between prefixes is not supported"
                )
            if self.rules is None:
                self.rules = self._derive_rules(src, tgt)
                self.report.pairs_origin = "derived from wp_blogs and options"
            self.packet_limit = max_allowed_packet(tgt) - PACKET_HEADROOM
            self.statement_limit = min(self.options.statement_bytes, self.packet_limit)
        source_names = {t.name for t in tables}
        self.report.target_only_tables = [n for n in target_tables if n not in source_names]
        self.report.pairs = [
            (r.search.decode("utf-8", "replace"), r.replace.decode("utf-8", "replace")) for r in self.rules
        ]
        Replacer(self.rules)  # validates the rules before anything is written
        return tables, target_tables

    def _derive_rules(self, src: Any, tgt: Any) -> list[Rule]:
        """The plan from the two networks alone (no configuration), as `wfuwp.config.plan` makes it."""
        source, target = self.source, self.target
        plan = plan_for(
            None,
            source.name or "source",
            target.name or "target",
            source_site=read_site(src, source.database, source.table_prefix, self.site_id, str(source)),
            target_site=read_site(tgt, target.database, target.table_prefix, self.site_id, str(target)),
        )
        for warning in plan.warnings:
            _log.warning("site %s: %s", self.site_id, warning)
        return plan.rules

    def _already_loaded(self, conn: Any, table: Table) -> bool:
        """On resume: whether an earlier attempt loaded and verified this table, and it still verifies."""
        saved = self.state.tables.get(table.name)
        if saved is None or self.cut is None:
            return False
        try:
            self.cut.verify(conn, table.name, table.column_names, saved.sum)
        except (WfuwpError, mysql.connector.Error):
            return False
        self.report.tables.append(saved.report)
        if self.archive is not None:
            self.archive.adopt(saved.objects)
        return True

    # -- copy and backup, at once ----------------------------------------------------------------------

    def _copy_all(self, tables: list[Table], target_tables: list[str]) -> None:
        """Copy every table (several at once) while the backup streams; verify each; wait for durability."""
        assert self.cut is not None
        pending = sorted(tables, key=lambda t: -t.data_bytes)
        copier = TableCopier(
            source=self.source,
            target=self.target,
            cut=self.cut,
            rules=self.rules or [],
            statement_limit=self.statement_limit,
            packet_limit=self.packet_limit,
            load_connections=self.options.load_connections,
            archive=self.archive,
            cancel=self.cancel,
            progress=self.progress,
            on_copied=self._copied,
            triggers=self.triggers,
            load_data=self.options.load_data,
        )
        workers = self.options.workers
        with Snapshot(
            self.source, tables, readers=workers, log=lambda m: self.progress.log("copy", m)
        ) as snap:
            self.report.snapshot = snap.info.__dict__
            readers = len(snap.connections)
            futures: list[Future[None]] = []
            with ThreadPoolExecutor(
                max_workers=readers + 2, thread_name_prefix="wfuwp", initializer=runlog.inherit()
            ) as pool:
                if self.archive is not None and target_tables and not self._backup_done_earlier():
                    futures.append(pool.submit(self._backup, target_tables))
                myisam = [t for t in pending if not t.transactional]
                if myisam:
                    pending = [t for t in pending if t.transactional]
                    futures.append(pool.submit(copier.work, snap, myisam, 0, myisam=True))
                for reader in range(readers):
                    futures.append(pool.submit(copier.work, snap, pending, reader, myisam=False))
                self._wait(futures, on_cancel=snap.interrupt)
        self.report.tables.sort(key=lambda t: t.name)

    def _copied(self, copied: Copied) -> None:
        """Record a verified table in the report and in state.json (called from copy workers)."""
        objects = self.archive.objects_of("source", copied.report.name) if self.archive else []
        if self.archive is not None:
            objects += self.archive.objects_of("migrated", copied.report.name)
        with self.lock:
            self.report.tables.append(copied.report)
            self.report.skipped.extend(copied.notes)
            self.state.tables[copied.report.name] = StagedTable(
                TableSum(copied.report.rows, copied.report.checksum), copied.report, objects
            )
        self._save_state()

    def _wait(self, futures: list[Future[None]], *, on_cancel: Callable[[], None]) -> None:
        """Wait for workers; the first failure (or Ctrl-C) cancels the rest, then is raised.

        `on_cancel` cuts short what the workers are blocked in, so that they stop within a second.
        """
        try:
            while True:
                done, not_done = wait(futures, timeout=0.2, return_when=FIRST_EXCEPTION)
                for future in done:
                    exc = future.exception()
                    if exc is not None:
                        raise exc
                if not not_done:
                    return
        except BaseException:
            self.cancel.set()
            on_cancel()
            wait(futures)
            raise

    def _backup(self, names: list[str]) -> None:
        """Back up the target's current site tables; the swap waits until every object is durable."""
        assert self.archive is not None
        started = time.monotonic()
        dumped = back_up(
            self.target,
            names,
            self.archive,
            statement_bytes=self.statement_limit,
            progress=self.progress,
            cancel=self.cancel,
        )
        with self.lock:
            self.report.backup_tables = {t.name: [t.rows, t.checksum] for t in dumped}
            self.report.timings["backup"] = round(time.monotonic() - started, 3)
            self.state.backup = BackupState(
                {t.name: TableSum(t.rows, t.checksum) for t in dumped}, self.archive.objects_of("backup")
            )
        self._save_state()

    def _backup_done_earlier(self) -> bool:
        """On resume: adopt a backup an earlier attempt completed (it is of the target before any swap)."""
        done = self.state.backup
        if done is None or self.archive is None:
            return False
        self.report.backup_tables = {k: [v.rows, v.checksum] for k, v in done.tables.items()}
        self.archive.adopt(done.objects)
        return True

    # -- the swap --------------------------------------------------------------------------------------

    def _swap(self, conn: Any) -> None:
        assert self.cut is not None
        retire = self.report.target_only_tables if self.options.drop_target_only else []
        verify = self.verify_after_swap
        self.report.target_only_dropped = bool(retire)
        self._save_state(retired=list(retire), keep_old=self.options.keep_old)
        if self.hooks.before_swap is not None:
            self.hooks.before_swap(conn, self.cut.staging_name)
        # Loaded and verified: now the triggers, which would have fired on every row loaded.
        self.cut.stage_triggers(conn, self.triggers)
        kept = self.cut.swap(
            conn,
            retire=retire,
            after_swap=(lambda: verify(self.report)) if verify is not None else None,
            keep_old=self.options.keep_old,
            record=self._record_cutover,
        )
        self.report.old_tables_kept = kept
        self.report.interrupt_deferred = bool(self.cut.interrupted)

    def _finish_swap(self, conn: Any) -> None:
        """After a resumed swap: what the run that swapped may have died before doing (see
        CutOver.finish_swap): drop the old tables, give the live tables their source's foreign key
        and trigger names back. Names are read from the source again; a failure to read or rename
        leaves staging names, which work just the same."""
        assert self.cut is not None
        try:
            with closing(self.source.connect()) as src:
                names = list(self.state.tables)
                for table in describe_tables(src, self.source.database, names):
                    self.cut.remember(table)
                self.cut.remember_triggers(site_triggers(src, self.source.database, names))
        except (WfuwpError, mysql.connector.Error) as exc:
            self.report.skipped.append(
                f"foreign keys and triggers keep their staging names ({exc}); they work just the same"
            )
        try:
            self.cut.finish_swap(conn)
        except (WfuwpError, mysql.connector.Error) as exc:
            self.report.skipped.append(
                f"the old tables could not all be dropped, or foreign keys or triggers renamed ({exc}): "
                "run `wfuwp migrate clean`"
            )

    def _record_cutover(self, state: str) -> None:
        """Make a cut-over state durable (state.json) before the cut-over goes on."""
        self.report.cutover = state
        if state != "finished":
            self._save_state(cutover=state)
        # "finished" is recorded with the manifest right after (see _completed), which reports a
        # failure to write either as a migrated site whose records are missing, not as a failed run.

    def _finish_after_swap(self) -> bool:
        """On resume of a run that reached the swap: finish it if the RENAME happened; False if it did not.

        The target's own tables say which (the RENAME is atomic): the run's old tables mean it
        happened; its staging tables mean it did not (the swap is then done again, as usual).
        """
        assert self.cut is not None
        state = self.state
        for name in state.tables:
            self.cut.add(name)
        self.cut.set_existing([n for n, t in state.tables.items() if t.report.action == "replaced"])
        self.cut.retire(state.retired)
        position = self.cut.position()
        if position == "before":
            return False
        # The RENAME happened: the migrated tables are live, whatever happens next.
        self.cut.swapped = True
        self.report.cutover = "swapped" if position == "swapped" else "finished"
        self.report.tables = sorted((t.report for t in state.tables.values()), key=lambda t: t.name)
        self.report.target_only_tables = list(state.retired)
        self.report.target_only_dropped = bool(state.retired)
        if state.backup is not None:
            self._backup_done_earlier()
        if self.archive is not None:
            for staged in state.tables.values():
                self.archive.adopt(staged.objects)
        if position == "swapped" and self.verify_after_swap is not None:
            # The run may have died between the RENAME and its check: check now (a failure swaps back).
            self.verify_after_swap(self.report)
        with signals.deferred():
            with closing(self.target.connect()) as conn:
                if not state.keep_old:
                    self._finish_swap(conn)
                elif position == "swapped":
                    self.cut.repoint_foreign_keys(conn)  # the run may have died before it
            self.report.old_tables_kept = self.cut.site.swap_plan.old_names() if state.keep_old else []
            self.cut.finished = True
            self.progress.log("swap", f"resumed {self.resume_id} after its swap: the migrated site was live")
        return True

    # -- state, manifest, failure -------------------------------------------------------------------------

    def _save_state(self, **changes: Any) -> None:
        """Record progress next to the archive (state.json), so a killed run can be resumed."""
        if self.archive is None:
            return
        with self.lock:
            for name, value in changes.items():
                setattr(self.state, name, value)
            self.state.rules = list(self.rules or [])
            self.state.table_filter = self.options.tables
            self.state.source_network, self.state.target_network = self.networks
            self.archive.write_state(self.state)

    def _fail(self, exc: BaseException) -> None:
        """Put the target back (swap back unless the swap finished, drop staging) and say what is true."""
        self.cancel.set()
        self.report.status = "interrupted" if isinstance(exc, (KeyboardInterrupt, Cancelled)) else "failed"
        if self.cut is not None:
            self.cut.undo()
            self.report.swapped_back = self.cut.swapped_back
            if not self.cut.swapped:  # never renamed, or swapped back: the target holds the old site
                self.report.cutover = "staging"
            if self.cut.cleanup_error is not None:
                self.report.cleanup_error = f"{self.cut.cleanup_error}; run `wfuwp migrate clean`"
        self.report.error = str(self._as_error(exc))
        if self.owned:
            try:
                self._save_state(status="failed", cutover=self.report.cutover)
            except WfuwpError:
                pass  # the archive is what failed; the manifest will say so if it can

    def _as_error(self, exc: BaseException) -> WfuwpError:
        if isinstance(exc, WfuwpError):
            return exc
        if isinstance(exc, (KeyboardInterrupt, Cancelled)):
            return MigrationError(f"interrupted; {self._target_now()}", step=self.step)
        if isinstance(exc, mysql.connector.Error):
            return MigrationError(str(database_error(exc, "database error")), step=self.step)
        return MigrationError(f"{type(exc).__name__}: {exc}", step=self.step)

    def _target_now(self) -> str:
        """What the target holds now, in words, for the error of a run that stopped."""
        cut = self.cut
        if cut is not None and cut.swapped and not cut.swapped_back:
            return (
                f"the migrated site is live; `wfuwp migrate rollback {self.report.migration_id}` "
                "puts the old one back"
            )
        if cut is not None and cut.cleanup_error is not None:
            return "the live site is as it was, but staging tables were left: run `wfuwp migrate clean`"
        return "the target was left as it was" + (
            ", swapped back" if cut is not None and cut.swapped_back else ""
        )

    def _write_manifest(self) -> None:
        if self.archive is None:
            return
        report = self.report
        manifest = self.archive.new_manifest(kind="migration", status=report.status)  # type: ignore[arg-type]
        manifest.tables = list(report.tables)
        manifest.backup_tables = {name: TableSum(v[0], v[1]) for name, v in report.backup_tables.items()}
        manifest.target_only_tables = list(report.target_only_tables)
        manifest.target_only_dropped = report.target_only_dropped
        manifest.old_tables_kept = list(report.old_tables_kept)
        manifest.error = report.error
        manifest.cleanup_error = report.cleanup_error
        manifest.cutover = report.cutover  # type: ignore[assignment]
        manifest.swapped_back = report.swapped_back
        manifest.audit = audit()
        manifest.source_network, manifest.target_network = self.networks
        details = report.to_dict()
        for typed in (
            "status", "tables", "backup_tables", "target_only_tables", "target_only_dropped",
            "old_tables_kept", "error", "cleanup_error", "cutover", "swapped_back",
        ):  # fmt: skip
            details.pop(typed)
        manifest.details = details
        try:
            self.archive.write_manifest(manifest)
        except WfuwpError as exc:
            if report.status == "completed":
                raise
            report.error = f"{report.error}; the manifest was not written either ({exc})"

    def _retry(self, action: Callable[[], T], what: str) -> T:
        """Run a repeatable action, retrying transient server errors (logged as progress events)."""
        return with_retries(action, what=what, log=lambda message: self.progress.log(self.step, message))

    @contextmanager
    def _step(self, name: str, *, emit: bool = True) -> Iterator[None]:
        self.step = name
        runlog.event(_log, logging.INFO, "step-start", f"{name} started", step=name)
        if emit:
            self.progress.emit("step-start", name)
        started = time.monotonic()
        yield
        self.report.timings[name] = round(time.monotonic() - started, 3)
        seconds = self.report.timings[name]
        runlog.event(
            _log, logging.INFO, "step-end", f"{name} done in {seconds:.1f} s", step=name, seconds=seconds
        )
        if emit:
            self.progress.emit("step-end", name)
