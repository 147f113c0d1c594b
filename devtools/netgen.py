"""Generate a realistic WordPress multisite network in MariaDB, and say what a migration must turn it into.

Used by the test suite (small networks, exact expected rows) and by the benchmarks (one big site). Import it
as `devtools.netgen`, or run it from the repository root: `python -m devtools.netgen --database NAME
--size 200MB`.

Every text value is built from a template whose host is a parameter, never by searching and replacing.
The value a migration must produce is the same template rendered with the target host (and serialized
again, so PHP's byte-counted lengths follow). That keeps the expected values independent of the project's
replacer. The contract the expectations encode (`Network.expected_rows`):

- the pairs are `Network.replacement_pairs(target)`: `https://S -> https://T`, `http://S -> http://T`,
  `S -> T`, PHP `str_replace` in that order, each also in its JSON-escaped form (`https:\\/\\/S`);
- a complete PHP-serialized value (whitespace around it allowed) has only its string VALUES rewritten,
  lengths recomputed; array keys, object member names, `C:` payloads and `E:` names stay as they are;
  anything else, including text that only looks serialized, is replaced as plain bytes;
- BLOB/BINARY/VARBINARY/BIT columns, base64 and gzip stay byte for byte; URL-encoded text changes only
  where the bare host appears in it as is (plain pairs do hit `https%3A%2F%2FS`);
- plain pairs also hit the substring traps (`S.au`, `myS`, `mail@S`, `cdn.S`); with
  `whole_host_only=True` the expectation is instead that of host-bounded rules, which leave them alone
  (a whole host is not preceded by `[A-Za-z0-9_.@-]` nor followed by `[A-Za-z0-9_-]` or `.` + label).

The database side: `generate_network` loads the source rendering; `fetch_rows` reads a table back in the
same canonical form (stored bytes, `None` for NULL); `Network.diff_table` compares a migrated table with
its expected rows; `Network.checksum_of_other_tables` proves the rest of the network untouched.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from devtools.netgen_schema import (
    CHARSET,
    COLLATION,
    PLUGIN_TABLES,
    BulkRows,
    Dyn,
    FixedRows,
    TableInfo,
    build_network_tables,
    plan_bulk,
    plugin_tables,
    resolve,
    row_bytes,
    site_core_tables,
)
from devtools.netgen_values import (
    CASE_NAMES,
    CanonicalRow,
    Hosts,
    Row,
    Site,
    Value,
    canonical,
    case_values,
    php_json,
    quote_ident,
    serialize,
    sql_literal,
)

__all__ = [
    "CASE_NAMES",
    "DEFAULT_ENV_HOSTS",
    "NETWORK_TABLES",
    "PLUGIN_TABLES",
    "CaseLocation",
    "ExpectedRows",
    "Hosts",
    "Network",
    "TableInfo",
    "fetch_rows",
    "generate_network",
    "main",
    "parse_size",
    "php_json",
    "serialize",
]

DEFAULT_ENV_HOSTS: Mapping[str, str] = {
    "prod": "www.example.edu",
    "pprd": "pprd.example.edu",
    "uat": "uat.example.edu",
    "dev": "dev.example.edu",
}

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

# One multi-row INSERT carries about this much SQL. Well under the server's max_allowed_packet (16 MiB by
# default in MariaDB 10.11), big enough that the round trip per statement does not matter.
STATEMENT_BYTES = 1 << 20
# Commit the bulk load every this many bytes so the undo log stays small.
COMMIT_BYTES = 64 << 20
# WordPress's sql_mode: wpdb drops NO_ZERO_DATE and the strict modes, which is how zero dates get in.
WP_SQL_MODE = "NO_ENGINE_SUBSTITUTION"


# ---------------------------------------------------------------------------------------------------------
# Expected rows and the Network
# ---------------------------------------------------------------------------------------------------------

Key = tuple[bytes | None, ...]


def canonical_row(info: TableInfo, row: Row) -> CanonicalRow:
    names = info.insert_columns
    if len(row) != len(names):
        raise AssertionError(f"{info.name}: row of {len(row)} values for {len(names)} columns")
    values: dict[str, bytes | None] = {c: canonical(v) for c, v in zip(names, row, strict=True)}
    for column, compute in info.generated.items():
        values[column] = compute(values)
    return tuple(values[c] for c in info.columns)


def _normalize_key(key: Any, width: int) -> Key:
    parts = key if isinstance(key, tuple) else (key,)
    if len(parts) != width:
        raise KeyError(key)
    return tuple(p if p is None or isinstance(p, bytes) else canonical(p) for p in parts)


class ExpectedRows(Mapping[Key, CanonicalRow]):
    """The rows a table must hold after the migration, in `fetch_rows` form.

    Keys are the SOURCE row's primary-key values as canonical bytes (`(b"42",)`); a plain int or str is
    accepted for a one-column key. Keyless tables are keyed by the whole source row; `rows()` keeps
    duplicates, the mapping cannot. Bulk rows are computed on demand, so a gigabyte table costs nothing
    until iterated.
    """

    def __init__(self, info: TableInfo, source: Hosts, target: Hosts) -> None:
        self.info = info
        self._source = source
        self._target = target
        self._pk = tuple(info.columns.index(c) for c in info.primary_key)
        self._fixed: dict[Key, CanonicalRow] = {}
        self._fixed_rows: list[CanonicalRow] = []
        self._bulk = [seg for seg in info.segments if isinstance(seg, BulkRows)]
        for seg in info.segments:
            if isinstance(seg, FixedRows):
                for src, dst in zip(seg.rows(source), seg.rows(target), strict=True):
                    src_row, dst_row = canonical_row(info, src), canonical_row(info, dst)
                    self._fixed[self._key(src_row)] = dst_row
                    self._fixed_rows.append(dst_row)

    def _key(self, row: CanonicalRow) -> Key:
        return tuple(row[i] for i in self._pk) if self._pk else row

    def _bulk_row(self, seg: BulkRows, row_id: int) -> CanonicalRow:
        templates = seg.templates(self._target)
        template = templates[(row_id - seg.first_id) % len(templates)]
        return canonical_row(self.info, resolve(template, row_id))

    def __getitem__(self, key: Any) -> CanonicalRow:
        width = len(self._pk) or len(self.info.columns)
        norm = _normalize_key(key, width)
        if norm in self._fixed:
            return self._fixed[norm]
        if self._bulk and len(norm) == 1 and norm[0] is not None and norm[0].isdigit():
            row_id = int(norm[0])
            for seg in self._bulk:
                if seg.first_id <= row_id < seg.first_id + seg.count:
                    return self._bulk_row(seg, row_id)
        raise KeyError(key)

    def __iter__(self) -> Iterator[Key]:
        yield from self._fixed
        for seg in self._bulk:
            for row_id in range(seg.first_id, seg.first_id + seg.count):
                yield (b"%d" % row_id,)

    def __len__(self) -> int:
        return len(self._fixed) + sum(seg.count for seg in self._bulk)

    def rows(self) -> Iterator[CanonicalRow]:
        """Yield every expected row, duplicates included, in insertion order."""
        yield from self._fixed_rows
        for seg in self._bulk:
            for row_id in range(seg.first_id, seg.first_id + seg.count):
                yield self._bulk_row(seg, row_id)

    def target_key(self, row: CanonicalRow) -> Key:
        """Return the primary key of `row` (an expected or fetched row), or the row itself when keyless."""
        return self._key(row)


@dataclass(frozen=True)
class CaseLocation:
    """Where a value of one case family lives: table, source key (as in `ExpectedRows`) and column."""

    table: str
    key: Key
    column: str


class Network:
    """A generated multisite network: its tables, what each site owns, and the expected migration results."""

    def __init__(
        self,
        database: str,
        *,
        prefix: str,
        sites: Sequence[int],
        source_host: str,
        env_hosts: Mapping[str, str],
        main_site: int,
        seed: int,
        rows_scale: float,
        size_bytes: int | None,
        big_row_bytes: int,
    ) -> None:
        self.database = database
        self.prefix = prefix
        self.sites = tuple(sites)
        self.source_host = source_host
        self.env_hosts = dict(env_hosts)
        self.main_site = main_site
        self.seed = seed
        self.rows_scale = rows_scale
        self.size_bytes = size_bytes
        self.big_row_bytes = big_row_bytes
        self.tables: dict[str, TableInfo] = {}
        self.seconds = 0.0
        self._cases: dict[str, list[CaseLocation]] | None = None

    # -- the sites ------------------------------------------------------------------------------------

    @property
    def source_hosts(self) -> Hosts:
        """The hosts the source data was rendered with."""
        return Hosts(self.source_host, self.source_host, self.source_host)

    def site(self, site_id: int) -> Site:
        """Return site `site_id`'s prefix, path and the other-environment host its text mentions."""
        if site_id not in self.sites:
            raise KeyError(f"site {site_id} is not in this network (sites: {self.sites})")
        # Text naming another environment must stay as it is; the last one (dev) is rarely a target.
        others = [h for h in self.env_hosts.values() if h != self.source_host] or ["old.example.org"]
        other = others[-1]
        if site_id == 1:
            return Site(1, self.prefix, "", other)
        return Site(site_id, f"{self.prefix}{site_id}_", f"/site{site_id}", other)

    def site_url(self, site_id: int, host: str | None = None) -> str:
        """Return the site's home URL (`https://host/site43`) with `host` or the source host."""
        return f"https://{host or self.source_host}{self.site(site_id).path}"

    def site_tables(self, site_id: int) -> list[str]:
        """Return the tables that belong to site `site_id` (as generated, not by a naming rule)."""
        self.site(site_id)
        return [name for name, info in self.tables.items() if info.site == site_id]

    def network_tables(self) -> list[str]:
        """Return the network tables (never part of a single-site migration)."""
        return [name for name, info in self.tables.items() if info.site is None]

    @property
    def table_shapes(self) -> dict[str, list[str]]:
        """Map each table shape (`no_primary_key`, `latin1_utf8_bytes`, `myisam`, ...) to its tables."""
        shapes: dict[str, list[str]] = {}
        for name, info in self.tables.items():
            for shape in info.shapes:
                shapes.setdefault(shape, []).append(name)
        return shapes

    @property
    def site_bytes(self) -> dict[int, int]:
        """Bytes of row data inserted per site (sum of the canonical value lengths)."""
        out = dict.fromkeys(self.sites, 0)
        for info in self.tables.values():
            if info.site is not None:
                out[info.site] += info.data_bytes
        return out

    @property
    def cases(self) -> dict[str, list[CaseLocation]]:
        """Map each case family (see CASE_NAMES) to the places its values were written."""
        if self._cases is None:
            found: dict[str, list[CaseLocation]] = {name: [] for name in CASE_NAMES}
            for site_id in self.sites:
                by_value = {v: n for n, v in case_values(self.source_hosts, self.site(site_id))}
                for name in self.site_tables(site_id):
                    info = self.tables[name]
                    expected = ExpectedRows(info, self.source_hosts, self.source_hosts)
                    for key, row in expected._fixed.items():
                        for column, value in zip(info.columns, row, strict=True):
                            if value is not None and value in by_value:
                                found[by_value[value]].append(CaseLocation(name, key, column))
            self._cases = found
        return self._cases

    # -- expectations ---------------------------------------------------------------------------------

    def target_host(self, target: str) -> str:
        """Return the host of `target`, an environment name of `env_hosts` or a host.

        The source host itself is allowed (the identity migration). Raises ValueError for a host that
        contains the source host, for which the expectations would be wrong.
        """
        host = self.env_hosts.get(target, target)
        if host != self.source_host and self.source_host in host:
            # Then the pairs apply twice (S -> T, and T again contains S); rendering with T is no longer
            # what sequential str_replace does.
            raise ValueError(
                f"target host {host!r} contains the source host {self.source_host!r}; "
                "expected values assume it does not"
            )
        return host

    def replacement_pairs(self, target: str) -> list[tuple[str, str]]:
        """Return the plain pairs the expectations assume, in order (the JSON-escaped forms are implied)."""
        t, s = self.target_host(target), self.source_host
        return [(f"https://{s}", f"https://{t}"), (f"http://{s}", f"http://{t}"), (s, t)]

    def expected_rows(self, table: str, target: str, *, whole_host_only: bool = False) -> ExpectedRows:
        """Return the rows `table` must hold after migrating with `replacement_pairs(target)`.

        `target` is an environment name or a host. With `whole_host_only`, occurrences of the host inside
        longer names (`S.au`, `myS`, `cdn.S`, `mail@S`, `%2FS`) are expected unchanged, as host-bounded
        rules leave them. Raises KeyError for an unknown table.
        """
        host = self.target_host(target)
        hx = Hosts(host, self.source_host if whole_host_only else host, self.source_host)
        return ExpectedRows(self.tables[table], self.source_hosts, hx)

    def source_rows(self, table: str) -> ExpectedRows:
        """Return the rows as generated (the identity migration)."""
        return ExpectedRows(self.tables[table], self.source_hosts, self.source_hosts)

    def diff_table(
        self,
        conn_or_kwargs: Any,
        table: str,
        target: str,
        *,
        database: str | None = None,
        whole_host_only: bool = False,
        limit: int = 5,
    ) -> list[str]:
        """Compare a migrated table with its expected rows; return readable differences (empty: equal).

        Rows are matched by their primary key in the target (which may differ from the source's when the
        key holds the host), keyless tables as multisets. At most `limit` rows are described.
        """
        expected = self.expected_rows(table, target, whole_host_only=whole_host_only)
        with _session(conn_or_kwargs) as conn:
            actual = fetch_rows(conn, database or self.database, table)
        return _diff(self.tables[table], expected, actual, limit)

    def checksum_of_other_tables(
        self, conn_or_kwargs: Any, site_id: int, *, database: str | None = None
    ) -> dict[str, tuple[int | None, str]]:
        """Return (CHECKSUM TABLE, sha256 of SHOW CREATE TABLE) for every table not owned by `site_id`.

        Tables are listed from the live database, so one that a migration created or dropped shows up in
        a before/after comparison. The definition hash includes the AUTO_INCREMENT counter.
        """
        own = set(self.site_tables(site_id))
        db = database or self.database
        out: dict[str, tuple[int | None, str]] = {}
        with _session(conn_or_kwargs) as conn:
            cur = conn.cursor()
            cur.execute(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                "ORDER BY TABLE_NAME",
                (db,),
            )
            names = [_text(r[0]) for r in cur.fetchall()]
            for name in names:
                if name in own:
                    continue
                qualified = f"{quote_ident(db)}.{quote_ident(name)}"
                cur.execute(f"CHECKSUM TABLE {qualified} EXTENDED")
                checksum = cur.fetchall()[0][1]
                cur.execute(f"SHOW CREATE TABLE {qualified}")
                create = _text(cur.fetchall()[0][1])
                out[name] = (
                    None if checksum is None else int(checksum),
                    hashlib.sha256(create.encode()).hexdigest(),
                )
            cur.close()
        return out

    def drop(self, conn_or_kwargs: Any) -> None:
        """Drop the network's database."""
        with _session(conn_or_kwargs) as conn:
            cur = conn.cursor()
            cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(self.database)}")
            cur.close()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)


