"""What the multisite network says about a site: its wp_blogs row and its URLs.

Used to derive the site's own replacement pairs when a caller gives none.
"""

from __future__ import annotations

from typing import Any

import mysql.connector

from wfuwp.errors import SiteNotFoundError, WfuwpError
from wfuwp.mysql.connection import Database, closing, query
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


def site_urls(conn: Any, database: str, prefix: str, site_id: int) -> list[str]:
    """The site's siteurl and home options (distinct, without a trailing slash)."""
    table = f"{quote_identifier(database)}.{quote_identifier(options_table(prefix, site_id))}"
    rows = query(
        conn,
        f"SELECT option_name, option_value FROM {table}"
        " WHERE option_name IN ('siteurl', 'home') ORDER BY option_name DESC",
    )
    urls = []
    for _name, value in rows:
        text = (
            value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)
        ).rstrip("/")
        if text and text not in urls:
            urls.append(text)
    return urls
