"""Tables of the generated network: WordPress's own definitions, plugin tables of every shape, and rows.

Each table carries builders (`FixedRows`, `BulkRows`) that render its rows from `Hosts`; `netgen` loads the
source rendering and compares against a target rendering. Part of `netgen` (see devtools/netgen.py).
"""

from __future__ import annotations

import gzip
import hashlib
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devtools.netgen_values import (
    Blob,
    Dbl,
    Hosts,
    Lit,
    Obj,
    Row,
    Site,
    Value,
    canonical,
    case_values,
    html_body,
    make_slug,
    php_json,
    serialize,
    words,
)

if TYPE_CHECKING:
    from devtools.netgen import Network

CHARSET = "utf8mb4"
COLLATION = "utf8mb4_unicode_520_ci"

# ---------------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------------

Generated = Callable[[dict[str, bytes | None]], bytes | None]
RowsBuilder = Callable[[Hosts], list[Row]]


class Dyn:
    """A value of a bulk row that depends on the row's id (guid, slug, parent id)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[int], Value]) -> None:
        self.fn = fn


@dataclass
class FixedRows:
    """Rows built as a whole; each rendering is kept (small tables, and the source one is used twice)."""

    build: RowsBuilder
    cache: dict[Hosts, list[Row]] = field(default_factory=dict)

    def rows(self, hx: Hosts) -> list[Row]:
        """Return the rows rendered with `hx`."""
        if hx not in self.cache:
            self.cache[hx] = self.build(hx)
        return self.cache[hx]


@dataclass
class BulkRows:
    """`count` rows with ids `first_id`.. cycling over templates; template values may be `Dyn`."""

    first_id: int
    count: int
    templates: Callable[[Hosts], list[tuple[Value | Dyn, ...]]]


@dataclass
class TableInfo:
    """What the generator made of one table.

    `site` is None for network tables. `columns` lists every column in order, generated ones too;
    `insert_columns` the ones rows carry. `primary_key` holds column names (empty: no key).
    `auto_increment` is the counter set above max(id), or None. `shapes` names the shapes it covers
    (see `Network.table_shapes`). `binary_columns` must be copied byte for byte.
    """

    name: str
    site: int | None
    columns: tuple[str, ...]
    primary_key: tuple[str, ...]
    engine: str = "InnoDB"
    charset: str = CHARSET
    auto_increment: int | None = None
    shapes: tuple[str, ...] = ()
    binary_columns: tuple[str, ...] = ()
    generated: dict[str, Generated] = field(default_factory=dict)
    row_count: int = 0
    data_bytes: int = 0
    body: str = field(default="", repr=False)
    table_options: str = field(default="", repr=False)
    segments: list[FixedRows | BulkRows] = field(default_factory=list, repr=False)

    @property
    def insert_columns(self) -> tuple[str, ...]:
        """Columns an INSERT names (generated columns excluded)."""
        return tuple(c for c in self.columns if c not in self.generated)

    def create_statements(self, qualified: str, *, defer_keys: bool = False) -> list[str]:
        """Return the CREATE TABLE for `qualified`; with `defer_keys`, secondary keys come in a later ALTER.

        Building secondary indexes after a bulk load sorts them once instead of updating them per row.
        """
        lines = [line.rstrip().rstrip(",") for line in self.body.strip("\n").splitlines()]
        keys = [ln.strip() for ln in lines if defer_keys and _SECONDARY_KEY.match(ln)]
        kept = [ln for ln in lines if ln.strip() not in keys]
        out = [f"CREATE TABLE {qualified} (\n" + ",\n".join(kept) + f"\n) {self.table_options}"]
        if keys:
            out.append(f"ALTER TABLE {qualified} " + ", ".join(f"ADD {k}" for k in keys))
        return out


_SECONDARY_KEY = re.compile(r"^\s*(UNIQUE KEY|KEY|INDEX|FULLTEXT KEY)\b")


_COLUMN_LINE = re.compile(r"^\s*`?([A-Za-z_][A-Za-z0-9_]*)`?\s+(?!KEY\b)([a-z]+)", re.IGNORECASE)
_NOT_COLUMN = ("PRIMARY", "KEY", "UNIQUE", "INDEX", "FULLTEXT", "CONSTRAINT", "CHECK")


def _columns_of(body: str) -> tuple[str, ...]:
    """Column names of a CREATE TABLE body written one definition per line (this module's own text)."""
    names = []
    for line in body.strip().splitlines():
        first = line.strip().split(" ", 1)[0].upper()
        if first in _NOT_COLUMN:
            continue
        match = _COLUMN_LINE.match(line)
        if match:
            names.append(match.group(1))
    return tuple(names)


def _primary_key_of(body: str) -> tuple[str, ...]:
    match = re.search(r"PRIMARY KEY\s*\(([^)]*)\)", body)
    if match:
        return tuple(part.strip().strip("`").split("(")[0] for part in match.group(1).split(","))
    names = [m.group(1) for m in re.finditer(r"^\s*`?(\w+)`?\s.*\bPRIMARY KEY\b", body, re.MULTILINE)]
    return tuple(names)


# Column definitions of WordPress 6.x (wp-admin/includes/schema.php), per-site tables.
_SITE_SCHEMA: dict[str, str] = {
    "termmeta": """
  meta_id bigint(20) unsigned NOT NULL auto_increment,
  term_id bigint(20) unsigned NOT NULL default '0',
  meta_key varchar(255) default NULL,
  meta_value longtext,
  PRIMARY KEY (meta_id),
  KEY term_id (term_id),
  KEY meta_key (meta_key(191))""",
    "terms": """
  term_id bigint(20) unsigned NOT NULL auto_increment,
  name varchar(200) NOT NULL default '',
  slug varchar(200) NOT NULL default '',
  term_group bigint(10) NOT NULL default 0,
  PRIMARY KEY (term_id),
  KEY slug (slug(191)),
  KEY name (name(191))""",
    "term_taxonomy": """
  term_taxonomy_id bigint(20) unsigned NOT NULL auto_increment,
  term_id bigint(20) unsigned NOT NULL default 0,
  taxonomy varchar(32) NOT NULL default '',
  description longtext NOT NULL,
  parent bigint(20) unsigned NOT NULL default 0,
  count bigint(20) NOT NULL default 0,
  PRIMARY KEY (term_taxonomy_id),
  UNIQUE KEY term_id_taxonomy (term_id,taxonomy),
  KEY taxonomy (taxonomy)""",
    "term_relationships": """
  object_id bigint(20) unsigned NOT NULL default 0,
  term_taxonomy_id bigint(20) unsigned NOT NULL default 0,
  term_order int(11) NOT NULL default 0,
  PRIMARY KEY (object_id,term_taxonomy_id),
  KEY term_taxonomy_id (term_taxonomy_id)""",
    "commentmeta": """
  meta_id bigint(20) unsigned NOT NULL auto_increment,
  comment_id bigint(20) unsigned NOT NULL default '0',
  meta_key varchar(255) default NULL,
  meta_value longtext,
  PRIMARY KEY (meta_id),
  KEY comment_id (comment_id),
  KEY meta_key (meta_key(191))""",
    "comments": """
  comment_ID bigint(20) unsigned NOT NULL auto_increment,
  comment_post_ID bigint(20) unsigned NOT NULL default '0',
  comment_author tinytext NOT NULL,
  comment_author_email varchar(100) NOT NULL default '',
  comment_author_url varchar(200) NOT NULL default '',
  comment_author_IP varchar(100) NOT NULL default '',
  comment_date datetime NOT NULL default '0000-00-00 00:00:00',
  comment_date_gmt datetime NOT NULL default '0000-00-00 00:00:00',
  comment_content text NOT NULL,
  comment_karma int(11) NOT NULL default '0',
  comment_approved varchar(20) NOT NULL default '1',
  comment_agent varchar(255) NOT NULL default '',
  comment_type varchar(20) NOT NULL default 'comment',
  comment_parent bigint(20) unsigned NOT NULL default '0',
  user_id bigint(20) unsigned NOT NULL default '0',
  PRIMARY KEY (comment_ID),
  KEY comment_post_ID (comment_post_ID),
  KEY comment_approved_date_gmt (comment_approved,comment_date_gmt),
  KEY comment_date_gmt (comment_date_gmt),
  KEY comment_parent (comment_parent),
  KEY comment_author_email (comment_author_email(10))""",
    "links": """
  link_id bigint(20) unsigned NOT NULL auto_increment,
  link_url varchar(255) NOT NULL default '',
  link_name varchar(255) NOT NULL default '',
  link_image varchar(255) NOT NULL default '',
  link_target varchar(25) NOT NULL default '',
  link_description varchar(255) NOT NULL default '',
  link_visible varchar(20) NOT NULL default 'Y',
  link_owner bigint(20) unsigned NOT NULL default '1',
  link_rating int(11) NOT NULL default '0',
  link_updated datetime NOT NULL default '0000-00-00 00:00:00',
  link_rel varchar(255) NOT NULL default '',
  link_notes mediumtext NOT NULL,
  link_rss varchar(255) NOT NULL default '',
  PRIMARY KEY (link_id),
  KEY link_visible (link_visible)""",
    "options": """
  option_id bigint(20) unsigned NOT NULL auto_increment,
  option_name varchar(191) NOT NULL default '',
  option_value longtext NOT NULL,
  autoload varchar(20) NOT NULL default 'yes',
  PRIMARY KEY (option_id),
  UNIQUE KEY option_name (option_name),
  KEY autoload (autoload)""",
    "postmeta": """
  meta_id bigint(20) unsigned NOT NULL auto_increment,
  post_id bigint(20) unsigned NOT NULL default '0',
  meta_key varchar(255) default NULL,
  meta_value longtext,
  PRIMARY KEY (meta_id),
  KEY post_id (post_id),
  KEY meta_key (meta_key(191))""",
    "posts": """
  ID bigint(20) unsigned NOT NULL auto_increment,
  post_author bigint(20) unsigned NOT NULL default '0',
  post_date datetime NOT NULL default '0000-00-00 00:00:00',
  post_date_gmt datetime NOT NULL default '0000-00-00 00:00:00',
  post_content longtext NOT NULL,
  post_title text NOT NULL,
  post_excerpt text NOT NULL,
  post_status varchar(20) NOT NULL default 'publish',
  comment_status varchar(20) NOT NULL default 'open',
  ping_status varchar(20) NOT NULL default 'open',
  post_password varchar(255) NOT NULL default '',
  post_name varchar(200) NOT NULL default '',
  to_ping text NOT NULL,
  pinged text NOT NULL,
  post_modified datetime NOT NULL default '0000-00-00 00:00:00',
  post_modified_gmt datetime NOT NULL default '0000-00-00 00:00:00',
  post_content_filtered longtext NOT NULL,
  post_parent bigint(20) unsigned NOT NULL default '0',
  guid varchar(255) NOT NULL default '',
  menu_order int(11) NOT NULL default '0',
  post_type varchar(20) NOT NULL default 'post',
  post_mime_type varchar(100) NOT NULL default '',
  comment_count bigint(20) NOT NULL default '0',
  PRIMARY KEY (ID),
  KEY post_name (post_name(191)),
  KEY type_status_date (post_type,post_status,post_date,ID),
  KEY post_parent (post_parent),
  KEY post_author (post_author)""",
}

# Network tables (schema.php's global and ms_global tables, plus two legacy ones still found in old networks).
_NETWORK_SCHEMA: dict[str, str] = {
    "users": """
  ID bigint(20) unsigned NOT NULL auto_increment,
  user_login varchar(60) NOT NULL default '',
  user_pass varchar(255) NOT NULL default '',
  user_nicename varchar(50) NOT NULL default '',
  user_email varchar(100) NOT NULL default '',
  user_url varchar(100) NOT NULL default '',
  user_registered datetime NOT NULL default '0000-00-00 00:00:00',
  user_activation_key varchar(255) NOT NULL default '',
  user_status int(11) NOT NULL default '0',
  display_name varchar(250) NOT NULL default '',
  spam tinyint(2) NOT NULL default '0',
  deleted tinyint(2) NOT NULL default '0',
  PRIMARY KEY (ID),
  KEY user_login_key (user_login),
  KEY user_nicename (user_nicename),
  KEY user_email (user_email)""",
    "usermeta": """
  umeta_id bigint(20) unsigned NOT NULL auto_increment,
  user_id bigint(20) unsigned NOT NULL default '0',
  meta_key varchar(255) default NULL,
  meta_value longtext,
  PRIMARY KEY (umeta_id),
  KEY user_id (user_id),
  KEY meta_key (meta_key(191))""",
    "blogs": """
  blog_id bigint(20) NOT NULL auto_increment,
  site_id bigint(20) NOT NULL default '0',
  domain varchar(200) NOT NULL default '',
  path varchar(100) NOT NULL default '',
  registered datetime NOT NULL default '0000-00-00 00:00:00',
  last_updated datetime NOT NULL default '0000-00-00 00:00:00',
  public tinyint(2) NOT NULL default '1',
  archived tinyint(2) NOT NULL default '0',
  mature tinyint(2) NOT NULL default '0',
  spam tinyint(2) NOT NULL default '0',
  deleted tinyint(2) NOT NULL default '0',
  lang_id int(11) NOT NULL default '0',
  PRIMARY KEY (blog_id),
  KEY domain (domain(50),path(5)),
  KEY lang_id (lang_id)""",
    "blogmeta": """
  meta_id bigint(20) unsigned NOT NULL auto_increment,
  blog_id bigint(20) NOT NULL default '0',
  meta_key varchar(255) default NULL,
  meta_value longtext,
  PRIMARY KEY (meta_id),
  KEY meta_key (meta_key(191)),
  KEY blog_id (blog_id)""",
    "registration_log": """
  ID bigint(20) NOT NULL auto_increment,
  email varchar(255) NOT NULL default '',
  IP varchar(30) NOT NULL default '',
  blog_id bigint(20) NOT NULL default '0',
  date_registered datetime NOT NULL default '0000-00-00 00:00:00',
  PRIMARY KEY (ID),
  KEY IP (IP)""",
    "site": """
  id bigint(20) NOT NULL auto_increment,
  domain varchar(200) NOT NULL default '',
  path varchar(100) NOT NULL default '',
  PRIMARY KEY (id),
  KEY domain (domain(140),path(51))""",
    "sitemeta": """
  meta_id bigint(20) NOT NULL auto_increment,
  site_id bigint(20) NOT NULL default '0',
  meta_key varchar(255) default NULL,
  meta_value longtext,
  PRIMARY KEY (meta_id),
  KEY meta_key (meta_key(191)),
  KEY site_id (site_id)""",
    "signups": """
  signup_id bigint(20) NOT NULL auto_increment,
  domain varchar(200) NOT NULL default '',
  path varchar(100) NOT NULL default '',
  title longtext NOT NULL,
  user_login varchar(60) NOT NULL default '',
  user_email varchar(100) NOT NULL default '',
  registered datetime NOT NULL default '0000-00-00 00:00:00',
  activated datetime NOT NULL default '0000-00-00 00:00:00',
  active tinyint(1) NOT NULL default '0',
  activation_key varchar(50) NOT NULL default '',
  meta longtext,
  PRIMARY KEY (signup_id),
  KEY activation_key (activation_key),
  KEY user_email (user_email),
  KEY user_login_email (user_login,user_email),
  KEY domain_path (domain(140),path(51))""",
    "blog_versions": """
  blog_id bigint(20) NOT NULL default '0',
  db_version varchar(20) NOT NULL default '',
  last_updated datetime NOT NULL default '0000-00-00 00:00:00',
  PRIMARY KEY (blog_id),
  KEY db_version (db_version)""",
    "sitecategories": """
  cat_ID bigint(20) NOT NULL auto_increment,
  cat_name varchar(55) NOT NULL default '',
  category_nicename varchar(200) NOT NULL default '',
  last_updated timestamp NOT NULL default CURRENT_TIMESTAMP,
  PRIMARY KEY (cat_ID),
  KEY category_nicename (category_nicename),
  KEY last_updated (last_updated)""",
}

# The same definitions, for other dev tools that build WordPress tables (devtools/messy.py).
SITE_SCHEMA: Mapping[str, str] = _SITE_SCHEMA
NETWORK_SCHEMA: Mapping[str, str] = _NETWORK_SCHEMA

_DEFAULT_TABLE_OPTIONS = f"ENGINE=InnoDB DEFAULT CHARSET={CHARSET} COLLATE={COLLATION}"


def _dt(rng: random.Random, start: int = 2012, end: int = 2024) -> str:
    return (
        f"{rng.randint(start, end)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    )


ZERO_DATETIME = "0000-00-00 00:00:00"


def _post_row(
    rng: random.Random,
    hx: Hosts,
    site: Site,
    post_id: int | Dyn,
    kind: str,
    paragraphs: int,
    parent: int | Dyn = 0,
) -> tuple[Value | Dyn, ...]:
    """Return a wp_posts row of `kind` (post, page, attachment, draft, revision, nav_menu_item)."""
    url = f"https://{hx.host}{site.path}"
    date = _dt(rng)
    title = words(rng, rng.randint(2, 6)).capitalize()
    slug = make_slug(rng)
    content = html_body(rng, hx, site, paragraphs) if kind != "attachment" else b""
    status, post_type, mime, date_gmt = "publish", kind, "", date
    if kind == "attachment":
        status, mime = "inherit", "image/jpeg"
    elif kind == "draft":
        status, post_type, date_gmt = "draft", "post", ZERO_DATETIME  # drafts have no GMT date yet
    elif kind == "revision":
        status = "inherit"

    def per_id(fmt: str) -> Value | Dyn:
        if isinstance(post_id, Dyn):
            return Dyn(lambda i: fmt.format(id=i))
        return fmt.format(id=post_id)

    if kind == "attachment":
        guid: Value | Dyn = f"{url}{site.uploads}/{date[:4]}/{date[5:7]}/{slug}.jpg"
    else:
        guid = per_id(f"http://{hx.host}{site.path}/?p={{id}}")  # WordPress writes guids with http://
    name = per_id(f"{slug}-{{id}}") if isinstance(post_id, Dyn) else slug
    return (
        post_id,
        1 + rng.randrange(3),
        date,
        date_gmt,
        content,
        title,
        words(rng, 5),
        status,
        "open",
        "open",
        "",
        name,
        "",
        f"{url}/pinged-{rng.randint(1, 99)}/" if rng.random() < 0.2 else "",
        date,
        date_gmt,
        "",
        parent,
        guid,
        0,
        post_type,
        mime,
        rng.randint(0, 5),
    )


def site_core_tables(net: Network, site: Site, scale: float) -> list[TableInfo]:
    """Build the WordPress core tables of one site, rows included."""
    p, seed = site.prefix, net.seed
    n_posts = max(4, round(12 * scale))
    n_comments = max(2, round(8 * scale))
    is_main = site.id == net.main_site
    tables: dict[str, TableInfo] = {}
    for short, body in _SITE_SCHEMA.items():
        tables[short] = _table(f"{p}{short}", site.id, body)

    def posts(hx: Hosts) -> list[Row]:
        rng = random.Random(f"{seed}:{p}posts")
        kinds = ["page", "post", "attachment", "draft", "post", "revision", "nav_menu_item", "post"]
        rows = []
        for i in range(1, n_posts + 1):
            kind = kinds[(i - 1) % len(kinds)]
            parent = i - 1 if kind == "revision" else 0
            rows.append(_post_row(rng, hx, site, i, kind, rng.randint(2, 10), parent))
        return rows  # type: ignore[return-value]

    tables["posts"].segments.append(FixedRows(posts))
    # Deleted posts leave the counter above max(ID).
    tables["posts"].auto_increment = n_posts + 500
    tables["posts"].shapes += ("auto_increment_above_max",)

    def postmeta(hx: Hosts) -> list[Row]:
        rng = random.Random(f"{seed}:{p}postmeta")
        url = f"https://{hx.host}{site.path}"
        rows: list[Row] = []
        for post in range(1, n_posts + 1):
            year, month = rng.randint(2012, 2024), rng.randint(1, 12)
            rel = f"{year}/{month:02d}/img-{post}.jpg"
            rows.append((None, post, "_wp_attached_file", rel))
            sizes = {
                s: {"file": f"img-{post}-{w}x{w}.jpg", "width": w, "height": w, "mime-type": "image/jpeg"}
                for s, w in (("thumbnail", 150), ("medium", 300), ("large", 1024))
            }
            meta = {
                "width": 2048,
                "height": 1365,
                "file": rel,
                "sizes": sizes,
                "image_meta": {"aperture": "0", "credit": "", "caption": "", "copyright": ""},
            }
            rows.append((None, post, "_wp_attachment_metadata", serialize(meta)))
            elementor = [
                {
                    "id": f"{post:07x}",
                    "elType": "section",
                    "elements": [
                        {
                            "id": "a1",
                            "elType": "widget",
                            "widgetType": "image",
                            "settings": {
                                "image": {"url": f"{url}{site.uploads}/{rel}", "id": post},
                                "link": {"url": f"{url}/contact/", "is_external": ""},
                            },
                        }
                    ],
                }
            ]
            rows.append((None, post, "_elementor_data", php_json(elementor)))
            rows.append((None, post, "_yoast_wpseo_canonical", f"{url}/canonical-{post}/"))
            rows.append((None, post, "_menu_item_url", f"http://{hx.host}{site.path}/menu-{post}/"))
            rows.append(
                (None, post, "enclosure", f"{url}{site.uploads}/{rel[:8]}talk.mp3\n734003\naudio/mpeg\n")
            )
            rows.append((None, post, "_edit_lock", f"{1600000000 + post}:1"))
        if is_main:
            for name, value in case_values(hx, site):
                rows.append((None, 1 + len(rows) % n_posts, f"_netgen_case_{name}", value))
        return [(i + 1, *row[1:]) for i, row in enumerate(rows)]

    tables["postmeta"].segments.append(FixedRows(postmeta))

    def options(hx: Hosts) -> list[Row]:
        rng = random.Random(f"{seed}:{p}options")
        url = f"https://{hx.host}{site.path}"
        rows: list[tuple[str, str | bytes, str]] = [
            ("siteurl", url, "yes"),
            ("home", url, "yes"),
            ("blogname", f"Site {site.id} — {words(rng, 2)}", "yes"),
            ("blogdescription", words(rng, 6), "yes"),
            ("admin_email", "webmaster@example.edu", "yes"),
            ("mailserver_url", "mail.example.com", "yes"),
            ("fileupload_url", f"{url}/files", "yes"),
            ("upload_path", f"wp-content/blogs.dir/{site.id}/files" if site.id > 1 else "", "yes"),
            (
                "active_plugins",
                serialize(["akismet/akismet.php", "wordpress-seo/wp-seo.php", "elementor/elementor.php"]),
                "yes",
            ),
            (
                f"{p}user_roles",
                serialize(
                    {
                        "administrator": {
                            "name": "Administrator",
                            "capabilities": {"read": True, "manage_options": True},
                        },
                        "subscriber": {"name": "Subscriber", "capabilities": {"read": True}},
                    }
                ),
                "yes",
            ),
            (
                "widget_text",
                serialize(
                    {
                        2: {"title": "Links", "text": html_body(rng, hx, site, 3).decode(), "filter": True},
                        "_multiwidget": 1,
                    }
                ),
                "yes",
            ),
            (
                "theme_mods_twentytwentyfour",
                serialize(
                    {
                        "custom_logo": 12,
                        "header_image": f"{url}{site.uploads}/header.jpg",
                        "header_image_data": Obj(
                            "stdClass",
                            [
                                ("url", f"{url}{site.uploads}/header.jpg"),
                                ("thumbnail_url", f"{url}{site.uploads}/header-150x150.jpg"),
                                ("width", 1200),
                            ],
                        ),
                    }
                ),
                "yes",
            ),
            (
                "sidebars_widgets",
                serialize({"wp_inactive_widgets": [], "sidebar-1": ["text-2"], "array_version": 3}),
                "yes",
            ),
            (
                "rewrite_rules",
                serialize(
                    {f"^{make_slug(rng)}/([^/]+)/?$": f"index.php?page=$matches[{i}]" for i in range(40)}
                ),
                "yes",
            ),
            (
                "cron",
                serialize(
                    {
                        1700000000 + i: {
                            "wp_version_check": {
                                "40cd750bba9870f18aada2478b24840a": {
                                    "schedule": "twicedaily",
                                    "args": [],
                                    "interval": 43200,
                                }
                            }
                        }
                        for i in range(3)
                    }
                    | {"version": 2}
                ),
                "yes",
            ),
        ]
        for name, value in case_values(hx, site):
            rows.append((f"netgen_case_{name}", value, "no"))
        if is_main and net.big_row_bytes:
            rows.append(("netgen_big_option", _big_option(hx, site, net.big_row_bytes), "no"))
        return [(i + 1, name, value, autoload) for i, (name, value, autoload) in enumerate(rows)]

    tables["options"].segments.append(FixedRows(options))
    if is_main and net.big_row_bytes:
        tables["options"].shapes += ("big_row",)

    def comments(hx: Hosts) -> list[Row]:
        rng = random.Random(f"{seed}:{p}comments")
        url = f"https://{hx.host}{site.path}"
        rows: list[Row] = []
        for i in range(1, n_comments + 1):
            date = _dt(rng)
            rows.append(
                (
                    i,
                    1 + i % n_posts,
                    words(rng, 2),
                    f"mail@{hx.embedded}" if i % 2 else f"reader{i}@example.org",
                    f"{url}/author/{i}/" if i % 3 else "",
                    f"10.0.{i % 256}.{rng.randint(1, 254)}",
                    date,
                    date,
                    f'Nice post! See <a href="{url}/related-{i}/">this</a> and http://{hx.host}{site.path}/?p={i}',
                    0,
                    "1",
                    "Mozilla/5.0",
                    "comment",
                    0,
                    0,
                )
            )
        return rows

    tables["comments"].segments.append(FixedRows(comments))
    tables["commentmeta"].segments.append(
        FixedRows(
            lambda hx: [
                (
                    1,
                    1,
                    "akismet_history",
                    serialize({"time": Dbl("1600000000.123456"), "event": "check-ham", "user": ""}),
                ),
                (2, 2, "_wp_trash_meta_status", "1"),
                (3, 1, "netgen_author_site", f"https://{hx.host}{site.path}/"),
            ]
        )
    )

    def terms(hx: Hosts) -> list[Row]:
        return [
            (1, "Uncategorized", "uncategorized", 0),
            (2, "News", "news", 0),
            (3, "Café 🎓", "cafe", 0),
            (4, "Menu", "menu", 0),
        ]

    tables["terms"].segments.append(FixedRows(terms))
    tables["term_taxonomy"].segments.append(
        FixedRows(
            lambda hx: [
                (1, 1, "category", "", 0, 1),
                (
                    2,
                    2,
                    "category",
                    f'News from <a href="https://{hx.host}{site.path}/news/">the site</a>.',
                    0,
                    2,
                ),
                (3, 3, "post_tag", "", 0, 1),
                (4, 4, "nav_menu", "", 0, 1),
            ]
        )
    )
    tables["term_relationships"].segments.append(
        FixedRows(
            lambda hx: [(obj, tt, 0) for obj in range(1, n_posts + 1) for tt in (1, 2) if (obj + tt) % 3]
        )
    )
    tables["termmeta"].segments.append(
        FixedRows(
            lambda hx: [
                (1, 2, "thumbnail_url", f"https://{hx.host}{site.path}{site.uploads}/news.png"),
                (2, 3, "netgen_term_links", serialize([f"https://{hx.host}{site.path}/tag/cafe/", "plain"])),
            ]
        )
    )
    tables["links"].segments.append(
        FixedRows(
            lambda hx: [
                (
                    1,
                    f"https://{hx.host}{site.path}/blogroll/",
                    "Our blog",
                    f"https://{hx.host}{site.path}/logo.png",
                    "",
                    "",
                    "Y",
                    1,
                    0,
                    ZERO_DATETIME,
                    "",
                    f"Notes about http://{hx.host}/",
                    "",
                ),
                (
                    2,
                    "https://wordpress.org/",
                    "WordPress",
                    "",
                    "_blank",
                    "",
                    "Y",
                    1,
                    0,
                    "2015-05-05 05:05:05",
                    "",
                    "",
                    "",
                ),
            ]
        )
    )
    return list(tables.values())


def _big_option(hx: Hosts, site: Site, size: int) -> bytes:
    """Return one serialized option of about `size` bytes (page-builder caches reach megabytes)."""
    url = f"https://{hx.host}{site.path}"
    entry = {
        "url": "",
        "title": "Lorem ipsum dolor sit amet, consectetur adipiscing elit — café 🎓",
        "json": "",
        "n": 0,
    }
    # The entry count must not depend on the host (the target rendering needs the same structure), so the
    # estimate counts a typical URL length, not this one.
    approx = len(serialize(entry)) + 2 * 40 + 40
    count = max(1, size // approx)
    return serialize(
        [
            {
                "url": f"{url}/item-{i}/",
                "title": entry["title"],
                "json": php_json({"u": f"{url}/j{i}"}).decode(),
                "n": i,
            }
            for i in range(count)
        ]
    )


def _table(
    name: str,
    site: int | None,
    body: str,
    options: str = _DEFAULT_TABLE_OPTIONS,
    *,
    shapes: tuple[str, ...] = (),
    binary: tuple[str, ...] = (),
    generated: dict[str, Generated] | None = None,
) -> TableInfo:
    engine = re.search(r"ENGINE=(\w+)", options)
    charset = re.search(r"CHARSET=(\w+)", options)
    return TableInfo(
        name=name,
        site=site,
        columns=_columns_of(body),
        primary_key=_primary_key_of(body),
        engine=engine.group(1) if engine else "InnoDB",
        charset=charset.group(1) if charset else CHARSET,
        shapes=shapes,
        binary_columns=binary,
        generated=generated or {},
        body=body,
        table_options=options,
    )


def _url_host(row: dict[str, bytes | None]) -> bytes | None:
    # SUBSTRING_INDEX(SUBSTRING_INDEX(url,'/',3),'/',-1): the part between the 2nd and 3rd slash.
    url = row["url"]
    if url is None:
        return None
    return b"/".join(url.split(b"/")[:3]).rsplit(b"/", 1)[-1]


def _url_length(row: dict[str, bytes | None]) -> bytes | None:
    url = row["url"]
    return None if url is None else b"%d" % len(url)


def _cases(hx: Hosts, site: Site) -> list[tuple[str, bytes]]:
    """Return the case values plugin tables hold: all but the deep nesting (options and postmeta have it)."""
    return [(n, v) for n, v in case_values(hx, site) if n != "ser_deep_nesting"]


def _plugin_activity_log(site: Site, seed: int) -> TableInfo:
    p = site.prefix
    t = _table(
        f"{p}netgen_activity_log",
        site.id,
        """
  logged_at datetime NOT NULL,
  level enum('debug','info','warning','error') NOT NULL default 'info',
  message text NOT NULL,
  context longtext""",
        shapes=("no_primary_key", "duplicate_rows", "enum_set"),
    )

    def rows(hx: Hosts) -> list[Row]:
        rng = random.Random(f"{seed}:{p}activity")
        out_rows: list[Row] = []
        for i, (name, value) in enumerate(_cases(hx, site)):
            out_rows.append((_dt(rng), ("debug", "info", "warning", "error")[i % 4], f"case {name}", value))
        # Logs repeat themselves: two identical rows that a keyed copy would merge.
        dup: Row = (
            "2016-06-06 06:06:06",
            "info",
            f"login from https://{hx.host}{site.path}/wp-login.php",
            None,
        )
        return [*out_rows, dup, dup]

    t.segments.append(FixedRows(rows))
    return t


def _plugin_object_meta(site: Site, seed: int) -> TableInfo:
    p = site.prefix
    t = _table(
        f"{p}netgen_object_meta",
        site.id,
        """
  object_id bigint(20) unsigned NOT NULL,
  meta_key varchar(191) NOT NULL,
  meta_value longtext,
  PRIMARY KEY (object_id,meta_key)""",
        shapes=("composite_primary_key",),
    )

    def rows(hx: Hosts) -> list[Row]:
        return [(1 + i % 3, name, value) for i, (name, value) in enumerate(_cases(hx, site))]

    t.segments.append(FixedRows(rows))
    return t


def _plugin_redirects(site: Site, seed: int) -> TableInfo:
    p = site.prefix
    t = _table(
        f"{p}netgen_redirects",
        site.id,
        """
  source_url varchar(191) NOT NULL,
  target_url text NOT NULL,
  hits int(10) unsigned NOT NULL default 0,
  PRIMARY KEY (source_url)""",
        shapes=("text_primary_key",),
    )

    def rows(hx: Hosts) -> list[Row]:
        url = f"https://{hx.host}{site.path}"
        out_rows: list[Row] = [(f"{url}/old-{i}/", f"{url}/new-{i}/", i * 7) for i in range(6)]
        out_rows += [(f"/legacy/{i}.html", f"http://{hx.host}{site.path}/moved-{i}/", i) for i in range(3)]
        out_rows.append(("/café-🎓", f"{url}/cafe/", 1))
        return out_rows

    t.segments.append(FixedRows(rows))
    return t


def _plugin_legacy(site: Site, seed: int) -> TableInfo:
    p = site.prefix
    t = _table(
        f"{p}netgen_legacy",
        site.id,
        """
  id int(10) unsigned NOT NULL auto_increment,
  title varchar(255) NOT NULL default '',
  body text NOT NULL,
  PRIMARY KEY (id)""",
        "ENGINE=InnoDB DEFAULT CHARSET=latin1",
        shapes=("latin1_utf8_bytes",),
    )

    def rows(hx: Hosts) -> list[Row]:
        # Old installs wrote UTF-8 bytes through a latin1 connection: the column holds UTF-8 bytes.
        keep = (
            "ser_bytes_in_strings",
            "ser_array",
            "json_unicode_escapes",
            "html_dense_links",
            "url_https",
            "trap_longer_tld",
            "ser_double_nested",
        )
        body = [(n, v) for n, v in _cases(hx, site) if n in keep]
        return [(i + 1, Blob(f"Café 🎓 {n}".encode()), Blob(v)) for i, (n, v) in enumerate(body)]

    t.segments.append(FixedRows(rows))
    return t


def _plugin_stats(site: Site, seed: int) -> TableInfo:
    p = site.prefix
    t = _table(
        f"{p}netgen_stats",
        site.id,
        """
  id bigint(20) unsigned NOT NULL auto_increment,
  url varchar(191) NOT NULL,
  views int(11) NOT NULL default 0,
  updated_at timestamp NOT NULL default CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  modified datetime NOT NULL default CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id)""",
        shapes=("on_update_current_timestamp",),
    )

    def rows(hx: Hosts) -> list[Row]:
        rng = random.Random(f"{seed}:{p}stats")
        return [
            (
                i,
                f"https://{hx.host}{site.path}/page-{i}/",
                rng.randint(0, 10**6),
                _dt(rng, 2011, 2015),
                _dt(rng, 2011, 2015),
            )
            for i in range(1, 9)
        ]

    t.segments.append(FixedRows(rows))
    return t


def _plugin_url_index(site: Site, seed: int) -> TableInfo:
    p = site.prefix
    t = _table(
        f"{p}netgen_url_index",
        site.id,
        """
  id bigint(20) unsigned NOT NULL auto_increment,
  url varchar(191) NOT NULL,
  url_length int(11) AS (LENGTH(url)) VIRTUAL,
  url_host varchar(191) AS (SUBSTRING_INDEX(SUBSTRING_INDEX(url,'/',3),'/',-1)) STORED,
  PRIMARY KEY (id),
  KEY url_host (url_host)""",
        shapes=("generated_virtual", "generated_stored"),
        generated={"url_length": _url_length, "url_host": _url_host},
    )

    def rows(hx: Hosts) -> list[Row]:
        return [
            (1, f"https://{hx.host}{site.path}/a/"),
            (2, f"http://{hx.host}/b"),
            (3, f"https://{hx.embedded}.au/c"),
            (4, "https://example.org/d"),
        ]

    t.segments.append(FixedRows(rows))
    return t


def _plugin_zero_dates(site: Site, seed: int) -> TableInfo:
    p = site.prefix
    t = _table(
        f"{p}netgen_zero_dates",
        site.id,
        """
  id int(10) unsigned NOT NULL auto_increment,
  created datetime NOT NULL default '0000-00-00 00:00:00',
  published date NOT NULL default '0000-00-00',
  note varchar(255) NOT NULL default '',
  PRIMARY KEY (id)""",
        shapes=("zero_dates",),
    )

    def rows(hx: Hosts) -> list[Row]:
        return [
            (1, ZERO_DATETIME, "0000-00-00", f"https://{hx.host}{site.path}/never/"),
            (2, "2019-01-02 03:04:05", "0000-00-00", "half"),
            (3, ZERO_DATETIME, "2020-02-29", f"mail@{hx.embedded}"),
        ]

    t.segments.append(FixedRows(rows))
    return t


def _plugin_cache(site: Site, seed: int) -> TableInfo:
    p = site.prefix
    t = _table(
        f"{p}netgen_cache",
        site.id,
        """
  id int(10) unsigned NOT NULL auto_increment,
  cache_key varchar(191) NOT NULL,
  cache_value mediumtext NOT NULL,
  expires int(10) unsigned NOT NULL default 0,
  PRIMARY KEY (id),
  UNIQUE KEY cache_key (cache_key)""",
        "ENGINE=MyISAM DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci",
        shapes=("myisam",),
    )

    def rows(hx: Hosts) -> list[Row]:
        return [
            (i + 1, f"netgen:{name}", value, 1700000000 + i)
            for i, (name, value) in enumerate(_cases(hx, site))
        ]

    t.segments.append(FixedRows(rows))
    return t


def _plugin_form_entries(site: Site, seed: int) -> TableInfo:
    p = site.prefix
    t = _table(
        f"{p}netgen_form_entries",
        site.id,
        """
  entry_id bigint(20) unsigned NOT NULL auto_increment,
  form_id int(11) NOT NULL,
  source_url varchar(255) NOT NULL default '',
  fields longtext NOT NULL,
  created datetime NOT NULL,
  PRIMARY KEY (entry_id)""",
        shapes=("auto_increment_above_max",),
    )
    t.auto_increment = 5000

    def rows(hx: Hosts) -> list[Row]:
        rng = random.Random(f"{seed}:{p}forms")
        url = f"https://{hx.host}{site.path}"
        return [
            (
                i,
                1 + i % 2,
                f"{url}/apply/?ref={i}",
                serialize(
                    {
                        "name": words(rng, 2),
                        "email": f"mail@{hx.embedded}",
                        "page": f"{url}/apply/",
                        "upload": {"url": f"{url}{site.uploads}/forms/cv-{i}.pdf", "size": 12345},
                    }
                ),
                _dt(rng),
            )
            for i in range(1, 6)
        ]

    t.segments.append(FixedRows(rows))
    return t


def _plugin_files(site: Site, seed: int) -> TableInfo:
    p = site.prefix
    t = _table(
        f"{p}netgen_files",
        site.id,
        """
  id int(10) unsigned NOT NULL auto_increment,
  sha1 binary(20) NOT NULL,
  host_tag binary(32) NOT NULL,
  token varbinary(255) NOT NULL,
  flags bit(10) NOT NULL default b'0',
  thumbnail mediumblob,
  archive longblob,
  url varchar(255) NOT NULL default '',
  PRIMARY KEY (id)""",
        shapes=("binary_columns",),
        binary=("sha1", "host_tag", "token", "flags", "thumbnail", "archive"),
    )

    def rows(hx: Hosts) -> list[Row]:
        rng = random.Random(f"{seed}:{p}files")
        src = f"https://{hx.source}{site.path}"
        out_rows: list[Row] = []
        for i in range(1, 5):
            noise = bytes(rng.randrange(256) for _ in range(64))
            # A PNG-like blob: signature, a tEXt chunk naming the source URL, non-UTF-8 bytes.
            png = b"\x89PNG\r\n\x1a\n\0\0\0\x1ctEXtSource\0" + f"{src}/img-{i}.png".encode() + noise
            html = f'<a href="{src}/archived-{i}/">s:5:"{hx.source}";</a>'.encode() * 20
            host_tag = hx.source.encode()[:32].ljust(32, b"\0")  # BINARY pads with NUL bytes
            bits = rng.randrange(1 << 10)
            out_rows.append(
                (
                    i,
                    Blob(hashlib.sha1(png, usedforsecurity=False).digest()),
                    Blob(host_tag),
                    Blob(f"{src}/token/{i}".encode() + b"\xff\xfe"),
                    Lit(f"b'{bits:b}'", bits.to_bytes(2, "big")),
                    Blob(png),
                    Blob(gzip.compress(html, mtime=0)),
                    f"https://{hx.host}{site.path}/img-{i}.png",
                )
            )
        out_rows.append(
            (5, Blob(b"\0" * 20), Blob(b"\0" * 32), Blob(b""), Lit("b'0'", b"\0\0"), None, None, "")
        )
        return out_rows

    t.segments.append(FixedRows(rows))
    return t


def _plugin_typed(site: Site, seed: int) -> TableInfo:
    p = site.prefix
    t = _table(
        f"{p}netgen_typed",
        site.id,
        """
  id int(10) unsigned NOT NULL auto_increment,
  status enum('draft','publish','trash') NOT NULL default 'draft',
  features set('comments','pings','www') NOT NULL default '',
  ratio float NOT NULL default 0,
  score double NOT NULL default 0,
  price decimal(20,6) NOT NULL default 0,
  big bigint(20) unsigned NOT NULL default 0,
  tiny tinyint(4) NOT NULL default 0,
  yr year(4) default NULL,
  tm time default NULL,
  day date default NULL,
  doc json default NULL,
  label varchar(100) NOT NULL default '',
  PRIMARY KEY (id)""",
        shapes=("enum_set", "float_decimal", "json_column"),
    )

    def rows(hx: Hosts) -> list[Row]:
        url = f"https://{hx.host}{site.path}"
        # Literals chosen so the server's text form is known exactly (FLOAT 1.5, DOUBLE 0.1, ...).
        return [
            (
                1,
                "publish",
                "comments,www",
                Lit("1.5", b"1.5"),
                Lit("0.1", b"0.1"),
                Lit("'12345.6789'", b"12345.678900"),
                18446744073709551615,
                -128,
                2019,
                "12:34:56",
                "2020-02-29",
                php_json({"url": f"{url}/"}),
                f"{url}/typed",
            ),
            (
                2,
                "trash",
                "",
                Lit("-0.25", b"-0.25"),
                Lit("1e300", b"1e300"),
                Lit("'-0.000001'", b"-0.000001"),
                0,
                127,
                None,
                "-838:59:59",
                "0000-00-00",
                None,
                "www",
            ),
            (
                3,
                "draft",
                "pings",
                Lit("0", b"0"),
                Lit("-2.5e-10", b"-0.00000000025"),
                Lit("0", b"0.000000"),
                1,
                0,
                1901,
                "00:00:00",
                None,
                b'{"nested":{"a":[1,2,{"u":"http:\\/\\/' + hx.host.encode() + b'\\/"}]}}',
                "",
            ),
        ]

    t.segments.append(FixedRows(rows))
    return t


def _plugin_digit_trap(site: Site, seed: int) -> TableInfo:
    p = site.prefix
    # Site 1's plugin table whose name starts like site 2's: `wp_2fa_...` is not `wp_2_...`.
    t = _table(
        f"{p}2fa_backup_codes",
        site.id,
        """
  user_id bigint(20) unsigned NOT NULL,
  code_hash varchar(64) NOT NULL,
  login_url varchar(255) NOT NULL default '',
  PRIMARY KEY (user_id,code_hash)""",
        shapes=("digit_prefix_name", "composite_primary_key"),
    )

    def rows(hx: Hosts) -> list[Row]:
        return [
            (u, hashlib.sha256(b"%d" % u).hexdigest(), f"https://{hx.host}{site.path}/wp-login.php")
            for u in (1, 2)
        ]

    t.segments.append(FixedRows(rows))
    return t


def _plugin_odd(site: Site, seed: int) -> TableInfo:
    p = site.prefix
    t = _table(
        f"{p}odd-name$x",
        site.id,
        """
  id int(10) unsigned NOT NULL auto_increment,
  note text NOT NULL,
  PRIMARY KEY (id)""",
        shapes=("odd_name",),
    )

    def rows(hx: Hosts) -> list[Row]:
        return [
            (1, f"https://{hx.host}{site.path}/odd/"),
            (2, serialize({"u": f"http://{hx.host}/odd"})),
        ]

    t.segments.append(FixedRows(rows))
    return t


_PLUGIN_BUILDERS: dict[str, Callable[[Site, int], TableInfo]] = {
    "activity_log": _plugin_activity_log,
    "object_meta": _plugin_object_meta,
    "redirects": _plugin_redirects,
    "legacy": _plugin_legacy,
    "stats": _plugin_stats,
    "url_index": _plugin_url_index,
    "zero_dates": _plugin_zero_dates,
    "cache": _plugin_cache,
    "form_entries": _plugin_form_entries,
    "files": _plugin_files,
    "typed": _plugin_typed,
    "digit_trap": _plugin_digit_trap,
    "odd": _plugin_odd,
}
PLUGIN_TABLES = tuple(_PLUGIN_BUILDERS)


def plugin_tables(net: Network, site: Site, which: Iterable[str]) -> list[TableInfo]:
    """Build the plugin tables named in `which` (see PLUGIN_TABLES) for one site, one table shape each."""
    unknown = [w for w in which if w not in _PLUGIN_BUILDERS]
    if unknown:
        raise ValueError(f"unknown plugin tables {unknown}; choose from {', '.join(PLUGIN_TABLES)}")
    return [_PLUGIN_BUILDERS[w](site, net.seed) for w in which]


def build_network_tables(net: Network) -> list[TableInfo]:
    """Build the network tables: every site registered, users with roles on every site."""
    tables = {short: _table(f"{net.prefix}{short}", None, body) for short, body in _NETWORK_SCHEMA.items()}
    sites = [net.site(s) for s in net.sites]

    def sitemeta(hx: Hosts) -> list[Row]:
        meta: list[tuple[str, str | bytes]] = [
            ("site_name", "Example University Sites"),
            ("admin_email", "webmaster@example.edu"),
            ("siteurl", f"https://{hx.host}/"),
            ("site_admins", serialize(["admin"])),
            ("active_sitewide_plugins", serialize({"akismet/akismet.php": 1600000000})),
            ("wfu_redis_cache_flush_id", "0"),
            (
                "netgen_network_links",
                serialize({"home": f"https://{hx.host}/", "mail": f"mail@{hx.embedded}"}),
            ),
        ]
        return [(i + 1, 1, k, v) for i, (k, v) in enumerate(meta)]

    tables["site"].segments.append(FixedRows(lambda hx: [(1, hx.host, "/")]))
    tables["sitemeta"].segments.append(FixedRows(sitemeta))
    tables["blogs"].segments.append(
        FixedRows(
            lambda hx: [
                (
                    s.id,
                    1,
                    hx.host,
                    s.path + "/",
                    "2012-01-01 00:00:00",
                    "2024-01-01 00:00:00",
                    1,
                    0,
                    0,
                    0,
                    0,
                    0,
                )
                for s in sites
            ]
        )
    )
    tables["blogmeta"].segments.append(
        FixedRows(lambda hx: [(i + 1, s.id, "db_version", "57155") for i, s in enumerate(sites)])
    )
    tables["blog_versions"].segments.append(
        FixedRows(lambda hx: [(s.id, "57155", "2024-01-01 00:00:00") for s in sites])
    )
    users = ["admin", "editor", "author", "reader", "café"]
    tables["users"].segments.append(
        FixedRows(
            lambda hx: [
                (
                    i + 1,
                    u,
                    "$P$Bnotarealhash" + str(i),
                    u,
                    f"{u}@example.edu",
                    f"https://{hx.host}/~{u}",
                    "2012-01-01 00:00:00",
                    "",
                    0,
                    u.title(),
                    0,
                    0,
                )
                for i, u in enumerate(users)
            ]
        )
    )

    def usermeta(hx: Hosts) -> list[Row]:
        rows: list[tuple[int, str, str | bytes]] = []
        for uid in range(1, len(users) + 1):
            rows += [
                (uid, "nickname", users[uid - 1]),
                (uid, "primary_blog", str(net.main_site)),
                (uid, "source_domain", hx.host),
            ]
            for s in sites:
                rows += [
                    (
                        uid,
                        f"{s.prefix}capabilities",
                        serialize({"administrator" if uid == 1 else "editor": True}),
                    ),
                    (uid, f"{s.prefix}user_level", "10" if uid == 1 else "7"),
                    (uid, f"{s.prefix}dashboard_quick_press_last_post_id", "3"),
                ]
        return [(i + 1, *r) for i, r in enumerate(rows)]

    tables["usermeta"].segments.append(FixedRows(usermeta))
    tables["signups"].segments.append(
        FixedRows(
            lambda hx: [
                (
                    1,
                    hx.host,
                    "/newsite/",
                    "New Site",
                    "newbie",
                    "newbie@example.edu",
                    "2020-01-01 00:00:00",
                    ZERO_DATETIME,
                    0,
                    "0123456789abcdef",
                    serialize({"lang_id": 1, "public": 1, "add_to_blog": net.main_site}),
                ),
            ]
        )
    )
    tables["registration_log"].segments.append(
        FixedRows(
            lambda hx: [
                (i + 1, "admin@example.edu", "10.0.0.1", s.id, "2012-01-01 00:00:00")
                for i, s in enumerate(sites)
            ]
        )
    )
    tables["sitecategories"].segments.append(
        FixedRows(lambda hx: [(1, "Departments", "departments", "2012-01-01 00:00:00")])
    )
    return list(tables.values())


_BULK_SHARE = {"posts": 0.60, "postmeta": 0.25, "comments": 0.10, "options": 0.05}


def plan_bulk(net: Network, site: Site, tables: Mapping[str, TableInfo], budget: int) -> None:
    """Add bulk segments to the main site's core tables so they hold about `budget` more bytes.

    A few dozen distinct rows per table repeat with new ids; that makes a gigabyte in a minute or two
    while every row stays a realistic one.
    """
    p, seed = site.prefix, net.seed
    id_dyn = Dyn(lambda i: i)

    def post_templates(hx: Hosts) -> list[tuple[Value | Dyn, ...]]:
        rng = random.Random(f"{seed}:{p}bulk_posts")
        return [
            _post_row(
                rng, hx, site, id_dyn, "page" if k % 7 == 0 else "post", rng.choice((2, 4, 8, 16, 32, 64, 96))
            )
            for k in range(48)
        ]

    posts = tables[f"{p}posts"]
    first_post = max_int_key(posts, net.source_hosts) + 1
    n_posts = _bulk_count(post_templates(net.source_hosts), first_post, budget * _BULK_SHARE["posts"])
    _add_bulk_segment(posts, first_post, n_posts, post_templates)

    def meta_templates(hx: Hosts) -> list[tuple[Value | Dyn, ...]]:
        rng = random.Random(f"{seed}:{p}bulk_meta")
        url = f"https://{hx.host}{site.path}"
        post_of = Dyn(lambda i: first_post + i % max(n_posts, 1))
        out: list[tuple[Value | Dyn, ...]] = [
            (id_dyn, post_of, f"_netgen_case_{name}", value)
            for name, value in case_values(hx, site)
            if name not in ("ser_deep_nesting", "html_dense_links")
        ]
        for k in range(24):
            rel = f"{rng.randint(2012, 2024)}/{rng.randint(1, 12):02d}/bulk-{k}.jpg"
            out.append((id_dyn, post_of, "_wp_attached_file", rel))
            out.append(
                (
                    id_dyn,
                    post_of,
                    "_wp_attachment_metadata",
                    serialize(
                        {
                            "width": 1024,
                            "height": 768,
                            "file": rel,
                            "sizes": {"thumbnail": {"file": f"bulk-{k}-150x150.jpg"}},
                        }
                    ),
                )
            )
            out.append(
                (
                    id_dyn,
                    post_of,
                    "_elementor_data",
                    php_json(
                        [
                            {
                                "id": f"{k:07x}",
                                "elType": "widget",
                                "settings": {
                                    "image": {"url": f"{url}{site.uploads}/{rel}"},
                                    "editor": f'<a href="{url}/x-{k}/">x</a>',
                                },
                            }
                        ]
                    ),
                )
            )
            out.append((id_dyn, post_of, "_yoast_wpseo_canonical", f"{url}/bulk-{k}/"))
        return out

    meta = tables[f"{p}postmeta"]
    first_meta = max_int_key(meta, net.source_hosts) + 1
    _add_bulk_segment(
        meta,
        first_meta,
        _bulk_count(meta_templates(net.source_hosts), first_meta, budget * _BULK_SHARE["postmeta"]),
        meta_templates,
    )

    def comment_templates(hx: Hosts) -> list[tuple[Value | Dyn, ...]]:
        rng = random.Random(f"{seed}:{p}bulk_comments")
        url = f"https://{hx.host}{site.path}"
        post_of = Dyn(lambda i: first_post + i % max(n_posts, 1))
        out: list[tuple[Value | Dyn, ...]] = []
        for k in range(16):
            author, ip, date = words(rng, 2), f"10.1.{k}.{rng.randint(1, 254)}", _dt(rng)
            email = f"mail@{hx.embedded}" if k % 3 == 0 else f"reader{k}@example.org"
            body = html_body(rng, hx, site, 1 + k % 4)
            out.append(
                (
                    id_dyn,
                    post_of,
                    author,
                    email,
                    f"{url}/people/{k}/",
                    ip,
                    date,
                    date,
                    body,
                    0,
                    "1",
                    "Mozilla/5.0",
                    "comment",
                    0,
                    0,
                )
            )
        return out

    comments = tables[f"{p}comments"]
    first_comment = max_int_key(comments, net.source_hosts) + 1
    _add_bulk_segment(
        comments,
        first_comment,
        _bulk_count(comment_templates(net.source_hosts), first_comment, budget * _BULK_SHARE["comments"]),
        comment_templates,
    )

    def option_templates(hx: Hosts) -> list[tuple[Value | Dyn, ...]]:
        rng = random.Random(f"{seed}:{p}bulk_options")
        url = f"https://{hx.host}{site.path}"
        return [
            (
                id_dyn,
                Dyn(lambda i: f"_transient_netgen_feed_{i}"),
                serialize(
                    {"body": html_body(rng, hx, site, k + 1).decode(), "source": f"{url}/feed/", "k": k}
                ),
                "no",
            )
            for k in range(8)
        ]

    options = tables[f"{p}options"]
    first_option = max_int_key(options, net.source_hosts) + 1
    _add_bulk_segment(
        options,
        first_option,
        _bulk_count(option_templates(net.source_hosts), first_option, budget * _BULK_SHARE["options"]),
        option_templates,
    )
    posts.auto_increment = first_post + n_posts + 500


def max_int_key(info: TableInfo, hx: Hosts) -> int:
    best = 0
    for seg in info.segments:
        if isinstance(seg, FixedRows):
            best = max([best, *(int(row[0]) for row in seg.rows(hx) if isinstance(row[0], int))])
        else:
            best = max(best, seg.first_id + seg.count - 1)
    return best


def _bulk_count(templates: Sequence[tuple[Value | Dyn, ...]], first_id: int, budget: float) -> int:
    sizes = [row_bytes(resolve(t, first_id)) for t in templates]
    return max(0, int(budget / (sum(sizes) / len(sizes))))


def _add_bulk_segment(
    info: TableInfo, first_id: int, count: int, templates: Callable[[Hosts], list[tuple[Value | Dyn, ...]]]
) -> None:
    if count > 0:
        info.segments.append(BulkRows(first_id, count, _memo(templates)))
        info.shapes += ("bulk_rows",) if "bulk_rows" not in info.shapes else ()


def _memo(fn: Callable[[Hosts], Any]) -> Callable[[Hosts], Any]:
    cache: dict[Hosts, Any] = {}

    def wrapper(hx: Hosts) -> Any:
        if hx not in cache:
            cache[hx] = fn(hx)
        return cache[hx]

    return wrapper


def resolve(template: tuple[Value | Dyn, ...], row_id: int) -> Row:
    return tuple(v.fn(row_id) if isinstance(v, Dyn) else v for v in template)


def row_bytes(row: Row) -> int:
    return sum(len(c) for c in map(canonical, row) if c is not None)
