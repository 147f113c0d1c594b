"""What a person sees on the command line: progress bars, tables, prompts. The CLI's only renderer.

Human output goes to stdout, or to stderr under `--json` (stdout then holds one JSON document).
Progress goes to stderr: bars when stderr is a terminal; otherwise (a pipe, a log file, cron) plain
lines at a steady pace: each step's start and end, and per table its percent, rows, MB and ETA at
most every WFUWP_PROGRESS_SECONDS (5) seconds, then its end. The engine's log lines (retries,
fallbacks) are printed either way. Tables fit the width (COLUMNS for pipes, else 160): figures
are left out before a name is cut, and a name too long for any width folds onto the next line.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from wfuwp.archive.location import MigrationInfo
from wfuwp.archive.manifest import Manifest
from wfuwp.config.plan import Plan
from wfuwp.mysql.identity import NetworkIdentity
from wfuwp.mysql.objects import ReferencingObject
from wfuwp.mysql.schema import NETWORK_SITE, TableChoice
from wfuwp.ops.clean import CleanPlan
from wfuwp.ops.export import ExportReport
from wfuwp.ops.network import NetworkProgress, NetworkProgressCallback, NetworkReport
from wfuwp.ops.preflight import PreflightReport
from wfuwp.ops.restore import LoadReport
from wfuwp.ops.verify import ColumnMatches, SiteCheck
from wfuwp.progress import ProgressCallback, ProgressEvent
from wfuwp.report import MigrationReport

# Wide enough that plan lines and summary tables do not wrap in logs and pipes (unless COLUMNS says).
_PIPE_WIDTH = 160
# Without a terminal, a table's progress line is printed at most this often (WFUWP_PROGRESS_SECONDS).
PLAIN_PROGRESS_SECONDS = 5.0


def _console(stream: Any) -> Console:
    interactive = bool(getattr(stream, "isatty", lambda: False)())
    return Console(
        file=stream, width=None if interactive else _pipe_width(), highlight=False, soft_wrap=False
    )


def _pipe_width() -> int:
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) >= 20 else _PIPE_WIDTH


def _plain_interval() -> float:
    try:
        return max(0.0, float(os.environ.get("WFUWP_PROGRESS_SECONDS", PLAIN_PROGRESS_SECONDS)))
    except ValueError:
        return PLAIN_PROGRESS_SECONDS


def _fitted(
    console: Console,
    title: str | None,
    columns: Sequence[tuple[str, Literal["left", "right"]]],
    rows: Sequence[Sequence[str]],
    *,
    total: Sequence[str] | None = None,
    drop: Sequence[str] = (),
) -> Table:
    """A table as wide as `console` at most, whose first column (names) is never cut short.

    The columns in `drop` are left out, in that order, until the table fits (a caption says which);
    a name still too long folds onto the next line rather than ending in '…', so rows never look alike.
    """
    dropped: list[str] = []
    # The width the table would take if nothing constrained it (a table measures itself within the
    # width it is given); the names keep at least a third of the console.
    natural = console.options.update_width(1 << 16)
    longest = max((len(row[0]) for row in [*rows, *([total] if total else [])]), default=0)
    for leave_out in [None, *drop]:
        if leave_out is not None:
            dropped.append(leave_out)
        kept = [i for i, (name, _) in enumerate(columns) if name not in dropped]
        table = Table(title=title, title_justify="left", caption_justify="left")
        for i in kept:
            name, justify = columns[i]
            if i == 0:
                table.add_column(
                    name, justify=justify, overflow="fold", min_width=min(longest, console.width // 3)
                )
            else:
                table.add_column(name, justify=justify)
        for row in rows:
            table.add_row(*(row[i] for i in kept))
        if total is not None:
            table.add_section()
            table.add_row(*(total[i] for i in kept))
        if console.measure(table, options=natural).maximum <= console.width:
            break
    if dropped:
        table.caption = f"not shown at this width: {', '.join(dropped)} (--json has every figure)"
    return table


class Ui:
    """Consoles for one command: `out` for results, `err` for warnings and progress."""

    def __init__(self, *, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.err = _console(sys.stderr)
        self.out = self.err if json_mode else _console(sys.stdout)
        self.interactive = self.err.is_terminal

    # -- lines ---------------------------------------------------------------------------------------

    def line(self, text: str = "", *, style: str | None = None) -> None:
        """Print one line of result text, as is (no markup)."""
        self.out.print(escape(text), style=style, soft_wrap=True)

    def note(self, text: str) -> None:
        """Print a side remark on stderr."""
        self.err.print(escape(text), style="dim", soft_wrap=True)

    def warn(self, text: str) -> None:
        """Print a warning on stderr, loud enough to be noticed."""
        self.err.print(f"[bold red]WARNING:[/] {escape(text)}", soft_wrap=True)

    # -- progress ------------------------------------------------------------------------------------

    @contextmanager
    def progress(self) -> Iterator[ProgressCallback]:
        """A ProgressEvent callback for the block: bars on a terminal, plain lines on a pipe or a file."""
        if not self.interactive:
            mode: Literal["bars", "lines", "quiet"] = "lines"
        else:
            mode = "quiet" if self.json_mode else "bars"
        view = _ProgressView(self.err, mode=mode)
        with view:
            yield view

    @contextmanager
    def network_progress(self) -> Iterator[NetworkProgressCallback]:
        """A NetworkProgress callback for an environment refresh: one status line on a terminal (sites
        done/total, MB, ETA, the sites running), plain lines as each site starts and ends elsewhere."""
        view = _NetworkLines(self.err, live=self.interactive and not self.json_mode)
        try:
            yield view
        finally:
            view.close()

    def network_plan(self, report: NetworkReport) -> None:
        """What a refresh will do: the network tables' rules, where each site lands, the target-only sites."""
        self.out.print(
            f"[bold]Environment refresh[/] {escape(report.from_env)} -> {escape(report.to_env)}: "
            f"{len(report.sites)} sites and the network tables (run {escape(report.run_id)})",
            soft_wrap=True,
        )
        self.line(f"network tables: {report.network.source or 'none'}")
        for i, (search, replace) in enumerate(report.network_rules, 1):
            self.line(f"{i:2}. {search!r} -> {replace!r}")
        for site in report.sites:
            note = f"  ({'; '.join(site.notes)})" if site.notes else ""
            self.line(f"site {site.site_id}: {site.source} -> {site.target}{note}")
        for site in report.target_only:
            verb = "dropped (backed up first)" if site.status in ("to drop", "dropped") else "kept as it is"
            self.line(f"site {site.site_id}: only in {report.to_env} ({site.target}): {verb}")
        for note in report.plan_notes:
            self.note(f"note: {note}")

    def network_summary(self, report: NetworkReport) -> None:
        """One table: site, status, rows, replacements, seconds; then each failure's error."""
        table = Table(title=f"{report.from_env} -> {report.to_env} ({report.run_id})", title_justify="left")
        for name, justify in (("site", "right"), ("status", "left"), ("rows", "right"),
                              ("replacements", "right"), ("seconds", "right")):  # fmt: skip
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for row in report.rows():
            style = "red" if row.status in ("failed", "interrupted", "would fail") else None
            table.add_row(
                row.name,
                row.status,
                f"{row.rows:,}",
                f"{row.replacements:,}",
                f"{row.seconds:.1f}",
                style=style,
            )
        self.out.print(table)
        for row in report.rows():
            if row.error:
                self.line(f"site {row.name}: {row.error}")
        if report.state:
            self.note(f"state: {report.state}")

    # -- renderings ----------------------------------------------------------------------------------

    def plan(self, plan: Plan) -> None:
        """The replacement plan: the URLs, then one numbered line per rule with its reason, then notes."""
        lines = plan.describe()
        if plan.warnings:
            del lines[-len(plan.warnings) :]
        self.out.print(f"[bold]Replacement plan[/] {escape(lines[0])}", soft_wrap=True)
        for text in lines[1:]:
            self.line(text)
        if not plan.entries:
            self.line("  (no replacements: the two environments have the same values)")
        for warning in plan.warnings:
            self.warn(warning)

    def tables(self, choices: Sequence[TableChoice]) -> None:
        """Every table under the prefix, in or out of the site, with its rule.

        Other sites' numbered tables, and for a site N > 1 the unnumbered ones, are counted on one
        line each (a network has thousands): `--json` lists them all.
        """
        owned = sum(c.owned for c in choices)
        self.out.print(
            f"[bold]Tables[/] {owned} of {len(choices)} under the prefix are the site's", soft_wrap=True
        )
        others = [c for c in choices if not c.owned and c.rule.startswith("another site's table")]
        unnumbered = [c for c in choices if not c.owned and c.rule.startswith("not numbered")]
        hidden = {c.name for c in (*others, *unnumbered)}
        for choice in choices:
            if choice.name in hidden:
                continue
            mark = "[green]in [/]" if choice.owned else "[dim]out[/]"
            self.out.print(f"  {mark} {escape(choice.name)}: {escape(choice.rule)}", soft_wrap=True)
        if unnumbered:
            self.out.print(
                f"  [dim]out[/] {len(unnumbered)} tables: {escape(unnumbered[0].rule)}", soft_wrap=True
            )
        if others:
            sites = len({c.rule for c in others})
            self.out.print(
                f"  [dim]out[/] {len(others)} tables of {sites} other site{'s' if sites > 1 else ''}"
                " (numbered, see --json)",
                soft_wrap=True,
            )

    def objects(self, objects: Sequence[ReferencingObject]) -> None:
        """Views, stored routines and events naming the site's tables: each marked as not migrated."""
        self.out.print(
            f"[bold]Schema objects[/] {len(objects)} views, stored routines or events name the site's tables"
            " [dim](a migration leaves them: create them in the target by hand if the site needs them)[/]",
            soft_wrap=True,
        )
        for obj in objects:
            self.out.print(
                f"  [yellow]not migrated[/] {obj.kind} {escape(obj.name)} ({escape(', '.join(obj.tables))})",
                soft_wrap=True,
            )

    def preflight(self, report: PreflightReport) -> None:
        """Pre-flight findings, one line each (fatal, warning, info), with the fix when there is one."""
        self.out.print("[bold]Pre-flight checks[/]")
        marks = {"fatal": "[red]FAIL[/]", "warning": "[yellow]warn[/]", "info": "[dim]info[/]"}
        for finding in report.findings:
            fix = f" [dim]({escape(finding.fix)})[/]" if finding.fix else ""
            mark = marks.get(finding.level, finding.level)
            text = f"  {mark} {escape(finding.check)}: {escape(finding.message)}{fix}"
            self.out.print(text, soft_wrap=True)
        if report.ok:
            self.out.print(f"  [green]ok[/]   nothing fatal ({len(report.warnings)} warnings)")

    def matches(self, matches: Sequence[ColumnMatches]) -> None:
        """Replacements a migration would make, per table and column (columns with none are left out)."""
        found = [m for m in matches if m.replacements]
        table = _fitted(
            self.out,
            "Replacements a migration would make (nothing was written)",
            [
                ("table", "left"),
                ("column", "left"),
                ("values", "right"),
                ("values changed", "right"),
                ("replacements", "right"),
            ],
            [
                (m.table, m.column, f"{m.values:,}", f"{m.values_changed:,}", f"{m.replacements:,}")
                for m in found
            ],
            total=(
                "total",
                f"{len(found)} of {len(matches)} text columns",
                f"{sum(m.values for m in matches):,}",
                f"{sum(m.values_changed for m in matches):,}",
                f"{sum(m.replacements for m in matches):,}",
            ),
            drop=("values", "values changed"),
        )
        self.out.print(table)

    def summary(self, report: MigrationReport) -> None:
        """The end of a migration: per table rows, replacements and sizes, totals, time, archives."""
        names = ("table", "action", "rows", "replacements", "values changed", "read", "SQL", "seconds")
        table = _fitted(
            self.out,
            f"Migration {report.migration_id}: {report.status}",
            [(name, "left" if name in ("table", "action") else "right") for name in names],
            [
                (
                    t.name,
                    t.action,
                    f"{t.rows:,}",
                    f"{t.replacements:,}",
                    f"{t.values_changed:,}",
                    _mb(t.bytes_read),
                    _mb(t.sql_bytes),
                    f"{t.seconds:.1f}",
                )
                for t in sorted(report.tables, key=lambda t: t.name)
            ],
            total=(
                f"{len(report.tables)} tables",
                "",
                f"{report.rows:,}",
                f"{report.replacements:,}",
                f"{report.values_changed:,}",
                _mb(report.bytes_read),
                _mb(sum(t.sql_bytes for t in report.tables)),
                f"{report.timings.get('total', 0.0):.1f}",
            ),
            drop=("SQL", "read", "values changed", "seconds", "action"),
        )
        self.out.print(table)
        if report.swapped_back:
            self.note("the swap was undone: the target holds the site as it was before")
        if report.cleanup_error:
            self.warn(f"putting the target back failed: {report.cleanup_error}")
        for text in _grouped_notes(report.skipped):
            self.warn(text)
        if report.target_only_tables and not report.target_only_dropped:
            self.note(
                f"tables only the target had, left as they were: {', '.join(report.target_only_tables)}"
            )
        if report.old_tables_kept:
            self.line(
                f"replaced tables kept as: {', '.join(report.old_tables_kept)} "
                "(`wfuwp migrate clean` drops them)"
            )
        location = report.archive.get("location") or report.archive.get("url")
        self.line(f"archives: {location}" if location else "archives: none were written (no backup kept)")

    def export(self, report: ExportReport) -> None:
        """What an export wrote."""
        self.line(
            f"exported site {report.site_id} of {report.source}: {len(report.tables)} tables, "
            f"{report.rows:,} rows, {_mb(report.sql_bytes)} of SQL, {_mb(report.compressed_bytes)} "
            f"compressed, {report.seconds:.1f} s"
        )
        self.line(f"file: {report.destination}")

    def load_report(self, report: LoadReport, *, verb: str) -> None:
        """restore/import: the tables now live, verification, what was removed and archived."""
        table = _fitted(
            self.out,
            f"{verb} into {report.target}",
            [("table", "left"), ("rows", "right")],
            [(name, f"{rows:,}") for name, rows in sorted(report.tables.items())],
        )
        self.out.print(table)
        self.line(
            f"from {report.source}: {report.statements:,} statements, {report.seconds:.1f} s"
            + ("; rows verified against the manifest's checksums" if report.verified_checksums else "")
        )
        if report.collations:
            mapped = ", ".join(f"{name} -> {nearest}" for name, nearest in report.collations.items())
            self.line(
                f"collations {report.target} lacks became the nearest it has: {mapped} "
                f"(in {', '.join(report.collation_tables) or 'the session settings'})"
            )
        if report.removed_tables:
            self.line(f"removed (created by the migration): {', '.join(report.removed_tables)}")
        if report.backup:
            self.line(
                f"replaced tables archived as {report.backup.get('id')} in {report.backup.get('location')}"
            )

    def site_check(self, check: SiteCheck) -> None:
        """verify: tables with engines and row counts, then problems and warnings."""
        table = _fitted(
            self.out,
            f"Site {check.site_id} in {check.database} ({check.address or 'no wp_blogs row'})",
            [("table", "left"), ("engine", "left"), ("rows", "right"), ("state", "left")],
            [
                (
                    t.name,
                    t.engine,
                    "" if t.rows is None else f"{t.rows:,}",
                    "readable" if t.readable else "UNREADABLE",
                )
                for t in check.tables
            ],
            drop=("engine",),
        )
        self.out.print(table)
        for text in check.problems:
            self.out.print(f"[red]problem:[/] {escape(text)}", soft_wrap=True)
        for text in check.warnings:
            self.out.print(f"[yellow]warning:[/] {escape(text)}", soft_wrap=True)
        if check.ok:
            self.out.print("[green]ok[/]: every table is present and readable")

    def clean_plan(self, plan: CleanPlan, *, done: bool = False) -> None:
        """clean: per database, the tables to drop (or dropped), the ones in use, errors."""
        for target in plan.targets:
            names = target.dropped if done else target.tables
            verb = "dropped" if done else "to drop"
            self.line(
                f"{target.label} ({target.database}): {len(names)} {verb}"
                + (f": {', '.join(names)}" if names else "")
            )
            if target.busy:
                self.note(f"  left alone, a migration is running: {', '.join(target.busy)}")
            if target.error:
                self.out.print(f"  [red]error:[/] {escape(target.error)}", soft_wrap=True)

    def migrations(self, where: str, found: Sequence[MigrationInfo]) -> None:
        """list: one row per migration folder."""
        names = ("id", "site", "network", "from -> to", "status", "SQL", "stored", "objects")
        table = _fitted(
            self.out,
            f"Migrations in {where}",
            [(name, "right" if name in ("SQL", "stored", "objects") else "left") for name in names],
            [
                (
                    info.id,
                    "network"
                    if info.site_id == NETWORK_SITE
                    else f"{info.site_id} {info.site_name or ''}".strip(),
                    _network(info.target_network),
                    f"{info.from_env} -> {info.to_env}",
                    info.status,
                    "" if info.bytes is None else _mb(info.bytes),
                    _mb(info.compressed_bytes),
                    str(info.objects),
                )
                for info in found
            ],
            drop=("objects", "SQL", "stored", "from -> to"),
        )
        self.out.print(table)
        if not found:
            self.line("no migrations found")

    def manifest(self, migration_id: str, manifest: Manifest | None) -> None:
        """status: the manifest's summary and its tables (None: the folder has no manifest)."""
        if manifest is None:
            self.line(f"{migration_id}: incomplete")
            self.line("no manifest: the migration did not finish (or is still running)")
            return
        self.line(f"{manifest.id}: {manifest.status}")
        self.line(
            (
                "the network tables"
                if manifest.site_id == NETWORK_SITE
                else f"site {manifest.site_id} {manifest.site_name or ''}".rstrip()
            )
            + f", {manifest.from_env} -> {manifest.to_env}, written {manifest.written}"
        )
        if manifest.kind == "migration":
            self.line(f"source network: {_network_line(manifest.source_network)}")
        self.line(
            f"{'target ' if manifest.kind == 'migration' else ''}network: "
            + _network_line(manifest.target_network)
        )
        if manifest.error:
            self.out.print(f"[red]error:[/] {escape(manifest.error)}", soft_wrap=True)
        if manifest.kind == "migration" and manifest.status not in ("completed", "rolled-back"):
            self.line(_CUTOVER_MEANS.get(manifest.cutover, manifest.cutover).format(id=manifest.id))
        if manifest.cleanup_error:
            self.out.print(f"[red]clean-up failed:[/] {escape(manifest.cleanup_error)}", soft_wrap=True)
        if manifest.tables:
            table = _fitted(
                self.out,
                None,
                [("table", "left"), ("rows", "right"), ("replacements", "right"), ("seconds", "right")],
                [(t.name, f"{t.rows:,}", f"{t.replacements:,}", f"{t.seconds:.1f}") for t in manifest.tables],
                drop=("seconds",),
            )
            self.out.print(table)
        self.line(
            f"{len(manifest.objects)} objects, {_mb(manifest.bytes)} of SQL, "
            f"{_mb(manifest.compressed_bytes)} stored"
        )

    def log_records(self, records: Sequence[dict[str, Any]]) -> None:
        """migrate log: one line per record (time, level, step and table, message), an error's context
        and traceback under its line."""
        marks = {"warning": "[yellow]warn [/]", "error": "[red]ERROR[/]", "debug": "[dim]debug[/]"}
        for record in records:
            where = " ".join(str(record[k]) for k in ("step", "table") if record.get(k))
            mark = marks.get(str(record.get("level", "")), "info ")
            time_, message = escape(str(record.get("time", ""))), escape(str(record.get("message", "")))
            self.out.print(f"{time_} {mark} {escape(where)}: {message}", soft_wrap=True)
            error = record.get("error")
            if isinstance(error, dict):
                causes = "; ".join(f"{c.get('type')}: {c.get('message')}" for c in error.get("causes") or [])
                self.line(
                    f"    {error.get('type')}: {error.get('message')}"
                    + (f" (caused by {causes})" if causes else "")
                )
                for frame in error.get("traceback") or []:
                    for line in str(frame).rstrip("\n").splitlines():
                        self.line(f"    | {line}", style="dim")
            if record.get("event") == "end" and record.get("warnings"):
                for warning in record["warnings"]:
                    self.line(f"    warning: {warning}")

    def key_values(self, items: Iterable[tuple[str, str]]) -> None:
        """`key = value` lines (config list)."""
        for key, value in items:
            self.line(f"{key} = {value}")


