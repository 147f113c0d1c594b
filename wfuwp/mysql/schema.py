"""Which tables belong to a site, and what each table and column is.

A site N > 1 owns every table `<prefix>N_*` (the segment is exactly N: 43 never takes `430`); site 1
owns every `<prefix>*` table without a `<prefix><digits>_` segment, minus the network tables.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wfuwp.errors import SiteNotFoundError, UsageError
from wfuwp.mysql.connection import as_text, query
from wfuwp.mysql.sql import quote_identifier

NETWORK_TABLES = (
    "blogs",
    "blogmeta",
    "site",
    "sitemeta",
    "users",
    "usermeta",
    "signups",
    "registration_log",
    "blog_versions",
    "sitecategories",
)

# Column kinds of the core's renderer: T text (replaced), Q quoted as is, X hex (bytes), N number.
_TEXT_TYPES = frozenset({"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "json"})
_NUMBER_TYPES = frozenset(
    {
        "tinyint",
        "smallint",
        "mediumint",
        "int",
        "integer",
        "bigint",
        "decimal",
        "numeric",
        "float",
        "double",
        "real",
    }
)
_BYTES_TYPES = frozenset(
    {
        "binary",
        "varbinary",
        "tinyblob",
        "blob",
        "mediumblob",
        "longblob",
        "bit",
        "geometry",
        "point",
        "linestring",
        "polygon",
        "multipoint",
        "multilinestring",
        "multipolygon",
        "geometrycollection",
    }
)


def column_kind(data_type: str) -> bytes:
    """The renderer kind for an information_schema DATA_TYPE: binary columns are never replaced."""
    data_type = data_type.lower()
    if data_type in _TEXT_TYPES:
        return b"T"
    if data_type in _NUMBER_TYPES:
        return b"N"
    if data_type in _BYTES_TYPES:
        return b"X"
    return b"Q"


@dataclass(frozen=True)
class Column:
    """One column of a table."""

    name: str
    data_type: str
    generated: bool
    primary_key: bool = False

    @property
    def kind(self) -> bytes:
        """The renderer kind (see column_kind)."""
        return column_kind(self.data_type)


@dataclass(frozen=True)
class Table:
    """One table as the source defines it."""

    name: str
    engine: str
    create_sql: str
    columns: tuple[Column, ...]
    rows_estimate: int
    data_bytes: int

    @property
    def copied_columns(self) -> tuple[Column, ...]:
        """Columns whose values are copied (generated columns are computed by the server)."""
        return tuple(c for c in self.columns if not c.generated)

    @property
    def column_names(self) -> list[str]:
        """Names of the copied columns, in table order."""
        return [c.name for c in self.copied_columns]

    @property
    def kinds(self) -> bytes:
        """Renderer kinds of the copied columns."""
        return b"".join(c.kind for c in self.copied_columns)

    @property
    def has_primary_key(self) -> bool:
        """Whether rows are told apart by a primary key (else only their order does)."""
        return any(c.primary_key for c in self.columns)

    @property
    def transactional(self) -> bool:
        """Whether a consistent-snapshot transaction covers this table (InnoDB and friends do)."""
        return self.engine.lower() not in (
            "myisam",
            "aria",
            "memory",
            "csv",
            "archive",
            "merge",
            "mrg_myisam",
        )


def site_pattern(prefix: str, site_id: int) -> re.Pattern[str]:
    """A pattern that fully matches the names of the site's tables."""
    if site_id > 1:
        return re.compile(re.escape(f"{prefix}{site_id}_") + ".+", re.DOTALL)
    network = "|".join(re.escape(f"{prefix}{t}") for t in NETWORK_TABLES)
    numbered = re.escape(prefix) + r"[0-9]+_"
    return re.compile(rf"(?!(?:{network})$)(?!{numbered}){re.escape(prefix)}.+", re.DOTALL)


# wp_blogs.blog_id is BIGINT UNSIGNED.
MAX_SITE_ID = 2**64 - 1


def validate_site_id(site_id: object) -> int:
    """Return the site id as an int from 1 to MAX_SITE_ID, or raise UsageError."""
    try:
        shown = repr(site_id)
    except ValueError:  # an int too long for Python to print
        shown = "a number of thousands of digits"
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    if isinstance(site_id, bool) or not isinstance(site_id, (int, str)):
        raise UsageError(f"site id must be a whole number, got {shown}")
    if isinstance(site_id, int):
        number = site_id
    else:
        text = site_id.strip()
        # ASCII digits only: str.isdigit() also accepts '²' (which int() rejects) and other scripts' digits;
        # at most 20 of them, so int() never meets Python's limit on digits.
        if not (text.isascii() and text.isdigit()) or len(text) > 20:
            raise UsageError(f"site id must be a whole number of 1 or more, got {shown}")
        number = int(text)
    if not 1 <= number <= MAX_SITE_ID:
        raise UsageError(f"site id must be a whole number from 1 to {MAX_SITE_ID}, got {shown}")
    return number


def site_table_names(conn: Any, database: str, prefix: str, site_id: int) -> list[str]:
    """Names of the site's base tables in `database`, sorted; empty when the site has none.

    Site N > 1: every `<prefix><N>_` table. Site 1: every other `<prefix>` table except the network's
    own, those of another network or site sharing the database under a longer prefix, those of
    network-wide plugins (NETWORK_PLUGIN_TABLES), and any whose blog_id/site_id/site column holds
    other sites' ids: migrating them as site 1's would overwrite or delete the rest of the network.
    """
    pattern = site_pattern(prefix, site_id)
    rows = query(
        conn,
        "SELECT TABLE_NAME FROM information_schema.TABLES"
        " WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE'",
        (database,),
    )
    everything = {as_text(name) for (name,) in rows}
    names = sorted(name for name in everything if pattern.fullmatch(name))
    if site_id != 1:
        return names
    others = _other_prefixes(prefix, everything)
    names = [
        n
        for n in names
        if not any(n.startswith(other) for other in others) and n[len(prefix) :] not in NETWORK_PLUGIN_TABLES
    ]
    shared = _tables_of_several_sites(conn, database, names)
    return [n for n in names if n not in shared]


