"""Table ownership: every table under the prefix, in or out of the site, with the rule that decided.

Each rule has a table that proves it (a per-site twin in the other network, a table the configuration
names, a table left over, a single-site install), include/exclude patterns reach migrate, export,
backup, plan and --dry-run from flags and from the configuration, and an excluded table of the target
is neither replaced nor dropped by the swap.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

import wfuwp
from tests.dbutil import checksums, fetch, run_sql, table_names
from tests.wpsite import Env, clean_environment, write_config
from wfuwp.errors import UsageError
from wfuwp.mysql.schema import TableFilter, table_ownership

__all__ = ["clean_environment"]  # the autouse fixture: no config or passwords from the machine

NETWORK = (
    "CREATE TABLE wp_blogs (blog_id BIGINT PRIMARY KEY, site_id BIGINT, domain VARCHAR(200),"
    " path VARCHAR(100))",
    "CREATE TABLE wp_site (id BIGINT PRIMARY KEY, domain VARCHAR(200), path VARCHAR(100))",
    "CREATE TABLE wp_users (ID BIGINT PRIMARY KEY, user_login VARCHAR(60), user_url VARCHAR(200))",
    "CREATE TABLE wp_options (option_id BIGINT PRIMARY KEY, option_name VARCHAR(191), option_value LONGTEXT)",
    "CREATE TABLE wp_posts (ID BIGINT PRIMARY KEY, guid VARCHAR(255))",
    "CREATE TABLE wp_43_options (option_id BIGINT PRIMARY KEY, option_name VARCHAR(191),"
    " option_value LONGTEXT)",
    "CREATE TABLE wp_43_posts (ID BIGINT PRIMARY KEY, guid VARCHAR(255))",
    # A network-wide plugin, and a second network under a longer prefix.
    "CREATE TABLE wp_cavalcade_jobs (id BIGINT PRIMARY KEY, site BIGINT, hook VARCHAR(100))",
    "CREATE TABLE wp_second_blogs (blog_id BIGINT PRIMARY KEY, domain VARCHAR(200), path VARCHAR(100))",
    "CREATE TABLE wp_second_users (ID BIGINT PRIMARY KEY, user_login VARCHAR(60))",
    # Rows of site 43 in it: out by rule, in when the configuration names it.
    "CREATE TABLE wp_redirects (id BIGINT PRIMARY KEY, blog_id BIGINT, url VARCHAR(255))",
    # Only sites 0 and 1: left over, so in.
    "CREATE TABLE wp_yoast_indexable (id BIGINT PRIMARY KEY, blog_id BIGINT, permalink VARCHAR(255))",
    # Site 1's copy of a table every site has (its twin wp_43_wc_orders is in the target only).
    "CREATE TABLE wp_wc_orders (id BIGINT PRIMARY KEY, url VARCHAR(255))",
    # A big log nobody wants copied: excluded by a flag or the configuration.
    "CREATE TABLE wp_big_log (id BIGINT PRIMARY KEY, line VARCHAR(255))",
)

SITE_ONE_RULES = [
    ("wp_43_options", False, "another site's table (wp_43_)"),
    ("wp_43_posts", False, "another site's table (wp_43_)"),
    ("wp_big_log", True, "left over: not known to be another's"),
    ("wp_blogs", False, "network table: shared by every site"),
    ("wp_cavalcade_jobs", False, "network-wide plugin table (Cavalcade)"),
    ("wp_options", True, "WordPress core table of site 1"),
    ("wp_posts", True, "WordPress core table of site 1"),
    ("wp_redirects", False, "holds other sites' rows (blog_id = 43)"),
    ("wp_second_blogs", False, "another network or site's table (prefix wp_second_)"),
    ("wp_second_users", False, "another network or site's table (prefix wp_second_)"),
    ("wp_site", False, "network table: shared by every site"),
    ("wp_users", False, "network table: shared by every site"),
    ("wp_wc_orders", True, "has a per-site twin (wp_43_wc_orders)"),
    ("wp_yoast_indexable", True, "left over: not known to be another's"),
]


def network(server: Any, database: str, host: str, *, twin: bool = False) -> None:
    run_sql(
        server, database, *NETWORK,
        f"INSERT INTO wp_blogs VALUES (1, 1, '{host}', '/'), (43, 1, '{host}', '/bio/')",
        f"INSERT INTO wp_site VALUES (1, '{host}', '/')",
        f"INSERT INTO wp_users VALUES (1, 'admin-{host}', 'https://{host}/')",
        f"INSERT INTO wp_options VALUES (1, 'siteurl', 'https://{host}'), (2, 'home', 'https://{host}')",
        f"INSERT INTO wp_posts VALUES (1, 'https://{host}/?p=1')",
        f"INSERT INTO wp_43_options VALUES (1, 'siteurl', 'https://{host}/bio')",
        "INSERT INTO wp_cavalcade_jobs VALUES (1, 43, 'cron')",
        f"INSERT INTO wp_second_users VALUES (1, 'second-{host}')",
        f"INSERT INTO wp_redirects VALUES (1, 1, 'https://{host}/old'), (2, 43, 'https://{host}/bio/old')",
        f"INSERT INTO wp_yoast_indexable VALUES (1, 1, 'https://{host}/'), (2, 0, 'https://{host}/')",
        f"INSERT INTO wp_wc_orders VALUES (1, 'https://{host}/shop')",
        f"INSERT INTO wp_big_log VALUES (1, 'log of {host}')",
    )  # fmt: skip
    if twin:
        run_sql(server, database, "CREATE TABLE wp_43_wc_orders (id BIGINT PRIMARY KEY, url VARCHAR(255))")


@pytest.fixture
def pair(mariadb: Any, make_database: Any, tmp_path: Path) -> Env:
    """prod (www.wfu.edu) and pprd (pprd.wfu.edu) holding NETWORK; only pprd has site 43's wc_orders."""
    prod, pprd = make_database(mariadb, "wfuwp_own_prod"), make_database(mariadb, "wfuwp_own_pprd")
    network(mariadb, prod, "www.wfu.edu")
    network(mariadb, pprd, "pprd.wfu.edu", twin=True)
    path = tmp_path / "cfg" / "config.json"
    write_config(path, mariadb, {"prod": prod, "pprd": pprd}, None)
    return Env(mariadb, prod, pprd, "", path, tmp_path / "work")


