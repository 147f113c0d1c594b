"""The target side: staging tables, loading, verification, the atomic swap and its undo.

Staging and old tables live in the target database itself, so one multi-table `RENAME TABLE`
swaps the site (MariaDB and MySQL 8 apply all renames or none). Their names start with `_wfs_`
(staging) and `_wfo_` (old) plus the run's short id, so `clean` can find leftovers.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import mysql.connector

from wfuwp.errors import SwapBlockedError, VerificationError
from wfuwp.mysql.connection import Database, as_text, execute, query
from wfuwp.mysql.schema import Table, table_estimates
from wfuwp.mysql.sql import (
    MAX_IDENTIFIER,
    checksum_query,
    create_table_as,
    quote_identifier,
    stage_foreign_keys,
)

STAGING_PREFIX = "_wfs_"
OLD_PREFIX = "_wfo_"
LEFTOVER_PATTERN = re.compile(r"^_wf[so]_([0-9a-f]{6})_")


def work_table_name(prefix: str, run_short_id: str, table: str) -> str:
    """A staging/old name for `table` within MySQL's 64-character identifier limit."""
    name = f"{prefix}{run_short_id}_{table}"
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(table.encode("utf-8"), usedforsecurity=False).hexdigest()[:8]
    keep = MAX_IDENTIFIER - len(prefix) - len(run_short_id) - len(digest) - 2
    return f"{prefix}{run_short_id}_{table[:keep]}_{digest}"


@dataclass(frozen=True)
class SwapPlan:
    """Which names the swap moves: live tables to old, staging to live."""

    pairs: tuple[tuple[str, str, str], ...]  # (live, staging, old)
    existing: frozenset[str]  # live tables that exist in the target before the swap
    retired: tuple[tuple[str, str], ...] = ()  # (live, old): target-only tables to take out of the site

    def rename_forward(self) -> str:
        """One RENAME TABLE statement: every existing live -> old, every staging -> live."""
        moves = [(live, old) for live, _s, old in self.pairs if live in self.existing]
        moves += list(self.retired)
        moves += [(staging, live) for live, staging, _o in self.pairs]
        return _rename(moves)

    def rename_back(self) -> str:
        """The RENAME TABLE statement that undoes rename_forward."""
        moves = [(live, staging) for live, staging, _o in self.pairs]
        moves += [(old, live) for live, old in self.retired]
        moves += [(old, live) for live, _s, old in self.pairs if live in self.existing]
        return _rename(moves)

    def old_names(self) -> list[str]:
        """Names the replaced and retired tables have after the swap."""
        return [old for live, _s, old in self.pairs if live in self.existing] + [
            old for _l, old in self.retired
        ]


def _rename(moves: list[tuple[str, str]]) -> str:
    return "RENAME TABLE " + ", ".join(f"{quote_identifier(a)} TO {quote_identifier(b)}" for a, b in moves)


