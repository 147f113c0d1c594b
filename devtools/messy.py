"""A messy WordPress network, as real ones are: two networks in one database, plugin tables with foreign
keys and triggers, network-wide plugin tables holding every site's rows, a domain-mapped site, and a
subdomain network beside it. The fixture of tests/test_messy_network.py; dev-only, like netgen.

    conn = mysql.connector.connect(host="127.0.0.1", user="root")
    prod = generate_messy(conn, "wp_prod", "prod")                  # what a migration reads
    pprd = generate_messy(conn, "wp_pprd", "pprd", stale=True)      # the target: older copies of the sites
    want = generate_messy(conn, "wp_want", "pprd")                  # prod's sites as they must arrive
    sub = generate_messy(conn, "wp_prod_sub", "prod", kind="subdomain")

Every table is created with the DDL its owner uses: WordPress core's (wp-admin/includes/schema.php,
shared with netgen), WooCommerce's `get_schema()` and its `fk_<prefix>wc_download_log_permission_id`
constraint, BetterLinks' password table (an unnamed FOREIGN KEY, so InnoDB names it
`<table>_ibfk_1`), Cavalcade's jobs and logs (`site` column) and Stream's records and meta (`blog_id`).

The `subdirectory` kind (prefix `wp_`) has site 1 at `H/`, site 2 at `H/biology/`, site 3 domain-mapped
at its own domain, site 4 at `H/chem/`; sites 1 and 2 carry the WooCommerce and BetterLinks tables
(site 1 unnumbered, site 2 `wp_2_`) and a trigger on the download log. A second network lives in the
same database under `wp_second_` (its own blogs, site, sitemeta, users, usermeta, options, posts).
Cavalcade and Stream hold rows of sites 1 to 4. The `subdomain` kind has site 1 at `H` and site 2 at
`chem.H`. In pprd every host is the prod one with `pprd.` in front of the network's domain
(`dept.example.org` -> `pprd.dept.example.org`, `chem.example.net` -> `chem.pprd.example.net`), and the
pprd network has users of its own (`TARGET_ONLY_USERS`) in both networks.

A site's rows mention only its own URL (plain, JSON-escaped, PHP-serialized, protocol-relative), so
what a migration must leave in the target is the same site generated with the target's hosts:
`generate_messy(.., "pprd")` without `stale` is the expected result of migrating prod's sites into
`generate_messy(.., "pprd", stale=True)`, whose sites hold older, different rows (and one table the
source does not have).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from devtools.netgen_schema import CHARSET, COLLATION, NETWORK_SCHEMA, SITE_SCHEMA
from devtools.netgen_values import quote_ident, serialize, sql_literal

__all__ = [
    "ENVS",
    "TARGET_ONLY_USERS",
    "MessyNetwork",
    "MessySite",
    "generate_messy",
]

ENVS = ("prod", "pprd")
SECOND_PREFIX = "wp_second_"
# Users only the pprd networks have: a migration from prod must leave them where they are.
TARGET_ONLY_USERS = {"wp_users": "pprd-editor", "wp_second_users": "pprd-second-editor"}
_OPTIONS = f"ENGINE=InnoDB DEFAULT CHARSET={CHARSET} COLLATE={COLLATION}"

# WooCommerce (includes/class-wc-install.php, get_schema(), then the constraint its update adds).
_WC_PERMISSIONS = """
  permission_id BIGINT UNSIGNED NOT NULL auto_increment,
  download_id varchar(36) NOT NULL,
  product_id BIGINT UNSIGNED NOT NULL,
  order_id BIGINT UNSIGNED NOT NULL DEFAULT 0,
  order_key varchar(200) NOT NULL,
  user_email varchar(200) NOT NULL,
  user_id BIGINT UNSIGNED NULL,
  downloads_remaining varchar(9) NULL,
  access_granted datetime NOT NULL default '0000-00-00 00:00:00',
  access_expires datetime NULL default null,
  download_count BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY  (permission_id),
  KEY download_order_key_product (product_id,order_id,order_key(16),download_id),
  KEY download_order_product (download_id,order_id,product_id),
  KEY order_id (order_id),
  KEY user_order_remaining_expires (user_id,order_id,downloads_remaining,access_expires)"""
_WC_DOWNLOAD_LOG = """
  download_log_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  timestamp datetime NOT NULL,
  permission_id BIGINT UNSIGNED NOT NULL,
  user_id BIGINT UNSIGNED NULL,
  user_ip_address VARCHAR(100) NULL DEFAULT '',
  PRIMARY KEY  (download_log_id),
  KEY permission_id (permission_id),
  KEY timestamp (timestamp)"""
# BetterLinks: its links table (the columns a migration cares about) and the password table, whose
# foreign key has no name of its own.
_BETTERLINKS = """
  ID bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  link_author bigint(20) unsigned NOT NULL DEFAULT 0,
  link_date datetime NOT NULL DEFAULT '0000-00-00 00:00:00',
  link_title text NOT NULL,
  link_slug varchar(200) NOT NULL DEFAULT '',
  link_status varchar(20) NOT NULL DEFAULT 'publish',
  redirect_type varchar(255) DEFAULT '307',
  target_url text,
  short_url varchar(255) DEFAULT NULL,
  PRIMARY KEY (ID),
  KEY link_slug (link_slug(191))"""
_BETTERLINKS_PROTECTION = """
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  link_id bigint(20) unsigned NOT NULL,
  password varchar(255) NOT NULL,
  status tinyint(1) NOT NULL DEFAULT 1,
  allow_contact tinyint(1) NOT NULL DEFAULT 0,
  created_at datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  FOREIGN KEY (link_id) REFERENCES {p}betterlinks(ID) ON DELETE CASCADE"""
# Cavalcade (inc/namespace.php, create_tables()): one table for the whole network, `site` per row.
_CAVALCADE_JOBS = """
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `site` bigint(20) unsigned NOT NULL,
  `hook` varchar(255) NOT NULL,
  `args` longtext NOT NULL,
  `start` datetime NOT NULL,
  `nextrun` datetime NOT NULL,
  `interval` int unsigned DEFAULT NULL,
  `status` varchar(255) NOT NULL DEFAULT 'waiting',
  `schedule` varchar(255) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `status` (`status`),
  KEY `site` (`site`),
  KEY `hook` (`hook`)"""
_CAVALCADE_LOGS = """
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `job` bigint(20) NOT NULL,
  `status` varchar(255) NOT NULL DEFAULT '',
  `timestamp` datetime NOT NULL,
  `content` longtext NOT NULL,
  PRIMARY KEY (`id`),
  KEY `job` (`job`),
  KEY `status` (`status`)"""
# Stream (classes/class-install.php): network-wide records, `blog_id` per row.
_STREAM = """
  ID bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  site_id bigint(20) unsigned NOT NULL DEFAULT '1',
  blog_id bigint(20) unsigned NOT NULL DEFAULT '1',
  object_id bigint(20) unsigned NULL,
  user_id bigint(20) unsigned NOT NULL DEFAULT '0',
  user_role varchar(20) NOT NULL DEFAULT '',
  summary longtext NOT NULL,
  created datetime NOT NULL DEFAULT '0000-00-00 00:00:00',
  connector varchar(100) NOT NULL,
  context varchar(100) NOT NULL,
  action varchar(100) NOT NULL,
  ip varchar(39) NULL,
  PRIMARY KEY  (ID),
  KEY site_id (site_id),
  KEY blog_id (blog_id),
  KEY object_id (object_id),
  KEY user_id (user_id),
  KEY created (created),
  KEY connector (connector),
  KEY context (context),
  KEY action (action)"""
_STREAM_META = """
  meta_id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  record_id bigint(20) unsigned NOT NULL,
  meta_key varchar(200) NOT NULL,
  meta_value varchar(200) NOT NULL,
  PRIMARY KEY  (meta_id),
  KEY record_id (record_id),
  KEY meta_key (meta_key(191)),
  KEY meta_value (meta_value(191))"""

_PLUGIN_TABLES = ("woocommerce_downloadable_product_permissions", "wc_download_log", "betterlinks",
                  "betterlinks_password")  # fmt: skip


@dataclass(frozen=True)
class MessySite:
    """A site of a generated network: id, table prefix, wp_blogs domain and path, URL (no slash)."""

    id: int
    prefix: str
    domain: str
    path: str

    @property
    def url(self) -> str:
        """The site's home and siteurl (`https://dept.example.org`, `https://example.test/biology`)."""
        return f"https://{self.domain}{self.path.rstrip('/')}"


