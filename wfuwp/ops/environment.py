"""Migrate a site between environments named in the configuration: the workflow `wfuwp migrate` runs.

    plan (configuration + the site's path from wp_blogs) -> pre-flight -> dry run: match counts
                                                                        -> confirm -> migrate_site -> media

The caller sees the plan and the checks before anything is written (`on_plan`, `on_checks`), and
`confirm` may raise to stop there. Everything is in the library so that another tool gets exactly
what the command line does.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wfuwp.archive.location import ArchiveLocation
from wfuwp.config.plan import Plan, plan_for
from wfuwp.config.settings import Config
from wfuwp.errors import SiteNotFoundError, UsageError, WfuwpError
from wfuwp.mysql.connection import Database, closing
from wfuwp.mysql.network import read_site_of
from wfuwp.mysql.objects import ReferencingObject, referencing_objects
from wfuwp.mysql.schema import TableChoice, TableFilter, base_table_names, table_ownership
from wfuwp.ops.media import CopyResult, media_location, sync_media
from wfuwp.ops.migrate import migrate_site
from wfuwp.ops.preflight import PreflightReport, preflight
from wfuwp.ops.verify import ColumnMatches, count_matches
from wfuwp.progress import ProgressCallback
from wfuwp.report import MigrationReport

__all__ = ["EnvironmentMigration", "migrate_between", "plan_site", "site_objects", "site_tables"]


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
    target_lookup: Database | None = None,
    force: bool = False,
) -> Plan:
    """The replacement plan of site `site_id` (see `wfuwp.config.plan.plan_for`): the site's address
    in the source network read from `lookup`'s wp_blogs and options, in the target network from
    `target_lookup`'s, plus the configuration's environment rules and `extra` (`--replace`; a search
    shorter than 4 characters needs `force`). Raises ConfigError for an unknown environment and
    UsageError for a bad `extra` pair, before any connection.

    Without `require_site` a site that cannot be read leaves the plan to the configuration (its URLs
    shown from the configured hosts); with it, SiteNotFoundError (exit code 3) when the source network
    has no such site, DatabaseError when `lookup` cannot be reached. The target is read when it can be:
    a site not there yet (or a target not reachable) is a note.
    """
    plan_for(config, from_env, to_env, extra=extra, force=force)  # fails on bad input before connecting
    source_site = None
    if lookup is not None:
        try:
            source_site = read_site_of(lookup, site_id)
        except SiteNotFoundError:
            if require_site:
                raise SiteNotFoundError(
                    f"site {site_id} is not in {from_env}'s network ({lookup.table_prefix}blogs of {lookup} "
                    "has no row for it): check the site id and --from"
                ) from None
        except WfuwpError:
            if require_site:
                raise
    target_site, unread = None, None
    if target_lookup is None:
        unread = f"site: {to_env}'s database is not configured, so only the environment rules move its URLs"
    elif source_site is not None:
        try:
            target_site = read_site_of(target_lookup, site_id)
        except SiteNotFoundError:
            pass  # a new site in the target: plan_for says so
        except WfuwpError as exc:
            unread = (
                f"site: {to_env}'s network could not be read ({exc}), so only the environment rules move "
                "its URLs"
            )
    plan = plan_for(
        config, from_env, to_env, extra=extra, force=force, source_site=source_site, target_site=target_site
    )
    if unread is not None:
        plan = dataclasses.replace(
            plan, notes=tuple(unread if n.startswith("site: ") else n for n in plan.notes)
        )
    return plan


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


def site_objects(config: Config, from_env: str, tables: Sequence[str]) -> list[ReferencingObject]:
    """The views, stored routines and events of `from_env`'s database whose definitions name any of
    `tables` (the site's: see `site_tables`). A migration does not carry them: they stay in the source,
    and the target keeps its own. Raises ConfigError, DatabaseError."""
    source = config.env(from_env).as_database()
    with closing(source.connect()) as conn:
        return referencing_objects(conn, source.database, tables)


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
    force: bool = False,
    tables: TableFilter | None = None,
) -> EnvironmentMigration:
    """Migrate site `site_id` from environment `from_env` to `to_env` of `config`.

    `in_place`: the predecessor's last step only: replace within the migration database (no
    archive). `archive`: where archives go (None: none, and so no backup). `extra`: `--replace` pairs
    (a search shorter than 4 characters needs `force`). The plan covers the site's own hosts and URL
    as the two networks' wp_blogs and options give them (see `plan_site`).
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
    # In place, the migration database holds the source's copy; the target network is to_env's.
    target_lookup = source_for_plan(config, to_env) if in_place else target
    plan = plan_site(
        config,
        site_id,
        from_env,
        to_env,
        extra=extra,
        lookup=source,
        target_lookup=target_lookup,
        force=force,
    )
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
        force=True,  # the plan checked its --replace pairs
        archive=archive,
        progress=progress,
        keep_old=keep_old,
        resume=resume,
        tables=wanted,
    )
    if media and not result.report.interrupt_deferred:  # a Ctrl-C during the swap stops what follows it
        result.media = sync_media(config, site_id, from_env, to_env)
    return result