def ownership(server: Any, database: str, site: int, **kwargs: Any) -> list[tuple[str, bool, str]]:
    conn = server.connect()
    try:
        return [(c.name, c.owned, c.rule) for c in table_ownership(conn, database, "wp_", site, **kwargs)]
    finally:
        conn.close()


# -- the rules ---------------------------------------------------------------------------------------------


def test_every_table_under_the_prefix_has_a_rule(pair: Env) -> None:
    target_names = table_names(pair.server, pair.pprd)
    assert ownership(pair.server, pair.prod, 1, peer=target_names) == SITE_ONE_RULES
    # Without the other network, site 1's wc_orders has no twin: it is a left over, still in.
    alone = dict((n, r) for n, _owned, r in ownership(pair.server, pair.prod, 1))
    assert alone["wp_wc_orders"] == "left over: not known to be another's"
    # The target has the twin itself.
    assert ("wp_wc_orders", True, "has a per-site twin (wp_43_wc_orders)") in ownership(
        pair.server, pair.pprd, 1
    )
    site_43 = ownership(pair.server, pair.pprd, 43)
    assert [n for n, owned, _r in site_43 if owned] == ["wp_43_options", "wp_43_posts", "wp_43_wc_orders"]
    assert ("wp_options", False, "not numbered wp_43_: site 1's or the network's") in site_43


def test_includes_and_excludes(pair: Env) -> None:
    wanted = TableFilter(include=("wp_redirects",), exclude=("wp_big_*", "wp_43_posts"))
    site_one = {n: (owned, rule) for n, owned, rule in ownership(pair.server, pair.prod, 1, tables=wanted)}
    assert site_one["wp_redirects"] == (True, "included: matches 'wp_redirects'")
    assert site_one["wp_big_log"] == (False, "excluded: matches 'wp_big_*'")
    site_43 = {n: (owned, rule) for n, owned, rule in ownership(pair.server, pair.prod, 43, tables=wanted)}
    assert site_43["wp_43_posts"] == (False, "excluded: matches 'wp_43_posts'")
    # A wildcard include never takes the network's tables or another site's.
    everything = {
        n: owned for n, owned, _r in ownership(pair.server, pair.prod, 1, tables=TableFilter(("wp_*",)))
    }
    assert not everything["wp_users"] and not everything["wp_blogs"] and not everything["wp_43_options"]
    assert everything["wp_cavalcade_jobs"] and everything["wp_second_users"]