def _short(value: bytes | None, width: int = 120) -> str:
    if value is None:
        return "NULL"
    text = repr(value)
    return text if len(text) <= width else text[: width - 20] + f"...({len(value)} bytes)"


def _diff(info: TableInfo, expected: ExpectedRows, actual: list[CanonicalRow], limit: int) -> list[str]:
    out: list[str] = []
    if len(actual) and len(actual[0]) != len(info.columns):
        return [
            f"{info.name}: {len(actual[0])} columns, expected {len(info.columns)} ({', '.join(info.columns)})"
        ]
    want = Counter(expected.rows())
    have = Counter(actual)
    if want == have:
        return out
    if info.primary_key:
        want_by_key = {expected.target_key(r): r for r in want}
        have_by_key = {expected.target_key(r): r for r in have}
        for key in sorted(set(want_by_key) | set(have_by_key), key=repr):
            if len(out) >= limit:
                break
            w, h = want_by_key.get(key), have_by_key.get(key)
            if w == h:
                continue
            if h is None:
                out.append(f"{info.name} {_short(key[0])}: row missing")
            elif w is None:
                out.append(f"{info.name} {_short(key[0])}: unexpected row")
            else:
                cols = [
                    f"{c}: got {_short(a)} want {_short(b)}"
                    for c, a, b in zip(info.columns, h, w, strict=True)
                    if a != b
                ]
                out.append(f"{info.name} {_short(key[0])}: " + "; ".join(cols))
    else:
        for row, n in (want - have).items():
            if len(out) < limit:
                out.append(f"{info.name}: missing {n}x {tuple(_short(v, 60) for v in row)}")
        for row, n in (have - want).items():
            if len(out) < limit:
                out.append(f"{info.name}: unexpected {n}x {tuple(_short(v, 60) for v in row)}")
    total = sum(((want - have) + (have - want)).values())
    out.append(
        f"{info.name}: {total} row(s) differ ({sum(have.values())} rows, expected {sum(want.values())})"
    )
    return out


