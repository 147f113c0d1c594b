"""Which tables belong to a site, and what each table and column is.

`table_ownership` is the one answer to which tables a site owns: every table under the prefix, in or
out, with the rule that decided (see its docstring and docs/architecture.md, "Table ownership"). A
site N > 1 owns its `<prefix>N_*` tables (the segment is exactly N: 43 never takes `430`); site 1 its
unnumbered tables, minus those known to be the network's or other sites'.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Collection, Iterable, Sequence
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


# The network tables' own id where a site id goes: their archive folder (`network/`), manifest, lock
# and summary row. No site has it (site ids start at 1).
NETWORK_SITE = 0


def validate_site_or_network(value: object) -> int:
    """A site id (see validate_site_id), or NETWORK_SITE for "network"; UsageError otherwise."""
    if isinstance(value, str) and value.strip().lower() == "network":
        return NETWORK_SITE
    return validate_site_id(value)


def site_or_network_name(site_id: int) -> str:
    """ "the network tables" for NETWORK_SITE, else "site <id>" (for messages)."""
    return "the network tables" if site_id == NETWORK_SITE else f"site {site_id}"


# -- table ownership: which tables under the prefix are the site's, and why ---------------------------

# The tables WordPress creates for every site (wp-admin/includes/schema.php), without the prefix.
SITE_CORE_TABLES = (
    "commentmeta",
    "comments",
    "links",
    "options",
    "postmeta",
    "posts",
    "term_relationships",
    "term_taxonomy",
    "termmeta",
    "terms",
)

# Tables of network-wide plugins: one table for all the sites of a network, never one site's, whatever
# their rows say today. Table name without the prefix -> the plugin, for the rule shown. Add new ones here.
NETWORK_PLUGIN_TABLES: dict[str, str] = {
    "cavalcade_jobs": "Cavalcade",
    "cavalcade_logs": "Cavalcade",
    "stream": "Stream",
    "stream_meta": "Stream",
}

# Columns that say which site a row belongs to (0 and 1 are the network and site 1 itself).
_SITE_COLUMNS = ("blog_id", "site_id", "site")
# The start of the rules that give a table to no single site (TableChoice.network).
_NETWORK_RULES = ("network table", "network-wide plugin table", "holds other sites' rows")
_GLOB = frozenset("*?[")


@dataclass(frozen=True)
class TableFilter:
    """Tables added to a site's or taken out of them, by glob patterns on whole table names.

    Patterns are `fnmatch` globs (`*`, `?`, `[...]`), case-sensitive, on the name with its prefix
    (`wp_stream*`, `wp_43_wc_*`). `exclude` wins over everything, so the site never owns an excluded
    table: a migration neither copies it nor touches the target's table of that name. `include` makes
    the site own a table that a rule would have left out (another network's look-alike prefix, a
    network-wide plugin's table, a table with other sites' ids), but never another site's numbered
    table (`<prefix><M>_`) and never a network table (`<prefix>users`, `<prefix>blogs`, ...): a
    wildcard passes them by, and naming one without a wildcard is a UsageError unless
    `allow_network` is true (the table is then migrated as the site's: every site's rows in it).
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    allow_network: bool = False

    def __post_init__(self) -> None:
        for label in ("include", "exclude"):
            value = getattr(self, label)
            patterns = (value,) if isinstance(value, str) else tuple(value)
            for pattern in patterns:
                if not isinstance(pattern, str) or not pattern.strip():
                    raise UsageError(
                        f"table {label} pattern {pattern!r} is not a table name or glob:"
                        " give one like wp_stream*"
                    )
            object.__setattr__(self, label, tuple(p.strip() for p in patterns))

    def merged(self, other: TableFilter | None) -> TableFilter:
        """This filter's patterns followed by `other`'s (either allowing network tables allows them)."""
        if other is None:
            return self
        return TableFilter(
            _unique(self.include + other.include),
            _unique(self.exclude + other.exclude),
            self.allow_network or other.allow_network,
        )

    def excluded_by(self, name: str) -> str | None:
        """The first exclude pattern `name` matches, or None."""
        return next((p for p in self.exclude if fnmatch.fnmatchcase(name, p)), None)

    def included_by(self, name: str) -> str | None:
        """The first include pattern `name` matches, or None."""
        return next((p for p in self.include if fnmatch.fnmatchcase(name, p)), None)


def _unique(patterns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(patterns))


@dataclass(frozen=True)
class TableChoice:
    """One table under the prefix: whether the site owns it, and the rule that decided.

    `network`: no single site owns it (a network table, a network-wide plugin's table, a table
    holding several sites' rows): the network tables' migration takes it (`network_table_names`).
    """

    name: str
    owned: bool
    rule: str

    @property
    def network(self) -> bool:
        """Whether the table belongs to no single site (decided by one of the network's rules)."""
        return not self.owned and self.rule.startswith(_NETWORK_RULES)


