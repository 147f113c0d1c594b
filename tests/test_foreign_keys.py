"""Sites whose tables have foreign keys, as WooCommerce and BetterLinks create them.

InnoDB's constraint names are unique per database, so a staging copy of a table cannot reuse its live
twin's: staging failed with errno 121 for every WooCommerce site, and so did restoring its backup.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import wfuwp
from tests.dbutil import checksums, fetch, run_sql, table_names
from tests.smallsite import PAIRS, build_site, db_of, target_network
from wfuwp.archive.location import ArchiveLocation
from wfuwp.ops.restore import import_sql

# WooCommerce's pair (a named key) and BetterLinks' (an auto-named `_ibfk_1`), for site 43.
PLUGIN_TABLES = (
    "CREATE TABLE wp_43_woocommerce_downloadable_product_permissions (permission_id BIGINT UNSIGNED"
    " AUTO_INCREMENT PRIMARY KEY, download_id VARCHAR(36), product_id BIGINT UNSIGNED) ENGINE=InnoDB",
    "CREATE TABLE wp_43_wc_download_log (download_log_id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,"
    " permission_id BIGINT UNSIGNED NOT NULL, user_ip_address VARCHAR(100),"
    " KEY permission_id (permission_id),"
    " CONSTRAINT fk_wp_43_wc_download_log_permission_id FOREIGN KEY (permission_id)"
    " REFERENCES wp_43_woocommerce_downloadable_product_permissions (permission_id) ON DELETE CASCADE)"
    " ENGINE=InnoDB",
    "CREATE TABLE wp_43_betterlinks (ID BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, target_url TEXT)"
    " ENGINE=InnoDB",
    "CREATE TABLE wp_43_betterlinks_password (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,"
    " link_id BIGINT UNSIGNED NOT NULL, password VARCHAR(255),"
    " FOREIGN KEY (link_id) REFERENCES wp_43_betterlinks (ID) ON DELETE CASCADE) ENGINE=InnoDB",
)


def plugin_site(server: Any, database: str, host: str) -> None:
    run_sql(
        server, database, *PLUGIN_TABLES,
        "INSERT INTO wp_43_woocommerce_downloadable_product_permissions VALUES (1, 'a', 10), (2, 'b', 11)",
        "INSERT INTO wp_43_wc_download_log VALUES (1, 1, '10.0.0.1'), (2, 2, '10.0.0.2'), (3, 2, '10.0.0.3')",
        f"INSERT INTO wp_43_betterlinks VALUES (1, 'https://{host}/go')",
        "INSERT INTO wp_43_betterlinks_password VALUES (1, 1, 'secret')",
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


@pytest.fixture
def fk_sites(mariadb, make_database):
    src, tgt = make_database(mariadb, "wfuwp_src"), make_database(mariadb, "wfuwp_tgt")
    build_site(mariadb, src)
    plugin_site(mariadb, src, "www.example.edu")
    target_network(mariadb, tgt)
    plugin_site(mariadb, tgt, "pprd.example.edu")  # the target has the site, with its own keys and rows
    run_sql(mariadb, tgt, "DELETE FROM wp_43_wc_download_log WHERE download_log_id = 3")
    return mariadb, src, tgt


def test_a_site_with_foreign_keys_migrates_with_its_keys_named_and_pointing_as_in_the_source(
    fk_sites, tmp_path: Path
) -> None:
    server, src, tgt = fk_sites
    before = checksums(server, tgt)
    keys = foreign_keys(server, src)
    assert ("wp_43_betterlinks_password", "wp_43_betterlinks_password_ibfk_1", "wp_43_betterlinks") in keys
    report = wfuwp.migrate_site(43, source=server.dsn(src), target=server.dsn(tgt), replacements=PAIRS,
                                archive=tmp_path)  # fmt: skip
    assert report.status == "completed"
    # The same keys, under the same names, between the live tables; none left on work tables.
    assert foreign_keys(server, tgt) == keys
    assert not [n for n in table_names(server, tgt) if n.startswith("_wf")]
    assert fetch(server, tgt, "SELECT COUNT(*) FROM wp_43_wc_download_log") == [(b"3",)]
    assert fetch(server, tgt, "SELECT target_url FROM wp_43_betterlinks") == [
        (b"https://pprd.example.edu/go",)
    ]
    # The keys work: deleting a parent cascades to the live child.
    run_sql(
        server, tgt, "DELETE FROM wp_43_woocommerce_downloadable_product_permissions WHERE permission_id = 2"
    )
    assert fetch(server, tgt, "SELECT COUNT(*) FROM wp_43_wc_download_log") == [(b"1",)]
    run_sql(server, tgt, "INSERT INTO wp_43_woocommerce_downloadable_product_permissions VALUES (2, 'b', 11)",
            "INSERT INTO wp_43_wc_download_log VALUES (2, 2, '10.0.0.2'), (3, 2, '10.0.0.3')")  # fmt: skip

    # The backup of such a site restores (it failed the same way), with its own keys back.
    back = wfuwp.rollback(report.migration_id, db_of(server, tgt, "target"), archive=tmp_path)
    assert back.status == "completed" and back.verified_checksums
    assert checksums(server, tgt) == before
    assert foreign_keys(server, tgt) == keys


def test_rollback_of_kept_old_tables_with_foreign_keys(fk_sites, tmp_path: Path) -> None:
    server, src, tgt = fk_sites
    before = checksums(server, tgt)
    keys = foreign_keys(server, tgt)
    report = wfuwp.migrate_site(43, source=server.dsn(src), target=server.dsn(tgt), replacements=PAIRS,
                                archive=tmp_path, keep_old=True)  # fmt: skip
    # The old tables keep their keys, between themselves; the live ones point at live parents.
    live_parents = {
        parent for table, _name, parent in foreign_keys(server, tgt) if not table.startswith("_wf")
    }
    assert live_parents == {"wp_43_woocommerce_downloadable_product_permissions", "wp_43_betterlinks"}
    wfuwp.rollback(report.migration_id, db_of(server, tgt, "target"), archive=tmp_path)
    assert checksums(server, tgt) == before
    assert foreign_keys(server, tgt) == keys


def test_a_dump_with_foreign_keys_imports_over_a_site_that_has_them(fk_sites, tmp_path: Path) -> None:
    server, src, tgt = fk_sites
    dump = tmp_path / "site.sql"
    names = [n for n in table_names(server, src) if n.startswith("wp_43_")]
    with dump.open("wb") as out:
        subprocess.run(
            ["mariadb-dump", "-uroot", f"-h{server.host}", f"-P{server.port}", "--skip-triggers", src,
             *names],
            stdout=out, check=True,
        )  # fmt: skip
    report = import_sql(dump, db_of(server, tgt, "pprd"), site_id=43)
    assert report.status == "completed"
    assert foreign_keys(server, tgt) == foreign_keys(server, src)
    assert checksums(server, tgt)["wp_43_wc_download_log"] == checksums(server, src)["wp_43_wc_download_log"]


# A migration in its own process that kills itself once its swap's RENAME is recorded as done.
KILLED_AFTER_THE_RENAME = """
import json, os, signal, sys
import wfuwp
args = json.loads(sys.argv[1])
def progress(event):
    if event.kind == "state" and event.message == "swapped":
        os.kill(os.getpid(), signal.SIGKILL)
wfuwp.migrate_site(43, source=args["source"], target=args["target"], replacements=args["pairs"],
                   archive=args["archive"], progress=progress)
"""


def test_a_resume_after_the_swap_gives_the_keys_their_names_back(fk_sites, tmp_path: Path) -> None:
    server, src, tgt = fk_sites
    keys = foreign_keys(server, src)
    args = {"source": server.dsn(src), "target": server.dsn(tgt), "pairs": PAIRS, "archive": str(tmp_path)}
    root = Path(__file__).resolve().parent.parent
    child = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_THE_RENAME, json.dumps(args)],
        env=dict(os.environ, PYTHONPATH=str(root)), capture_output=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL
    # Killed between the RENAME and the clean-up: the live tables work, under staging key names.
    assert {(t, p) for t, _n, p in foreign_keys(server, tgt) if not t.startswith("_wf")} == {
        (t, p) for t, _n, p in keys
    }
    (killed,) = ArchiveLocation.parse(tmp_path).list_migrations()
    wfuwp.migrate_site(43, source=server.dsn(src), target=server.dsn(tgt), archive=tmp_path, resume=killed.id)
    assert foreign_keys(server, tgt) == keys
    assert not [n for n in table_names(server, tgt) if n.startswith("_wf")]