# ---------------------------------------------------------------------------------------------------------
# Database I/O
# ---------------------------------------------------------------------------------------------------------


@contextmanager
def _session(conn_or_kwargs: Any) -> Iterator[Any]:
    """Yield a connection: the caller's, or one opened from a dict of connect kwargs (closed after)."""
    if isinstance(conn_or_kwargs, Mapping):
        import mysql.connector

        kwargs = {"host": "127.0.0.1", "user": "root", "password": "", **conn_or_kwargs}
        kwargs.pop("database", None)
        conn = mysql.connector.connect(**kwargs)
        try:
            yield conn
        finally:
            conn.close()
    else:
        yield conn_or_kwargs


@contextmanager
def _session_vars(cur: Any, **values: str | int) -> Iterator[None]:
    """Set session variables for the block and put the caller's values back after."""
    names = list(values)
    cur.execute("SELECT " + ", ".join(f"@@SESSION.{n}" for n in names))
    saved = cur.fetchall()[0]
    cur.execute("SET " + ", ".join(f"SESSION {n} = %s" for n in names), tuple(values.values()))
    try:
        yield
    finally:
        restore = [v.decode() if isinstance(v, (bytes, bytearray)) else v for v in saved]
        parts = [
            f"SESSION {n} = %s" if v is not None else f"SESSION {n} = NULL"
            for n, v in zip(names, restore, strict=True)
        ]
        cur.execute("SET " + ", ".join(parts), tuple(v for v in restore if v is not None))


