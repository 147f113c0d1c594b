"""Clean up after migrations: leftover staging/old tables everywhere, and the migration database.

A migration that was killed (power cut, `kill -9`) cannot drop its `_wfs_*` (staging) and `_wfo_*`
(old) tables; `--keep-files` keeps the `_wfo_*` ones on purpose. `plan_clean` finds them in every
configured environment and lists the tables of the migration database (a scratch database the
`--simple` mode and `transform` work in); `run_clean` drops what the plan lists. Tables of a site
that a migration is writing right now (its lock is held) are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mysql.connector

from wfuwp.config.settings import Config, DbConfig
from wfuwp.errors import ConfigError, WfuwpError
from wfuwp.mysql.connection import Database, as_text, closing, database_error, execute, query
from wfuwp.mysql.lock import SiteLock
from wfuwp.mysql.schema import NETWORK_SITE
from wfuwp.mysql.sql import quote_identifier
from wfuwp.mysql.target import LEFTOVER_PATTERN, leftover_tables

# The predecessor refused to empty a migration database whose name lacks "migration"; so does this:
# a typo in `migration.database` must never empty a site's database.
MIGRATION_MARKER = "migration"
_DROP_BATCH = 50


@dataclass
class CleanTarget:
    """One database to clean: what will be dropped, what is in use, or why it cannot be reached."""

    label: str  # "env prod" or "migration"
    database: str  # user@host:port/db, for people
    tables: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    error: str | None = None
    dropped: list[str] = field(default_factory=list)
    db: Database | None = field(default=None, repr=False, compare=False)


@dataclass
class CleanPlan:
    """What `run_clean` will drop, per database."""

    targets: list[CleanTarget] = field(default_factory=list)

    @property
    def tables(self) -> int:
        """How many tables will be dropped, all databases."""
        return sum(len(t.tables) for t in self.targets)

    @property
    def errors(self) -> list[str]:
        """One line per database that could not be looked at or cleaned."""
        return [f"{t.label} ({t.database}): {t.error}" for t in self.targets if t.error]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (`wfuwp migrate clean --json`)."""
        return {
            "targets": [{k: v for k, v in t.__dict__.items() if k != "db"} for t in self.targets],
            "tables": self.tables,
            "errors": self.errors,
        }


def plan_clean(config: Config, *, migration: bool = True) -> CleanPlan:
    """Find leftover `_wfs_`/`_wfo_` tables in every environment and, with `migration`, every table of
    the migration database. Writes nothing.

    A database that cannot be reached is reported in its target's `error`, not raised, so one
    unreachable environment does not stop the others from being cleaned. The migration database is
    skipped when it is not configured, and refused (an `error`) when it is also an environment's
    database or its name lacks "migration".
    """
    plan = CleanPlan()
    for name in sorted(config.environments):
        env = config.env(name)
        target = _target(f"env {name}", env)
        if target.db is not None:
            try:
                with closing(target.db.connect()) as conn:
                    found = leftover_tables(conn, target.db.database)
                    target.tables, target.busy = _split_busy(conn, target.db, found)
            except WfuwpError as exc:
                target.error = str(exc)
            except mysql.connector.Error as exc:
                target.error = str(database_error(exc, f"cannot list tables of {target.db}"))
        plan.targets.append(target)
    if migration and config.migration.host:
        target = _target("migration", config.migration)
        try:
            _check_migration_database(config)
        except ConfigError as exc:
            target.error, target.db = str(exc), None
        if target.db is not None:
            try:
                with closing(target.db.connect()) as conn:
                    found = sorted(
                        as_text(n)
                        for (n,) in query(
                            conn,
                            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                            (target.db.database,),
                        )
                    )
                    target.tables, target.busy = _split_busy(conn, target.db, found)
            except WfuwpError as exc:
                target.error = str(exc)
            except mysql.connector.Error as exc:
                target.error = str(database_error(exc, f"cannot list tables of {target.db}"))
        plan.targets.append(target)
    return plan


def run_clean(plan: CleanPlan) -> CleanPlan:
    """Drop every table `plan` lists (in batches) and record them in each target's `dropped`.

    A database that fails is recorded in its target's `error` and the others are still cleaned;
    returns the same plan.
    """
    for target in plan.targets:
        if target.db is None or target.error or not target.tables:
            continue
        try:
            with closing(target.db.connect()) as conn:
                execute(conn, b"SET SESSION foreign_key_checks = 0")
                for start in range(0, len(target.tables), _DROP_BATCH):
                    batch = target.tables[start : start + _DROP_BATCH]
                    execute(conn, "DROP TABLE IF EXISTS " + ", ".join(quote_identifier(n) for n in batch))
                    target.dropped.extend(batch)
        except WfuwpError as exc:
            target.error = str(exc)
        except mysql.connector.Error as exc:
            target.error = str(database_error(exc, f"cannot drop tables in {target.db}"))
    return plan


def _target(label: str, section: DbConfig) -> CleanTarget:
    target = CleanTarget(label, section.display())
    try:
        target.db = section.as_database()
    except WfuwpError as exc:
        target.error = str(exc)
    return target


def _check_migration_database(config: Config) -> None:
    mig = config.migration
    database = mig.database or ""
    if MIGRATION_MARKER not in database.lower():
        raise ConfigError(
            f"the migration database {database!r} does not have 'migration' in its name, so clean will not "
            "empty it: point migration.database at a scratch database such as wp_migration"
        )
    for name, env in config.environments.items():
        if (env.host, env.port, env.database) == (mig.host, mig.port, mig.database):
            raise ConfigError(
                f"the migration database {mig.display()} is also environment {name}'s database: "
                "give migration.database a scratch database of its own"
            )


def _site_of(table: str, prefix: str) -> int:
    """The site a (possibly staging/old) table belongs to: `wp_43_posts` -> 43, `wp_posts` -> 1."""
    live = LEFTOVER_PATTERN.sub("", table)
    if live.startswith(prefix):
        rest = live[len(prefix) :]
        digits = rest.split("_", 1)[0]
        if digits.isdigit() and "_" in rest:
            return int(digits)
    return 1


def _split_busy(conn: Any, db: Database, names: list[str]) -> tuple[list[str], list[str]]:
    """Split `names` into (free to drop, in use by a running migration: its site's lock is held).

    An unnumbered table is site 1's or the network tables' (which take a lock of their own): it is in
    use while either lock is held.
    """
    sites = {name: _site_of(name, db.table_prefix) for name in names}
    held: dict[int, bool] = {}
    for site in {*sites.values(), *([NETWORK_SITE] if 1 in sites.values() else [])}:
        (owner,) = query(conn, "SELECT IS_USED_LOCK(%s)", (SiteLock(db, site).name,))[0]
        held[site] = owner is not None
    if 1 in held:
        held[1] = held[1] or held[NETWORK_SITE]
    free = [n for n in names if not held[sites[n]]]
    busy = [n for n in names if held[sites[n]]]
    return free, busy


__all__ = ["CleanPlan", "CleanTarget", "plan_clean", "run_clean"]
