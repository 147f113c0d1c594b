"""What the multisite network says about a site: its wp_blogs row and its URLs.

Used to derive the site's own replacement pairs when a caller gives none.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from wfuwp.mysql.connection import query
from wfuwp.errors import SiteNotFoundError
from wfuwp.mysql.sql import quote_identifier


def options_table(prefix: str, site_id: int) -> str:
    """The site's options table name."""
    return f"{prefix}options" if site_id == 1 else f"{prefix}{site_id}_options"


def site_address(conn: Any, database: str, prefix: str, site_id: int, where: str) -> tuple[str, str]:
    """The site's (domain, path) from wp_blogs; SiteNotFoundError when the network has no such site."""
    rows = query(
        conn,
        f"SELECT domain, path FROM {quote_identifier(database)}.{quote_identifier(prefix + 'blogs')} WHERE blog_id = %s",
        (site_id,),
    )
    if not rows:
        raise SiteNotFoundError(
            f"site {site_id} has no row in {prefix}blogs of {where}: create the site there first, "
            "or pass the replacement pairs yourself"
        )
    domain, path = (v.decode() if isinstance(v, (bytes, bytearray)) else str(v) for v in rows[0])
    return domain, path


def site_urls(conn: Any, database: str, prefix: str, site_id: int) -> list[str]:
    """The site's siteurl and home options (distinct, without a trailing slash)."""
    table = f"{quote_identifier(database)}.{quote_identifier(options_table(prefix, site_id))}"
    rows = query(
        conn,
        f"SELECT option_name, option_value FROM {table} WHERE option_name IN ('siteurl', 'home') ORDER BY option_name DESC",
    )
    urls = []
    for _name, value in rows:
        text = (
            value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)
        ).rstrip("/")
        if text and text not in urls:
            urls.append(text)
    return urls


def derive_pairs(
    source: tuple[tuple[str, str], list[str]], target: tuple[tuple[str, str], list[str]]
) -> list[tuple[str, str]]:
    """Pairs that move a site's own URLs from the source network's address to the target's.

    Each side is ((domain, path), [siteurl, home]). Full URLs come first (both schemes), then the
    scheme-less `//domain/path` and `domain/path` forms, longest first so no pair pre-empts another.
    """
    (src_domain, src_path), src_urls = source
    (tgt_domain, tgt_path), tgt_urls = target
    src_base = src_domain + src_path.rstrip("/")
    tgt_base = tgt_domain + tgt_path.rstrip("/")
    pairs: list[tuple[str, str]] = []

    def add(search: str, replacement: str) -> None:
        if search and search != replacement and all(search != s for s, _ in pairs):
            pairs.append((search, replacement))

    for src_url, tgt_url in zip(src_urls, tgt_urls):
        add(src_url, tgt_url)
    for scheme in ("https", "http"):
        add(f"{scheme}://{src_base}", f"{scheme}://{tgt_base}")
    for src_url in src_urls:
        host_path = src_url.split("://", 1)[-1]
        if urlsplit(src_url).scheme and host_path != src_base:
            add(f"//{host_path}", f"//{tgt_base}")
    add(f"//{src_base}", f"//{tgt_base}")
    add(src_base, tgt_base)
    return sorted(pairs, key=lambda p: -len(p[0]))