def fetch_rows(conn: Any, database: str, table: str) -> list[CanonicalRow]:
    """Return every row of `table` as tuples of bytes (None for NULL): the column's stored bytes.

    Text comes back in the column's own character set (character_set_results=binary: a latin1 column
    holding UTF-8 shows those UTF-8 bytes), TIMESTAMPs in UTC, numbers in the server's text form, BIT as
    big-endian bytes. This is the form `ExpectedRows` uses. On a connection without autocommit the
    SELECT opens a transaction (and its metadata locks) that the caller must end.
    """
    cur = conn.cursor(raw=True)
    try:
        with _session_vars(cur, character_set_results="binary", time_zone="+00:00"):
            cur.execute(f"SELECT * FROM {quote_ident(database)}.{quote_ident(table)}")
            rows = [tuple(None if v is None else bytes(v) for v in row) for row in cur.fetchall()]
    finally:
        cur.close()
    return rows


class _StatementWriter:
    """Batch rows into multi-row INSERTs of about STATEMENT_BYTES; commit every COMMIT_BYTES."""

    def __init__(self, conn: Any, cur: Any, head: bytes, max_packet: int) -> None:
        self.conn, self.cur, self.head, self.max_packet = conn, cur, head, max_packet
        self.parts: list[bytes] = []
        self.size = 0
        self.since_commit = 0

    def add(self, row_sql: bytes) -> None:
        if self.parts and self.size + len(row_sql) > STATEMENT_BYTES:
            self.flush()
        self.parts.append(row_sql)
        self.size += len(row_sql) + 1

    def flush(self) -> None:
        if not self.parts:
            return
        statement = self.head + b",".join(self.parts)
        if len(statement) > self.max_packet:
            raise RuntimeError(
                f"a statement of {len(statement)} bytes does not fit the server's max_allowed_packet "
                f"({self.max_packet}); "
                "raise max_allowed_packet or pass a smaller big_row_bytes"
            )
        self.cur.execute(statement)
        self.since_commit += len(statement)
        if self.since_commit > COMMIT_BYTES:
            self.conn.commit()
            self.since_commit = 0
        self.parts, self.size = [], 0