class TargetSite:
    """Staging, loading and swapping one site's tables in the target database."""

    def __init__(
        self, db: Database, run_short_id: str, names: Sequence[str], existing: Sequence[str]
    ) -> None:
        """`names`: the tables the swap puts in place; `existing`: the site's tables in the target now."""
        self.db = db
        self.run_short_id = run_short_id
        self.staging: dict[str, str] = {}
        self.old: dict[str, str] = {}
        self.existing = frozenset(existing)
        self.retired: tuple[tuple[str, str], ...] = ()
        # table -> [(its foreign keys' staging names, their clauses as the source has them)]
        self.foreign_keys: dict[str, list[tuple[str, str]]] = {}
        for name in names:
            self.add(name)

    def add(self, name: str) -> str:
        """Include table `name` in the swap; return its staging name."""
        if name not in self.staging:
            self.staging[name] = work_table_name(STAGING_PREFIX, self.run_short_id, name)
            self.old[name] = work_table_name(OLD_PREFIX, self.run_short_id, name)
        return self.staging[name]

    def set_existing(self, names: Sequence[str]) -> None:
        """Say which of the swapped tables exist in the target now (they move to old names)."""
        self.existing = frozenset(names)

    def retire(self, names: Sequence[str]) -> None:
        """Have the swap also move these target-only tables out of the site (to old names)."""
        self.retired = tuple((n, work_table_name(OLD_PREFIX, self.run_short_id, n)) for n in names)
        self.old.update(dict(self.retired))

    @property
    def swap_plan(self) -> SwapPlan:
        """The renames of the swap, as things stand."""
        return SwapPlan(
            tuple((n, s, self.old[n]) for n, s in self.staging.items()), self.existing, self.retired
        )

    def staging_sql(self, table: Table) -> str:
        """The CREATE TABLE of `table`'s staging twin, from the SOURCE's definition.

        Its foreign keys get staging names (InnoDB's are unique per database) and point at the staged
        parents; what they were is remembered, for `restore_foreign_key_names` after the swap.
        """
        sql, restore = stage_foreign_keys(
            create_table_as(table.create_sql, self.staging[table.name]),
            lambda name: work_table_name(STAGING_PREFIX, self.run_short_id, name),
            lambda parent: self.staging.get(parent, parent),
        )
        self.foreign_keys[table.name] = restore
        return sql

    def create_staging(self, conn: Any, table: Table) -> None:
        """Create the empty staging table (dropping a leftover of that name); see staging_sql."""
        staging = self.staging[table.name]
        sql = self.staging_sql(table)
        execute(conn, f"DROP TABLE IF EXISTS {quote_identifier(staging)}")
        execute(conn, sql)

    def restore_foreign_key_names(self, conn: Any) -> None:
        """Give the swapped-in tables their source's foreign key names back (once the old tables, which
        held those names, are gone). Only names change: the keys already point at the live parents."""
        execute(conn, "SET SESSION foreign_key_checks = 0")  # no re-check of every row: names only
        for name, keys in self.foreign_keys.items():
            if not keys:
                continue
            present = {
                as_text(n)
                for (n,) in query(
                    conn,
                    "SELECT CONSTRAINT_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS"
                    " WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s",
                    (self.db.database, name),
                )
            }
            # InnoDB renames an auto-named key (`<table>_ibfk_<n>`) with its table: those are right already.
            wrong = [(staged, clause) for staged, clause in keys if staged in present]
            if wrong:
                changes = [f"DROP FOREIGN KEY {quote_identifier(staged)}" for staged, _ in wrong]
                changes += [f"ADD {clause}" for _, clause in wrong]
                execute(conn, f"ALTER TABLE {quote_identifier(name)} " + ", ".join(changes))

    def verify(
        self,
        conn: Any,
        name: str,
        columns: Sequence[str],
        rows: int,
        checksum: int,
        *,
        expected_from: str | None = None,
    ) -> None:
        """Compare a staging table's row count and checksum (over `columns`) with what was expected.

        `expected_from` ends the error message: where the expected figures came from and what to do
        (default: this run sent them, so running again may do).
        """
        got_rows, got_sum = query(conn, checksum_query(self.staging[name], columns))[0]
        if int(got_rows) != rows or int(got_sum) != checksum:
            raise VerificationError(
                f"the target holds {got_rows} rows (checksum {got_sum})"
                f" but {rows} rows (checksum {checksum})"
                f" {expected_from or 'were sent; nothing was swapped, run again'}",
                step="verify",
                table=name,
            )

    def swap(self, conn: Any, rename: Callable[[Any, str], None]) -> None:
        """Swap every staging table in and every live table out, in one atomic statement run by `rename`."""
        rename(conn, self.swap_plan.rename_forward())

    def swap_back(self, conn: Any, rename: Callable[[Any, str], None]) -> None:
        """Undo swap(): the old tables become live again, the migrated ones go back to staging."""
        rename(conn, self.swap_plan.rename_back())

    def position(self, conn: Any) -> str:
        """Which side of the swap the target is on, read from its tables (RENAME TABLE is atomic):
        "before" (staging tables present, no old ones), "swapped" (old tables present) or "after"
        (neither: the old tables were dropped, or nothing was staged)."""
        names = list(self.staging.values()) + list(self.old.values())
        present = table_estimates(conn, self.db.database, names)
        if any(old in present for old in self.old.values()):
            return "swapped"
        if any(staging in present for staging in self.staging.values()):
            return "before"
        return "after"

    def drop(self, conn: Any, which: str) -> None:
        """Drop the staging (`which="staging"`) or old (`which="old"`) tables that exist."""
        names = list((self.staging if which == "staging" else self.old).values())
        # Foreign keys between the tables dropped (or from live tables, for a moment) must not stop it.
        execute(conn, "SET SESSION foreign_key_checks = 0")
        for start in range(0, len(names), 50):
            batch = names[start : start + 50]
            execute(conn, "DROP TABLE IF EXISTS " + ", ".join(quote_identifier(n) for n in batch))


