"""Migrate one site: the one entry point that wires the stages together.

    source snapshot -> Replacer.render_rows -> INSERTs into staging tables -> verify -> atomic swap
                                           \\-> archive: source export, migrated export
    target snapshot (the site's current tables) -> archive: backup (durable before the swap)

The target stays untouched until the swap: every failure before it drops the staging tables; a
failure after it swaps back. Errors reach the caller as `WfuwpError`s naming the step and table.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import mysql.connector

from wfuwp._version import __version__
from wfuwp.archive.location import ArchiveLocation, ArchiveStream, MigrationArchive
from wfuwp.mysql.connection import (
    DRIVER,
    Database,
    closing,
    database_error,
    max_allowed_packet,
    prepare_copy_session,
    with_retries,
)
from wfuwp.mysql.dump import dump_tables
from wfuwp.errors import Cancelled, MigrationError, UsageError, WfuwpError
from wfuwp.mysql.loader import Loader
from wfuwp.mysql.network import derive_pairs, site_address, site_urls
from wfuwp.progress import Progress, ProgressCallback
from wfuwp.replace import IMPLEMENTATION, PairLike, Replacer, Rule, as_rule
from wfuwp.report import MigrationReport, TableReport
from wfuwp.mysql.schema import Table, describe_tables, require_site_tables, site_table_names, validate_site_id
from wfuwp.mysql.source import Snapshot, stream_rows
from wfuwp.mysql.sql import DUMP_FOOTER, DUMP_HEADER, insert_prefix, table_preamble
from wfuwp.mysql.target import SiteLock, TargetSite

T = TypeVar("T")

# Multi-row INSERTs of about 1 MiB loaded fastest here; never more than the target's max_allowed_packet.
DEFAULT_STATEMENT_BYTES = 1 << 20


@dataclass(frozen=True)
class Options:
    """Knobs of one migration (see migrate_site)."""

    workers: int = 2
    load_connections: int = 1
    statement_bytes: int = DEFAULT_STATEMENT_BYTES
    drop_target_only: bool = False
    keep_old: bool = False


def new_migration_id(from_env: str, to_env: str, when: datetime | None = None) -> str:
    """`<UTC timestamp>-<from>-to-<to>-<6 hex>`: sortable, readable, unique."""
    when = when or datetime.now(timezone.utc)
    return f"{when:%Y%m%dT%H%M%SZ}-{from_env}-to-{to_env}-{secrets.token_hex(3)}"


def _as_database(value: str | Database, role: str) -> Database:
    if isinstance(value, Database):
        return value if value.name else dataclasses.replace(value, name=role)
    if isinstance(value, str):
        return Database.from_dsn(value, name=role)
    raise UsageError(f"{role} must be a mysql:// URL or a wfuwp.Database, not {type(value).__name__}")


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
) -> MigrationReport:
    """Migrate site `site_id` from `source` into `target` and return what was done.

    `source`/`target`: mysql:// URLs or `Database`s (their `name` labels environments in archive names).
    `replacements`: ordered (search, replace) pairs or `Rule`s; None derives the site's own URL pairs
    from both networks' `wp_blogs` rows and siteurl/home options. `archive`: a local directory, an
    s3:// URL or an `ArchiveLocation` for the source export, the target backup and the migrated export
    (see docs/archives.md); None writes no archives and so keeps no backup. `progress` receives ProgressEvents (one at a time).
    `drop_target_only` drops the site's tables that exist only in the target (kept by default);
    `workers` tables are read at once, each loaded on `load_connections` target connections.
    `keep_old` keeps the replaced tables (`_wfo_*`) after the swap. `verify_after_swap` may raise to
    have the swap undone. `resume`: the id of a migration whose process died (state.json in its
    archive folder); tables it had loaded and verified are checked again and kept, the rest are
    copied, with the rules it started with. Raises a `WfuwpError` subclass; the target is then as it was before.
    """
    run = _Migration(
        validate_site_id(site_id),
        _as_database(source, "source"),
        _as_database(target, "target"),
        replacements,
        archive,
        Progress(progress),
        Options(max(1, workers), max(1, load_connections), statement_bytes, drop_target_only, keep_old),
        verify_after_swap,
        resume,
    )
    with _sigterm_as_interrupt():
        return run.run()


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Within the main thread, make SIGTERM clean up like Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Migration:
    """The state of one migrate_site call."""

    def __init__(
        self,
        site_id: int,
        source: Database,
        target: Database,
        replacements: Sequence[PairLike] | None,
        archive: str | os.PathLike[str] | ArchiveLocation | None,
        progress: Progress,
        options: Options,
        verify_after_swap: Callable[[MigrationReport], None] | None,
        resume: str | None = None,
    ) -> None:
        self.site_id = site_id
        self.source = source
        self.target = target
        self.rules: list[Rule] | None = (
            [as_rule(p) for p in replacements] if replacements is not None else None
        )
        self.archive_spec = archive
        self.progress = progress
        self.options = options
        self.verify_after_swap = verify_after_swap
        self.report = MigrationReport("", site_id, str(source), str(target))
        self.report.implementation = {"core": IMPLEMENTATION, "driver": DRIVER, "version": __version__}
        self.cancel = threading.Event()
        self.archive: MigrationArchive | None = None
        self.site: TargetSite | None = None
        self.swapped = False
        self.step = "connect"
        self.resume_id = resume
        self.state: dict[str, Any] = {"status": "running", "tables": {}, "backup": None}
        self.state_lock = threading.Lock()
        if resume is not None and archive is None:
            raise UsageError("resuming needs the archive the migration was started with: pass archive=")

    # -- the steps, in order ---------------------------------------------------------------------------

    def run(self) -> MigrationReport:
        started = time.monotonic()
        lock = SiteLock(self.target, self.site_id)
        try:
            with self._step("connect"):
                self._retry(lock.acquire, f"locking site {self.site_id} on {self.target}")
            self._open_archive()
            with self._step("discover"):
                tables, target_tables = self._retry(self._discover, "reading the site's tables")
            self.site = TargetSite(
                self.target,
                self.report.migration_id.rsplit("-", 1)[-1],
                [t.name for t in tables],
                target_tables,
            )
            with self._step("stage"), closing(self.target.connect()) as conn:
                prepare_copy_session(conn, reading=False)
                to_copy = [t for t in tables if not self._already_loaded(conn, t)]
                for table in to_copy:
                    self.site.create_staging(conn, table)
            self._save_state()
            with self._step("copy"):
                self._copy_all(to_copy, target_tables)
            with self._step("swap"), closing(self.target.connect()) as conn:
                self._swap(conn, tables, target_tables)
            self.report.status = "completed"
            self._save_state(status="completed")
        except BaseException as exc:
            self._fail(exc)
            raise self._as_error(exc) from exc
        finally:
            lock.release()
            self.report.timings["total"] = round(time.monotonic() - started, 3)
            self._write_manifest()
        return self.report

    def _open_archive(self) -> None:
        """Start the archive folder; its id (or a fresh one without an archive) names the migration."""
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
            state = self.archive.read_state()
            if state is None or state.get("status") != "running" or state.get("site_id") != self.site_id:
                raise UsageError(
                    f"migration {self.resume_id} cannot be resumed (it finished, failed and was cleaned up, "
                    f"or is not of site {self.site_id}): start a new migration"
                )
            self.state = state
            self.rules = [
                Rule(bytes.fromhex(r["search"]), bytes.fromhex(r["replace"]), r["host_start"], r["host_end"],
                     r["subdomain"], tuple(bytes.fromhex(h) for h in r["exclude_hosts"]))
                for r in state["rules"]
            ]  # fmt: skip
            self.report.pairs_origin = f"resumed from {self.resume_id}"
        else:
            self.archive = location.new_migration(
                site_id=self.site_id,
                site_name=self._site_name(),
                from_env=self.source.name,
                to_env=self.target.name,
            )
        self.report.migration_id = self.archive.id
        self.report.archive = {"location": self.archive.url, "id": self.archive.id}

    def _already_loaded(self, conn: Any, table: Table) -> bool:
        """On resume: whether an earlier attempt loaded and verified this table, and it still verifies."""
        saved = self.state["tables"].get(table.name)
        if saved is None or self.site is None:
            return False
        try:
            self.site.verify(conn, table.name, table.column_names, saved["rows"], saved["checksum"])
        except (WfuwpError, mysql.connector.Error):
            return False
        self.report.tables.append(TableReport(**saved["report"]))
        if self.archive is not None:
            self.archive.adopt(saved["objects"])
        return True

    def _save_state(self, **changes: Any) -> None:
        """Record progress next to the archive (state.json), so a killed run can be resumed."""
        if self.archive is None:
            return
        with self.state_lock:
            self.state.update(changes)
            self.state["site_id"] = self.site_id
            self.state["rules"] = [
                {"search": r.search.hex(), "replace": r.replace.hex(), "host_start": r.host_start,
                 "host_end": r.host_end, "subdomain": r.subdomain, "exclude_hosts": [h.hex() for h in r.exclude_hosts]}
                for r in self.rules or []
            ]  # fmt: skip
            self.archive.write_state(self.state)

    def _discover(self) -> tuple[list[Table], list[str]]:
        with closing(self.source.connect()) as src, closing(self.target.connect()) as tgt:
            names = require_site_tables(
                src, self.source.database, self.source.table_prefix, self.site_id, str(self.source)
            )
            tables = describe_tables(src, self.source.database, names)
            target_tables = site_table_names(
                tgt, self.target.database, self.target.table_prefix, self.site_id
            )
            if self.target.table_prefix != self.source.table_prefix:
                raise UsageError(
                    f"source prefix {self.source.table_prefix!r} differs from target prefix "
                    f"{self.target.table_prefix!r}: migrating between prefixes is not supported"
                )
            if self.rules is None:
                self.rules, self.report.pairs_origin = (
                    self._derive_rules(src, tgt),
                    "derived from wp_blogs and options",
                )
            # A statement is the INSERT prefix plus a chunk; the packet limit is the target's, less headroom.
            self.packet_limit = max_allowed_packet(tgt) - 1024
            self.statement_limit = min(self.options.statement_bytes, self.packet_limit)
        source_names = {t.name for t in tables}
        self.report.target_only_tables = [n for n in target_tables if n not in source_names]
        self.report.pairs = [
            (r.search.decode("utf-8", "replace"), r.replace.decode("utf-8", "replace")) for r in self.rules
        ]
        Replacer(self.rules)  # validates the rules before anything is written
        return tables, target_tables

    def _derive_rules(self, src: Any, tgt: Any) -> list[Rule]:
        prefix = self.source.table_prefix
        source_side = (
            site_address(src, self.source.database, prefix, self.site_id, str(self.source)),
            site_urls(src, self.source.database, prefix, self.site_id),
        )
        target_side = (
            site_address(tgt, self.target.database, self.target.table_prefix, self.site_id, str(self.target)),
            site_urls(tgt, self.target.database, self.target.table_prefix, self.site_id) or [],
        )
        if not target_side[1]:
            domain, path = target_side[0]
            target_side = (target_side[0], [f"https://{domain}{path.rstrip('/')}"] * len(source_side[1]))
        return [as_rule(p) for p in derive_pairs(source_side, target_side)]

    def _site_name(self) -> str:
        """A readable name for archive files: the site's path, or its host's first label for a root site."""
        try:
            with closing(self.source.connect()) as src:
                domain, path = site_address(
                    src, self.source.database, self.source.table_prefix, self.site_id, str(self.source)
                )
        except (WfuwpError, mysql.connector.Error):  # no wp_blogs (not a multisite network): a plain name
            return f"site{self.site_id}"
        name = (
            domain.split(".")[0] if path.strip("/") == "" else path.strip("/").replace("/", "-")
        ) or "site"
        return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)

    def _copy_all(self, tables: list[Table], target_tables: list[str]) -> None:
        """Copy every table (several at once) while the backup streams; verify each; wait for durability."""
        pending = sorted(tables, key=lambda t: -t.data_bytes)
        queue_lock = threading.Lock()
        workers = self.options.workers
        with Snapshot(
            self.source, tables, readers=workers, log=lambda m: self.progress.log("copy", m)
        ) as snap:
            self.report.snapshot = snap.info.__dict__
            readers = len(snap.connections)
            futures: list[Future[None]] = []
            with ThreadPoolExecutor(max_workers=readers + 2, thread_name_prefix="wfuwp") as pool:
                if self.archive is not None and target_tables and not self._backup_done_earlier():
                    futures.append(pool.submit(self._backup, target_tables))
                myisam = [t for t in pending if not t.transactional]
                if myisam:
                    pending = [t for t in pending if t.transactional]
                    futures.append(pool.submit(self._copy_tables, snap, myisam, queue_lock, 0, True))
                for reader in range(readers):
                    futures.append(pool.submit(self._copy_tables, snap, pending, queue_lock, reader, False))
                self._wait(futures)
        self.report.tables.sort(key=lambda t: t.name)

    def _wait(self, futures: list[Future[None]]) -> None:
        """Wait for workers; the first failure (or Ctrl-C) cancels the rest, then is raised."""
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
            wait(futures)
            raise

    def _copy_tables(
        self,
        snap: Snapshot,
        pending: list[Table],
        queue_lock: threading.Lock,
        reader: int,
        myisam: bool,
    ) -> None:
        replacer = Replacer(self.rules or [])
        with Loader(self.target, self.options.load_connections, self.cancel) as loader:
            while not self.cancel.is_set():
                with queue_lock:
                    if not pending:
                        break
                    table = pending.pop(0)
                self._copy_table(snap.connection_for(table, reader), loader, table, replacer)
        if myisam:
            snap.release_myisam()

    def _copy_table(self, src: Any, loader: Loader, table: Table, replacer: Replacer) -> None:
        assert self.site is not None
        started = time.monotonic()
        result = TableReport(
            table.name, action="replaced" if table.name in self.site.swap_plan.existing else "created"
        )
        self.progress.emit(
            "table-start",
            "copy",
            table=table.name,
            rows_total=table.rows_estimate,
            bytes_total=table.data_bytes,
        )
        staging_prefix = insert_prefix(self.site.staging[table.name], table.column_names)
        live_prefix = insert_prefix(table.name, table.column_names)
        # Without a primary key, row order is all that tells rows apart: keep it.
        ordered = not table.has_primary_key
        exports: dict[str, ArchiveStream] = {}
        replacer.reset_stats()
        try:
            self._open_exports(table, exports)
            for batch in stream_rows(src, self.source.database, table):
                if self.cancel.is_set():
                    raise Cancelled
                chunks, originals, _counts, checksum = replacer.render_rows(
                    batch, table.kinds, max_chunk=self.statement_limit, with_original="source" in exports
                )
                for chunk in chunks:
                    statement = staging_prefix + chunk
                    if len(statement) > self.packet_limit:
                        raise MigrationError(
                            f"a row of {len(chunk)} bytes is larger than the target's max_allowed_packet "
                            f"({self.packet_limit} bytes); raise it on the target server "
                            "(SET GLOBAL max_allowed_packet = 1073741824) and run again",
                            step="copy",
                            table=table.name,
                        )
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
            loader.flush()
            site = self.site

            def verify() -> None:
                with closing(self.target.connect()) as conn:
                    site.verify(conn, table.name, table.column_names, result.rows, result.checksum)

            self._retry(verify, f"verifying {table.name}")
            for stream in exports.values():
                stream.write(b"COMMIT;\n" + DUMP_FOOTER)
                stream.close()
        except BaseException as exc:
            for stream in exports.values():
                stream.abort()
            if isinstance(exc, InterruptedError):
                raise Cancelled from None
            if isinstance(exc, (MigrationError, Cancelled)):
                raise
            if isinstance(exc, WfuwpError):  # an archive or database error: say where it happened
                raise MigrationError(str(exc), step="copy", table=table.name) from exc
            if isinstance(exc, mysql.connector.Error):
                raise MigrationError(
                    str(database_error(exc, "database error")), step="copy", table=table.name
                ) from None
            raise
        stats = replacer.stats
        result.values_changed = stats.values_changed
        result.replacements = stats.replacements
        result.malformed_serialized = stats.malformed_serialized
        result.skipped_custom = stats.skipped_custom
        result.too_deep = stats.too_deep
        if stats.too_deep:
            self.report.skipped.append(
                f"{table.name}: {stats.too_deep} values nested too deep, copied unchanged"
            )
        if stats.skipped_custom:
            self.report.skipped.append(
                f"{table.name}: {stats.skipped_custom} C: custom payloads left as they were"
            )
        result.seconds = round(time.monotonic() - started, 3)
        self.report.tables.append(result)
        if self.archive is not None:
            objects = [
                o for o in self.archive.objects if o.get("table") == table.name and o.get("role") != "backup"
            ]
            with self.state_lock:
                self.state["tables"][table.name] = {
                    "rows": result.rows, "checksum": result.checksum, "report": result.__dict__, "objects": objects,
                }  # fmt: skip
            self._save_state()
        self.progress.emit(
            "table-end",
            "copy",
            table=table.name,
            rows_done=result.rows,
            rows_total=result.rows,
            bytes_done=result.bytes_read,
            bytes_total=result.bytes_read,
        )

    def _open_exports(self, table: Table, exports: dict[str, ArchiveStream]) -> None:
        """Open the table's source and migrated exports into `exports` (so a failure aborts what opened)."""
        if self.archive is None:
            return
        for kind in ("source", "migrated"):
            stream = self.archive.open_table_stream(kind, table.name)
            exports[kind] = stream
            stream.write(DUMP_HEADER + table_preamble(table.name, table.create_sql) + b"START TRANSACTION;\n")

    def _backup(self, names: list[str]) -> None:
        """Stream the target's current site tables into the archive's backup, from one snapshot.

        Each table's object is complete (multipart upload finished, file synced) before this returns,
        and the swap waits for it.
        """
        archive = self.archive
        assert archive is not None
        self.progress.emit("step-start", "backup")
        started = time.monotonic()

        def done(name: str, rows: int, checksum: int) -> None:
            self.report.backup_tables[name] = [rows, checksum]
            self.progress.emit("table-end", "backup", table=name, rows_done=rows, rows_total=rows)

        dump_tables(
            self.target,
            names,
            lambda name: archive.open_table_stream("backup", name),
            statement_limit=self.statement_limit,
            cancel=self.cancel,
            on_table=done,
            log=lambda m: self.progress.log("backup", m),
        )
        self.report.timings["backup"] = round(time.monotonic() - started, 3)
        backup_objects = [o for o in archive.objects if o.get("role") == "backup"]
        self._save_state(backup={"tables": self.report.backup_tables, "objects": backup_objects})
        self.progress.emit("step-end", "backup")

    def _backup_done_earlier(self) -> bool:
        """On resume: adopt a backup an earlier attempt completed (it is of the target before any swap)."""
        done = self.state.get("backup")
        if not done or self.archive is None:
            return False
        self.report.backup_tables = {k: list(v) for k, v in done["tables"].items()}
        self.archive.adopt(done["objects"])
        return True

    def _swap(self, conn: Any, tables: list[Table], target_tables: list[str]) -> None:
        assert self.site is not None
        retire = self.report.target_only_tables if self.options.drop_target_only else []
        self.site.retire(retire)
        self.site.swap(conn)
        self.swapped = True
        self.report.target_only_dropped = bool(retire)
        if self.verify_after_swap is not None:
            self.verify_after_swap(self.report)
        if self.options.keep_old:
            self.report.old_tables_kept = self.site.swap_plan.old_names()
        else:
            self.site.drop(conn, "old")

    # -- failure -------------------------------------------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        """Put the target back as it was: swap back if swapped, drop staging, abort archives."""
        self.cancel.set()
        self.report.status = (
            "failed" if not isinstance(exc, (KeyboardInterrupt, Cancelled)) else "interrupted"
        )
        self.report.error = str(self._as_error(exc))
        if self.archive is not None and self.report.migration_id:
            try:
                self._save_state(status="failed")
            except WfuwpError:
                pass  # the archive is what failed; the manifest will say so if it can
        if self.site is not None:
            site = self.site

            def put_back() -> None:
                with closing(self.target.connect()) as conn:
                    if self.swapped:
                        site.swap_back(conn)
                        self.swapped = False
                        self.report.status += ", swapped back"
                    site.drop(conn, "staging")

            try:
                # The target may just have restarted or dropped us: a few retries before giving up.
                self._retry(put_back, "putting the target back")
            except Exception as cleanup_error:
                self.report.status += f"; clean-up failed ({cleanup_error}); run `wfuwp migrate clean`"

    def _as_error(self, exc: BaseException) -> WfuwpError:
        if isinstance(exc, WfuwpError):
            return exc
        if isinstance(exc, (KeyboardInterrupt, Cancelled)):
            return MigrationError("interrupted; the target was left as it was", step=self.step)
        if isinstance(exc, mysql.connector.Error):
            return MigrationError(str(database_error(exc, "database error")), step=self.step)
        return MigrationError(f"{type(exc).__name__}: {exc}", step=self.step)

    def _write_manifest(self) -> None:
        if self.archive is None:
            return
        manifest = self.report.to_dict()
        manifest["audit"] = {
            "user": _user(),
            "host": socket.gethostname(),
            "tool": f"wfuwp {__version__}",
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "site_id": self.site_id,
            "from": self.source.name,
            "to": self.target.name,
        }
        try:
            self.archive.write_manifest(manifest)
        except WfuwpError as exc:
            if self.report.status == "completed":
                raise
            self.report.error = f"{self.report.error}; the manifest was not written either ({exc})"

    def _retry(self, action: Callable[[], T], what: str) -> T:
        """Run a repeatable action, retrying transient server errors (logged as progress events)."""
        return with_retries(action, what=what, log=lambda message: self.progress.log(self.step, message))

    @contextmanager
    def _step(self, name: str) -> Iterator[None]:
        self.step = name
        self.progress.emit("step-start", name)
        started = time.monotonic()
        yield
        self.report.timings[name] = round(time.monotonic() - started, 3)
        self.progress.emit("step-end", name)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
