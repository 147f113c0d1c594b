"""The cut-over: the one way a site's tables go from staging to live in a target, and back.

Every operation that replaces tables in a target (migrate, import, restore, rollback) goes through
this sequence, so it exists once:

    CutOver(target, run_id, lock_site=43)   .open(): takes the site's lock (one writer per site)
      .add(name) / .create_staging(conn, table)     staging tables `_wfs_<run>_<table>`
      ... the caller loads them (and archives a backup of what they replace) ...
      .verify(conn, name, columns, expected)        row count and checksum of one staging table
      .swap(conn, ...)                              the critical section, signals held:
            record("swapping")   the RENAME may happen from here on
            one RENAME TABLE: live -> `_wfo_<run>_*`, staging -> live (all or nothing), waiting at
                 most `swap_lock_wait_s` per try for other connections' locks
            record("swapped")    the new tables are live, the old ones kept under `_wfo_` names
            after_swap()         may raise to have the swap undone
            drop the old tables, or keep them for an instant `rollback`
            record("finished")
      .undo()            after a failure: swap back if swapped and not finished, drop the staging tables
      .close()           releases the lock

Until the RENAME the target's live tables are untouched. Which side of it a target is on can always
be read from the target itself (`position`): the RENAME is atomic, so a run killed at any instant
leaves either its staging tables (before) or its old tables (swapped) or neither (finished).
Ctrl-C and SIGTERM are held from "swapping" to "finished": a swap is never cut in half, and a signal
that arrived meanwhile is reported in `interrupted` for the caller to act on once the site is whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Literal

from wfuwp import signals
from wfuwp.archive.manifest import TableSum
from wfuwp.mysql.connection import Database, closing, with_retries
from wfuwp.mysql.lock import SiteLock
from wfuwp.mysql.schema import Table
from wfuwp.mysql.sql import stage_foreign_keys
from wfuwp.mysql.target import STAGING_PREFIX, TargetSite, rename_within, work_table_name
from wfuwp.progress import Progress

__all__ = ["SWAP_ATTEMPTS", "SWAP_LOCK_WAIT_S", "CutOver", "Position", "swap_back_kept"]

# Seconds one RENAME try may wait for other connections' metadata locks. Every query of the site's
# tables that starts meanwhile waits behind the RENAME, so this bounds how long a page view can stall.
SWAP_LOCK_WAIT_S = 1
# Tries before giving up (about 15 s in all, with the pauses between them).
SWAP_ATTEMPTS = 8
_SWAP_BACKOFF_S = 0.25

Position = Literal["before", "swapped", "after"]


class CutOver:
    """One run's staging tables in `target`, the swap that puts them live, and its undo.

    Use as a context manager (or call open()/close()): leaving the block on an exception undoes
    whatever can be undone (see `undo`) and releases the lock; the exception propagates.
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
        swap_lock_wait_s: int = SWAP_LOCK_WAIT_S,
        swap_attempts: int = SWAP_ATTEMPTS,
    ) -> None:
        """`run_id`: 6 hex digits naming this run's work tables; `lock_site`: the site to lock (None:
        no lock, for tables of no one site); `names`: tables to swap in; `existing`: those of the site
        that the target holds now. `swap_lock_wait_s`/`swap_attempts`: the bound on the swap's wait
        for other connections' locks (see wfuwp.mysql.target.rename_within)."""
        self.target = target
        self.site = TargetSite(target, run_id, names, existing)
        self.lock = SiteLock(target, lock_site) if lock_site is not None else None
        self.progress = progress or Progress(None)
        self.swap_lock_wait_s = max(1, swap_lock_wait_s)
        self.swap_attempts = max(1, swap_attempts)
        self.swapped = False  # the RENAME happened (and was not undone)
        self.finished = False  # the swap's critical section completed: the new tables stay
        self.swapped_back = False
        self.cleanup_error: str | None = None  # why undo() could not put the target back, if it could not
        self.interrupted: list[int] = []  # Ctrl-C/SIGTERM that arrived while the swap could not stop
        self.old_left: str | None = None  # why old tables are still there after a finished swap

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

    def retire(self, names: Sequence[str]) -> None:
        """Have the swap also take these target-only tables out of the site (to old names)."""
        self.site.retire(list(names))

    def staging_name(self, name: str) -> str:
        """The staging name of a table included in the swap."""
        return self.site.staging[name]

    def create_staging(self, conn: Any, table: Table) -> None:
        """Create a table's empty staging twin from the SOURCE's definition (replacing a leftover)."""
        self.site.add(table.name)
        self.site.create_staging(conn, table)

    def stage_foreign_keys(self, name: str, original: bytes, staged: bytes) -> bytes:
        """For a CREATE TABLE of a dump (`original`, and `staged`: redirected to staging tables), give
        its foreign keys staging names, and remember the original ones for after the swap."""
        # latin-1 maps every byte to one character and back: the statement's bytes pass unchanged.
        _, clauses = stage_foreign_keys(original.decode("latin-1"), lambda n: n, lambda p: p)
        text, keys = stage_foreign_keys(
            staged.decode("latin-1"), lambda n: work_table_name(STAGING_PREFIX, self.run_id, n), lambda p: p
        )
        self.site.foreign_keys[name] = [
            (key, clause) for (key, _), (_, clause) in zip(keys, clauses, strict=True)
        ]
        return text.encode("latin-1")

    def remember(self, table: Table) -> None:
        """Note a table staged by an earlier run (resumed): its foreign keys are renamed after the swap."""
        self.site.staging_sql(table)

    def verify(
        self,
        conn: Any,
        name: str,
        columns: Sequence[str],
        expected: TableSum,
        *,
        expected_from: str | None = None,
    ) -> None:
        """Raise VerificationError unless the staging table holds `expected` rows and checksum.

        `expected_from` ends the message: where the figures came from and what to do (default: they
        were sent by this run, which may simply be run again).
        """
        self.site.verify(conn, name, columns, expected.rows, expected.checksum, expected_from=expected_from)

    def position(self) -> Position:
        """Which side of the swap the target is on, read from the target's own tables."""
        with closing(self.target.connect()) as conn:
            return self.site.position(conn)  # type: ignore[return-value]

    # -- the swap ------------------------------------------------------------------------------------------

    def _rename(self, conn: Any, statement: str, *, stoppable: bool = True) -> None:
        rename_within(
            conn,
            statement,
            lock_wait_s=self.swap_lock_wait_s,
            attempts=self.swap_attempts,
            backoff_s=_SWAP_BACKOFF_S,
            stop=signals.pending if stoppable else lambda: False,
            log=lambda message: self.progress.log("swap", message),
        )

    def _rename_back(self, conn: Any, statement: str) -> None:
        # Putting a site back is not given up for a Ctrl-C: it is what the Ctrl-C asked for.
        self._rename(conn, statement, stoppable=False)

    def swap(
        self,
        conn: Any,
        *,
        existing: Sequence[str] | None = None,
        retire: Sequence[str] = (),
        after_swap: Callable[[], None] | None = None,
        keep_old: bool = False,
        record: Callable[[str], None] | None = None,
    ) -> list[str]:
        """Put every staging table live in one RENAME TABLE; return the old tables kept (with `keep_old`).

        `existing`: which of the swapped tables the target holds now (they move to old names; default:
        as said before); `retire`: target-only tables to take out of the site at the same moment.
        `record(state)` is called at each boundary ("swapping", "swapped", "finished") and should make
        the state durable before it returns. `after_swap` may raise to have the swap undone (by the
        context manager or `undo`). SwapBlockedError when other connections' locks kept the RENAME
        from happening within the bound; the target is then untouched.
        """
        if existing is not None:
            self.site.set_existing(existing)
        if retire:
            self.site.retire(list(retire))
        note = record or (lambda _state: None)
        self.progress.emit("step-start", "swap")
        with signals.deferred() as held:
            note("swapping")
            self._state("swapping")
            self.site.swap(conn, self._rename)
            self.swapped = True
            self._state("renamed")
            note("swapped")
            self._state("swapped")
            if after_swap is not None:
                after_swap()
            # From here the new tables stay: dropping the old ones is clean-up, and a failure of it
            # leaves them to `clean` rather than undoing a finished swap.
            self.finished = True
            kept = self.site.swap_plan.old_names() if keep_old else []
            if not keep_old:
                try:
                    self.site.drop(conn, "old")
                    self.site.restore_foreign_key_names(conn)
                except Exception as exc:
                    self.old_left = (
                        f"the replaced tables could not all be dropped, or foreign keys renamed ({exc}): "
                        "run `wfuwp migrate clean`"
                    )
                self._state("old-dropped")
            note("finished")
            self._state("finished")
            self.interrupted = list(held)
        self.progress.emit("step-end", "swap")
        return kept

    def _state(self, state: str) -> None:
        """Announce a boundary of the cut-over (a "state" event; tests stop a run exactly there)."""
        self.progress.emit("state", "swap", message=state)

    @property
    def replaced(self) -> frozenset[str]:
        """The live tables the swap moves out (those that existed in the target)."""
        return self.site.swap_plan.existing

    def undo(self) -> None:
        """Put the target back as it was: swap back if swapped (and not finished), drop the staging tables.

        A finished swap stays: the new tables are the site now, and `rollback` is how to go back.
        Retries transient server errors (the target may just have restarted). Never raises: a failure
        is kept in `cleanup_error` for the caller's report.
        """
        site = self.site

        def put_back() -> None:
            with closing(self.target.connect()) as conn:
                if not self.swapped and not self.finished and site.position(conn) == "swapped":
                    self.swapped = True  # the RENAME was applied but its reply was lost (2013)
                if self.swapped and not self.finished:
                    with signals.deferred():
                        site.swap_back(conn, self._rename_back)
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
    progress: Progress | None = None,
) -> None:
    """Undo a swap whose old tables (`_wfo_<run_id>_*`) are still there: one RENAME TABLE back.

    `names`: the tables that swap put live; `replaced`: those of them that had replaced a table;
    `retired`: target-only tables it took out. The tables it put live are dropped. Ctrl-C waits for
    the RENAME; other connections' locks are waited for within the same bound as the swap.
    """
    with CutOver(target, run_id, lock_site=site_id, names=names, existing=replaced, progress=progress) as cut:
        cut.retire(retired)
        with closing(target.connect()) as conn, signals.deferred():
            cut.site.swap_back(conn, cut._rename_back)
            cut.site.drop(conn, "staging")
