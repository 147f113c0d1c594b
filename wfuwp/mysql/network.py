"""What the multisite network says about a site: its wp_blogs row and its URLs.

`read_site` gives a `SiteAddress` (wp_blogs domain and path, siteurl and home), the values the
replacement planner (`wfuwp.config.plan`) builds the site's own rules from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import mysql.connector

from wfuwp.errors import SiteNotFoundError, WfuwpError
from wfuwp.mysql.connection import Database, closing, database_error, query
from wfuwp.mysql.sql import quote_identifier


def options_table(prefix: str, site_id: int) -> str:
    """The site's options table name."""
    return f"{prefix}options" if site_id == 1 else f"{prefix}{site_id}_options"


def site_address(conn: Any, database: str, prefix: str, site_id: int, where: str) -> tuple[str, str]:
    """The site's (domain, path) from wp_blogs; SiteNotFoundError when the network has no such site."""
    rows = query(
        conn,
        f"SELECT domain, path FROM {quote_identifier(database)}.{quote_identifier(prefix + 'blogs')}"
        " WHERE blog_id = %s",
        (site_id,),
    )
    if not rows:
        raise SiteNotFoundError(
            f"site {site_id} has no row in {prefix}blogs of {where}: create the site there first, "
            "or pass the replacement pairs yourself"
        )
    domain, path = (v.decode() if isinstance(v, (bytes, bytearray)) else str(v) for v in rows[0])
    return domain, path


def site_label(db: Database, site_id: int) -> str:
    """A file-name-safe name for the site: its path ("biology") or first host label; `site<id>` if unknown."""
    try:
        with closing(db.connect()) as conn:
            domain, path = site_address(conn, db.database, db.table_prefix, site_id, str(db))
    except (WfuwpError, mysql.connector.Error):  # no wp_blogs (not a multisite network): a plain name
        return f"site{site_id}"
    name = (domain.split(".")[0] if path.strip("/") == "" else path.strip("/").replace("/", "-")) or "site"
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


@dataclass(frozen=True)
class SiteAddress:
    """Where one network serves a site: its `wp_blogs` domain and path, and its siteurl/home options.

    `siteurl`/`home` are None when the site's options table has no such row (or cannot be read); they
    are kept as stored, without a trailing slash.
    """

    domain: str
    path: str = "/"
    siteurl: str | None = None
    home: str | None = None

    @property
    def url(self) -> str:
        """The site's address for people: home, else siteurl, else https://domain/path/ (ends with /)."""
        url = self.home or self.siteurl or f"https://{self.domain}{self.path}"
        return url if url.endswith("/") else url + "/"


def read_site(conn: Any, database: str, prefix: str, site_id: int, where: str) -> SiteAddress:
    """The site's `SiteAddress` in one network; SiteNotFoundError when its wp_blogs has no such row.

    A missing or unreadable options table leaves siteurl and home None rather than failing: the
    wp_blogs row is what says the site exists. A single-site install (no wp_blogs) has only site 1,
    whose domain and path are those of its home (else siteurl) option.
    """
    try:
        domain, path = site_address(conn, database, prefix, site_id, where)
    except mysql.connector.Error as exc:
        if exc.errno != _NO_SUCH_TABLE or site_id != 1:
            raise
        return _single_site(conn, database, prefix, where)
    options = _site_options(conn, database, prefix, site_id)
    return SiteAddress(domain, path or "/", options.get("siteurl"), options.get("home"))


# ER_NO_SUCH_TABLE: the database has no wp_blogs, so it is a single-site install.
_NO_SUCH_TABLE = 1146


def _single_site(conn: Any, database: str, prefix: str, where: str) -> SiteAddress:
    options = _site_options(conn, database, prefix, 1)
    url = options.get("home") or options.get("siteurl")
    parts = urlsplit(url) if url else None
    if parts is None or not parts.hostname:
        raise SiteNotFoundError(
            f"{where} has no {prefix}blogs and no siteurl or home in {prefix}options: check the table "
            "prefix, or pass the replacement pairs yourself"
        )
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    path = parts.path.rstrip("/") + "/"
    return SiteAddress(host, path, options.get("siteurl"), options.get("home"))


def _site_options(conn: Any, database: str, prefix: str, site_id: int) -> dict[str, str]:
    """The site's siteurl and home options, stripped of a trailing slash; missing ones left out."""
    options: dict[str, str] = {}
    table = f"{quote_identifier(database)}.{quote_identifier(options_table(prefix, site_id))}"
    try:
        rows = query(
            conn,
            f"SELECT option_name, option_value FROM {table} WHERE option_name IN ('siteurl', 'home')",
        )
    except mysql.connector.Error:
        rows = []
    for name, value in rows:
        text = value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)
        key = name.decode() if isinstance(name, (bytes, bytearray)) else str(name)
        if text.strip():
            options[key] = text.strip().rstrip("/")
    return options


def read_site_of(db: Database, site_id: int) -> SiteAddress:
    """`read_site` over a connection of its own: SiteNotFoundError when `db`'s network has no such
    site, DatabaseError when `db` cannot be reached or its wp_blogs cannot be read."""
    try:
        with closing(db.connect()) as conn:
            return read_site(conn, db.database, db.table_prefix, site_id, str(db))
    except mysql.connector.Error as exc:
        raise database_error(
            exc, f"cannot read site {site_id}'s row in {db.table_prefix}blogs of {db}"
        ) from None
