"""Pre-flight checks: what can be known to fail before a migration writes anything.

`preflight` connects to source and target, checks the site has tables in the source, that both use
the same table prefix, that no other migration holds the site's lock in the target, and that a local
archive directory is writable with room to spare. It only reads. Each check says whether it passed;
a failed `fatal` check carries the error the migration would have stopped with.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mysql.connector

from wfuwp.archive import ArchiveLocation
from wfuwp.db import Database, closing, database_error, query
from wfuwp.errors import LockedError, PreflightError, WfuwpError
from wfuwp.network import site_address
from wfuwp.schema import require_site_tables, site_table_names, validate_site_id
from wfuwp.target import SiteLock, leftover_tables

# zstd level 3 makes WordPress SQL 4-6x smaller; ask for the source's size over 3 for its two exports
# plus a backup of about the same size: a margin, not a promise.
_ARCHIVE_SHARE = 3


@dataclass
class Check:
    """One pre-flight check: passed or not, one line of detail, and the error if it failed."""

    name: str
    ok: bool
    detail: str
    fatal: bool = True
    error: WfuwpError | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {"name": self.name, "ok": self.ok, "fatal": self.fatal, "detail": self.detail}


def preflight(
    source: Database,
    target: Database,
    site_id: int | str,
    *,
    archive: ArchiveLocation | None = None,
    check_target_site: bool = True,
) -> list[Check]:
    """Run the pre-flight checks of migrating `site_id` from `source` to `target` and return them all.

    `archive`: where the archives will go (S3: the bucket answers; a directory: writable, with room).
    `check_target_site`: warn when the target's wp_blogs has no row for the site (off when source and
    target are the same scratch database). Raises nothing for a failed check; see `first_failure`.
    """
    site = validate_site_id(site_id)
    checks: list[Check] = []
    source_bytes = 0
    try:
        with closing(source.connect()) as conn:
            names = require_site_tables(conn, source.database, source.table_prefix, site, str(source))
            marks = ",".join(["%s"] * len(names))
            ((size,),) = query(
                conn,
                "SELECT COALESCE(SUM(DATA_LENGTH), 0) FROM information_schema.TABLES "
                f"WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN ({marks})",
                (source.database, *names),
            )
            source_bytes = int(size)
        checks.append(
            Check("source", True, f"{source}: site {site} has {len(names)} tables, {_mb(source_bytes)}")
        )
    except WfuwpError as exc:
        checks.append(Check("source", False, str(exc), error=exc))
    except mysql.connector.Error as exc:
        failure = database_error(exc, f"reading {source}")
        checks.append(Check("source", False, str(failure), error=failure))
    checks += _target_checks(target, site, check_target_site)
    if source.table_prefix != target.table_prefix:
        mismatch = PreflightError(
            f"source prefix {source.table_prefix!r} differs from target prefix {target.table_prefix!r}: "
            "set the same table_prefix for both environments"
        )
        checks.append(Check("prefix", False, str(mismatch), error=mismatch))
    if archive is not None:
        checks.append(_archive_check(archive, source_bytes))
    return checks


def site_path(db: Database, site_id: int) -> str | None:
    """The site's path on its network ("/biology/") from wp_blogs, or None when it cannot be read."""
    try:
        with closing(db.connect()) as conn:
            return site_address(conn, db.database, db.table_prefix, site_id, str(db))[1]
    except (WfuwpError, mysql.connector.Error):
        return None


def first_failure(checks: list[Check]) -> WfuwpError | None:
    """The error of the first failed fatal check, or None when the migration may go ahead."""
    return next((c.error for c in checks if c.fatal and not c.ok and c.error is not None), None)


def _target_checks(target: Database, site: int, check_target_site: bool) -> list[Check]:
    checks: list[Check] = []
    try:
        with closing(target.connect()) as conn:
            existing = site_table_names(conn, target.database, target.table_prefix, site)
            checks.append(Check("target", True, f"{target}: site {site} has {len(existing)} tables now"))
            (owner,) = query(conn, "SELECT IS_USED_LOCK(%s)", (SiteLock(target, site).name,))[0]
            if owner is not None:
                locked = LockedError(
                    f"another migration (connection {owner}) is writing site {site} of {target}: "
                    "wait for it to finish"
                )
                checks.append(Check("lock", False, str(locked), error=locked))
            else:
                checks.append(Check("lock", True, "no other migration is writing this site"))
            if check_target_site:
                try:
                    domain, path = site_address(conn, target.database, target.table_prefix, site, str(target))
                    checks.append(Check("target site", True, f"wp_blogs: {domain}{path}", fatal=False))
                except (WfuwpError, mysql.connector.Error):
                    checks.append(
                        Check(
                            "target site",
                            False,
                            f"site {site} has no row in {target.table_prefix}blogs of {target}: "
                            "WordPress will not serve the migrated tables until the site exists there",
                            fatal=False,
                        )
                    )
            leftovers = leftover_tables(conn, target.database)
            if leftovers:
                checks.append(
                    Check(
                        "leftovers",
                        False,
                        f"{len(leftovers)} staging/old tables of earlier runs in {target}: "
                        "`wfuwp migrate clean` drops them",
                        fatal=False,
                    )
                )
    except WfuwpError as exc:
        checks.append(Check("target", False, str(exc), error=exc))
    except mysql.connector.Error as exc:
        error = database_error(exc, f"reading {target}")
        checks.append(Check("target", False, str(error), error=error))
    return checks


def _archive_check(archive: ArchiveLocation, source_bytes: int) -> Check:
    if archive.is_s3:
        try:
            archive.check()
        except WfuwpError as exc:
            return Check("archive", False, str(exc), error=exc)
        return Check("archive", True, f"{archive.url}: the bucket answers")
    directory = Path(archive.url)
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        error = PreflightError(
            f"cannot write archives under {directory}: {existing} is not writable; use --work-dir"
        )
        return Check("archive", False, str(error), error=error)
    free = shutil.disk_usage(existing).free
    wanted = source_bytes // _ARCHIVE_SHARE
    if free < wanted:
        return Check(
            "archive",
            False,
            f"only {_mb(free)} free under {directory}, the archives may need about {_mb(wanted)}; "
            "free some space or use --work-dir",
            fatal=False,
        )
    return Check("archive", True, f"{directory}: {_mb(free)} free")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


__all__ = ["Check", "first_failure", "preflight", "site_path"]