class _TablesOnly(ProgressColumn):
    """A column drawn for table tasks only; step tasks leave it blank."""

    def __init__(self, inner: ProgressColumn, *, steps: ProgressColumn | None = None) -> None:
        super().__init__()
        self.inner, self.steps = inner, steps

    def render(self, task: Task) -> RenderableType:
        if task.fields.get("table"):
            return self.inner.render(task)
        return self.steps.render(task) if self.steps is not None else Text("")


class _ProgressView:
    """The ProgressEvent callback of one command, in one of three modes.

    "bars": a rich display on a terminal, a bar per step (with its elapsed time) and one per table
    while it is copied (rows, MB, throughput, ETA), gone when done (the summary lists them all).
    "lines": plain lines for pipes, log files and cron (see `_Lines`). "quiet": the engine's log lines
    only. Every mode prints the engine's log lines (retries, fallbacks).
    """

    def __init__(self, console: Console, *, mode: Literal["bars", "lines", "quiet"]) -> None:
        self.console = console
        self.mode = mode
        self.bars: Progress | None = None
        self.lines = _Lines(console, interval=_plain_interval()) if mode == "lines" else None
        self.steps: dict[str, TaskID] = {}
        self.tables: dict[tuple[str, str], TaskID] = {}

    def __enter__(self) -> _ProgressView:
        if self.mode == "bars":
            self.bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=30),
                _TablesOnly(TextColumn("{task.fields[rows]}", justify="right")),
                _TablesOnly(DownloadColumn()),
                _TablesOnly(TransferSpeedColumn()),
                _TablesOnly(TimeRemainingColumn(), steps=TimeElapsedColumn()),
                console=self.console,
            )
            self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bars is not None:
            self.bars.stop()

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "log":
            self.console.print(f"[dim]{escape(event.step)}: {escape(event.message)}[/]", soft_wrap=True)
            return
        if self.lines is not None:
            self.lines(event)
            return
        bars = self.bars
        if bars is None:
            return
        if event.kind == "step-start":
            self.steps[event.step] = bars.add_task(f"[bold]{event.step}[/]", total=None, table="", rows="")
        elif event.kind == "step-end" and event.step in self.steps:
            bars.update(self.steps[event.step], total=1, completed=1)
        elif event.kind in ("table-start", "rows", "table-end") and event.table:
            key = (event.step, event.table)
            rows = (
                f"{event.rows_done:,}/{event.rows_total:,} rows"
                if event.rows_done
                else f"~{event.rows_total:,} rows"
            )
            if key not in self.tables:
                self.tables[key] = bars.add_task(
                    f"  {event.step} {event.table}",
                    total=event.bytes_total or None,
                    table=event.table,
                    rows=rows,
                )
            bars.update(
                self.tables[key],
                completed=event.bytes_done,
                total=event.bytes_total or None,
                rows=rows,
                visible=event.kind != "table-end",
            )