@dataclass
class MessyNetwork:
    """What `generate_messy` made: the database, its sites and what belongs to whom."""

    database: str
    env: str
    kind: str
    domain: str
    sites: dict[int, MessySite]
    site_tables: dict[int, list[str]] = field(default_factory=dict)
    other_tables: list[str] = field(default_factory=list)  # network, second network, network-wide plugins
    foreign_keys: set[tuple[str, str, str]] = field(default_factory=set)  # (table, constraint, parent)
    triggers: set[tuple[str, str]] = field(default_factory=set)  # (trigger, table)

    def site(self, site_id: int) -> MessySite:
        """Site `site_id` (KeyError names the sites there are)."""
        if site_id not in self.sites:
            raise KeyError(f"site {site_id} is not in this network (sites: {sorted(self.sites)})")
        return self.sites[site_id]


def network_domain(env: str, kind: str = "subdirectory") -> str:
    """The network's main domain in `env` (`example.test`, `pprd.example.net`)."""
    base = "example.test" if kind == "subdirectory" else "example.net"
    return base if env == "prod" else f"{env}.{base}"


def _sites(env: str, kind: str) -> dict[int, MessySite]:
    main = network_domain(env, kind)
    if kind == "subdomain":
        return {1: MessySite(1, "wp_", main, "/"), 2: MessySite(2, "wp_2_", f"chem.{main}", "/")}
    mapped = "dept.example.org" if env == "prod" else f"{env}.dept.example.org"
    return {
        1: MessySite(1, "wp_", main, "/"),
        2: MessySite(2, "wp_2_", main, "/biology/"),
        3: MessySite(3, "wp_3_", mapped, "/"),
        4: MessySite(4, "wp_4_", main, "/chem/"),
    }