def _compile_template(template: tuple[Value | Dyn, ...]) -> list[bytes | Dyn]:
    """Pre-render the static values of a bulk row; only `Dyn` values are rendered per row."""
    parts: list[bytes | Dyn] = []
    for i, value in enumerate(template):
        sep = b"(" if i == 0 else b","
        if isinstance(value, Dyn):
            parts += [sep, value]
        else:
            parts.append(sep + sql_literal(value))
    parts.append(b")")
    merged: list[bytes | Dyn] = []
    for part in parts:
        if merged and isinstance(part, bytes) and isinstance(merged[-1], bytes):
            merged[-1] += part
        else:
            merged.append(part)
    return merged


def _load_table(conn: Any, cur: Any, database: str, info: TableInfo, hx: Hosts, max_packet: int) -> None:
    qualified = f"{quote_ident(database)}.{quote_ident(info.name)}"
    bulk = any(isinstance(seg, BulkRows) for seg in info.segments)
    create, *add_keys = info.create_statements(qualified, defer_keys=bulk)
    cur.execute(create)
    head = f"INSERT INTO {qualified} ({', '.join(map(quote_ident, info.insert_columns))}) VALUES ".encode()
    writer = _StatementWriter(conn, cur, head, max_packet)
    rows = 0
    data = 0
    for seg in info.segments:
        if isinstance(seg, FixedRows):
            for row in seg.rows(hx):
                writer.add(b"(" + b",".join(map(sql_literal, row)) + b")")
                data += row_bytes(row)
                rows += 1
        else:
            templates = seg.templates(hx)
            compiled = [_compile_template(t) for t in templates]
            static_bytes = [row_bytes(tuple(v for v in t if not isinstance(v, Dyn))) for t in templates]
            dyn_fns = [[v.fn for v in t if isinstance(v, Dyn)] for t in templates]
            k = len(templates)
            for n in range(seg.count):
                row_id = seg.first_id + n
                j = n % k
                parts = [p if isinstance(p, bytes) else sql_literal(p.fn(row_id)) for p in compiled[j]]
                writer.add(b"".join(parts))
                data += static_bytes[j] + sum(len(canonical(fn(row_id)) or b"") for fn in dyn_fns[j])
            rows += seg.count
    writer.flush()
    conn.commit()
    for statement in add_keys:
        cur.execute(statement)
    if info.auto_increment is not None:
        cur.execute(f"ALTER TABLE {qualified} AUTO_INCREMENT = {int(info.auto_increment)}")
    info.row_count, info.data_bytes = rows, data