def base_table_names(conn: Any, database: str) -> list[str]:
    """Names of every base table (no views) in `database`, sorted."""
    rows = query(
        conn,
        "SELECT TABLE_NAME FROM information_schema.TABLES"
        " WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE'",
        (database,),
    )
    return sorted(as_text(name) for (name,) in rows)


def name_choice(
    prefix: str, site_id: int, name: str, tables: TableFilter | None = None, *, multisite: bool = True
) -> TableChoice | None:
    """The ownership rules that a table's name alone decides, or None when it takes the database to know.

    What `table_ownership` applies first, for callers that have only names (an SQL file being
    imported): the filter's excludes and includes, network tables, numbered tables of this or other
    sites, network-wide plugins' tables. A name outside the prefix is None too.
    """
    tables = tables or TableFilter()
    if not name.startswith(prefix):
        return None
    pattern = tables.excluded_by(name)
    if pattern is not None:
        return TableChoice(name, False, f"excluded: matches {pattern!r}")
    if not multisite:
        if site_id != 1:
            return TableChoice(name, False, f"single-site install (no {prefix}blogs): it has only site 1")
        return TableChoice(
            name, True, f"single-site install (no {prefix}blogs): every {prefix} table is the site's"
        )
    rest = name[len(prefix) :]
    included = tables.included_by(name)
    if rest in NETWORK_TABLES:
        if name in tables.include and tables.allow_network:  # named exactly, never by a glob
            return TableChoice(name, True, f"included: matches {name!r} (network table, allowed)")
        return TableChoice(name, False, _NETWORK_RULES[0] + ": shared by every site")
    number = _NUMBERED.match(rest)
    if number is not None:
        digits = number.group(1)
        if site_id > 1 and digits == str(site_id):
            return TableChoice(name, True, f"site {site_id}'s table ({prefix}{site_id}_)")
        return TableChoice(name, False, f"another site's table ({prefix}{digits}_)")
    if included is not None:
        return TableChoice(name, True, f"included: matches {included!r}")
    if site_id > 1:
        return TableChoice(name, False, f"not numbered {prefix}{site_id}_: site 1's or the network's")
    if rest in SITE_CORE_TABLES:
        return TableChoice(name, True, "WordPress core table of site 1")
    plugin = NETWORK_PLUGIN_TABLES.get(rest)
    if plugin is not None:
        return TableChoice(name, False, f"{_NETWORK_RULES[1]} ({plugin})")
    return None


_NUMBERED = re.compile(r"([0-9]+)_", re.ASCII)


def table_ownership(
    conn: Any,
    database: str,
    prefix: str,
    site_id: int,
    *,
    tables: TableFilter | None = None,
    peer: Collection[str] = (),
) -> list[TableChoice]:
    """Every base table of `database` under `prefix`, sorted, each owned by site `site_id` or not, and why.

    The one answer to "which tables are the site's" for migrate, export, backup, verify, pre-flight
    and plan. In order, the first rule that applies decides:

    - `tables.exclude` matches: out. A single-site install (no `<prefix>blogs`, `site`, `sitemeta`
      nor any numbered `<prefix><N>_` table): every table is site 1's.
    - a network table (`<prefix>blogs`, `users`, ...): out; another site's numbered table
      (`<prefix><M>_`): out; site N > 1: its `<prefix><N>_` tables are in.
    - `tables.include` matches: in (see TableFilter for what it cannot take).
    - site N > 1: every other table is out.
    - site 1: a WordPress core table (`<prefix>options`, `posts`, ...) is in; a network-wide plugin's
      table (NETWORK_PLUGIN_TABLES) is out; so is a table under a longer prefix that is itself a
      network (`<prefix><word>_blogs`) or a site (`<prefix><word>_options` and `_posts`), and a table
      whose blog_id/site_id/site column holds another site's id; a table with a per-site twin
      `<prefix><N>_<same name>` in this database or in `peer` (the other network's table names)
      is in; whatever is left is in ("left over").

    Raises UsageError for an include that names a network or numbered table without a wildcard (see
    TableFilter).
    """
    tables = tables or TableFilter()
    everything = base_table_names(conn, database)
    names = [n for n in everything if n.startswith(prefix)]
    # A network table, or any numbered site's: a user who may not see wp_blogs still sees a network.
    multisite = any(
        n[len(prefix) :] in ("blogs", "site", "sitemeta") or _NUMBERED.match(n, len(prefix)) for n in names
    )
    if multisite:
        _refuse_includes(prefix, site_id, tables)
    decided: dict[str, TableChoice] = {}
    open_names = []
    for name in names:
        choice = name_choice(prefix, site_id, name, tables, multisite=multisite)
        if choice is None:
            open_names.append(name)
        else:
            decided[name] = choice
    if open_names:  # only site 1's unnumbered, non-core tables get here
        others = _other_prefixes(prefix, set(everything))
        rest = []
        for name in open_names:
            longer = next((o for o in others if name.startswith(o)), None)
            if longer is not None:
                decided[name] = TableChoice(name, False, f"another network or site's table (prefix {longer})")
            else:
                rest.append(name)
        shared = _tables_of_several_sites(conn, database, rest)
        twins = _twin_suffixes(prefix, [*everything, *peer])
        for name in rest:
            suffix = name[len(prefix) :]
            if name in shared:
                column, value = shared[name]
                decided[name] = TableChoice(name, False, f"{_NETWORK_RULES[2]} ({column} = {value})")
            elif suffix in twins:
                twin = f"{prefix}{twins[suffix]}_{suffix}"
                decided[name] = TableChoice(name, True, f"has a per-site twin ({twin})")
            else:
                decided[name] = TableChoice(name, True, "left over: not known to be another's")
    return [decided[n] for n in names]