class _Lines:
    """Progress as plain, timestamped lines at a steady pace, for a pipe, a log file or cron.

    A line when a step starts and ends; for a table, a line with its percent, rows, MB and ETA once it
    has run `interval` seconds and then at most every `interval` seconds, and one when it is done (a
    small table gets only that one).
    """

    def __init__(
        self, console: Console, *, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.console = console
        self.interval = interval
        self.clock = clock
        self.steps: dict[str, float] = {}
        self.tables: dict[tuple[str, str], list[float]] = {}  # (step, table) -> [started, last line]

    def __call__(self, event: ProgressEvent) -> None:
        now = self.clock()
        if event.kind == "step-start":
            self.steps[event.step] = now
            self._line(f"{event.step}: started")
        elif event.kind == "step-end":
            seconds = now - self.steps.pop(event.step, now)
            self._line(f"{event.step}: done in {seconds:.1f} s")
        elif event.kind == "state" and event.message:
            self._line(f"{event.step}: {event.message}")
        elif event.kind in ("table-start", "rows", "table-end") and event.table:
            key = (event.step, event.table)
            started, last = self.tables.setdefault(key, [now, now])
            if event.kind == "table-end":
                del self.tables[key]
                self._line(f"{event.step} {event.table}: {self._figures(event, now - started)}")
            elif event.kind == "rows" and now - last >= self.interval:
                self.tables[key][1] = now
                self._line(f"{event.step} {event.table}: {self._figures(event, now - started)}")

    @staticmethod
    def _figures(event: ProgressEvent, seconds: float) -> str:
        done, total = (
            (event.bytes_done, event.bytes_total)
            if event.bytes_total
            else (event.rows_done, event.rows_total)
        )
        percent = 100 if event.kind == "table-end" else min(99, int(100 * done / total)) if total else 0
        parts = [f"{percent:3d}%"]
        if event.rows_done:
            parts.append(f"{event.rows_done:,}/{event.rows_total:,} rows")
        elif event.rows_total:
            parts.append(f"~{event.rows_total:,} rows")
        parts.append(f"{event.bytes_done / 1e6:,.1f}/{event.bytes_total / 1e6:,.1f} MB")
        if event.kind == "table-end":
            parts.append(f"done in {seconds:.1f} s")
        elif done and total and seconds > 0:
            left = (total - done) * seconds / done
            parts.append(f"{done / seconds / 1e6:,.1f} MB/s" if event.bytes_total else "")
            parts.append(f"ETA {int(left) // 60}:{int(left) % 60:02d}")
        else:
            parts.append("ETA ?")
        return ", ".join(p for p in parts if p)

    def _line(self, text: str) -> None:
        self.console.print(
            f"{time.strftime('%H:%M:%S')} {text}", markup=False, highlight=False, soft_wrap=True
        )


class _NetworkLines:
    """Progress of an environment refresh: a rewritten status line, or a line per site start and end."""

    def __init__(self, console: Console, *, live: bool) -> None:
        self.console = console
        self.live = live
        self.shown = False

    def __call__(self, update: NetworkProgress) -> None:
        eta = "?" if update.eta_s is None else f"{int(update.eta_s) // 60}:{int(update.eta_s) % 60:02d}"
        status = (
            f"sites {update.sites_done}/{update.sites_total}, {update.bytes_done / 1e6:,.1f}/"
            f"{update.bytes_total / 1e6:,.1f} MB, ETA {eta}, running: {', '.join(update.current) or '-'}"
        )
        if self.live:
            self.console.file.write(
                "\r" + status[: max(20, self.console.width - 1)].ljust(self.console.width - 1)
            )
            self.console.file.flush()
            self.shown = True
        elif update.message in ("site-start", "site-end") and update.site_id is not None:
            which = "network tables" if update.site_id == 0 else f"site {update.site_id}"
            verb = "started" if update.message == "site-start" else "ended"
            self.console.print(
                f"{time.strftime('%H:%M:%S')} {which} {verb}; {status}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

    def close(self) -> None:
        if self.shown:
            self.console.file.write("\n")
            self.console.file.flush()


# A per-table note of the engine: "<table>: <count> value(s) <what happened to them>".
_TABLE_NOTE = re.compile(r"(?P<table>\S+): (?P<count>\d+) (?P<what>value\(s\) .+)\Z", re.DOTALL)


def _grouped_notes(notes: Sequence[str]) -> list[str]:
    """The notes, one per kind: the same note about several tables is said once, naming them all."""
    groups: dict[str, tuple[list[str], int]] = {}
    out: list[str] = []
    for text in notes:
        m = _TABLE_NOTE.match(text)
        if m is None:
            out.append(text)
            continue
        tables, count = groups.setdefault(m["what"], ([], 0))
        tables.append(m["table"])
        groups[m["what"]] = (tables, count + int(m["count"]))
    out += [f"{', '.join(sorted(tables))}: {count} {what}" for what, (tables, count) in groups.items()]
    return out


# What a migration that did not complete left in the target, by how far its cut-over got.
_CUTOVER_MEANS = {
    "staging": "it stopped before the swap: the target holds what it held before",
    "swapping": "it stopped at the swap: `wfuwp migrate rollback {id}` undoes it if its tables went live, "
    "`--resume {id}` finishes it",
    "swapped": "its tables are live (the old ones kept): `wfuwp migrate rollback {id}` undoes it, "
    "`--resume {id}` finishes it",
    "finished": "its tables are live: `wfuwp migrate rollback {id}` undoes it",
}


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def _network(network: NetworkIdentity | None) -> str:
    """A list cell: the main domain and the id ("www.wfu.edu 3fa2c1d0e4b5"); "unknown" if not recorded."""
    return "unknown" if network is None else f"{network.address} {network.id}"


def _network_line(network: NetworkIdentity | None) -> str:
    """status: the whole identity, or why there is none."""
    if network is None:
        return "unknown (the archive was made before archives recorded their network)"
    return f"{network.describe()}, id {network.id}"
