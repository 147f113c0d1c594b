"""The one exception hierarchy of wfuwp.

Every error a caller can see is a `WfuwpError`. Its message is one line that says what failed, where,
and what to do about it; it never contains a password. The CLI prints that line and exits non-zero.
"""

from __future__ import annotations

# The command line's exit codes: the one table (docs/cli.md is generated from it).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SITE_NOT_FOUND = 3
EXIT_LOCKED = 4
EXIT_PREFLIGHT = 5
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_FAILED: "a step failed; the error says what the target holds now (as it was, swapped back, or "
    "the migrated site with the rollback command)",
    EXIT_USAGE: "a usage or configuration mistake, or an SQL file that cannot be loaded: nothing was done",
    EXIT_SITE_NOT_FOUND: "the site was not found",
    EXIT_LOCKED: "another migration is writing the same site",
    EXIT_PREFLIGHT: "a pre-flight check found what would make the migration fail: nothing was written",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C or SIGTERM): the error says what the target holds now",
}


class WfuwpError(Exception):
    """Base of every error wfuwp raises on purpose."""

    exit_code = EXIT_FAILED


class ConfigError(WfuwpError):
    """The configuration is missing, unreadable or names something that does not exist."""

    exit_code = EXIT_USAGE


class UsageError(WfuwpError):
    """A caller passed a value that cannot work (empty search string, bad site id, ...)."""

    exit_code = EXIT_USAGE


class NetworkMismatchError(UsageError):
    """An archive made for one network (or environment) was about to be loaded into another."""


class DatabaseError(WfuwpError):
    """A database could not be reached, or refused a statement.

    `errno` is the server's MySQL error number when there is one; retry policy branches on it.
    """

    def __init__(self, message: str, *, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class SiteNotFoundError(WfuwpError):
    """The site has no tables (or no row in wp_blogs) in the named database."""

    exit_code = EXIT_SITE_NOT_FOUND


class ArchiveError(WfuwpError):
    """An archive could not be written or read (local directory or S3)."""


class SqlFileError(WfuwpError):
    """An SQL file given to import is truncated, malformed or not allowed."""

    exit_code = EXIT_USAGE


class LockedError(WfuwpError):
    """Another migration holds the lock for this site on this target."""

    exit_code = EXIT_LOCKED


class PreflightError(WfuwpError):
    """The checks before a migration found a problem that would make it fail; nothing was written.

    `problems` is how many fatal problems there were; the message names the first one and its fix.
    """

    exit_code = EXIT_PREFLIGHT

    def __init__(self, message: str, *, problems: int = 1, exit_code: int = EXIT_PREFLIGHT) -> None:
        """`exit_code`: EXIT_SITE_NOT_FOUND or EXIT_LOCKED when that is the first problem found."""
        super().__init__(message)
        self.problems = problems
        self.exit_code = exit_code


class MigrationError(WfuwpError):
    """A migration step failed; the target was left as it was before (or swapped back).

    `step` names the step ("read", "load", "verify", "swap", ...), `table` the table it was on, if any.
    """

    def __init__(self, message: str, *, step: str, table: str | None = None) -> None:
        # A table name may hold a newline (MariaDB allows it); the message must stay one line.
        shown = table if table is None or table.isprintable() else repr(table)
        where = f"{step}" + (f" of table {shown}" if table else "")
        super().__init__(f"{where}: {message}")
        self.step = step
        self.table = table


class SwapBlockedError(WfuwpError):
    """Other connections' locks kept the swap from happening within its bound; nothing was swapped."""


class VerificationError(MigrationError):
    """What the target holds differs from what was sent (row count or checksum)."""


class Cancelled(Exception):
    """Work stopped because another part failed, or because of Ctrl-C/SIGTERM (internal)."""
