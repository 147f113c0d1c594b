"""The one exception hierarchy of wfuwp.

Every error a caller can see is a `WfuwpError`. Its message is one line that says what failed, where,
and what to do about it; it never contains a password. The CLI prints that line and exits non-zero.
"""

from __future__ import annotations


class WfuwpError(Exception):
    """Base of every error wfuwp raises on purpose."""

    exit_code = 1


class ConfigError(WfuwpError):
    """The configuration is missing, unreadable or names something that does not exist."""

    exit_code = 2


class UsageError(WfuwpError):
    """A caller passed a value that cannot work (empty search string, bad site id, ...)."""

    exit_code = 2


class DatabaseError(WfuwpError):
    """A database could not be reached, or refused a statement.

    `errno` is the server's MySQL error number when there is one; retry policy branches on it.
    """

    def __init__(self, message: str, *, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class SiteNotFoundError(WfuwpError):
    """The site has no tables (or no row in wp_blogs) in the named database."""

    exit_code = 3


class ArchiveError(WfuwpError):
    """An archive could not be written or read (local directory or S3)."""


class SqlFileError(WfuwpError):
    """An SQL file given to import is truncated, malformed or not allowed."""

    exit_code = 2


class LockedError(WfuwpError):
    """Another migration holds the lock for this site on this target."""

    exit_code = 4


class PreflightError(WfuwpError):
    """The checks before a migration found a problem that would make it fail; nothing was written.

    `problems` is how many fatal problems there were; the message names the first one and its fix.
    """

    exit_code = 5

    def __init__(self, message: str, *, problems: int = 1) -> None:
        super().__init__(message)
        self.problems = problems


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


class VerificationError(MigrationError):
    """What the target holds differs from what was sent (row count or checksum)."""


class Cancelled(Exception):
    """Work stopped because another part failed, or because of Ctrl-C/SIGTERM (internal)."""