def _create(name: str, body: str) -> str:
    return f"CREATE TABLE {quote_ident(name)} ({body}\n) {_OPTIONS}"


def _insert(table: str, rows: Sequence[Sequence[Any]]) -> bytes:
    values = b",".join(b"(" + b",".join(sql_literal(v) for v in row) + b")" for row in rows)
    return f"INSERT INTO {quote_ident(table)} VALUES ".encode() + values


def _post(post_id: int, title: str, name: str, content: str, guid: str, kind: str = "post") -> list[Any]:
    """A wp_posts row, every column in schema.php's order."""
    date = f"2024-03-0{post_id} 05:06:07"
    return [post_id, 1, date, date, content, title, "", "publish", "open", "open", "", name, "", "", date,
            date, "", 0, guid, 0, kind, "", 0]  # fmt: skip


def _site_statements(site: MessySite, stale: bool) -> list[str | bytes]:
    """A site's core tables and rows; its own URL in plain, JSON-escaped, serialized and `//` forms."""
    p, url, host = site.prefix, site.url, site.domain
    out: list[str | bytes] = [_create(p + name, body) for name, body in SITE_SCHEMA.items()]
    escaped = url.replace("/", "\\/")
    title = f"Site {site.id}" + (" (old pprd copy)" if stale else "")
    links = serialize({"home": url + "/", "about": url + "/about/", "n": 3})
    out.append(
        _insert(p + "options", [
            [1, "siteurl", url, "yes"], [2, "home", url, "yes"], [3, "blogname", title, "yes"],
            [4, "permalink_structure", "/%year%/%monthnum%/%postname%/", "yes"],
            [5, "wfuwp_links", links, "yes"], [6, "db_version", "53496", "yes"],
            [7, "widget_text", serialize({2: {"text": f'<a href="{url}/contact/">Contact</a>'}}), "yes"],
        ] + ([[8, "pprd_only_option", "kept only until the migration", "no"]] if stale else []))
    )  # fmt: skip
    posts = [_post(1, f"{title} news", "news", f'See <a href="{url}/about/">about</a> and //{host}/x.',
                   f"{url}/?p=1")]  # fmt: skip
    if not stale:
        posts.append(
            _post(2, "About", "about", f'{{"u":"{escaped}\\/about\\/"}}', f"{url}/?page_id=2", "page")
        )
    out.append(_insert(p + "posts", posts))
    out.append(_insert(p + "postmeta", [[1, 1, "_links", serialize([url + "/a", url + "/b"])]]))
    out.append(_insert(p + "terms", [[1, "Uncategorized", "uncategorized", 0]]))
    out.append(_insert(p + "term_taxonomy", [[1, 1, "category", "", 0, 1]]))
    out.append(_insert(p + "term_relationships", [[1, 1, 0]]))
    if stale:  # a table only the target's copy has
        out += [_create(p + "pprd_notes", "\n  id int NOT NULL,\n  note text,\n  PRIMARY KEY (id)"),
                _insert(p + "pprd_notes", [[1, "only in pprd"]])]  # fmt: skip
    return out