def test_an_include_naming_a_network_table_is_refused_unless_allowed(pair: Env) -> None:
    with pytest.raises(UsageError, match=r"wp_users' names a network table.*--allow-network-tables"):
        ownership(pair.server, pair.prod, 1, tables=TableFilter(include=("wp_users",)))
    with pytest.raises(UsageError, match="names site 43's table, not site 1's"):
        ownership(pair.server, pair.prod, 1, tables=TableFilter(include=("wp_43_posts",)))
    allowed = ownership(pair.server, pair.prod, 1, tables=TableFilter(("wp_users",), allow_network=True))
    assert ("wp_users", True, "included: matches 'wp_users' (network table, allowed)") in allowed


# -- migrate, export, backup -------------------------------------------------------------------------------


def test_an_excluded_table_of_the_target_is_neither_replaced_nor_dropped(pair: Env, tmp_path: Path) -> None:
    run_sql(pair.server, pair.pprd, "CREATE TABLE wp_target_cache (id INT PRIMARY KEY)",
            "INSERT INTO wp_target_cache VALUES (7)")  # fmt: skip
    before = checksums(pair.server, pair.pprd)
    report = wfuwp.migrate_site(
        1, source=pair.server.dsn(pair.prod), target=pair.server.dsn(pair.pprd),
        replacements=[("www.wfu.edu", "pprd.wfu.edu")], archive=tmp_path / "archives", drop_target_only=True,
        tables=TableFilter(include=("wp_redirects",), exclude=("wp_big_log", "wp_target_cache")),
    )  # fmt: skip
    assert sorted(t.name for t in report.tables) == [
        "wp_options", "wp_posts", "wp_redirects", "wp_wc_orders", "wp_yoast_indexable"
    ]  # fmt: skip
    assert report.target_only_tables == []
    after = checksums(pair.server, pair.pprd)
    assert (
        after["wp_big_log"] == before["wp_big_log"] and after["wp_target_cache"] == before["wp_target_cache"]
    )
    assert fetch(pair.server, pair.pprd, "SELECT line FROM wp_big_log") == [(b"log of pprd.wfu.edu",)]
    assert fetch(pair.server, pair.pprd, "SELECT url FROM wp_redirects ORDER BY id")[1] == (
        b"https://pprd.wfu.edu/bio/old",
    )
    backed_up = sorted(p.name for p in (tmp_path / "archives").rglob("backup/*.sql.zst"))
    assert not [n for n in backed_up if "wp_big_log" in n or "wp_target_cache" in n]


def test_a_single_site_install_owns_every_table(mariadb: Any, make_database: Any, tmp_path: Path) -> None:
    src, tgt = make_database(mariadb, "wfuwp_single_src"), make_database(mariadb, "wfuwp_single_tgt")
    for database, host in ((src, "blog.example.org"), (tgt, "pprd.blog.example.org")):
        run_sql(
            mariadb, database,
            "CREATE TABLE wp_options (option_id BIGINT PRIMARY KEY, option_name VARCHAR(191),"
            " option_value TEXT)",
            "CREATE TABLE wp_users (ID BIGINT PRIMARY KEY, user_login VARCHAR(60), user_url VARCHAR(200))",
            "CREATE TABLE wp_usermeta (umeta_id BIGINT PRIMARY KEY, user_id BIGINT, meta_value TEXT)",
            "CREATE TABLE wp_stream (ID BIGINT PRIMARY KEY, summary VARCHAR(255))",
            f"INSERT INTO wp_options VALUES (1, 'siteurl', 'https://{host}'), (2, 'home', 'https://{host}')",
            f"INSERT INTO wp_users VALUES (1, 'admin', 'https://{host}/')",
            f"INSERT INTO wp_stream VALUES (1, 'edited https://{host}/a')",
        )  # fmt: skip
    conn = mariadb.connect()
    try:
        choices = table_ownership(conn, src, "wp_", 1)
    finally:
        conn.close()
    rule = "single-site install (no wp_blogs): every wp_ table is the site's"
    assert [(c.name, c.owned, c.rule) for c in choices] == [
        (n, True, rule) for n in ("wp_options", "wp_stream", "wp_usermeta", "wp_users")
    ]
    report = wfuwp.migrate_site(1, source=mariadb.dsn(src), target=mariadb.dsn(tgt), archive=tmp_path / "a",
                                replacements=[("blog.example.org", "pprd.blog.example.org")])  # fmt: skip
    assert sorted(t.name for t in report.tables) == ["wp_options", "wp_stream", "wp_usermeta", "wp_users"]
    assert fetch(mariadb, tgt, "SELECT user_url FROM wp_users") == [(b"https://pprd.blog.example.org/",)]
    assert fetch(mariadb, tgt, "SELECT summary FROM wp_stream") == [
        (b"edited https://pprd.blog.example.org/a",)
    ]
    source = wfuwp.Database.from_dsn(mariadb.dsn(src), name="prod")
    exported = wfuwp.export_site(source, 1, tmp_path / "single.sql.zst")
    assert sorted(t.name for t in exported.tables) == ["wp_options", "wp_stream", "wp_usermeta", "wp_users"]
    sql = subprocess.run(["zstd", "-dc", str(tmp_path / "single.sql.zst")], capture_output=True, check=True)
    assert b"CREATE TABLE `wp_users`" in sql.stdout
    backup = wfuwp.backup_site(source, 1, tmp_path / "backups", tables=TableFilter(exclude=("wp_stream",)))
    assert sorted(t.name for t in backup.tables) == ["wp_options", "wp_usermeta", "wp_users"]


