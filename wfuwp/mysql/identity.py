"""Which WordPress network a database holds: its identity, recorded in every archive's manifest.

    network_of(db) -> NetworkIdentity(id="3fa2c1d0e4b5", database="wfu_prod", prefix="wp_",
                                      domain="www.wfu.edu", path="/", multisite=True, env="prod")

A network is a table prefix in a database: `<prefix>site`/`<prefix>blogs` say where it lives (its
main domain and path). A single-site install (no `<prefix>blogs`) is a network of one site, and its
`siteurl` option says where it lives.

The stable id is the first 12 hex digits of SHA-256 over (database name, table prefix, main domain,
main path) and nothing else:

- the prefix tells apart two networks sharing one database (`wp_` and `wp_second_`);
- the main domain tells apart environments (prod's `www.wfu.edu`, pprd's `pprd.wfu.edu`): it lives
  in the network tables, which migrations never copy, so migrating sites in or out leaves it as is;
- the database name tells apart an environment that is a raw copy of another (same `wp_site` row)
  in a database of its own;
- the server's host and port are left out: the same network is reached under several names (a
  replica, an IP address, a tunnel, a fail-over), and each must be the same network.

So renaming the database, or moving the network to another main domain, makes it another network
for the archives made before (restore them with `force`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import mysql.connector

from wfuwp.errors import DatabaseError
from wfuwp.mysql.connection import Database, closing, database_error, query
from wfuwp.mysql.sql import quote_identifier

__all__ = ["NetworkIdentity", "network_id", "network_of", "network_or_none", "read_network"]

# Bumped only if the derivation changes (every archive made before would then look foreign).
_ID_VERSION = b"wfuwp-network-1"


def network_id(database: str, prefix: str, domain: str, path: str) -> str:
    """The stable id of the network at `prefix` in `database` whose main site is `domain` + `path`."""
    digest = hashlib.sha256(
        b"\0".join(
            (_ID_VERSION, database.encode(), prefix.encode(), domain.lower().encode(), _path(path).encode())
        )
    )
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class NetworkIdentity:
    """One network: where it is (database, table prefix), where it lives (main domain and path), its
    stable `id` (see the module docstring) and, when the caller named it, its environment (`env`).

    `domain` is "" when the database holds no network at that prefix (no `blogs`, `site` or
    `options` table): the id then stands for the empty prefix in that database.
    """

    id: str
    database: str
    prefix: str
    domain: str
    path: str = "/"
    multisite: bool = True
    env: str | None = None

    @property
    def address(self) -> str:
        """The main site's domain and path ("www.wfu.edu", "example.org/network/")."""
        if not self.domain:
            return "no site"
        return self.domain if self.path == "/" else f"{self.domain}{self.path}"

    def describe(self) -> str:
        """For messages: "prod (wp_ on wfu_prod, www.wfu.edu)"."""
        return f"{self.env or 'an unnamed environment'} ({self.prefix} on {self.database}, {self.address})"

    def same_as(self, other: NetworkIdentity) -> bool:
        """Whether `other` is this network: same id and, when both name one, the same environment."""
        if self.id != other.id:
            return False
        return self.env is None or other.env is None or self.env == other.env


def _path(path: str) -> str:
    """WordPress keeps paths with a slash at both ends ("/", "/network/")."""
    inner = path.strip("/")
    return f"/{inner}/" if inner else "/"


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def read_network(conn: Any, database: str, prefix: str, *, env: str | None = None) -> NetworkIdentity:
    """Read the identity of the network at `prefix` in `database` over `conn`.

    The main domain and path come from the first row of `<prefix>site` (the network WordPress
    boots when it is not told another), else the `<prefix>blogs` row of site 1, else (a single-site
    install) the `siteurl` option. Raises mysql.connector.Error when the server cannot answer.
    """
    rows = query(
        conn,
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN "
        "(%s, %s, %s)",
        (database, prefix + "site", prefix + "blogs", prefix + "options"),
    )
    present = {_text(r[0]) for r in rows}

    def table(suffix: str) -> str:
        return f"{quote_identifier(database)}.{quote_identifier(prefix + suffix)}"

    found: list[tuple[Any, ...]] = []
    multisite = prefix + "blogs" in present or prefix + "site" in present
    if prefix + "site" in present:
        found = query(conn, f"SELECT domain, path FROM {table('site')} ORDER BY id LIMIT 1")
    if not found and prefix + "blogs" in present:
        found = query(conn, f"SELECT domain, path FROM {table('blogs')} ORDER BY blog_id LIMIT 1")
    domain, path = (_text(found[0][0]).lower(), _path(_text(found[0][1]))) if found else ("", "/")
    if not found and prefix + "options" in present:
        urls = query(
            conn,
            f"SELECT option_value FROM {table('options')} WHERE option_name = 'siteurl' LIMIT 1",
        )
        if urls:
            parts = urlsplit(_text(urls[0][0]).strip())
            domain, path = (parts.netloc or parts.path.split("/")[0]).lower(), _path(parts.path)
            if not parts.netloc:  # "example.org/blog" without a scheme
                path = _path(parts.path.partition("/")[2])
    return NetworkIdentity(
        id=network_id(database, prefix, domain, path),
        database=database,
        prefix=prefix,
        domain=domain,
        path=path,
        multisite=multisite,
        env=env,
    )


def network_of(db: Database) -> NetworkIdentity:
    """The identity of the network `db` points at (its database and table prefix), named `db.name`.

    Raises DatabaseError when the server cannot be reached or answer.
    """
    try:
        with closing(db.connect()) as conn:
            return read_network(conn, db.database, db.table_prefix, env=db.name or None)
    except mysql.connector.Error as exc:
        raise database_error(exc, f"reading which network {db} holds") from None


def network_or_none(db: Database) -> NetworkIdentity | None:
    """`network_of(db)` for records: None when the database cannot say (it is down, or refuses).

    An archive is worth keeping even when its network could not be read; it then reads as unknown.
    """
    try:
        return network_of(db)
    except DatabaseError:
        return None
