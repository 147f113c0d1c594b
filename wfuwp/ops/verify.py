"""Look at a site without changing it: are its tables sound, and what would a migration replace?

`verify_site` checks the site's tables are present and readable, counts their rows and finds orphans
(rows pointing at a post, comment or term that is gone). `count_matches` streams the site's text
columns through a Replacer and counts, per table and column, the replacements a migration would
make. Both only read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import mysql.connector

from wfuwp.mysql.connection import (
    Database,
    as_text,
    closing,
    database_error,
    execute,
    prepare_copy_session,
    query,
)
from wfuwp.mysql.network import site_address
from wfuwp.mysql.schema import (
    SITE_CORE_TABLES,
    TableFilter,
    describe_tables,
    require_site_tables,
    validate_site_id,
)
from wfuwp.mysql.source import stream_rows
from wfuwp.mysql.sql import quote_identifier
from wfuwp.progress import Progress, ProgressCallback
from wfuwp.replace import PairLike, Replacer

# The tables WordPress creates for every site, without the prefix (kept under this name for callers).
CORE_TABLES = SITE_CORE_TABLES

# (child table, child column, parent table, parent column, what an orphan is, condition on the child)
_ORPHAN_CHECKS = (
    ("postmeta", "post_id", "posts", "ID", "postmeta rows whose post is gone", ""),
    ("posts", "post_parent", "posts", "ID", "posts whose parent post is gone", "c.`post_parent` <> 0"),
    ("comments", "comment_post_ID", "posts", "ID", "comments whose post is gone", "c.`comment_post_ID` <> 0"),
    ("commentmeta", "comment_id", "comments", "comment_ID", "commentmeta rows whose comment is gone", ""),
    (
        "term_relationships",
        "term_taxonomy_id",
        "term_taxonomy",
        "term_taxonomy_id",
        "term relationships whose taxonomy term is gone",
        "",
    ),
    ("term_taxonomy", "term_id", "terms", "term_id", "taxonomy rows whose term is gone", ""),
    ("termmeta", "term_id", "terms", "term_id", "termmeta rows whose term is gone", ""),
)


@dataclass
class TableHealth:
    """One table: its engine and exact row count, or the error reading it gave."""

    name: str
    engine: str = ""
    rows: int | None = None
    error: str | None = None

    @property
    def readable(self) -> bool:
        """Whether the table could be read to the end."""
        return self.error is None


@dataclass
class OrphanCheck:
    """Rows of `table` that point at a row of `parent` that does not exist."""

    table: str
    parent: str
    description: str
    rows: int


@dataclass
class SiteCheck:
    """What `verify_site` found. `problems` make the site unsound; `warnings` are worth a look."""

    site_id: int
    database: str
    address: str | None = None
    tables: list[TableHealth] = field(default_factory=list)
    missing_core_tables: list[str] = field(default_factory=list)
    orphans: list[OrphanCheck] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """One line per problem: a core table missing, a table that cannot be read."""
        lines = [f"core table {name} is missing" for name in self.missing_core_tables]
        lines += [f"table {t.name} cannot be read: {t.error}" for t in self.tables if t.error]
        return lines

    @property
    def warnings(self) -> list[str]:
        """One line per warning: orphaned rows, a site missing from wp_blogs."""
        lines = [f"{o.rows} {o.description} ({o.table} -> {o.parent})" for o in self.orphans if o.rows]
        if self.address is None:
            lines.append(f"site {self.site_id} has no row in wp_blogs: WordPress does not serve it")
        return lines

    @property
    def ok(self) -> bool:
        """Whether there are no problems (warnings do not count)."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (`wfuwp migrate verify --json`)."""
        data = asdict(self)
        data.update(ok=self.ok, problems=self.problems, warnings=self.warnings)
        return data