# -- the command line: flags, configuration, plan and dry run ----------------------------------------------


def test_migrate_takes_includes_from_the_config_and_excludes_from_flags(
    pair: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = pair.run(capsys, "config", "set", "env.prod.include_tables", "wp_redirects")
    assert code == 0, err
    before = checksums(pair.server, pair.pprd)
    code, out, err = pair.run(
        capsys, "migrate", "1", "--from", "prod", "--to", "pprd", "--yes", "--json",
        "--work-dir", str(pair.work), "--exclude-table", "wp_big_log", "--exclude-table", "wp_yoast_*",
    )  # fmt: skip
    assert code == 0, err
    report = orjson.loads(out)
    assert sorted(t["name"] for t in report["tables"]) == [
        "wp_options",
        "wp_posts",
        "wp_redirects",
        "wp_wc_orders",
    ]
    after = checksums(pair.server, pair.pprd)
    for untouched in ("wp_big_log", "wp_yoast_indexable", "wp_cavalcade_jobs", "wp_users", "wp_second_users"):
        assert after[untouched] == before[untouched], untouched
    assert fetch(pair.server, pair.pprd, "SELECT url FROM wp_redirects ORDER BY id") == [
        (b"https://pprd.wfu.edu/old",), (b"https://pprd.wfu.edu/bio/old",)
    ]  # fmt: skip


def test_plan_and_dry_run_list_every_table_with_its_rule(
    pair: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = pair.run(capsys, "migrate", "plan", "1", "--from", "prod", "--to", "pprd",
                              "--exclude-table", "wp_big_log")  # fmt: skip
    assert code == 0, err
    assert "Tables 4 of 14 under the prefix are the site's" in out
    assert "  in  wp_wc_orders: has a per-site twin (wp_43_wc_orders)" in out
    assert "  out wp_big_log: excluded: matches 'wp_big_log'" in out
    assert "  out wp_cavalcade_jobs: network-wide plugin table (Cavalcade)" in out
    assert "  out 2 tables of 1 other site (numbered, see --json)" in out
    code, out, err = pair.run(capsys, "migrate", "plan", "43", "--from", "prod", "--to", "pprd")
    assert code == 0, err
    assert "Tables 2 of 14 under the prefix are the site's" in out
    assert "  in  wp_43_posts: site 43's table (wp_43_)" in out
    assert "  out wp_users: network table: shared by every site" in out
    assert "  out 9 tables: not numbered wp_43_: site 1's or the network's" in out
    code, out, err = pair.run(capsys, "migrate", "plan", "1", "--from", "prod", "--to", "pprd", "--json")
    assert code == 0, err
    assert [tuple(t.values()) for t in orjson.loads(out)["tables"]] == [tuple(r) for r in SITE_ONE_RULES]
    code, out, err = pair.run(capsys, "migrate", "1", "--from", "prod", "--to", "pprd", "--dry-run",
                              "--include-table", "wp_redirects")  # fmt: skip
    assert code == 0, err
    assert "  in  wp_redirects: included: matches 'wp_redirects'" in out
    assert out.index("Tables 6 of 14") < out.index("Pre-flight checks")
    code, out, err = pair.run(capsys, "migrate", "1", "--from", "prod", "--to", "pprd", "--dry-run", "--json")
    assert code == 0, err
    dry = orjson.loads(out)
    assert [tuple(t.values()) for t in dry["tables"]] == [tuple(r) for r in SITE_ONE_RULES]
    assert {m["table"] for m in dry["matches"]} <= {n for n, owned, _r in SITE_ONE_RULES if owned}


def test_a_network_table_include_is_one_line_and_exit_2(
    pair: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    before = checksums(pair.server, pair.pprd)
    code, out, err = pair.run(capsys, "migrate", "1", "--from", "prod", "--to", "pprd", "--yes",
                              "--work-dir", str(pair.work), "--include-table", "wp_users")  # fmt: skip
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "wp_users' names a network table" in err
    assert checksums(pair.server, pair.pprd) == before
    assert not pair.work.exists()  # no archive was started
    code, out, err = pair.run(capsys, "migrate", "plan", "1", "--from", "prod", "--to", "pprd",
                              "--include-table", "wp_users", "--allow-network-tables")  # fmt: skip
    assert code == 0, err
    assert "  in  wp_users: included: matches 'wp_users' (network table, allowed)" in out


def test_export_and_backup_take_the_flags(
    pair: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_file = tmp_path / "site1.sql.zst"
    code, out, err = pair.run(capsys, "migrate", "export", "1", "--env", "prod", "-o", str(out_file),
                              "--json", "--exclude-table", "wp_big_log",
                              "--include-table", "wp_redirects")  # fmt: skip
    assert code == 0, err
    exported = sorted(t["name"] for t in orjson.loads(out)["tables"])
    assert exported == ["wp_options", "wp_posts", "wp_redirects", "wp_wc_orders", "wp_yoast_indexable"]
    # One pattern for pprd, one for every environment.
    code, _out, err = pair.run(capsys, "config", "set", "env.pprd.exclude_tables", "wp_big_log")
    assert code == 0, err
    code, _out, err = pair.run(capsys, "config", "set", "exclude_tables", "wp_yoast_*")
    assert code == 0, err
    code, out, err = pair.run(capsys, "migrate", "backup", "1", "--env", "pprd", "--work-dir", str(pair.work),
                              "--json")  # fmt: skip
    assert code == 0, err
    assert sorted(t["name"] for t in orjson.loads(out)["tables"]) == [
        "wp_options",
        "wp_posts",
        "wp_wc_orders",
    ]


def test_import_for_site_one_refuses_a_network_wide_plugin_table(pair: Env, tmp_path: Path) -> None:
    dump = tmp_path / "site1.sql"
    dump.write_text(
        "CREATE TABLE `wp_cavalcade_jobs` (id BIGINT PRIMARY KEY, site BIGINT, hook VARCHAR(100));\n"
        "INSERT INTO `wp_cavalcade_jobs` VALUES (9, 1, 'only site 1');\n"
    )
    before = checksums(pair.server, pair.pprd)
    target = wfuwp.Database.from_dsn(pair.server.dsn(pair.pprd), name="pprd")
    with pytest.raises(wfuwp.SqlFileError, match="touches table 'wp_cavalcade_jobs'"):
        wfuwp.import_sql(dump, target, site_id=1)
    assert checksums(pair.server, pair.pprd) == before


# -- a single-site install made by WordPress itself ---------------------------------------------------------

WORDPRESS = "/usr/share/wordpress/"
# Boots Debian's WordPress against a database of the test server (its user has no password) as a
# request to a host. `install` runs WordPress's own installer (a single-site install, the schema
# WordPress creates); both modes print what WordPress reads back: siteurl, home, and whether the admin
# logs in with the password the install on `login` was given.
WP_SCRIPT = (
    """<?php
[$_, $mode, $db, $host, $server, $user, $login] = $argv;
define('DB_NAME', $db); define('DB_USER', $user); define('DB_PASSWORD', '');
define('DB_HOST', $server); define('DB_CHARSET', 'utf8mb4'); define('DB_COLLATE', '');
$table_prefix = 'wp_';
$_SERVER['HTTP_HOST'] = $_SERVER['SERVER_NAME'] = $host; $_SERVER['REQUEST_URI'] = '/';
if ($mode === 'install') {
    define('WP_INSTALLING', true); define('WP_SITEURL', "https://$host"); define('WP_HOME', "https://$host");
}
define('WP_CONTENT_DIR', sys_get_temp_dir());
define('ABSPATH', '@WORDPRESS@');
require ABSPATH . 'wp-settings.php';
if ($mode === 'install') {
    require_once ABSPATH . 'wp-admin/includes/upgrade.php';
    wp_install('Single', 'admin', "admin@$host", true, '', 'pass-' . $host);
}
$user = wp_authenticate('admin', 'pass-' . $login);
echo json_encode(['siteurl' => get_option('siteurl'), 'home' => get_option('home'),
                  'login' => !is_wp_error($user), 'email' => is_wp_error($user) ? null : $user->user_email]);
"""
).replace("@WORDPRESS@", WORDPRESS)


def wordpress(server: Any, script: Path, mode: str, database: str, host: str, password_host: str) -> Any:
    done = subprocess.run(
        ["php", str(script), mode, database, host, f"{server.host}:{server.port}", server.user,
         password_host],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return orjson.loads(done.stdout.strip().splitlines()[-1])


def test_a_single_site_install_by_wordpress_migrates_exports_and_backs_up_whole(
    mariadb: Any, make_database: Any, tmp_path: Path
) -> None:
    script = tmp_path / "wp.php"
    script.write_text(WP_SCRIPT)
    src, tgt = make_database(mariadb, "wfuwp_wpsingle_src"), make_database(mariadb, "wfuwp_wpsingle_tgt")
    wordpress(mariadb, script, "install", src, "blog.example.org", "blog.example.org")
    wordpress(mariadb, script, "install", tgt, "pprd.blog.example.org", "pprd.blog.example.org")
    everything = table_names(mariadb, src)
    assert "wp_users" in everything and "wp_blogs" not in everything
    report = wfuwp.migrate_site(1, source=mariadb.dsn(src), target=mariadb.dsn(tgt), archive=tmp_path / "a",
                                replacements=[("blog.example.org", "pprd.blog.example.org")])  # fmt: skip
    assert sorted(t.name for t in report.tables) == everything
    # WordPress reads the migrated install at its new URL; its users came along (the source's password).
    seen = wordpress(mariadb, script, "read", tgt, "pprd.blog.example.org", "blog.example.org")
    assert seen == {
        "siteurl": "https://pprd.blog.example.org",
        "home": "https://pprd.blog.example.org",
        "login": True,
        "email": "admin@pprd.blog.example.org",
    }
    source = wfuwp.Database.from_dsn(mariadb.dsn(src), name="prod")
    exported = wfuwp.export_site(source, 1, tmp_path / "single.sql.zst")
    assert sorted(t.name for t in exported.tables) == everything
    backup = wfuwp.backup_site(source, 1, tmp_path / "backups")
    assert sorted(t.name for t in backup.tables) == everything


def test_a_single_site_install_plans_from_its_home(mariadb: Any, make_database: Any) -> None:
    # No wp_blogs: the site's address in each database is its home option, so the library derives the
    # pairs itself, as it does for a network's site.
    src, tgt = make_database(mariadb, "wfuwp_single_src"), make_database(mariadb, "wfuwp_single_tgt")
    for database, host in ((src, "blog.example.org"), (tgt, "pprd.blog.example.org")):
        run_sql(
            mariadb, database,
            "CREATE TABLE wp_options (option_id BIGINT PRIMARY KEY, option_name VARCHAR(191),"
            " option_value TEXT)",
            "CREATE TABLE wp_posts (ID BIGINT PRIMARY KEY, guid VARCHAR(255), post_content TEXT)",
            f"INSERT INTO wp_options VALUES (1, 'siteurl', 'https://{host}/wp'), (2, 'home', 'https://{host}')",
            f"INSERT INTO wp_posts VALUES (1, 'https://{host}/?p=1', 'see http://{host}/about and {host}')",
        )  # fmt: skip
    report = wfuwp.migrate_site(1, source=mariadb.dsn(src), target=mariadb.dsn(tgt))
    assert report.replacements > 0
    assert fetch(mariadb, tgt, "SELECT option_value FROM wp_options ORDER BY option_id") == [
        (b"https://pprd.blog.example.org/wp",),
        (b"https://pprd.blog.example.org",),
    ]
    assert fetch(mariadb, tgt, "SELECT guid, post_content FROM wp_posts") == [
        (
            b"https://pprd.blog.example.org/?p=1",
            b"see http://pprd.blog.example.org/about and pprd.blog.example.org",
        )
    ]
