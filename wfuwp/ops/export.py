"""Export a site's tables as one zstd-compressed SQL object: `zstd -dc FILE | mariadb DB` loads it back.

    one consistent snapshot of the tables -> wfuwp.mysql.dump (one self-contained dump per table)
        -> one object (a file or s3://bucket/key), published only once complete

Each table's dump is self-contained (session settings, DROP, CREATE, INSERTs in one transaction,
settings restored), so one file holds several. Backups into an archive folder are wfuwp.ops.backup's.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from wfuwp.mysql.connection import Database, closing
from wfuwp.mysql.schema import TableFilter, require_site_tables, validate_site_id
from wfuwp.ops.backup import DEFAULT_STATEMENT_BYTES, TableDump, dump_with_progress
from wfuwp.progress import Progress, ProgressCallback
from wfuwp.storage.compress import ArchiveStream
from wfuwp.storage.objects import S3Options, open_writer

__all__ = ["ExportReport", "default_export_name", "export_site"]

SUFFIX = ".sql.zst"


@dataclass
class ExportReport:
    """What `export_site` wrote: where, which tables, and the sizes (`compressed_bytes` stored)."""

    site_id: int
    source: str
    destination: str
    tables: list[TableDump] = field(default_factory=list)
    compressed_bytes: int = 0
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        """Rows written, all tables."""
        return sum(t.rows for t in self.tables)

    @property
    def sql_bytes(self) -> int:
        """Uncompressed SQL bytes written, all tables."""
        return sum(t.sql_bytes for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (`wfuwp migrate export --json`)."""
        data = asdict(self)
        data["totals"] = {"tables": len(self.tables), "rows": self.rows, "sql_bytes": self.sql_bytes}
        return data


class _Shared:
    """One stream seen as a sink per table: closing a table keeps the stream open; aborting aborts it."""

    def __init__(self, stream: ArchiveStream) -> None:
        self.stream = stream

    def write(self, data: bytes) -> int:
        return self.stream.write(data)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        self.stream.abort()


def default_export_name(site_id: int, env: str, when: float | None = None) -> str:
    """`site<id>-<env>-export-<UTC YYYYmmddTHHMMSSZ>.sql.zst`, the file name used when none is given."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
    return f"site{site_id}-{env or 'db'}-export-{stamp}{SUFFIX}"


def export_site(
    db: Database,
    site_id: int | str,
    destination: str | os.PathLike[str],
    *,
    statement_bytes: int = DEFAULT_STATEMENT_BYTES,
    progress: ProgressCallback | None = None,
    s3: S3Options | None = None,
    tables: TableFilter | None = None,
) -> ExportReport:
    """Write every table of site `site_id` in `db` to one zstd-compressed SQL object at `destination`.

    `destination` is a local file or s3://bucket/key (`s3`: how to reach and write S3). It appears
    only once complete; on any error nothing is left. Load it with `zstd -dc FILE | mariadb DB`: it
    drops and recreates each table. `tables`: table-name patterns to include or exclude (see
    `wfuwp.mysql.schema.table_ownership`). Raises SiteNotFoundError when the site has no tables, UsageError
    for a bad destination, ArchiveError when it cannot be written.
    """
    site = validate_site_id(site_id)
    started = time.monotonic()
    with closing(db.connect()) as conn:
        names = require_site_tables(conn, db.database, db.table_prefix, site, str(db), tables=tables)
    stream = open_writer(destination, options=s3)
    with stream:  # closed (durable) at the end, aborted on an exception
        shared = _Shared(stream)
        dumped = dump_with_progress(
            db,
            names,
            lambda _name: shared,
            statement_bytes=statement_bytes,
            progress=Progress(progress),
            step="export",
        )
    report = ExportReport(site, str(db), stream.url, dumped, stream.bytes_out)
    report.seconds = round(time.monotonic() - started, 3)
    return report
