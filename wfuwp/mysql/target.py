"""The target side: staging tables, loading, verification, the atomic swap and its undo.

Staging and old tables live in the target database itself, so one multi-table `RENAME TABLE`
swaps the site (MariaDB and MySQL 8 apply all renames or none). Their names start with `_wfs_`
(staging) and `_wfo_` (old) plus the run's short id, so `clean` can find leftovers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wfuwp.errors import VerificationError
from wfuwp.mysql.connection import Database, as_text, execute, query
from wfuwp.mysql.schema import Table, table_estimates
from wfuwp.mysql.sql import MAX_IDENTIFIER, checksum_query, create_table_as, quote_identifier

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

    def create_staging(self, conn: Any, table: Table) -> None:
        """Create the empty staging table from the SOURCE's definition (dropping a leftover of that name)."""
        staging = self.staging[table.name]
        execute(conn, f"DROP TABLE IF EXISTS {quote_identifier(staging)}")
        execute(conn, create_table_as(table.create_sql, staging))

    def verify(self, conn: Any, name: str, columns: Sequence[str], rows: int, checksum: int) -> None:
        """Compare a staging table's row count and checksum (over `columns`) with what was sent."""
        got_rows, got_sum = query(conn, checksum_query(self.staging[name], columns))[0]
        if int(got_rows) != rows or int(got_sum) != checksum:
            raise VerificationError(
                f"the target holds {got_rows} rows (checksum {got_sum})"
                f" but {rows} rows (checksum {checksum}) "
                "were sent; nothing was swapped, run again",
                step="verify",
                table=name,
            )

    def swap(self, conn: Any) -> None:
        """Swap every staging table in and every live table out, in one atomic statement."""
        execute(conn, self.swap_plan.rename_forward())

    def swap_back(self, conn: Any) -> None:
        """Undo swap(): the old tables become live again, the migrated ones go back to staging."""
        execute(conn, self.swap_plan.rename_back())

    def drop(self, conn: Any, which: str) -> None:
        """Drop the staging (`which="staging"`) or old (`which="old"`) tables that exist."""
        names = list((self.staging if which == "staging" else self.old).values())
        for start in range(0, len(names), 50):
            batch = names[start : start + 50]
            execute(conn, "DROP TABLE IF EXISTS " + ", ".join(quote_identifier(n) for n in batch))


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