# Tables of network-wide plugins, one for all the sites of a network: never one site's.
NETWORK_PLUGIN_TABLES = frozenset({"cavalcade_jobs", "cavalcade_logs", "stream", "stream_meta"})
# Columns that say which site a row belongs to (0 and 1 are the network and site 1 itself).
_SITE_COLUMNS = ("blog_id", "site_id", "site")


def _other_prefixes(prefix: str, tables: set[str]) -> list[str]:
    """Longer prefixes that are a network (`<p>blogs`) or a site (`<p>options` and `<p>posts`) themselves."""
    found = []
    for name in tables:
        for suffix in ("blogs", "options"):
            longer = name[: -len(suffix)]
            if not name.endswith(suffix) or not longer.startswith(prefix) or len(longer) <= len(prefix):
                continue
            middle = longer[len(prefix) :]
            if not middle.endswith("_") or middle[:-1].isdigit():  # <prefix><N>_ is one of this network's
                continue
            if suffix == "blogs" or f"{longer}posts" in tables:
                found.append(longer)
    return sorted(set(found))


def _tables_of_several_sites(conn: Any, database: str, names: list[str]) -> set[str]:
    """Those of `names` with a site column that holds the id of a site other than 1."""
    if not names:
        return set()
    marks = ",".join(["%s"] * len(names))
    columns = query(
        conn,
        "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s"
        f" AND TABLE_NAME IN ({marks}) AND COLUMN_NAME IN ({','.join(['%s'] * len(_SITE_COLUMNS))})",
        (database, *names, *_SITE_COLUMNS),
    )
    shared = set()
    for table, column in columns:
        name, col = as_text(table), as_text(column)
        found = query(
            conn,
            f"SELECT 1 FROM {quote_identifier(database)}.{quote_identifier(name)}"
            f" WHERE {quote_identifier(col)} NOT IN (0, 1) LIMIT 1",
        )
        if found:
            shared.add(name)
    return shared


def require_site_tables(conn: Any, database: str, prefix: str, site_id: int, where: str) -> list[str]:
    """Like site_table_names, but a site without tables is a SiteNotFoundError naming `where`."""
    names = site_table_names(conn, database, prefix, site_id)
    if not names:
        raise SiteNotFoundError(
            f"site {site_id} has no tables with prefix {prefix!r} in {where}:"
            " check the site id and the table prefix"
        )
    return names


def describe_tables(conn: Any, database: str, names: list[str]) -> list[Table]:
    """Definitions, columns and size estimates of the named tables."""
    if not names:
        return []
    marks = ",".join(["%s"] * len(names))
    stats = {
        as_text(name): (as_text(engine or ""), int(rows or 0), int(size or 0))
        for name, engine, rows, size in query(
            conn,
            "SELECT TABLE_NAME, ENGINE, TABLE_ROWS, DATA_LENGTH FROM information_schema.TABLES "
            f"WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN ({marks})",
            (database, *names),
        )
    }
    columns: dict[str, list[Column]] = {n: [] for n in names}
    for table, column, data_type, extra, expression, key in query(
        conn,
        "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, EXTRA, GENERATION_EXPRESSION, COLUMN_KEY "
        "FROM information_schema.COLUMNS "
        f"WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN ({marks}) ORDER BY TABLE_NAME, ORDINAL_POSITION",
        (database, *names),
    ):
        generated = "GENERATED" in as_text(extra or "").upper() or bool(expression)
        columns[as_text(table)].append(
            Column(as_text(column), as_text(data_type), generated, as_text(key or "") == "PRI")
        )
    tables = []
    for name in names:
        if name not in stats:
            raise UsageError(
                f"table {name} disappeared from {database} while reading its definition: run again"
            )
        engine, rows, size = stats[name]
        tables.append(
            Table(name, engine, show_create_table(conn, database, name), tuple(columns[name]), rows, size)
        )
    return tables


def show_create_table(conn: Any, database: str, name: str) -> str:
    """The server's CREATE TABLE statement for a table."""
    rows = query(conn, f"SHOW CREATE TABLE {quote_identifier(database)}.{quote_identifier(name)}")
    return as_text(rows[0][1])


def column_types(conn: Any, database: str, names: list[str]) -> dict[str, dict[str, str]]:
    """{table: {column: its full type, e.g. 'varchar(191)'}} of the named tables."""
    if not names:
        return {}
    marks = ",".join(["%s"] * len(names))
    out: dict[str, dict[str, str]] = {}
    for table, column, column_type in query(
        conn,
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
        f"WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN ({marks}) ORDER BY TABLE_NAME, ORDINAL_POSITION",
        (database, *names),
    ):
        out.setdefault(as_text(table), {})[as_text(column)] = as_text(column_type)
    return out


def table_estimates(conn: Any, database: str, names: Sequence[str]) -> dict[str, tuple[int, int]]:
    """{table: (rows, data bytes)} as the server estimates them, for those of `names` that exist."""
    if not names:
        return {}
    marks = ",".join(["%s"] * len(names))
    found = query(
        conn,
        "SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH FROM information_schema.TABLES "
        f"WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN ({marks})",
        (database, *names),
    )
    return {as_text(n): (int(r or 0), int(b or 0)) for n, r, b in found}