def verify_site(db: Database, site_id: int | str) -> SiteCheck:
    """Check site `site_id`'s tables in `db`: present, readable to the end, row counts, orphans.

    Raises SiteNotFoundError when the site has no tables at all, DatabaseError when `db` cannot be
    reached; anything else found is reported in the result (see `SiteCheck.problems`).
    """
    site = validate_site_id(site_id)
    result = SiteCheck(site, str(db))
    with closing(db.connect()) as conn:
        names = require_site_tables(conn, db.database, db.table_prefix, site, str(db))
        try:
            domain, path = site_address(conn, db.database, db.table_prefix, site, str(db))
            result.address = domain + path
        except Exception:
            result.address = None
        engines = {
            str(as_text(n)): str(as_text(e or ""))
            for n, e in query(
                conn,
                "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                (db.database,),
            )
        }
        base = db.table_prefix if site == 1 else f"{db.table_prefix}{site}_"
        result.missing_core_tables = [base + t for t in CORE_TABLES if base + t not in names]
        for name in names:
            check = TableHealth(name, engines.get(name, ""))
            try:
                check.rows = int(query(conn, f"SELECT COUNT(*) FROM {quote_identifier(name)}")[0][0])
                # COUNT(*) may use an index alone; reading one column of every row touches the data too.
                query(conn, f"CHECKSUM TABLE {quote_identifier(name)}")
            except mysql.connector.Error as exc:
                check.error = str(database_error(exc, f"reading {name}"))
            result.tables.append(check)
        readable = {t.name for t in result.tables if t.readable}
        for child, column, parent, key, description, condition in _ORPHAN_CHECKS:
            child_table, parent_table = base + child, base + parent
            if child_table not in readable or parent_table not in readable:
                continue
            where = f"p.{quote_identifier(key)} IS NULL" + (f" AND {condition}" if condition else "")
            try:
                (count,) = query(
                    conn,
                    f"SELECT COUNT(*) FROM {quote_identifier(child_table)} c"
                    f" LEFT JOIN {quote_identifier(parent_table)} p"
                    f" ON p.{quote_identifier(key)} = c.{quote_identifier(column)} WHERE {where}",
                )[0]
            except mysql.connector.Error:
                continue  # a customised table without the usual columns: nothing to say about orphans
            result.orphans.append(OrphanCheck(child_table, parent_table, description, int(count)))
    return result


@dataclass
class ColumnMatches:
    """Replacements a migration would make in one text column."""

    table: str
    column: str
    values: int = 0
    values_changed: int = 0
    replacements: int = 0


def count_matches(
    db: Database,
    site_id: int | str,
    rules: Sequence[PairLike],
    *,
    progress: ProgressCallback | None = None,
    tables: TableFilter | None = None,
) -> list[ColumnMatches]:
    """Count, per table and text column of site `site_id` in `db`, the replacements `rules` would make.

    Streams only the text columns (the ones a migration rewrites) in one read-only transaction, and
    writes nothing. The counts are those the migration's Replacer would report for the same rows.
    `tables`: the include/exclude patterns the migration takes (see `table_ownership`).
    Raises SiteNotFoundError, DatabaseError, or UsageError for bad rules.
    """
    site = validate_site_id(site_id)
    replacer = Replacer(rules)
    emit = Progress(progress)
    results: list[ColumnMatches] = []
    with closing(db.connect()) as conn:
        names = require_site_tables(conn, db.database, db.table_prefix, site, str(db), tables=tables)
        described = describe_tables(conn, db.database, names)
        try:
            prepare_copy_session(conn, reading=True)
            execute(conn, b"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            for table in described:
                text_columns = tuple(c for c in table.copied_columns if c.kind == b"T")
                if not text_columns:
                    continue
                # Read only the text columns: the others are copied unchanged.
                narrow = dataclasses.replace(table, columns=text_columns)
                counts = [ColumnMatches(table.name, c.name) for c in text_columns]
                emit.emit(
                    "table-start",
                    "count",
                    table=table.name,
                    rows_total=table.rows_estimate,
                    bytes_total=table.data_bytes,
                )
                done = read = 0
                for batch in stream_rows(conn, db.database, narrow):
                    for index, count in enumerate(counts):
                        replacer.reset_stats()
                        replacer.render_rows([(row[index],) for row in batch], b"T")
                        stats = replacer.stats
                        count.values += stats.values_seen
                        count.values_changed += stats.values_changed
                        count.replacements += stats.replacements
                    done += len(batch)
                    read += sum(len(v) for row in batch for v in row if v is not None)
                    emit.emit(
                        "rows",
                        "count",
                        table=table.name,
                        rows_done=done,
                        rows_total=max(done, table.rows_estimate),
                        bytes_done=read,
                        bytes_total=max(read, table.data_bytes),
                    )
                emit.emit(
                    "table-end",
                    "count",
                    table=table.name,
                    rows_done=done,
                    rows_total=done,
                    bytes_done=read,
                    bytes_total=read,
                )
                results.extend(counts)
            execute(conn, b"COMMIT")
        except mysql.connector.Error as exc:
            raise database_error(exc, f"counting matches in {db}") from None
    return results


__all__ = [
    "CORE_TABLES",
    "ColumnMatches",
    "OrphanCheck",
    "SiteCheck",
    "TableHealth",
    "count_matches",
    "verify_site",
]