def _refuse_includes(prefix: str, site_id: int, tables: TableFilter) -> None:
    """An include that names a network table, or another site's numbered one, is a mistake to stop on."""
    for pattern in tables.include:
        if _GLOB & set(pattern) or not pattern.startswith(prefix):
            continue
        rest = pattern[len(prefix) :]
        if rest in NETWORK_TABLES and not tables.allow_network:
            raise UsageError(
                f"table include {pattern!r} names a network table, shared by every site of the network:"
                " migrating it as one site's replaces it for all; if that is really meant, allow"
                " network tables (--allow-network-tables)"
            )
        number = _NUMBERED.match(rest)
        if number is not None and number.group(1) != str(site_id):
            raise UsageError(
                f"table include {pattern!r} names site {number.group(1)}'s table, not site {site_id}'s:"
                f" migrate site {number.group(1)} for it"
            )


def _twin_suffixes(prefix: str, names: Iterable[str]) -> dict[str, str]:
    """{name without `<prefix><N>_`: N} of every numbered table among `names` (the smallest N kept)."""
    found: dict[str, str] = {}
    for name in sorted(names):
        if not name.startswith(prefix):
            continue
        number = _NUMBERED.match(name, len(prefix))
        if number is not None and number.group(1) != "1":
            found.setdefault(name[number.end() :], number.group(1))
    return found


def site_table_names(
    conn: Any,
    database: str,
    prefix: str,
    site_id: int,
    *,
    tables: TableFilter | None = None,
    peer: Collection[str] = (),
) -> list[str]:
    """Names of the site's base tables in `database`, sorted (those `table_ownership` says it owns)."""
    return [
        c.name for c in table_ownership(conn, database, prefix, site_id, tables=tables, peer=peer) if c.owned
    ]


def network_table_names(conn: Any, database: str, prefix: str, *, peer: Collection[str] = ()) -> list[str]:
    """Names of the base tables of `database` under `prefix` that belong to no single site, sorted.

    Those `table_ownership` keeps out of every site as the network's: the network tables (`blogs`,
    `users`, ...), network-wide plugins' tables (NETWORK_PLUGIN_TABLES), and tables whose
    blog_id/site_id/site column holds several sites' ids. Never another network's tables under a
    longer prefix (`wp_second_*`) nor a site's numbered ones. [] for a single-site install.
    """
    return [c.name for c in table_ownership(conn, database, prefix, 1, peer=peer) if c.network]


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
    # The longest first: a table of `wp_a_b_` is named for that prefix, not for `wp_a_`.
    return sorted(set(found), key=lambda p: (-len(p), p))


def _tables_of_several_sites(conn: Any, database: str, names: list[str]) -> dict[str, tuple[str, str]]:
    """{table: (site column, another site's id found in it)} for those of `names` with rows of other sites."""
    if not names:
        return {}
    marks = ",".join(["%s"] * len(names))
    columns = query(
        conn,
        "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s"
        f" AND TABLE_NAME IN ({marks}) AND COLUMN_NAME IN ({','.join(['%s'] * len(_SITE_COLUMNS))})",
        (database, *names, *_SITE_COLUMNS),
    )
    shared: dict[str, tuple[str, str]] = {}
    for table, column in sorted(columns, key=lambda r: (as_text(r[0]), _SITE_COLUMNS.index(as_text(r[1])))):
        name, col = as_text(table), as_text(column)
        if name in shared:
            continue
        found = query(
            conn,
            f"SELECT {quote_identifier(col)} FROM {quote_identifier(database)}.{quote_identifier(name)}"
            f" WHERE {quote_identifier(col)} NOT IN (0, 1) LIMIT 1",
        )
        if found:
            shared[name] = (col, as_text(found[0][0]))
    return shared


def require_site_tables(
    conn: Any,
    database: str,
    prefix: str,
    site_id: int,
    where: str,
    *,
    tables: TableFilter | None = None,
    peer: Collection[str] = (),
) -> list[str]:
    """Like site_table_names, but a site without tables is a SiteNotFoundError naming `where`."""
    names = site_table_names(conn, database, prefix, site_id, tables=tables, peer=peer)
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
