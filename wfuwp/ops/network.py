"""Refresh a whole environment: the network tables, then every site, each its own migration.

    both networks' wp_blogs -> config.plan.plan_network (each site's target address, the network rules)
    -> network tables: one migrate_site of the table set (staging, verify, backup, swap), keeping
       the wp_blogs rows of sites only the target has (or dropping those sites, backed up first)
    -> every site: migrate_site, `parallel` at once, each with its own archives, lock and manifest

What each site did is kept in an environment state file (`environments/<run id>/state.json` in
the archive location), written as each site starts and ends, so a killed run resumes: finished sites
are skipped, a site that was running is resumed through migrate_site's own state, the rest start.
One failing site does not stop the others unless `fail_fast`.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import mysql.connector
import orjson

from wfuwp import signals
from wfuwp.archive.folder import new_migration_id, parse_migration_id
from wfuwp.archive.location import ArchiveLocation
from wfuwp.config.plan import NetworkPlan, plan_for, plan_network
from wfuwp.config.settings import Config
from wfuwp.errors import ArchiveError, MigrationError, UsageError, WfuwpError
from wfuwp.mysql.connection import Database, as_text, closing, query
from wfuwp.mysql.network import SiteAddress, read_site_of
from wfuwp.mysql.schema import NETWORK_SITE, network_table_names, site_table_names, validate_site_id
from wfuwp.mysql.sql import quote_identifier
from wfuwp.ops.backup import backup_site
from wfuwp.ops.migrate import DEFAULT_STATEMENT_BYTES, RunHooks, migrate_site
from wfuwp.ops.preflight import preflight
from wfuwp.progress import ProgressEvent
from wfuwp.replace import PairLike, Rule, as_rule

__all__ = [
    "NETWORK",
    "NetworkProgress",
    "NetworkReport",
    "SiteOutcome",
    "migrate_network",
    "refresh_between",
]

# The id the network tables' row carries in the summary, the state file, their archive folder
# (network/), manifest and lock (no site has id 0).
NETWORK = NETWORK_SITE
# Connections one site's migration holds on each server beyond its `workers` readers/loaders: the
# site lock (target) and the backup or a schema read.
_PER_SITE_EXTRA_CONNECTIONS = 2
# Tables whose rows of sites only the target has are carried over into the refreshed network tables.
_PER_SITE_NETWORK_TABLES = ("blogs", "blogmeta", "blog_versions", "registration_log")
_STATE_DIR = "environments"


@dataclass
class SiteOutcome:
    """One row of the summary: a site (or the network tables, `site_id` 0) and what happened to it.

    `status`: "completed", "done earlier" (a resumed run skipped it), "failed", "interrupted",
    "stopped" (--fail-fast stopped it after another site failed; put back), "not run" (fail-fast or
    Ctrl-C stopped the run first), "kept" / "to drop" / "dropped" (a site only the target has), in a
    dry run "ok" or "would fail".
    """

    site_id: int
    status: str = "pending"
    source: str = ""  # domain + path in the source network
    target: str = ""  # domain + path in the target network
    migration_id: str | None = None
    rows: int = 0
    replacements: int = 0
    bytes: int = 0
    seconds: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """ "network" for the network tables, else the site id."""
        return "network" if self.site_id == NETWORK else str(self.site_id)


@dataclass
class NetworkReport:
    """What `migrate_network` did: the network tables, every site, and the sites only the target has."""

    run_id: str
    source: str
    target: str
    from_env: str
    to_env: str
    status: str = "running"  # "completed", "failed" (some site failed), "interrupted", "dry-run"
    network: SiteOutcome = field(default_factory=lambda: SiteOutcome(NETWORK))
    sites: list[SiteOutcome] = field(default_factory=list)
    target_only: list[SiteOutcome] = field(default_factory=list)
    plan_notes: list[str] = field(default_factory=list)
    network_rules: list[tuple[str, str]] = field(default_factory=list)
    state: str | None = None  # where the environment state file is
    seconds: float = 0.0

    @property
    def failed(self) -> list[SiteOutcome]:
        """The rows (network tables included) that failed or were interrupted."""
        return [o for o in (self.network, *self.sites) if o.status in ("failed", "interrupted", "would fail")]

    def rows(self) -> list[SiteOutcome]:
        """The summary's rows: the network tables, every site, then the sites only the target has."""
        return [self.network, *self.sites, *self.target_only]

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data (what `--json` prints)."""
        out = dataclasses.asdict(self)
        out["failed"] = [o.name for o in self.failed]
        return out


@dataclass(frozen=True)
class NetworkProgress:
    """Where a refresh is: sites done of total, bytes copied of the source's estimate, the ETA and the
    sites running now. `event` is the site's own ProgressEvent that caused this one, if any."""

    sites_done: int
    sites_total: int
    bytes_done: int
    bytes_total: int
    seconds: float
    eta_s: float | None
    current: tuple[str, ...]
    message: str = ""
    site_id: int | None = None
    event: ProgressEvent | None = None


