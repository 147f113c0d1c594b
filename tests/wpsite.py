"""Small hand-made WordPress multisite tables for CLI tests, and the `env` fixture that configures them.

Site 43 lives at <host>/biology/. Its rows mention the host in plain, JSON-escaped and PHP-serialized
forms; wp_430_posts (another site, never part of site 43) and wp_blogs (a network table) sit beside it.
`env` gives each test a config file with environments prod (www.wfu.edu) and pprd (pprd.wfu.edu) in two
databases plus a migration database, all on the shared server. Test modules import `env` and
`clean_environment` to use them.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from wfuwp.cli.main import main
from wfuwp.config.settings import Config, wfu_named_values

SITE = 43


def php_string(text: str) -> str:
    """PHP serialize() of a string: the length counts UTF-8 bytes."""
    return f's:{len(text.encode("utf-8"))}:"{text}";'


def make_network(server: Any, database: str, host: str, *, orphans: int = 1) -> None:
    """Create wp_blogs (sites 1, 43 and 430 on `host`), wp_430_posts and site 43's ten tables with content."""
    url = f"https://{host}/biology"
    serialized = "a:2:{" + php_string("home") + php_string(url + "/") + php_string("n") + "i:3;}"
    statements = [
        "CREATE TABLE wp_blogs (blog_id BIGINT PRIMARY KEY, site_id BIGINT, domain VARCHAR(200),"
        " path VARCHAR(100)) ENGINE=InnoDB",
        f"INSERT INTO wp_blogs VALUES (1, 1, '{host}', '/'), (43, 1, '{host}', '/biology/'),"
        f" (430, 1, '{host}', '/chem/')",
        "CREATE TABLE wp_430_posts (ID BIGINT PRIMARY KEY, post_content LONGTEXT) ENGINE=InnoDB",
        f"INSERT INTO wp_430_posts VALUES (1, 'https://{host}/chem/ stays as it is')",
    ]
    statements += [
        "CREATE TABLE wp_43_options (option_id BIGINT UNSIGNED PRIMARY KEY AUTO_INCREMENT,"
        " option_name VARCHAR(191) UNIQUE, option_value LONGTEXT, autoload VARCHAR(20)) ENGINE=InnoDB",
        f"INSERT INTO wp_43_options VALUES (1, 'siteurl', '{url}', 'yes'), (2, 'home', '{url}', 'yes'),"
        f" (3, 'blogname', 'Biology', 'yes'), (4, 'wfu_links', '{serialized}', 'no')",
        "CREATE TABLE wp_43_posts (ID BIGINT UNSIGNED PRIMARY KEY AUTO_INCREMENT, post_title TEXT,"
        " post_content LONGTEXT, guid VARCHAR(255), post_parent BIGINT UNSIGNED NOT NULL DEFAULT 0,"
        " post_date DATETIME) ENGINE=InnoDB",
        f"INSERT INTO wp_43_posts VALUES (1, 'Hello', 'See <a href=\"{url}/lab/\">the lab</a> at {host}.',"
        f" '{url}/?p=1', 0, '2024-01-02 03:04:05'),"
        f" (2, 'JSON', '{{\"u\":\"https:\\\\/\\\\/{host}\\\\/biology\\\\/\"}}', '{url}/?p=2', 1,"
        " '2024-01-03 00:00:00'),"
        " (3, 'Mail', 'write to someone@wfu.edu', 'x', 0, NULL)",
        "CREATE TABLE wp_43_postmeta (meta_id BIGINT UNSIGNED PRIMARY KEY AUTO_INCREMENT,"
        " post_id BIGINT UNSIGNED NOT NULL, meta_key VARCHAR(255), meta_value LONGTEXT) ENGINE=InnoDB",
        f"INSERT INTO wp_43_postmeta (post_id, meta_key, meta_value) VALUES (1, '_link', '{url}/a'),"
        " (2, '_n', '1')",
    ]
    statements += [
        f"INSERT INTO wp_43_postmeta (post_id, meta_key, meta_value) VALUES ({900 + i}, '_gone', 'x')"
        for i in range(orphans)
    ]
    # The other core tables, empty, with the columns the orphan checks join on.
    statements += [
        "CREATE TABLE wp_43_comments (comment_ID BIGINT UNSIGNED PRIMARY KEY,"
        " comment_post_ID BIGINT UNSIGNED, comment_content TEXT) ENGINE=InnoDB",
        "CREATE TABLE wp_43_commentmeta (meta_id BIGINT UNSIGNED PRIMARY KEY,"
        " comment_id BIGINT UNSIGNED, meta_value LONGTEXT) ENGINE=InnoDB",
        "CREATE TABLE wp_43_terms (term_id BIGINT UNSIGNED PRIMARY KEY, name VARCHAR(200)) ENGINE=InnoDB",
        "CREATE TABLE wp_43_termmeta (meta_id BIGINT UNSIGNED PRIMARY KEY, term_id BIGINT UNSIGNED,"
        " meta_value LONGTEXT) ENGINE=InnoDB",
        "CREATE TABLE wp_43_term_taxonomy (term_taxonomy_id BIGINT UNSIGNED PRIMARY KEY,"
        " term_id BIGINT UNSIGNED, taxonomy VARCHAR(32)) ENGINE=InnoDB",
        "CREATE TABLE wp_43_term_relationships (object_id BIGINT UNSIGNED,"
        " term_taxonomy_id BIGINT UNSIGNED, PRIMARY KEY (object_id, term_taxonomy_id)) ENGINE=InnoDB",
        # MyISAM, as old networks still have: the snapshot must lock it.
        "CREATE TABLE wp_43_links (link_id BIGINT UNSIGNED PRIMARY KEY, link_url VARCHAR(255)) ENGINE=MyISAM",
        f"INSERT INTO wp_43_links VALUES (1, 'https://{host}/biology/links')",
    ]
    execute(server, database, statements)


