"""The cut-over: the one way a site's tables go from staging to live in a target, and back.

Every operation that replaces tables in a target (migrate, import, restore, rollback) goes through
this sequence, so it exists once:

    CutOver(target, run_id, lock_site=43)   .open(): takes the site's lock (one writer per site)
      .add(name) / .create_staging(conn, table)     staging tables `_wfs_<run>_<table>`
      ... the caller loads them (and archives a backup of what they replace) ...
      .verify(conn, name, columns, expected)        row count and checksum of one staging table
      .swap(conn, existing=..., retire=..., after_swap=..., keep_old=...)
            one RENAME TABLE: live -> `_wfo_<run>_*`, staging -> live (all or nothing)
            after_swap() may raise to have the swap undone
            then the old tables are dropped, or kept for an instant `rollback`
      .undo()            after a failure: swap back if swapped, drop the staging tables
      .close()           releases the lock

Until `swap` the target's live tables are untouched. `swap_back_kept` undoes a completed swap
whose old tables were kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from wfuwp.archive.manifest import TableSum
from wfuwp.mysql.connection import Database, closing, with_retries
from wfuwp.mysql.lock import SiteLock
from wfuwp.mysql.schema import Table
from wfuwp.mysql.target import TargetSite
from wfuwp.progress import Progress

__all__ = ["CutOver", "swap_back_kept"]


class CutOver:
    """One run's staging tables in `target`, the swap that puts them live, and its undo.

    Use as a context manager (or call open()/close()): leaving the block on an exception undoes
    whatever was done (see `undo`) and releases the lock; the exception propagates.
    """

    def __init__(
        self,
        target: Database,
        run_id: str,
        *,
        lock_site: int | None,
        progress: Progress | None = None,
        names: Sequence[str] = (),
        existing: Sequence[str] = (),
    ) -> None:
        """`run_id`: 6 hex digits naming this run's work tables; `lock_site`: the site to lock (None:
        no lock, for tables of no one site); `names`: tables to swap in; `existing`: those of the site
        that the target holds now."""
        self.target = target
        self.site = TargetSite(target, run_id, names, existing)
        self.lock = SiteLock(target, lock_site) if lock_site is not None else None
        self.progress = progress or Progress(None)
        self.swapped = False
        self.swapped_back = False
        self.cleanup_error: str | None = None  # why undo() could not put the target back, if it could not

    # -- lifetime ------------------------------------------------------------------------------------------

    def open(self, retry: Callable[[Callable[[], None], str], None] | None = None) -> CutOver:
        """Take the site's lock (LockedError at once when another run holds it); `retry` wraps the attempt."""
        if self.lock is not None:
            lock = self.lock
            if retry is not None:
                retry(lock.acquire, f"locking site {lock.site_id} on {self.target}")
            else:
                lock.acquire()
        return self

    def close(self) -> None:
        """Release the lock (the server releases it anyway when the connection ends)."""
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> CutOver:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is not None:
                self.undo()
        finally:
            self.close()

    # -- staging -------------------------------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        """The 6 hex digits in this run's work-table names."""
        return self.site.run_short_id

    def add(self, name: str) -> str:
        """Include table `name` in the swap; return its staging name."""
        return self.site.add(name)

    def set_existing(self, names: Sequence[str]) -> None:
        """Say which of the site's tables the target holds now (the swap moves them to old names)."""
        self.site.set_existing(names)

    def staging_name(self, name: str) -> str:
        """The staging name of a table included in the swap."""
        return self.site.staging[name]

    def create_staging(self, conn: Any, table: Table) -> None:
        """Create table's empty staging twin from the SOURCE's definition.

        A leftover of that name is replaced.
        """
        self.site.add(table.name)
        self.site.create_staging(conn, table)

    def verify(self, conn: Any, name: str, columns: Sequence[str], expected: TableSum) -> None:
        """Raise VerificationError unless the staging table holds `expected` rows and checksum."""
        self.site.verify(conn, name, columns, expected.rows, expected.checksum)

    # -- the swap ------------------------------------------------------------------------------------------

    def swap(
        self,
        conn: Any,
        *,
        existing: Sequence[str] | None = None,
        retire: Sequence[str] = (),
        after_swap: Callable[[], None] | None = None,
        keep_old: bool = False,
    ) -> list[str]:
        """Put every staging table live in one RENAME TABLE; return the old tables kept (with `keep_old`).

        `existing`: which of the swapped tables the target holds now (they move to old names; default:
        as given when constructed); `retire`: target-only tables to take out of the site at the same
        moment. `after_swap` may raise to have the swap undone (by the context manager or `undo`).
        """
        if existing is not None:
            self.site.set_existing(existing)
        self.site.retire(list(retire))
        self.progress.emit("step-start", "swap")
        self.site.swap(conn)
        self.swapped = True
        if after_swap is not None:
            after_swap()
        kept = self.site.swap_plan.old_names() if keep_old else []
        if not keep_old:
            self.site.drop(conn, "old")
        self.progress.emit("step-end", "swap")
        return kept

    @property
    def replaced(self) -> frozenset[str]:
        """The live tables the swap moves out (those that existed in the target)."""
        return self.site.swap_plan.existing

    def undo(self) -> None:
        """Put the target back as it was: swap back if swapped, drop the staging tables.

        Retries transient server errors (the target may just have restarted). Never raises: a failure
        is kept in `cleanup_error` for the caller's report.
        """
        site = self.site

        def put_back() -> None:
            with closing(self.target.connect()) as conn:
                if self.swapped:
                    site.swap_back(conn)
                    self.swapped = False
                    self.swapped_back = True
                site.drop(conn, "staging")

        try:
            with_retries(put_back, what="putting the target back", log=lambda m: self.progress.log("undo", m))
        except Exception as exc:
            self.cleanup_error = str(exc)


def swap_back_kept(
    target: Database,
    run_id: str,
    *,
    site_id: int,
    names: Sequence[str],
    replaced: Sequence[str],
    retired: Sequence[str],
) -> None:
    """Undo a completed swap whose old tables (`_wfo_<run_id>_*`) were kept: one RENAME TABLE.

    `names`: the tables that swap put live; `replaced`: those of them that had replaced a table;
    `retired`: target-only tables it took out. The tables it put live are dropped.
    """
    with CutOver(target, run_id, lock_site=site_id, names=names, existing=replaced) as cut:
        cut.site.retire(list(retired))
        with closing(target.connect()) as conn:
            cut.site.swap_back(conn)
            cut.site.drop(conn, "staging")