# MariaDB and MySQL answer a lock wait timeout, metadata locks included, with error 1205.
LOCK_WAIT_TIMEOUT = 1205


def rename_within(
    conn: Any,
    statement: str,
    *,
    lock_wait_s: int,
    attempts: int,
    backoff_s: float,
    stop: Callable[[], bool],
    log: Callable[[str], None] = lambda _m: None,
) -> None:
    """Run a RENAME TABLE that waits at most `lock_wait_s` seconds per try for the tables' metadata locks.

    A RENAME waiting for a lock makes every later query of those tables wait behind it, so it waits
    briefly and tries again (the pattern of gh-ost and pt-online-schema-change): readers are held up
    for at most `lock_wait_s` seconds at a time. Between tries it sleeps `backoff_s`, doubling, and
    gives up early (KeyboardInterrupt) when `stop()` says so. After `attempts` tries it raises
    SwapBlockedError naming the connections whose open transactions hold the locks. The tables
    are unchanged unless it returns.
    """
    if stop():
        raise KeyboardInterrupt  # a Ctrl-C that came just before: nothing has been swapped
    execute(conn, f"SET SESSION lock_wait_timeout = {int(lock_wait_s)}")
    delay = backoff_s
    for attempt in range(1, attempts + 1):
        try:
            execute(conn, statement)
            return
        except mysql.connector.Error as exc:
            if exc.errno != LOCK_WAIT_TIMEOUT:
                raise
        if attempt == attempts:
            break
        log(f"the swap waited {lock_wait_s} s for other connections' locks (try {attempt} of {attempts})")
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            if stop():
                raise KeyboardInterrupt
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        if stop():
            raise KeyboardInterrupt
        delay *= 2
    raise SwapBlockedError(
        f"the tables could not be swapped: {attempts} tries of {lock_wait_s} s each waited for "
        f"{lock_holders(conn)}; the target was left as it was: end that transaction (or wait for it) "
        "and run again"
    )


def lock_holders(conn: Any) -> str:
    """Who is likely holding metadata locks: the oldest open transactions of other connections."""
    try:
        rows = query(
            conn,
            "SELECT p.ID, p.USER, p.HOST, TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), LEFT(p.INFO, 60) "
            "FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p "
            "ON p.ID = t.trx_mysql_thread_id WHERE p.ID <> CONNECTION_ID() ORDER BY t.trx_started LIMIT 3",
        )
    except mysql.connector.Error:
        rows = []
    if not rows:
        return (
            "a lock another connection holds on the site's tables (SHOW PROCESSLIST, with the PROCESS "
            "privilege, shows which)"
        )
    described = []
    for thread, user, host, seconds, info in rows:
        doing = f", running {as_text(info)!r}" if info else ", idle"
        described.append(
            f"connection {thread} ({as_text(user)}@{as_text(host)}, transaction open {seconds} s{doing})"
        )
    return "locks held by " + "; ".join(described)


def leftover_tables(conn: Any, database: str) -> list[str]:
    """Staging and old tables that earlier runs left in `database`."""
    rows = query(
        conn,
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND "
        "(TABLE_NAME LIKE '\\_wfs\\_%%' OR TABLE_NAME LIKE '\\_wfo\\_%%')",
        (database,),
    )
    names = [as_text(n) for (n,) in rows]
    return sorted(n for n in names if LEFTOVER_PATTERN.match(n))


def table_missing(conn: Any, database: str, names: Sequence[str]) -> list[str]:
    """Those of `names` that do not exist in `database`."""
    present = table_estimates(conn, database, names)
    return [n for n in names if n not in present]
