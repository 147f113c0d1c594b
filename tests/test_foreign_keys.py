"""Sites whose tables have foreign keys, as WooCommerce and BetterLinks create them.

InnoDB's constraint names are unique per database, so a staging copy of a table cannot reuse its live
twin's: staging failed with errno 121 for every WooCommerce site, and so did restoring its backup.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

import wfuwp
from tests.children import kill_migration_at
from tests.dbutil import checksums, fetch, run_sql, table_names
from tests.smallsite import PAIRS, build_site, db_of, target_network
from wfuwp.ops.restore import import_sql


# WooCommerce's pair (a named key) and BetterLinks' (an auto-named `_ibfk_1`), for a site's prefix.
def plugin_tables(p: str) -> tuple[str, ...]:
    return (
        f"CREATE TABLE {p}woocommerce_downloadable_product_permissions (permission_id BIGINT UNSIGNED"
        " AUTO_INCREMENT PRIMARY KEY, download_id VARCHAR(36), product_id BIGINT UNSIGNED) ENGINE=InnoDB",
        f"CREATE TABLE {p}wc_download_log (download_log_id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,"
        " permission_id BIGINT UNSIGNED NOT NULL, user_ip_address VARCHAR(100),"
        " KEY permission_id (permission_id),"
        f" CONSTRAINT fk_{p}wc_download_log_permission_id FOREIGN KEY (permission_id)"
        f" REFERENCES {p}woocommerce_downloadable_product_permissions (permission_id) ON DELETE CASCADE)"
        " ENGINE=InnoDB",
        f"CREATE TABLE {p}betterlinks (ID BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, target_url TEXT)"
        " ENGINE=InnoDB",
        f"CREATE TABLE {p}betterlinks_password (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,"
        " link_id BIGINT UNSIGNED NOT NULL, password VARCHAR(255),"
        f" FOREIGN KEY (link_id) REFERENCES {p}betterlinks (ID) ON DELETE CASCADE) ENGINE=InnoDB",
    )


PLUGIN_TABLES = plugin_tables("wp_43_")


def plugin_site(server: Any, database: str, host: str, p: str = "wp_43_") -> None:
    run_sql(
        server, database, *plugin_tables(p),
        f"INSERT INTO {p}woocommerce_downloadable_product_permissions VALUES (1, 'a', 10), (2, 'b', 11)",
        f"INSERT INTO {p}wc_download_log VALUES (1, 1, '10.0.0.1'), (2, 2, '10.0.0.2'), (3, 2, '10.0.0.3')",
        f"INSERT INTO {p}betterlinks VALUES (1, 'https://{host}/go')",
        f"INSERT INTO {p}betterlinks_password VALUES (1, 1, 'secret')",
    )  # fmt: skip


def foreign_keys(server: Any, database: str) -> set[tuple[str, str, str]]:
    """(table, constraint, parent table) of every foreign key in `database`."""
    rows = fetch(
        server,
        database,
        "SELECT TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_NAME"
        f" FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = '{database}'",
    )
    return {tuple(str(v.decode() if isinstance(v, bytes) else v) for v in row) for row in rows}  # type: ignore[misc]


def dangling(server: Any, database: str) -> set[tuple[str, str, str]]:
    """Foreign keys in `database` whose parent table does not exist."""
    present = set(table_names(server, database))
    return {key for key in foreign_keys(server, database) if key[2] not in present}


# Site 1 (`wp_` tables, with twins on site 43 as every plugin makes them) and a subsite.
SITES = {1: "wp_", 43: "wp_43_"}


@pytest.fixture(params=sorted(SITES), ids=lambda site: f"site{site}")
def fk_sites(request, mariadb, make_database):
    site, p = request.param, SITES[request.param]
    src, tgt = make_database(mariadb, "wfuwp_src"), make_database(mariadb, "wfuwp_tgt")
    build_site(mariadb, src)
    target_network(mariadb, tgt)
    for db, host in ((src, "www.example.edu"), (tgt, "pprd.example.edu")):
        # The target has the site, with its own keys and rows.
        plugin_site(mariadb, db, host, "wp_43_")
        if site == 1:
            plugin_site(mariadb, db, host, "wp_")
    run_sql(mariadb, tgt, f"DELETE FROM {p}wc_download_log WHERE download_log_id = 3")
    return mariadb, src, tgt, site, p


def test_a_site_with_foreign_keys_migrates_with_its_keys_named_and_pointing_as_in_the_source(
    fk_sites, tmp_path: Path
) -> None:
    server, src, tgt, site, p = fk_sites
    before = checksums(server, tgt)
    keys = foreign_keys(server, src)
    assert (f"{p}betterlinks_password", f"{p}betterlinks_password_ibfk_1", f"{p}betterlinks") in keys
    report = wfuwp.migrate_site(site, source=server.dsn(src), target=server.dsn(tgt), replacements=PAIRS,
                                archive=tmp_path)  # fmt: skip
    assert report.status == "completed"
    # The same keys, under the same names, between the live tables; none left on work tables.
    assert foreign_keys(server, tgt) == keys
    assert not [n for n in table_names(server, tgt) if n.startswith("_wf")]
    assert fetch(server, tgt, f"SELECT COUNT(*) FROM {p}wc_download_log") == [(b"3",)]
    assert fetch(server, tgt, f"SELECT target_url FROM {p}betterlinks") == [(b"https://pprd.example.edu/go",)]
    # The keys work: deleting a parent cascades to the live child.
    run_sql(
        server, tgt, f"DELETE FROM {p}woocommerce_downloadable_product_permissions WHERE permission_id = 2"
    )
    assert fetch(server, tgt, f"SELECT COUNT(*) FROM {p}wc_download_log") == [(b"1",)]
    run_sql(server, tgt, f"INSERT INTO {p}woocommerce_downloadable_product_permissions VALUES (2, 'b', 11)",
            f"INSERT INTO {p}wc_download_log VALUES (2, 2, '10.0.0.2'), (3, 2, '10.0.0.3')")  # fmt: skip

    # The backup of such a site restores (it failed the same way), with its own keys back.
    back = wfuwp.rollback(report.migration_id, db_of(server, tgt, "target"), archive=tmp_path)
    assert back.status == "completed" and back.verified_checksums
    assert checksums(server, tgt) == before
    assert foreign_keys(server, tgt) == keys
    assert not dangling(server, tgt)


def test_rollback_of_kept_old_tables_with_foreign_keys(fk_sites, tmp_path: Path) -> None:
    server, src, tgt, site, p = fk_sites
    outside_child(server, tgt, p)
    before = checksums(server, tgt)
    keys = foreign_keys(server, tgt)
    report = wfuwp.migrate_site(site, source=server.dsn(src), target=server.dsn(tgt), replacements=PAIRS,
                                archive=tmp_path, keep_old=True)  # fmt: skip
    # The old tables keep their keys, between themselves; the live ones point at live parents.
    live = {
        (table, parent) for table, _name, parent in foreign_keys(server, tgt) if not table.startswith("_wf")
    }
    assert live >= {
        (f"{p}wc_download_log", f"{p}woocommerce_downloadable_product_permissions"),
        (f"{p}betterlinks_password", f"{p}betterlinks"),
    }
    assert not [parent for _table, parent in live if parent.startswith("_wf")]
    wfuwp.rollback(report.migration_id, db_of(server, tgt, "target"), archive=tmp_path)
    assert checksums(server, tgt) == before
    assert foreign_keys(server, tgt) == keys
    assert not dangling(server, tgt)
    run_sql(server, tgt, f"INSERT INTO {p}wc_extra VALUES (2, 2)")  # against the live parent


def test_a_dump_with_foreign_keys_imports_over_a_site_that_has_them(fk_sites, tmp_path: Path) -> None:
    server, src, tgt, site, p = fk_sites
    dump = tmp_path / "site.sql"
    names = [f"{p}{n}" for n in ("woocommerce_downloadable_product_permissions", "wc_download_log",
                                 "betterlinks", "betterlinks_password")]  # fmt: skip
    with dump.open("wb") as out:
        subprocess.run(
            ["mariadb-dump", "-uroot", f"-h{server.host}", f"-P{server.port}", src, *names],
            stdout=out, check=True,
        )  # fmt: skip
    report = import_sql(dump, db_of(server, tgt, "pprd"), site_id=site)
    assert report.status == "completed"
    assert foreign_keys(server, tgt) == foreign_keys(server, src)
    assert checksums(server, tgt)[f"{p}wc_download_log"] == checksums(server, src)[f"{p}wc_download_log"]
    assert not dangling(server, tgt)


def outside_child(server: Any, database: str, p: str) -> None:
    """A target-only table (kept by a migration) whose key points at a table the migration replaces."""
    run_sql(server, database, f"CREATE TABLE {p}wc_extra (id INT PRIMARY KEY, permission_id BIGINT UNSIGNED,"
            f" CONSTRAINT {p}wc_extra_permission FOREIGN KEY (permission_id)"
            f" REFERENCES {p}woocommerce_downloadable_product_permissions (permission_id)) ENGINE=InnoDB",
            f"INSERT INTO {p}wc_extra VALUES (1, 1)")  # fmt: skip


def test_nothing_in_the_target_is_left_referencing_a_replaced_table(fk_sites, tmp_path: Path) -> None:
    """The outside table's key follows the replaced table to its old name as InnoDB renames it: it
    must point at the live table again."""
    server, src, tgt, site, p = fk_sites
    outside_child(server, tgt, p)
    report = wfuwp.migrate_site(site, source=server.dsn(src), target=server.dsn(tgt), replacements=PAIRS,
                                archive=tmp_path)  # fmt: skip
    assert f"{p}wc_extra" in report.target_only_tables
    assert not dangling(server, tgt)
    assert (
        f"{p}wc_extra",
        f"{p}wc_extra_permission",
        f"{p}woocommerce_downloadable_product_permissions",
    ) in (foreign_keys(server, tgt))
    # And back: the rollback restores the backup under the same rule.
    wfuwp.rollback(report.migration_id, db_of(server, tgt, "target"), archive=tmp_path)
    assert not dangling(server, tgt)
    run_sql(server, tgt, f"INSERT INTO {p}wc_extra VALUES (2, 2)")  # the key works against the live parent


def test_a_resume_after_the_swap_gives_the_keys_their_names_back(fk_sites, tmp_path: Path) -> None:
    server, src, tgt, site, p = fk_sites
    keys = foreign_keys(server, src)
    killed = kill_migration_at(server, src, tgt, site, tmp_path, "swapped")
    # Killed between the RENAME and the clean-up: the live tables work, under staging key names.
    assert {(t, par) for t, _n, par in foreign_keys(server, tgt) if not t.startswith("_wf")} >= {
        (t, par) for t, _n, par in keys if t.startswith(p)
    }
    wfuwp.migrate_site(site, source=server.dsn(src), target=server.dsn(tgt), archive=tmp_path, resume=killed)
    assert foreign_keys(server, tgt) == keys
    assert not [n for n in table_names(server, tgt) if n.startswith("_wf")]
    assert not dangling(server, tgt)


def parent_of_download_log(server: Any, database: str, p: str) -> str:
    """The table the live `wc_download_log`'s key points at."""
    (parent,) = [par for table, _n, par in foreign_keys(server, database) if table == f"{p}wc_download_log"]
    return parent