def _plugin_statements(site: MessySite, stale: bool) -> tuple[list[str | bytes], set[tuple[str, str, str]],
                                                                set[tuple[str, str]]]:  # fmt: skip
    """WooCommerce's pair, BetterLinks' pair and a trigger on the download log, for one site."""
    p, url = site.prefix, site.url
    perms, log = p + "woocommerce_downloadable_product_permissions", p + "wc_download_log"
    fk_name = f"fk_{p}wc_download_log_permission_id"
    trigger = f"{p}wc_download_log_counts"
    out: list[str | bytes] = [
        _create(perms, _WC_PERMISSIONS),
        _create(log, _WC_DOWNLOAD_LOG),
        f"ALTER TABLE {quote_ident(log)} ADD CONSTRAINT {quote_ident(fk_name)} FOREIGN KEY (permission_id)"
        f" REFERENCES {quote_ident(perms)} (permission_id) ON DELETE CASCADE",
        _create(p + "betterlinks", _BETTERLINKS),
        _create(p + "betterlinks_password", _BETTERLINKS_PROTECTION.format(p=p)),
        f"CREATE TRIGGER {quote_ident(trigger)} AFTER INSERT ON {quote_ident(log)} FOR EACH ROW"
        f" UPDATE {quote_ident(perms)} SET download_count = download_count + 1"
        " WHERE permission_id = NEW.permission_id",
        _insert(perms, [
            [1, "5f1e", 10, 100, "wc_order_a", "buyer@example.com", 1, "", "2024-01-01 00:00:00", None, 0],
            [2, "5f1f", 11, 101, "wc_order_b", "buyer@example.com", 1, "", "2024-01-02 00:00:00", None, 0],
        ]),
        _insert(log, [[1, "2024-02-01", 1, 1, "10.0.0.1"], [2, "2024-02-02", 2, 1, "10.0.0.2"],
                      *([] if stale else [[3, "2024-02-03", 2, 1, "10.0.0.3"]])]),
        _insert(p + "betterlinks", [
            [1, 1, "2024-01-05 00:00:00", "Go", "go", "publish", "307", f"{url}/go/", f"{url}/l/go"],
            [2, 1, "2024-01-06 00:00:00", "Shop", "shop", "publish", "301", f"{url}/shop/", f"{url}/l/shop"],
        ]),
        _insert(p + "betterlinks_password", [[1, 1, "not-a-secret", 1, 0, "2024-01-05 00:00:00"]]),
    ]  # fmt: skip
    keys = {
        (log, fk_name, perms),
        (p + "betterlinks_password", f"{p}betterlinks_password_ibfk_1", p + "betterlinks"),
    }
    return out, keys, {(trigger, log)}


def _network_statements(prefix: str, env: str, domain: str, sites: dict[int, MessySite]) -> list[str | bytes]:
    """A network's own tables (WordPress's global and ms_global ones) and their rows."""
    out: list[str | bytes] = [_create(prefix + name, body) for name, body in NETWORK_SCHEMA.items()]
    out.append(_insert(prefix + "site", [[1, domain, "/"]]))
    out.append(_insert(prefix + "sitemeta", [
        [1, 1, "site_name", "Network"], [2, 1, "siteurl", f"https://{domain}/"],
        [3, 1, "site_admins", serialize(["admin"])], [4, 1, "subdomain_install", "0"],
    ]))  # fmt: skip
    out.append(_insert(prefix + "blogs", [
        [s.id, 1, s.domain, s.path, "2024-01-01 00:00:00", "2024-01-01 00:00:00", 1, 0, 0, 0, 0, 0]
        for s in sites.values()
    ]))  # fmt: skip
    users = [[1, "admin", "$P$not-a-hash", "admin", f"admin@{domain}", "", "2024-01-01 00:00:00", "", 0,
              "admin", 0, 0]]  # fmt: skip
    table = prefix + "users"
    if env != "prod" and table in TARGET_ONLY_USERS:
        login = TARGET_ONLY_USERS[table]
        users.append([2, login, "$P$not-a-hash", login, f"{login}@{domain}", "", "2024-01-01 00:00:00", "", 0,
                      login, 0, 0])  # fmt: skip
    out.append(_insert(table, users))
    out.append(_insert(prefix + "usermeta", [[1, 1, "nickname", "admin"]]))
    return out


