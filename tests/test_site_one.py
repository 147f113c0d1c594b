"""Which tables are site 1's when the database holds more than one network, and network-wide plugins.

Site 1's tables are the unnumbered `<prefix>` ones, but a second network under a longer prefix
(`wp_second_`), Cavalcade's and Stream's tables, and any table whose rows belong to other sites are not
site 1's: migrating them as its own overwrote another network's users and deleted other sites' rows.
"""

from __future__ import annotations

from pathlib import Path

import wfuwp
from tests.dbutil import checksums, fetch, run_sql
from wfuwp.mysql.schema import site_table_names

SITE_ONE = (
    "CREATE TABLE wp_blogs (blog_id INT PRIMARY KEY, domain VARCHAR(200), path VARCHAR(100))",
    "CREATE TABLE wp_users (ID INT PRIMARY KEY, user_url VARCHAR(200))",
    "CREATE TABLE wp_options (option_id INT PRIMARY KEY, option_name VARCHAR(191), option_value LONGTEXT)",
    "CREATE TABLE wp_posts (ID INT PRIMARY KEY, guid VARCHAR(255))",
    "CREATE TABLE wp_43_options (option_id INT PRIMARY KEY, option_name VARCHAR(191), option_value LONGTEXT)",
    # A second network in the same database.
    "CREATE TABLE wp_second_blogs (blog_id INT PRIMARY KEY, domain VARCHAR(200), path VARCHAR(100))",
    "CREATE TABLE wp_second_users (ID INT PRIMARY KEY, user_login VARCHAR(60))",
    "CREATE TABLE wp_second_options (option_id INT PRIMARY KEY, option_name VARCHAR(191))",
    "CREATE TABLE wp_second_posts (ID INT PRIMARY KEY, guid VARCHAR(255))",
    # Network-wide plugins, and a site-1 plugin table that merely has a blog_id column.
    "CREATE TABLE wp_cavalcade_jobs (id INT PRIMARY KEY, site INT, hook VARCHAR(100))",
    "CREATE TABLE wp_stream (ID INT PRIMARY KEY, blog_id INT, summary VARCHAR(255))",
    "CREATE TABLE wp_shared_log (id INT PRIMARY KEY, blog_id INT, note VARCHAR(255))",
    "CREATE TABLE wp_yoast_indexable (id INT PRIMARY KEY, blog_id INT, permalink VARCHAR(255))",
)


def network(server, database: str, host: str, login: str) -> None:
    run_sql(
        server, database, *SITE_ONE,
        f"INSERT INTO wp_blogs VALUES (1, '{host}', '/'), (43, '{host}', '/bio/')",
        f"INSERT INTO wp_options VALUES (1, 'siteurl', 'https://{host}'), (2, 'home', 'https://{host}')",
        f"INSERT INTO wp_posts VALUES (1, 'https://{host}/?p=1')",
        f"INSERT INTO wp_second_users VALUES (1, '{login}')",
        "INSERT INTO wp_cavalcade_jobs VALUES (1, 43, 'cron')",
        f"INSERT INTO wp_stream VALUES (1, 1, 'https://{host}/a'), (2, 43, 'https://{host}/bio/b')",
        f"INSERT INTO wp_shared_log VALUES (1, 43, 'https://{host}/bio/x')",
        f"INSERT INTO wp_yoast_indexable VALUES (1, 1, 'https://{host}/'), (2, 0, 'https://{host}/')",
    )  # fmt: skip


def test_site_one_owns_neither_another_network_nor_network_wide_tables(mariadb, make_database) -> None:
    db = make_database(mariadb, "wfuwp_net")
    network(mariadb, db, "www.example.edu", "alice")
    conn = mariadb.connect()
    try:
        names = site_table_names(conn, db, "wp_", 1)
    finally:
        conn.close()
    assert names == ["wp_options", "wp_posts", "wp_yoast_indexable"]


def test_migrating_site_one_leaves_the_rest_of_the_network_alone(
    mariadb, make_database, tmp_path: Path
) -> None:
    src, tgt = make_database(mariadb, "wfuwp_src"), make_database(mariadb, "wfuwp_tgt")
    network(mariadb, src, "www.example.edu", "alice")
    network(mariadb, tgt, "pprd.example.edu", "bob")
    run_sql(mariadb, tgt, "INSERT INTO wp_second_users VALUES (2, 'only-in-pprd')")
    before = checksums(mariadb, tgt)
    report = wfuwp.migrate_site(1, source=mariadb.dsn(src), target=mariadb.dsn(tgt),
                                replacements=[("www.example.edu", "pprd.example.edu")], archive=tmp_path,
                                drop_target_only=True)  # fmt: skip
    assert sorted(t.name for t in report.tables) == ["wp_options", "wp_posts", "wp_yoast_indexable"]
    after = checksums(mariadb, tgt)
    untouched = [n for n in before if n not in ("wp_options", "wp_posts", "wp_yoast_indexable")]
    assert {n: after[n] for n in untouched} == {n: before[n] for n in untouched}


def test_derived_rules_never_rewrite_what_an_earlier_rule_wrote(mariadb, make_database) -> None:
    # The target's host contains the source's (example.test -> pprd.example.test): applied one after
    # another, the bare-host rule used to rewrite the new URL again, into pprd.pprd.example.test.
    src, tgt = make_database(mariadb, "wfuwp_src"), make_database(mariadb, "wfuwp_tgt")
    for database, host in ((src, "example.test"), (tgt, "pprd.example.test")):
        run_sql(
            mariadb, database,
            "CREATE TABLE wp_blogs (blog_id INT PRIMARY KEY, domain VARCHAR(200), path VARCHAR(100))",
            f"INSERT INTO wp_blogs VALUES (1, '{host}', '/'), (43, '{host}', '/bio/')",
            "CREATE TABLE wp_43_options (option_id INT PRIMARY KEY, option_name VARCHAR(191),"
            " option_value TEXT)",
            f"INSERT INTO wp_43_options VALUES (1, 'siteurl', 'http://{host}/bio'),"
            f" (2, 'home', 'http://{host}/bio')",
            "CREATE TABLE wp_43_posts (ID INT PRIMARY KEY, post_content TEXT)",
        )  # fmt: skip
    run_sql(
        mariadb, src, "INSERT INTO wp_43_posts VALUES (1, 'see http://example.test/bio/x, "
        "https://example.test/bio/y, //example.test/bio/z and example.test/bio/w')",
    )  # fmt: skip
    report = wfuwp.migrate_site(43, source=mariadb.dsn(src), target=mariadb.dsn(tgt))
    assert report.pairs_origin.startswith("derived")
    options = dict(fetch(mariadb, tgt, "SELECT option_name, option_value FROM wp_43_options"))
    assert options[b"siteurl"] == options[b"home"] == b"http://pprd.example.test/bio"
    (content,) = fetch(mariadb, tgt, "SELECT post_content FROM wp_43_posts")[0]
    assert content == (
        b"see http://pprd.example.test/bio/x, https://pprd.example.test/bio/y, //pprd.example.test/bio/z and "
        b"pprd.example.test/bio/w"
    )
