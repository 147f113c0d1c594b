"""Migrate a site between environments named in the configuration: the workflow `wfuwp migrate` runs.

    plan (configuration + the site's path from wp_blogs) -> pre-flight -> dry run: match counts
                                                                        -> confirm -> migrate_site -> media

The caller sees the plan and the checks before anything is written (`on_plan`, `on_checks`), and
`confirm` may raise to stop there. Everything is in the library so that another tool gets exactly
what the command line does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wfuwp.archive.location import ArchiveLocation
from wfuwp.config.plan import Plan, plan_for
from wfuwp.config.settings import Config
from wfuwp.errors import SiteNotFoundError, UsageError, WfuwpError
from wfuwp.mysql.connection import Database, closing
from wfuwp.mysql.schema import TableChoice, TableFilter, base_table_names, table_ownership
from wfuwp.ops.media import CopyResult, media_location, sync_media
from wfuwp.ops.migrate import migrate_site
from wfuwp.ops.preflight import PreflightReport, preflight
from wfuwp.ops.verify import ColumnMatches, count_matches, site_path
from wfuwp.progress import ProgressCallback
from wfuwp.report import MigrationReport

__all__ = ["EnvironmentMigration", "migrate_between", "plan_site", "site_tables"]


@dataclass
class EnvironmentMigration:
    """What `migrate_between` did.

    The plan, the checks, and the dry run's counts or the migration's report.
    """

    site_id: int
    from_env: str
    to_env: str
    source: Database
    target: Database
    plan: Plan
    checks: PreflightReport
    matches: list[ColumnMatches] | None = None  # a dry run's counts
    report: MigrationReport | None = None  # a migration's report
    media: CopyResult | None = None

    @property
    def ownership(self) -> list[TableChoice]:
        """Every source table under the prefix, the site's or not, with the rule that decided."""
        return self.checks.ownership


def plan_site(
    config: Config,
    site_id: int,
    from_env: str,
    to_env: str,
    *,
    extra: Sequence[tuple[str, str]] = (),
    lookup: Database | None = None,
    require_site: bool = False,
) -> Plan:
    """The replacement plan from the configuration; the site's path (for the URLs shown) from `lookup`'s
    wp_blogs when it can be read. Raises ConfigError for an unknown environment, before any connection.

    `require_site`: the site must be found in `lookup` (SiteNotFoundError, exit code 3, when the network
    has no such site; DatabaseError when `lookup` cannot be reached), rather than the plan showing the
    network's root URL as the site's.
    """
    plan = plan_for(config, from_env, to_env, extra=extra)
    try:
        path = site_path(lookup, site_id, strict=require_site) if lookup is not None else None
    except SiteNotFoundError:
        assert lookup is not None
        raise SiteNotFoundError(
            f"site {site_id} is not in {from_env}'s network ({lookup.table_prefix}blogs of {lookup} has no "
            "row for it): check the site id and --from"
        ) from None
    return plan_for(config, from_env, to_env, extra=extra, site_path=path) if path else plan


def source_for_plan(config: Config, from_env: str) -> Database | None:
    """The source environment's database for reading the site's path, or None when none is configured."""
    with contextlib.suppress(WfuwpError):
        return config.env(from_env).as_database()
    return None


def site_tables(
    config: Config,
    site_id: int,
    from_env: str,
    to_env: str | None = None,
    *,
    tables: TableFilter | None = None,
) -> list[TableChoice]:
    """Every table of `from_env`'s database under its prefix, whether site `site_id` owns it, and why.

    The environments' `include_tables`/`exclude_tables` and `tables` apply; `to_env`'s database, when
    given, is read too for per-site twins (see `table_ownership`), as a migration between them does
    (when it can be reached). Raises ConfigError, DatabaseError (the source), UsageError.
    """
    source = config.env(from_env).as_database()
    wanted = config.table_filter(from_env, *([to_env] if to_env else [])).merged(tables)
    peer: list[str] = []
    if to_env is not None:
        # The target only adds twins: one not configured or not reachable leaves the source to decide.
        with contextlib.suppress(WfuwpError):
            target = config.env(to_env).as_database()
            with closing(target.connect()) as conn:
                peer = base_table_names(conn, target.database)
    with closing(source.connect()) as conn:
        return table_ownership(conn, source.database, source.table_prefix, site_id, tables=wanted, peer=peer)


def migrate_between(
    config: Config,
    site_id: int,
    from_env: str,
    to_env: str,
    *,
    in_place: bool = False,
    archive: ArchiveLocation | None = None,
    extra: Sequence[tuple[str, str]] = (),
    dry_run: bool = False,
    keep_old: bool = False,
    resume: str | None = None,
    media: bool = False,
    work_dir: Path | None = None,
    progress: ProgressCallback | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    on_checks: Callable[[PreflightReport], None] | None = None,
    confirm: Callable[[], None] | None = None,
    tables: TableFilter | None = None,
) -> EnvironmentMigration:
    """Migrate site `site_id` from environment `from_env` to `to_env` of `config`.

    `in_place`: the predecessor's last step only: replace within the migration database (no
    archive). `archive`: where archives go (None: none, and so no backup). `extra`: `--replace` pairs.
    `dry_run`: run the checks and count the replacements per column; write nothing. `media`: copy
    the site's media between the environments' buckets afterwards (counted in a dry run).
    `on_plan`/`on_checks` see the plan and the pre-flight report before anything is written; `confirm`
    is called just before the first write and may raise to stop. `tables`: include/exclude patterns
    added to both environments' `include_tables`/`exclude_tables`. Raises PreflightError when the
    checks find something fatal, and whatever `migrate_site` raises.
    """
    if media:
        media_location(config, site_id, from_env, to_env)  # an unset media bucket fails before any write
    if in_place:
        source = target = config.migration.as_database()
    else:
        source, target = config.env(from_env).as_database(), config.env(to_env).as_database()
    if resume is not None and archive is None:
        raise UsageError("resuming needs the archive the migration was started with: keep the archive on")
    wanted = config.table_filter(from_env, to_env).merged(tables)
    plan = plan_site(config, site_id, from_env, to_env, extra=extra, lookup=source)
    if on_plan is not None:
        on_plan(plan)
    checks = preflight(
        site_id,
        source=source,
        target=target,
        archive=archive,
        work_dir=work_dir,
        replacements=plan.rules,
        in_place=in_place,
        resume=resume,
        tables=wanted,
    )
    if on_checks is not None:
        on_checks(checks)
    checks.raise_if_fatal()
    result = EnvironmentMigration(site_id, from_env, to_env, source, target, plan, checks)
    if dry_run:
        result.matches = count_matches(source, site_id, plan.rules, progress=progress, tables=wanted)
        if media:
            result.media = sync_media(config, site_id, from_env, to_env, dry_run=True)
        return result
    if confirm is not None:
        confirm()
    result.report = migrate_site(
        site_id,
        source=source,
        target=target,
        replacements=plan.rules,
        archive=archive,
        progress=progress,
        keep_old=keep_old,
        resume=resume,
        tables=wanted,
    )
    if media and not result.report.interrupt_deferred:  # a Ctrl-C during the swap stops what follows it
        result.media = sync_media(config, site_id, from_env, to_env)
    return result