def option(server: Any, database: str, name: str) -> str:
    found = rows(server, database, f"SELECT option_value FROM wp_43_options WHERE option_name = '{name}'")
    value = found[0][0]
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)


def execute(server: Any, database: str, statements: Sequence[str]) -> None:
    """Run statements in `database`."""
    conn = server.connect(database=database)
    try:
        cur = conn.cursor()
        for statement in statements:
            cur.execute(statement)
    finally:
        conn.close()


def rows(server: Any, database: str, statement: str) -> list[tuple[Any, ...]]:
    """All rows of a query in `database`."""
    conn = server.connect(database=database)
    try:
        cur = conn.cursor()
        cur.execute(statement)
        return list(cur.fetchall())
    finally:
        conn.close()


def tables(server: Any, database: str) -> list[str]:
    """Every table name in `database`, sorted."""
    return sorted(r[0] for r in rows(server, database, "SHOW TABLES"))


def checksums(server: Any, database: str) -> dict[str, int]:
    """CHECKSUM TABLE of every table in `database`: equal before and after means nothing was written."""
    names = tables(server, database)
    if not names:
        return {}
    found = rows(server, database, "CHECKSUM TABLE " + ", ".join(f"`{n}`" for n in names))
    return {name.split(".", 1)[1]: value for name, value in found}


@dataclass
class Env:
    """The servers, databases and config file of one test."""

    server: Any
    prod: str
    pprd: str
    migration: str
    config: Path
    work: Path

    def run(self, capsys: pytest.CaptureFixture[str], *args: str, stdin: str = "") -> tuple[int, str, str]:
        """Run `wfuwp --config <file> args...` in-process; return (exit code, stdout, stderr)."""
        sys.stdin = io.StringIO(stdin)
        try:
            code = main(["--config", str(self.config), *args])
        finally:
            sys.stdin = sys.__stdin__
        out, err = capsys.readouterr()
        return code, out, err


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No keyring, no config, passwords or webhook from the machine, data dirs inside tmp."""
    monkeypatch.setenv("WFUWP_NO_KEYRING", "1")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    for name in list(os.environ):
        if name in ("WFUWP_CONFIG", "WFUWP_NOTIFY_WEBHOOK") or (
            name.startswith("WFUWP_") and name.endswith("_PASSWORD")
        ):
            monkeypatch.delenv(name)


def write_config(path: Path, server: Any, databases: dict[str, str], migration: str | None) -> None:
    config = Config()
    for env, database in databases.items():
        for key, value in {
            "host": server.host,
            "port": str(server.port),
            "user": server.user,
            "database": database,
            **wfu_named_values(env),
        }.items():
            config.set(f"env.{env}.{key}", value)
    if migration:
        for key, value in {
            "host": server.host,
            "port": str(server.port),
            "user": server.user,
            "database": migration,
        }.items():
            config.set(f"migration.{key}", value)
    config.save(path)


@pytest.fixture
def env(mariadb: Any, make_database: Any, tmp_path: Path) -> Env:
    prod, pprd = make_database(mariadb, "wfuwp_cli_prod"), make_database(mariadb, "wfuwp_cli_pprd")
    migration = make_database(mariadb, "wfuwp_cli_migration")
    make_network(mariadb, prod, "www.wfu.edu")
    make_network(mariadb, pprd, "pprd.wfu.edu")
    execute(
        mariadb,
        pprd,
        ["UPDATE wp_43_options SET option_value = 'old pprd copy' WHERE option_name = 'blogname'"],
    )
    path = tmp_path / "cfg" / "config.json"
    write_config(path, mariadb, {"prod": prod, "pprd": pprd}, migration)
    return Env(mariadb, prod, pprd, migration, path, tmp_path / "work")