def test_importing_a_child_table_alone_keeps_its_key_on_the_live_parent(fk_sites, tmp_path: Path) -> None:
    """A file with the children and not their parents (as each object of an archive holds one table):
    the parents are not staged, so the staged children's keys must point at the live parents (not at
    staging twins that never exist). The auto-named key (`_ibfk_1`) was left dangling."""
    server, src, tgt, site, p = fk_sites
    dump = tmp_path / "child.sql"
    with dump.open("wb") as out:
        children = (f"{p}wc_download_log", f"{p}betterlinks_password")
        subprocess.run(["mariadb-dump", "-uroot", f"-h{server.host}", f"-P{server.port}", src, *children],
                       stdout=out, check=True)  # fmt: skip
    report = import_sql(dump, db_of(server, tgt, "pprd"), site_id=site, archive=tmp_path / "backup")
    assert report.status == "completed" and report.tables == {
        f"{p}betterlinks_password": 1,
        f"{p}wc_download_log": 3,
    }
    assert not dangling(server, tgt)
    assert parent_of_download_log(server, tgt, p) == f"{p}woocommerce_downloadable_product_permissions"
    assert foreign_keys(server, tgt) == foreign_keys(server, src)
    # The key works: deleting the live parent's row cascades to the imported child.
    run_sql(
        server, tgt, f"DELETE FROM {p}woocommerce_downloadable_product_permissions WHERE permission_id = 2"
    )
    assert fetch(server, tgt, f"SELECT COUNT(*) FROM {p}wc_download_log") == [(b"1",)]


def test_a_migration_without_the_parent_and_its_rollback_keep_the_key_on_the_live_parent(
    fk_sites, tmp_path: Path
) -> None:
    """The parent excluded: the child is migrated (and its backup, holding the child alone, restored)
    with its key on the target's live parent."""
    server, src, tgt, site, p = fk_sites
    before, keys = checksums(server, tgt), foreign_keys(server, tgt)
    parent = f"{p}woocommerce_downloadable_product_permissions"
    report = wfuwp.migrate_site(site, source=server.dsn(src), target=server.dsn(tgt), replacements=PAIRS,
                                archive=tmp_path, tables=wfuwp.TableFilter(exclude=(parent,)))  # fmt: skip
    assert report.status == "completed" and parent not in [t.name for t in report.tables]
    assert not dangling(server, tgt)
    assert parent_of_download_log(server, tgt, p) == parent
    assert foreign_keys(server, tgt) == keys
    back = wfuwp.rollback(report.migration_id, db_of(server, tgt, "target"), archive=tmp_path)
    assert back.status == "completed"
    assert not dangling(server, tgt)
    assert foreign_keys(server, tgt) == keys
    assert checksums(server, tgt) == before