# ---------------------------------------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------------------------------------


def generate_network(
    conn_or_kwargs: Any,
    database: str,
    *,
    prefix: str = "wp_",
    sites: Sequence[int] = (1, 2, 43, 430),
    source_host: str = "www.example.edu",
    env_hosts: Mapping[str, str] = DEFAULT_ENV_HOSTS,
    rows_scale: float = 1.0,
    seed: int = 0,
    size_bytes: int | None = None,
    main_site: int = 43,
    big_row_bytes: int = 2 * 1024 * 1024,
    drop_existing: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Network:
    """Create a WordPress multisite network in `database` and return its description.

    `conn_or_kwargs` is a mysql.connector connection (its session is left as found) or a dict of connect
    kwargs. The database is created; it must not hold tables unless `drop_existing`. `main_site` (43, or
    the largest site id when 43 is absent) gets every plugin table shape, the case families in postmeta,
    the big option of `big_row_bytes` (0: none), and, with `size_bytes`, bulk rows up to about that many
    bytes of row data. `rows_scale` scales the ordinary rows of every site. Same arguments, same data.
    With kwargs and `size_bytes`, tables load over two connections (the server is the bottleneck).
    Raises ValueError for bad arguments or a database that holds tables, mysql.connector errors as is.
    """
    started = time.monotonic()
    if main_site not in sites:
        main_site = max(sites)
    if any(not isinstance(s, int) or s < 1 for s in sites) or len(set(sites)) != len(sites):
        raise ValueError(f"sites must be distinct positive ints, got {sites!r}")
    net = Network(
        database,
        prefix=prefix,
        sites=sorted(sites),
        source_host=source_host,
        env_hosts=env_hosts,
        main_site=main_site,
        seed=seed,
        rows_scale=rows_scale,
        size_bytes=size_bytes,
        big_row_bytes=big_row_bytes,
    )
    say = progress or (lambda _msg: None)
    tables: list[TableInfo] = build_network_tables(net)
    for site_id in net.sites:
        site = net.site(site_id)
        core = site_core_tables(net, site, rows_scale)
        if site_id == main_site:
            plugins = [t for t in PLUGIN_TABLES if t != "digit_trap" or site_id == 1]
        elif site_id == 1:
            plugins = ["legacy", "activity_log", "digit_trap"]
        else:
            plugins = ["activity_log", "redirects", "odd", "object_meta", "cache"]
        site_tables = core + plugin_tables(net, site, plugins)
        if site_id == main_site and size_bytes:
            fixed = sum(
                row_bytes(r)
                for t in site_tables
                for seg in t.segments
                if isinstance(seg, FixedRows)
                for r in seg.rows(net.source_hosts)
            )
            plan_bulk(net, site, {t.name: t for t in site_tables}, max(0, size_bytes - fixed))
        tables += site_tables
    for info in tables:
        if len(info.name) > 64:  # MySQL's identifier limit
            raise ValueError(f"table name {info.name!r} is longer than 64 characters; use a shorter prefix")
        net.tables[info.name] = info

    with _session(conn_or_kwargs) as conn:
        cur = conn.cursor()
        try:
            _create_database(cur, database, drop_existing)
            cur.execute("SELECT @@max_allowed_packet")
            max_packet = int(cur.fetchall()[0][0])
        finally:
            cur.close()
        if isinstance(conn_or_kwargs, Mapping) and size_bytes:
            # The server spends most of a bulk load on one core per connection: two connections, loading
            # tables split by size, keep both cores busy.
            bins: list[list[TableInfo]] = [[], []]
            loads = [0, 0]
            sizes = {name: _estimated_bytes(info, net.source_hosts) for name, info in net.tables.items()}
            for name in sorted(sizes, key=sizes.__getitem__, reverse=True):
                j = loads.index(min(loads))
                bins[j].append(net.tables[name])
                loads[j] += sizes[name]
            with ThreadPoolExecutor(max_workers=2) as pool:
                futures = [pool.submit(_load_tables, conn_or_kwargs, database, bins[1], net, max_packet, say)]
                _load_tables(conn, database, bins[0], net, max_packet, say)
                for future in futures:
                    future.result()
        else:
            _load_tables(conn, database, list(net.tables.values()), net, max_packet, say)
    net.seconds = time.monotonic() - started
    return net


def _estimated_bytes(info: TableInfo, hx: Hosts) -> int:
    total = 0
    for seg in info.segments:
        if isinstance(seg, FixedRows):
            total += sum(row_bytes(r) for r in seg.rows(hx))
        else:
            templates = seg.templates(hx)
            total += seg.count * sum(row_bytes(resolve(t, seg.first_id)) for t in templates) // len(templates)
    return total


def _load_tables(
    conn_or_kwargs: Any,
    database: str,
    tables: list[TableInfo],
    net: Network,
    max_packet: int,
    say: Callable[[str], None],
) -> None:
    """Load `tables` over one connection whose session is set up for it (and put back after)."""
    with _session(conn_or_kwargs) as conn:
        cur = conn.cursor()
        was_autocommit = conn.autocommit
        conn.autocommit = False
        try:
            with _session_vars(
                cur,
                sql_mode=WP_SQL_MODE,
                time_zone="+00:00",
                unique_checks=0,
                foreign_key_checks=0,
                character_set_client=CHARSET,
                character_set_connection=CHARSET,
            ):
                for info in tables:
                    say(info.name)
                    _load_table(conn, cur, database, info, net.source_hosts, max_packet)
        finally:
            conn.commit()
            conn.autocommit = was_autocommit
            cur.close()


def _create_database(cur: Any, database: str, drop_existing: bool) -> None:
    if drop_existing:
        cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(database)}")
    cur.execute(
        f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)} CHARACTER SET {CHARSET} COLLATE {COLLATION}"
    )
    cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (database,))
    if int(cur.fetchall()[0][0]):
        raise ValueError(
            f"database {database!r} already holds tables; pick a new name or pass drop_existing=True"
        )