NetworkProgressCallback = Callable[[NetworkProgress], None]


def migrate_network(
    *,
    source: str | Database,
    target: str | Database,
    replacements: Sequence[PairLike] | None = None,
    archive: str | os.PathLike[str] | ArchiveLocation | None = None,
    parallel: int = 2,
    max_connections: int = 16,
    include_sites: Iterable[int | str] | None = None,
    exclude_sites: Iterable[int | str] = (),
    drop_target_only_sites: bool = False,
    resume: bool | str = False,
    fail_fast: bool = False,
    dry_run: bool = False,
    keep_old: bool = False,
    statement_bytes: int = DEFAULT_STATEMENT_BYTES,
    progress: NetworkProgressCallback | None = None,
    on_plan: Callable[[NetworkReport], None] | None = None,
    confirm: Callable[[], None] | None = None,
) -> NetworkReport:
    """Refresh `target`'s network from `source`'s: the network tables, then every site.

    `replacements`: the environment-level rules (e.g. `plan_for(config, "prod", "pprd").rules`),
    applied after each site's own URL pairs (derived from both networks' wp_blogs and siteurl/home);
    None derives them from the main sites' hosts. A site only in the source lands at its domain
    rewritten by those rules. `archive`: where every migration's archives and the environment state
    file go (None: none, so no backups and no resume). `parallel` sites at once, each using at most
    `max_connections // parallel` connections per server (readers, loaders, lock, backup).
    `include_sites`/`exclude_sites` choose the sites (the network tables are always refreshed).
    Sites only the target has keep their wp_blogs rows and tables, or with `drop_target_only_sites`
    are backed up into the archive and dropped. `resume`: True continues the latest unfinished run
    between the same environments, or give its run id. `fail_fast` stops at the first failed site
    (the running ones are put back). `dry_run` runs the pre-flight of every site and of the network
    tables and writes nothing. `on_plan` sees the plan before anything is written; `confirm` is called
    just before the first write and may raise. Returns the report; a failed site is a row with status
    "failed" (see `NetworkReport.failed`), never an exception. Raises UsageError for bad arguments,
    MigrationError when interrupted (after recording the state), DatabaseError when a network cannot
    be read.
    """
    src, tgt = Database.coerce(source, "source"), Database.coerce(target, "target")
    if parallel < 1 or max_connections < 1:
        raise UsageError("--parallel and the connection bound must be 1 or more")
    needed = parallel * (1 + _PER_SITE_EXTRA_CONNECTIONS)
    if needed > max_connections:
        raise UsageError(
            f"--parallel {parallel} needs at least {needed} connections per server and the bound is "
            f"{max_connections}: raise --max-connections or lower --parallel"
        )
    if resume and archive is None:
        raise UsageError("resuming needs the archive the refresh was started with: pass archive=")
    if drop_target_only_sites and archive is None and not dry_run:
        raise UsageError("dropping the sites only the target has needs an archive for their backup")
    location = (
        None
        if archive is None
        else archive
        if isinstance(archive, ArchiveLocation)
        else ArchiveLocation.parse(archive)
    )
    run = _Refresh(src, tgt, location, progress)
    run.options = _Options(
        parallel=parallel,
        workers=max(1, max_connections // parallel - _PER_SITE_EXTRA_CONNECTIONS),
        drop_target_only=drop_target_only_sites,
        fail_fast=fail_fast,
        keep_old=keep_old,
        statement_bytes=statement_bytes,
    )
    run.plan(replacements, include_sites, exclude_sites, resume)
    if on_plan is not None:
        on_plan(run.report)
    if dry_run:
        return run.dry_run()
    if confirm is not None:
        confirm()
    with signals.interruptible():
        return run.run()


@dataclass(frozen=True)
class _Options:
    parallel: int
    workers: int
    drop_target_only: bool
    fail_fast: bool
    keep_old: bool
    statement_bytes: int


class _Refresh:
    """One migrate_network call: the plan, the state file, the network step and the site pool."""

    def __init__(
        self,
        source: Database,
        target: Database,
        location: ArchiveLocation | None,
        progress: NetworkProgressCallback | None,
    ) -> None:
        self.source, self.target, self.location = source, target, location
        self.callback = progress
        self.options = _Options(1, 1, False, False, False, DEFAULT_STATEMENT_BYTES)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.why_stop: str | None = None  # "fail-fast" or "interrupt", once `stop` is set
        self.stopped: set[int] = set()  # the rows whose migration this run cancelled
        self.cancels: dict[int, threading.Event] = {}
        self.started = time.monotonic()
        self.bytes_done: dict[tuple[int, str], int] = {}
        self.site_bytes: dict[int, int] = {}
        self.running: set[int] = set()
        self.last_emit = 0.0
        self.base: list[Rule] = []
        self.network_plan: NetworkPlan | None = None
        self.network_tables: list[str] = []
        self.state: dict[str, Any] = {}
        self.resume_id: str | None = None
        self.report = NetworkReport(
            "", str(source), str(target), source.name or "source", target.name or "target"
        )

    # -- the plan ------------------------------------------------------------------------------------------

    def plan(
        self,
        replacements: Sequence[PairLike] | None,
        include: Iterable[int | str] | None,
        exclude: Iterable[int | str],
        resume: bool | str,
    ) -> None:
        """Read both networks, choose the sites, plan the rules; find the state of a run to resume."""
        prefix = self.source.table_prefix
        if self.target.table_prefix != prefix:
            raise UsageError(
                f"source prefix {prefix!r} differs from target prefix {self.target.table_prefix!r}: "
                "refreshing between prefixes is not supported"
            )
        with closing(self.source.connect()) as src, closing(self.target.connect()) as tgt:
            source_blogs = _blogs(src, self.source, required=True)
            target_blogs = _blogs(tgt, self.target, required=False)
            self.network_tables = network_table_names(src, self.source.database, prefix)
            self.site_bytes = _bytes_per_site(src, self.source.database, prefix, set(self.network_tables))
        if replacements is not None:
            self.base = [as_rule(p) for p in replacements]
        else:
            self.base = _derived_base(source_blogs, target_blogs, str(self.target))
        plan = plan_network(source_blogs, target_blogs, self.base)
        self.network_plan = plan
        chosen = _choose(source_blogs, include, exclude)
        report = self.report
        report.plan_notes = list(plan.notes)
        report.network_rules = [
            (r.search.decode("utf-8", "replace"), r.replace.decode("utf-8", "replace"))
            for r in plan.table_rules
        ]
        report.network = SiteOutcome(
            NETWORK, source=", ".join(self.network_tables), target=f"{len(self.network_tables)} tables"
        )
        for site_id in chosen:
            (s_domain, s_path), (t_domain, t_path) = plan.addresses[site_id]
            outcome = SiteOutcome(site_id, source=s_domain + s_path, target=t_domain + t_path)
            if site_id in plan.mapped:
                outcome.notes.append("only in the source: its address comes from the environment hosts")
            report.sites.append(outcome)
        if resume:
            self._load_state(resume if isinstance(resume, str) else None)
        else:
            report.run_id = new_migration_id(report.from_env, report.to_env)
        only = sorted(set(target_blogs) - set(source_blogs))
        report.target_only = [
            SiteOutcome(
                s,
                status="to drop" if self.options.drop_target_only else "kept",
                target=target_blogs[s][0] + target_blogs[s][1],
            )
            for s in only
        ]
        self._resume_drops()
        if self.location is not None:
            report.state = self.location.backend.url_of(self._state_key())

    # -- dry run ---------------------------------------------------------------------------------------------

    def dry_run(self) -> NetworkReport:
        """Run the pre-flight of every site and check the network tables; write nothing."""
        report = self.report
        report.status = "dry-run"
        report.state = None  # a dry run keeps no state
        if not self.network_tables:
            report.network.status = "would fail"
            report.network.error = (
                f"{self.source} has no network tables ({self.source.table_prefix}blogs ...)"
            )
        else:
            report.network.status = "ok"
        for outcome in report.sites:
            started = time.monotonic()
            try:
                checks = preflight(
                    outcome.site_id,
                    source=self.source,
                    target=self.target,
                    archive=self.location,
                    replacements=self._site_rules(outcome.site_id),
                )
            except WfuwpError as exc:
                outcome.status, outcome.error = "would fail", str(exc)
            else:
                error = checks.error()
                outcome.status = "ok" if error is None else "would fail"
                outcome.error = None if error is None else str(error)
                outcome.notes += [f.message for f in checks.warnings]
            outcome.seconds = round(time.monotonic() - started, 3)
        return report

    # -- the run -------------------------------------------------------------------------------------------

    def run(self) -> NetworkReport:
        """The network tables, the sites only the target has, then every site; the summary."""
        report = self.report
        self._save_state()
        try:
            self._network_step()
            if report.network.status in ("completed", "done earlier"):
                self._drop_target_only()
                self._sites()
            else:
                for outcome in report.sites:  # the sites need the refreshed network tables
                    outcome.status = "not run"
                    outcome.error = "the network tables failed first"
        except KeyboardInterrupt:
            self._interrupted()
        report.seconds = round(time.monotonic() - self.started, 3)
        if signals.was_interrupted() or self.why_stop == "interrupt":
            self._interrupted()
        report.status = "failed" if report.failed else "completed"
        self._save_state()
        return report

    def _interrupted(self) -> None:
        self.why_stop = "interrupt"
        self.stop.set()
        self._cancel_running()
        for outcome in (self.report.network, *self.report.sites):
            if outcome.status in ("pending", "running"):
                outcome.status = "not run"
        self.report.status = "interrupted"
        self.report.seconds = round(time.monotonic() - self.started, 3)
        self._save_state()
        done = sum(o.status in ("completed", "done earlier") for o in self.report.sites)
        resume = f"`--resume` (run {self.report.run_id}) continues" if self.location is not None else ""
        raise MigrationError(
            f"interrupted after {done} of {len(self.report.sites)} sites; every site not finished was "
            f"left as it was{'; ' + resume if resume else ''}",
            step="sites",
        )

    def _network_step(self) -> None:
        outcome = self.report.network
        if self._done_earlier(outcome):
            return
        plan = self.network_plan
        assert plan is not None
        carry = [] if self.options.drop_target_only else [o.site_id for o in self.report.target_only]
        prefix = self.target.table_prefix

        def keep_target_only_rows(conn: Any, staging_name: Callable[[str], str]) -> None:
            kept = _carry_rows(conn, self.target.database, prefix, carry, staging_name)
            if kept:
                outcome.notes.append(
                    f"kept {kept} rows of the target-only sites {', '.join(map(str, carry))} in "
                    f"{', '.join(prefix + t for t in _PER_SITE_NETWORK_TABLES)} (not in the migrated archive)"
                )

        self._migrate(
            outcome,
            NETWORK,
            list(plan.table_rules),
            RunHooks(
                tables=tuple(self.network_tables),
                label="network",
                before_swap=keep_target_only_rows if carry else None,
            ),
            workers=min(self.options.workers * self.options.parallel, 4),
        )

    def _drop_target_only(self) -> None:
        """Back up, then drop, the tables of the sites only the target has (their wp_blogs rows are gone)."""
        if not self.options.drop_target_only or not self.report.target_only:
            return
        assert self.location is not None
        for outcome in self.report.target_only:
            if outcome.status == "dropped":
                continue  # dropped by the run being resumed
            with closing(self.target.connect()) as conn:
                names = site_table_names(
                    conn, self.target.database, self.target.table_prefix, outcome.site_id
                )
            if names:
                backup = backup_site(self.target, outcome.site_id, self.location)
                outcome.migration_id = backup.backup_id
                self._save_state()  # the backup's id, before its tables go
                with closing(self.target.connect()) as conn:
                    cur = conn.cursor()
                    for name in names:
                        cur.execute(
                            f"DROP TABLE IF EXISTS {quote_identifier(self.target.database)}."
                            f"{quote_identifier(name)}"
                        )
                    cur.close()
                outcome.notes.append(f"dropped {len(names)} tables, backed up as {backup.backup_id}")
            outcome.status = "dropped"
            self._save_state()

    def _sites(self) -> None:
        pending = [o for o in self.report.sites if not self._done_earlier(o)]
        # Largest first: the last sites to start are short, so the run ends with every slot busy.
        pending.sort(key=lambda o: -self.site_bytes.get(o.site_id, 0))
        self._emit("start")
        with ThreadPoolExecutor(self.options.parallel, thread_name_prefix="wfuwp-site") as pool:
            futures: dict[Future[None], SiteOutcome] = {pool.submit(self._one_site, o): o for o in pending}
            waiting = set(futures)
            try:
                while waiting:
                    done, waiting = wait(waiting, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
                    if self.options.fail_fast and any(o.status == "failed" for o in self.report.sites):
                        self._stop("fail-fast")
            except BaseException:
                self.why_stop = "interrupt"
                self.stop.set()
                self._cancel_running()
                wait(waiting)
                raise

    def _stop(self, why: str) -> None:
        """Start no more sites, and stop the running ones (each puts its target back)."""
        if self.why_stop is None:
            self.why_stop = why
        self.stop.set()
        self._cancel_running()

    def _cancel_running(self) -> None:
        with self.lock:
            for key, event in self.cancels.items():
                self.stopped.add(key)
                event.set()

    def _one_site(self, outcome: SiteOutcome) -> None:
        if self.stop.is_set():
            outcome.status = "not run"
            outcome.error = "stopped before it started (--fail-fast or Ctrl-C)"
            return
        try:
            rules = self._site_rules(outcome.site_id)
        except (WfuwpError, mysql.connector.Error) as exc:
            outcome.status, outcome.error = "failed", str(exc)
            self._save_state()
            return
        self._migrate(outcome, outcome.site_id, rules, RunHooks(), workers=self.options.workers)
        if self.options.fail_fast and outcome.status == "failed":
            self._stop("fail-fast")  # here, before this worker takes the next site

    def _migrate(
        self, outcome: SiteOutcome, site_id: int, rules: list[Rule], hooks: RunHooks, *, workers: int
    ) -> None:
        """One migrate_site run for a row of the summary, recorded in the state file as it starts and ends."""
        cancel = threading.Event()
        key = outcome.site_id
        with self.lock:
            self.cancels[key] = cancel
            self.running.add(key)
        resume_id = self._resumable(outcome)

        def started(migration_id: str) -> None:
            outcome.migration_id = migration_id
            outcome.status = "running"
            self._save_state()

        began = time.monotonic()
        self._emit("site-start", site_id=key)
        try:
            report = migrate_site(
                site_id,
                source=self.source,
                target=self.target,
                replacements=rules,
                archive=self.location,
                progress=lambda event: self._site_event(key, event),
                workers=workers,
                statement_bytes=self.options.statement_bytes,
                keep_old=self.options.keep_old,
                resume=resume_id,
                _hooks=dataclasses.replace(hooks, on_start=started, cancel=cancel),
            )
        except WfuwpError as exc:
            outcome.error = str(exc)
            # migrate_site sets `cancel` itself when it fails: only the rows this run stopped count.
            stopped = key in self.stopped
            if signals.was_interrupted() or (stopped and self.why_stop == "interrupt"):
                outcome.status = "interrupted"
            elif stopped:
                outcome.status = "stopped"
                outcome.error = "stopped by --fail-fast after another site failed; left as it was"
            else:
                outcome.status = "failed"
        except Exception as exc:  # a bug must not take the other sites down
            outcome.status, outcome.error = "failed", f"{type(exc).__name__}: {exc}"
        else:
            outcome.status = "completed"
            outcome.rows, outcome.replacements = report.rows, report.replacements
            outcome.bytes = report.bytes_read
            outcome.notes += report.skipped
        finally:
            outcome.seconds = round(time.monotonic() - began, 3)
            with self.lock:
                self.cancels.pop(key, None)
                self.running.discard(key)
            self._save_state()
            self._emit("site-end", site_id=key)

    def _site_rules(self, site_id: int) -> list[Rule]:
        """A site's own hosts and URL (both networks' wp_blogs and siteurl/home, as a single site's
        migration plans them) then the environment-level rules."""
        assert self.network_plan is not None
        source = read_site_of(self.source, site_id)
        target = None if site_id in self.network_plan.mapped else read_site_of(self.target, site_id)
        return self.network_plan.site_rules(site_id, source, target, self.base)

    # -- resume and the state file -------------------------------------------------------------------------

    def _state_key(self) -> str:
        return f"{_STATE_DIR}/{self.report.run_id}/state.json"

    def _save_state(self) -> None:
        if self.location is None:
            return
        report = self.report
        with self.lock:
            data = {
                "run_id": report.run_id,
                "from": report.from_env,
                "to": report.to_env,
                "source": report.source,
                "target": report.target,
                "status": report.status,
                "updated": datetime.now(UTC).isoformat(timespec="seconds"),
                "rows": {o.name: dataclasses.asdict(o) for o in (report.network, *report.sites)},
                # Written before the network tables' swap: once it is done their wp_blogs rows are
                # gone, and only this says which sites' tables a resumed run still has to drop.
                "drop_target_only": self.options.drop_target_only,
                "target_only": {o.name: dataclasses.asdict(o) for o in report.target_only},
            }
            self.location.backend.put_bytes(self._state_key(), orjson.dumps(data, option=orjson.OPT_INDENT_2))

    def _load_state(self, run_id: str | None) -> None:
        """Take over the state of the run to resume: the given one, or the latest unfinished one."""
        assert self.location is not None
        backend = self.location.backend
        report = self.report
        candidates = [run_id] if run_id else sorted(backend.list_dirs(_STATE_DIR), reverse=True)
        for candidate in candidates:
            try:
                _when, from_env, to_env = parse_migration_id(candidate)
            except WfuwpError:
                continue
            if (from_env, to_env) != (report.from_env, report.to_env):
                if run_id:
                    raise UsageError(f"refresh {run_id} is from {from_env} to {to_env}, not this one")
                continue
            blob = backend.get_bytes(f"{_STATE_DIR}/{candidate}/state.json")
            if blob is None:
                if run_id:
                    raise ArchiveError(f"no refresh {run_id} under {self.location.url}: check the run id")
                continue
            state = orjson.loads(blob)
            if state.get("status") == "completed":
                if run_id:
                    raise UsageError(f"refresh {run_id} completed: there is nothing to resume")
                continue
            report.run_id = candidate
            self.state = state
            return
        raise UsageError(
            f"no unfinished refresh from {report.from_env} to {report.to_env} under {self.location.url}: "
            "start one without --resume"
        )

    def _resume_drops(self) -> None:
        """On resume: the sites only the target had that the run being resumed was to drop.

        Its choice stands (as its rules do): once its network tables were swapped, the target's
        wp_blogs no longer names those sites, so their rows come from the state file; a drop it
        finished is not done again.
        """
        if not self.state:
            return
        saved = self.state.get("target_only", {})
        drop = bool(self.state.get("drop_target_only", self.options.drop_target_only))
        self.options = dataclasses.replace(self.options, drop_target_only=drop)
        fresh = {o.site_id: o for o in self.report.target_only}
        for row in saved.values():
            site_id = int(row["site_id"])
            outcome = fresh.get(site_id) or SiteOutcome(site_id, target=str(row.get("target", "")))
            outcome.status = (
                "kept" if not drop else "dropped" if row.get("status") == "dropped" else "to drop"
            )
            outcome.migration_id = row.get("migration_id") or outcome.migration_id
            outcome.notes = list(row.get("notes") or outcome.notes)
            fresh[site_id] = outcome
        for outcome in fresh.values():  # those only this plan sees follow the choice too
            if not drop:
                outcome.status = "kept"
            elif outcome.status == "kept":
                outcome.status = "to drop"
        self.report.target_only = [fresh[s] for s in sorted(fresh)]

    def _done_earlier(self, outcome: SiteOutcome) -> bool:
        """On resume: whether the run being resumed finished this row (its figures are taken over)."""
        saved = self.state.get("rows", {}).get(outcome.name)
        if not saved or saved.get("status") not in ("completed", "done earlier"):
            return False
        for name in ("migration_id", "rows", "replacements", "bytes", "seconds"):
            setattr(outcome, name, saved.get(name, getattr(outcome, name)))
        outcome.status = "done earlier"
        return True

    def _resumable(self, outcome: SiteOutcome) -> str | None:
        """The migration id to resume for this row: the one the killed run had started, if still running."""
        saved = self.state.get("rows", {}).get(outcome.name)
        migration_id = saved.get("migration_id") if saved else None
        if not migration_id or self.location is None:
            return None
        try:
            folder = self.location.migration(migration_id)
            state = folder.read_state()
        except WfuwpError:
            return None  # never got as far as writing anything: start again
        if folder.site_id != outcome.site_id:
            return None  # the network tables' run of an older release (under site-1/): start again
        return migration_id if state is not None and state.status == "running" else None

    # -- progress --------------------------------------------------------------------------------------------

    def _site_event(self, site_id: int, event: ProgressEvent) -> None:
        if event.kind in ("rows", "table-end") and event.table is not None and event.step == "copy":
            with self.lock:
                self.bytes_done[(site_id, event.table)] = event.bytes_done
        if self.callback is None:
            return
        now = time.monotonic()
        if event.kind == "rows" and now - self.last_emit < 0.5:
            return
        self._emit(event.kind, site_id=site_id, event=event)

    def _emit(self, message: str, *, site_id: int | None = None, event: ProgressEvent | None = None) -> None:
        if self.callback is None:
            return
        with self.lock:
            self.last_emit = time.monotonic()
            seconds = self.last_emit - self.started
            done = sum(
                o.status in ("completed", "done earlier", "failed", "not run") for o in self.report.sites
            )
            total_bytes = sum(self.site_bytes.get(o.site_id, 0) for o in self.report.sites)
            done_bytes = sum(self.bytes_done.values())
            current = tuple("network" if s == NETWORK else str(s) for s in sorted(self.running))
            eta = (
                seconds * (total_bytes - done_bytes) / done_bytes
                if done_bytes and total_bytes > done_bytes
                else None
            )
            update = NetworkProgress(
                done, len(self.report.sites), done_bytes, total_bytes, seconds, eta, current,
                message, site_id, event,
            )  # fmt: skip
            self.callback(update)


# -- reading the networks ----------------------------------------------------------------------------------


def _blogs(conn: Any, db: Database, *, required: bool) -> dict[int, tuple[str, str]]:
    """{blog_id: (domain, path)} of a network's wp_blogs; {} when it has none and it is not `required`."""
    table = f"{quote_identifier(db.database)}.{quote_identifier(db.table_prefix + 'blogs')}"
    try:
        rows = query(conn, f"SELECT blog_id, domain, path FROM {table}")
    except mysql.connector.Error as exc:
        if not required:
            return {}
        raise UsageError(
            f"{db} has no readable {db.table_prefix}blogs ({exc.msg}): a refresh needs a multisite network"
        ) from None
    return {int(blog_id): (as_text(domain), as_text(path)) for blog_id, domain, path in rows}


def _bytes_per_site(conn: Any, database: str, prefix: str, network: set[str]) -> dict[int, int]:
    """The source's data bytes per site, as the server estimates them (for the ETA and the order);
    the `network` tables are nobody's."""
    rows = query(
        conn,
        "SELECT TABLE_NAME, DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
        (database,),
    )
    out: dict[int, int] = {}
    for name, size in rows:
        rest = as_text(name)[len(prefix) :] if as_text(name).startswith(prefix) else None
        if rest is None or as_text(name) in network:
            continue
        head = rest.split("_", 1)[0]
        site = int(head) if head.isdigit() and "_" in rest else 1
        out[site] = out.get(site, 0) + int(size or 0)
    return out


def _derived_base(
    source: dict[int, tuple[str, str]], target: dict[int, tuple[str, str]], where: str
) -> list[Rule]:
    """Without configured rules: the main site's host in the source -> in the target."""
    if not target:
        raise UsageError(
            f"{where} has no {'wp_'}blogs rows to map hosts to: pass the replacement rules (the CLI takes "
            "them from the configured environments)"
        )
    main_source = source.get(1) or source[min(source)]
    main_target = target.get(1) or target[min(target)]
    source_main, target_main = SiteAddress(main_source[0]), SiteAddress(main_target[0])
    return plan_for(None, "source", "target", source_site=source_main, target_site=target_main).rules


def _choose(
    blogs: dict[int, tuple[str, str]], include: Iterable[int | str] | None, exclude: Iterable[int | str]
) -> list[int]:
    excluded = {validate_site_id(s) for s in exclude}
    if include is None:
        chosen = sorted(blogs)
    else:
        chosen = sorted({validate_site_id(s) for s in include})
        unknown = [s for s in chosen if s not in blogs]
        if unknown:
            raise UsageError(
                f"--include-sites {', '.join(map(str, unknown))}: not in the source's wp_blogs; "
                "check the site ids"
            )
    return [s for s in chosen if s not in excluded]


def _carry_rows(
    conn: Any, database: str, prefix: str, sites: list[int], staging_name: Callable[[str], str]
) -> int:
    """Copy the target's rows of `sites` into the staging network tables; return how many."""
    if not sites:
        return 0
    kept = 0
    marks = ",".join(["%s"] * len(sites))
    cur = conn.cursor()
    try:
        for short in _PER_SITE_NETWORK_TABLES:
            live = prefix + short
            try:
                staging = staging_name(live)
            except KeyError:
                continue  # not refreshed (the source has no such table)
            columns = query(
                conn,
                "SELECT COLUMN_NAME, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s"
                " AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                (database, staging),
            )
            live_columns = {
                as_text(c)
                for (c,) in query(
                    conn,
                    "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s"
                    " AND TABLE_NAME = %s",
                    (database, live),
                )
            }
            # An AUTO_INCREMENT id other than blog_id (blogmeta.meta_id, registration_log.ID) is
            # given anew: the source's rows may use the target-only rows' ids.
            names = [
                as_text(c)
                for c, extra in columns
                if as_text(c) in live_columns
                and ("auto_increment" not in as_text(extra or "").lower() or as_text(c) == "blog_id")
            ]
            if "blog_id" not in names:
                continue
            cols = ", ".join(quote_identifier(n) for n in names)
            db = quote_identifier(database)
            cur.execute(
                f"INSERT INTO {db}.{quote_identifier(staging)} ({cols}) SELECT {cols} FROM {db}."
                f"{quote_identifier(live)} WHERE blog_id IN ({marks})",
                tuple(sites),
            )
            kept += max(0, cur.rowcount)
        conn.commit()
    finally:
        cur.close()
    return kept


def refresh_between(
    config: Config,
    from_env: str,
    to_env: str,
    *,
    extra: Sequence[tuple[str, str]] = (),
    archive: ArchiveLocation | None = None,
    **options: Any,
) -> NetworkReport:
    """Refresh environment `to_env` from `from_env` of `config`: what `wfuwp env-migrate` runs.

    The environment-level rules are the configured plan (`plan_for`, with the `--replace` pairs `extra`);
    everything else is `migrate_network`'s (`options`). Raises ConfigError for an unknown environment.
    """
    plan = plan_for(config, from_env, to_env, extra=extra)
    return migrate_network(
        source=config.env(from_env).as_database(),
        target=config.env(to_env).as_database(),
        replacements=plan.rules,
        archive=archive,
        **options,
    )