def _network_wide_statements(sites: dict[int, MessySite]) -> list[str | bytes]:
    """Cavalcade's and Stream's tables, with rows of every site."""
    jobs = [[s.id, s.id, "wp_version_check", serialize([]), "2024-01-01 00:00:00", "2024-01-01 01:00:00",
             3600, "waiting", "hourly"] for s in sites.values()]  # fmt: skip
    records = [[s.id, 1, s.id, s.id, 1, "administrator", f"Updated {s.url}/about/", "2024-01-01 00:00:00",
                "posts", "page", "updated", "10.0.0.1"] for s in sites.values()]  # fmt: skip
    return [
        _create("wp_cavalcade_jobs", _CAVALCADE_JOBS),
        _insert("wp_cavalcade_jobs", jobs),
        _create("wp_cavalcade_logs", _CAVALCADE_LOGS),
        _insert("wp_cavalcade_logs", [[s.id, s.id, "completed", "2024-01-01", ""] for s in sites.values()]),
        _create("wp_stream", _STREAM),
        _insert("wp_stream", records),
        _create("wp_stream_meta", _STREAM_META),
        _insert("wp_stream_meta", [[s.id, s.id, "post_title", f"About {s.id}"] for s in sites.values()]),
    ]  # fmt: skip


def _second_network(env: str) -> list[str | bytes]:
    """A second network under `wp_second_` in the same database, with a site of its own."""
    domain = "second.example.test" if env == "prod" else f"{env}.second.example.test"
    site = MessySite(1, SECOND_PREFIX, domain, "/")
    out = _network_statements(SECOND_PREFIX, env, domain, {1: site})
    for name in ("options", "posts"):
        out.append(_create(SECOND_PREFIX + name, SITE_SCHEMA[name]))
    out.append(
        _insert(SECOND_PREFIX + "options", [[1, "siteurl", site.url, "yes"], [2, "home", site.url, "yes"]])
    )
    out.append(
        _insert(SECOND_PREFIX + "posts", [_post(1, "Second", "second", f"{site.url}/x", f"{site.url}/?p=1")])
    )
    return out


def generate_messy(
    conn: Any, database: str, env: str, *, kind: str = "subdirectory", stale: bool = False
) -> MessyNetwork:
    """Create the `kind` network ("subdirectory" or "subdomain") of `env` ("prod" or "pprd") in
    `database` (created if missing; it must hold no tables) over `conn`, a mysql.connector connection.

    `stale`: the sites hold an older copy (a pprd network before prod's sites are migrated into it).
    Returns what was made. Raises ValueError for an unknown env or kind, or a database that holds tables.
    """
    if env not in ENVS or kind not in ("subdirectory", "subdomain"):
        raise ValueError(
            f"env must be one of {ENVS} and kind subdirectory or subdomain, got {env!r}, {kind!r}"
        )
    domain = network_domain(env, kind)
    sites = _sites(env, kind)
    net = MessyNetwork(database, env, kind, domain, sites)
    statements = _network_statements("wp_", env, domain, sites)
    net.other_tables += [f"wp_{name}" for name in NETWORK_SCHEMA]
    for site in sites.values():
        site_statements = _site_statements(site, stale)
        if kind == "subdirectory" and site.id in (1, 2):
            plugin, keys, triggers = _plugin_statements(site, stale)
            site_statements += plugin
            net.foreign_keys |= keys
            net.triggers |= triggers
        statements += site_statements
        net.site_tables[site.id] = [name for name in _created(site_statements)]
    if kind == "subdirectory":
        wide, second = _network_wide_statements(sites), _second_network(env)
        statements += wide + second
        net.other_tables += _created(wide) + _created(second)
    cur = conn.cursor()
    try:
        cur.execute(
            f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)}"
            f" CHARACTER SET {CHARSET} COLLATE {COLLATION}"
        )
        cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (database,))
        if int(cur.fetchall()[0][0]):
            raise ValueError(f"database {database!r} already holds tables; pick a new name")
        cur.execute(f"USE {quote_ident(database)}")
        cur.execute("SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION', SESSION time_zone = '+00:00'")
        for statement in statements:
            cur.execute(statement)
        conn.commit()
    finally:
        cur.close()
    return net


def _created(statements: Sequence[str | bytes]) -> list[str]:
    """The tables the CREATE TABLE statements among `statements` create."""
    names = []
    for statement in statements:
        text = statement if isinstance(statement, str) else statement[:200].decode("utf-8", "replace")
        if text.startswith("CREATE TABLE "):
            names.append(text.split("`", 2)[1])
    return names