# ---------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(text: str) -> int:
    """Parse `200MB`, `1GB`, `1.5GiB` or a byte count (KB/MB/GB are powers of ten)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).upper() not in _UNITS:
        raise ValueError(f"not a size: {text!r} (try 200MB or 1GB)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI: generate a network and print what was made."""
    parser = argparse.ArgumentParser(prog="netgen", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--database", required=True, help="database to create (must be new, or see --drop-existing)"
    )
    parser.add_argument(
        "--size", type=parse_size, default=None, help="row data of the main site, e.g. 200MB, 1GB"
    )
    parser.add_argument("--host", default="127.0.0.1", help="MariaDB host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3306, help="MariaDB port (default 3306)")
    parser.add_argument("--user", default="root", help="MariaDB user (default root)")
    parser.add_argument("--password", default="", help="MariaDB password (default empty)")
    parser.add_argument("--prefix", default="wp_", help="table prefix (default wp_)")
    parser.add_argument("--sites", default="1,2,43,430", help="comma-separated site ids (default 1,2,43,430)")
    parser.add_argument(
        "--main-site", type=int, default=43, help="site that gets the size and every table shape"
    )
    parser.add_argument("--source-host", default="www.example.edu", help="host in the generated URLs")
    parser.add_argument(
        "--rows-scale", type=float, default=1.0, help="scale of the ordinary rows of every site"
    )
    parser.add_argument(
        "--big-row", type=parse_size, default=2 * 1024 * 1024, help="size of the big option (0: none)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same data)")
    parser.add_argument("--drop-existing", action="store_true", help="drop the database first if it exists")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    args = parser.parse_args(argv)
    try:
        sites = tuple(int(s) for s in args.sites.split(",") if s.strip())
    except ValueError:
        parser.error(f"--sites: not a list of ids: {args.sites!r}")
    kwargs = {"host": args.host, "port": args.port, "user": args.user, "password": args.password}
    try:
        net = generate_network(
            kwargs,
            args.database,
            prefix=args.prefix,
            sites=sites,
            source_host=args.source_host,
            rows_scale=args.rows_scale,
            seed=args.seed,
            size_bytes=args.size,
            main_site=args.main_site,
            big_row_bytes=args.big_row,
            drop_existing=args.drop_existing,
            progress=None if args.quiet else (lambda m: print(f"  {m}", file=sys.stderr)),
        )
    except Exception as exc:  # one line, non-zero exit: this is a demo tool, not a library call
        print(f"netgen: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    rows = sum(t.row_count for t in net.tables.values())
    print(f"database {net.database}: {len(net.tables)} tables, {rows} rows, {net.seconds:.1f} s")
    print(f"{'site':>6} {'tables':>7} {'rows':>10} {'MB':>10}")
    for site_id, size in net.site_bytes.items():
        names = net.site_tables(site_id)
        print(
            f"{site_id:>6} {len(names):>7} {sum(net.tables[n].row_count for n in names):>10}"
            f" {size / 1e6:>10.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
