"""Triggers of a site's tables, through migrate, rollback, restore, import and resume; and the views,
routines and events that name a site's tables, which pre-flight reports.

Trigger names are unique per database, so a staging table's trigger cannot take its live twin's name:
it is staged under a staging name and renamed after the swap. Before this, a migration dropped the
target's triggers with its old tables and brought none.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

import wfuwp
from tests.children import kill_migration_at
from tests.dbutil import fetch, run_sql, table_names
from tests.smallsite import PAIRS, build_site, db_of, target_network
from tests.users import users_on
from tests.wpsite import Env, clean_environment, env
from wfuwp.errors import SqlFileError
from wfuwp.ops.restore import import_sql

__all__ = ["clean_environment", "env"]  # fixtures of the CLI test

SITES = {1: "wp_", 43: "wp_43_"}
# Longer than 64 characters once staged (`_wfs_<run>_` + name): its staging name is hashed.
LONG = "orders_after_delete_writes_the_log_of_deleted_orders"


def trigger_site(server: Any, database: str, p: str, note: str, host: str) -> None:
    """Orders and their log, kept by triggers whose bodies name the site's tables."""
    run_sql(
        server, database,
        f"CREATE TABLE {p}orders (id INT PRIMARY KEY, total INT, url VARCHAR(200)) ENGINE=InnoDB",
        f"CREATE TABLE {p}order_log (id INT AUTO_INCREMENT PRIMARY KEY, order_id INT, note VARCHAR(100))"
        " ENGINE=InnoDB",
        f"CREATE TRIGGER {p}orders_ai AFTER INSERT ON {p}orders FOR EACH ROW"
        f" INSERT INTO {p}order_log (order_id, note) VALUES (NEW.id, '{note} created')",
        f"CREATE TRIGGER {p}orders_bu BEFORE UPDATE ON {p}orders FOR EACH ROW BEGIN"
        f" SET NEW.total = NEW.total + 1; INSERT INTO {p}order_log (order_id, note)"
        f" VALUES (NEW.id, '{note} changed'); END",
        f"CREATE TRIGGER {p}{LONG} AFTER DELETE ON {p}orders FOR EACH ROW"
        f" INSERT INTO {p}order_log (order_id, note) VALUES (OLD.id, '{note} deleted')",
        f"INSERT INTO {p}orders VALUES (1, 10, 'https://{host}/o/1'), (2, 20, 'https://{host}/o/2')",
    )  # fmt: skip


def triggers(server: Any, database: str) -> set[tuple[str, ...]]:
    """(name, table, timing, event, body) of every trigger in `database`."""
    rows = fetch(
        server,
        database,
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_STATEMENT"
        f" FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{database}'",
    )
    return {tuple(v.decode() for v in row) for row in rows}


def of_site(keys: set[tuple[str, ...]], p: str) -> set[tuple[str, ...]]:
    """Those on the site's tables (site 1's `wp_` tables are not site 43's `wp_43_` ones)."""
    return {k for k in keys if k[1].startswith(p) and not (p == "wp_" and k[1].startswith("wp_43_"))}


def log_notes(server: Any, database: str, p: str) -> list[str]:
    return [n.decode() for (n,) in fetch(server, database, f"SELECT note FROM {p}order_log ORDER BY id")]


def no_work_objects(server: Any, database: str) -> None:
    assert not [n for n in table_names(server, database) if n.startswith("_wf")]
    assert not [t for t in triggers(server, database) if t[0].startswith("_wf")]


@pytest.fixture(params=sorted(SITES), ids=lambda site: f"site{site}")
def sites(request, mariadb, make_database):
    site, p = request.param, SITES[request.param]
    src, tgt = make_database(mariadb, "wfuwp_src"), make_database(mariadb, "wfuwp_tgt")
    build_site(mariadb, src)
    target_network(mariadb, tgt)
    for db, note, host in ((src, "source", "www.example.edu"), (tgt, "target", "pprd.example.edu")):
        trigger_site(mariadb, db, "wp_43_", note, host)
        if site == 1:
            trigger_site(mariadb, db, "wp_", note, host)
    run_sql(mariadb, tgt, f"DELETE FROM {p}orders WHERE id = 2")  # the target's differ
    return mariadb, src, tgt, site, p


def test_a_migration_carries_the_triggers_and_a_rollback_puts_the_targets_back(sites, tmp_path: Path) -> None:
    server, src, tgt, site, p = sites
    source_triggers, target_triggers = of_site(triggers(server, src), p), of_site(triggers(server, tgt), p)
    assert len(source_triggers) == 3 and source_triggers != target_triggers
    report = wfuwp.migrate_site(site, source=server.dsn(src), target=server.dsn(tgt), replacements=PAIRS,
                                archive=tmp_path)  # fmt: skip
    assert report.status == "completed"
    # The source's triggers, under their own names, on the live tables; nothing left under work names.
    assert of_site(triggers(server, tgt), p) == source_triggers
    no_work_objects(server, tgt)
    # Loading fired none of them: the log is the source's, as copied.
    assert log_notes(server, tgt, p) == ["source created", "source created"]
    # They fire on the live tables and write into the live log.
    run_sql(server, tgt, f"INSERT INTO {p}orders VALUES (3, 30, NULL)",
            f"UPDATE {p}orders SET total = 0 WHERE id = 3",
            f"DELETE FROM {p}orders WHERE id = 3")  # fmt: skip
    assert log_notes(server, tgt, p)[2:] == ["source created", "source changed", "source deleted"]

    # The backup carried the target's triggers: the rollback (from it) puts them back.
    back = wfuwp.rollback(report.migration_id, db_of(server, tgt, "target"), archive=tmp_path)
    assert back.status == "completed"
    assert of_site(triggers(server, tgt), p) == target_triggers
    no_work_objects(server, tgt)
    # And the migrated export carries the source's: restoring it brings them again.
    again = wfuwp.restore(
        report.migration_id, db_of(server, tgt, "target"), archive=tmp_path, which="migrated"
    )
    assert again.status == "completed"
    assert of_site(triggers(server, tgt), p) == source_triggers
    no_work_objects(server, tgt)


def test_kept_old_tables_keep_their_triggers_for_an_instant_rollback(sites, tmp_path: Path) -> None:
    server, src, tgt, site, p = sites
    target_triggers = of_site(triggers(server, tgt), p)
    report = wfuwp.migrate_site(site, source=server.dsn(src), target=server.dsn(tgt), replacements=PAIRS,
                                archive=tmp_path, keep_old=True)  # fmt: skip
    # The live tables' triggers work (under staging names while the old tables hold theirs).
    run_sql(server, tgt, f"INSERT INTO {p}orders VALUES (3, 30, NULL)")
    assert log_notes(server, tgt, p)[-1] == "source created"
    wfuwp.rollback(report.migration_id, db_of(server, tgt, "target"), archive=tmp_path)
    assert of_site(triggers(server, tgt), p) == target_triggers
    no_work_objects(server, tgt)


def test_a_resume_after_a_kill_in_the_swap_gives_the_triggers_their_names(sites, tmp_path: Path) -> None:
    server, src, tgt, site, p = sites
    source_triggers = of_site(triggers(server, src), p)
    killed = kill_migration_at(server, src, tgt, site, tmp_path, "swapped")
    # Killed between the RENAME and the clean-up: the live tables have the source's triggers, staged.
    live = of_site(triggers(server, tgt), p)
    assert {t[1:] for t in live} == {t[1:] for t in source_triggers}
    assert all(name.startswith("_wfs_") for name, *_ in live)
    wfuwp.migrate_site(site, source=server.dsn(src), target=server.dsn(tgt), archive=tmp_path, resume=killed)
    assert of_site(triggers(server, tgt), p) == source_triggers
    no_work_objects(server, tgt)
    run_sql(server, tgt, f"INSERT INTO {p}orders VALUES (3, 30, NULL)")
    assert log_notes(server, tgt, p)[2:] == ["source created"]


def test_a_resume_after_a_kill_just_before_the_rename_stages_the_triggers_again(
    mariadb, make_database, tmp_path
) -> None:
    """Killed with the triggers staged but before the RENAME: the target is as it was (the staged
    triggers sit on staging tables), and the resumed run swaps with them in place once."""
    server = mariadb
    src, tgt = make_database(server, "wfuwp_src"), make_database(server, "wfuwp_tgt")
    build_site(server, src, with_430=False)
    target_network(server, tgt)
    trigger_site(server, src, "wp_43_", "source", "www.example.edu")
    trigger_site(server, tgt, "wp_43_", "target", "pprd.example.edu")
    target_triggers = of_site(triggers(server, tgt), "wp_43_")
    killed = kill_migration_at(server, src, tgt, 43, tmp_path, "swapping")
    assert {t for t in triggers(server, tgt) if not t[1].startswith("_wfs_")} == target_triggers
    assert len([t for t in triggers(server, tgt) if t[1].startswith("_wfs_")]) == 3  # staged, not live
    wfuwp.migrate_site(43, source=server.dsn(src), target=server.dsn(tgt), archive=tmp_path, resume=killed)
    assert of_site(triggers(server, tgt), "wp_43_") == of_site(triggers(server, src), "wp_43_")
    no_work_objects(server, tgt)
    run_sql(server, tgt, "INSERT INTO wp_43_orders VALUES (3, 30, NULL)")
    assert log_notes(server, tgt, "wp_43_")[2:] == ["source created"]


def test_a_resume_after_a_kill_inside_the_renaming_fires_each_trigger_once(mariadb, make_database, tmp_path):
    """Renaming creates the trigger under its own name, then drops the staged one: a kill in between
    leaves both (they would fire twice). The resumed run drops the staged ones."""
    server = mariadb
    src, tgt = make_database(server, "wfuwp_src"), make_database(server, "wfuwp_tgt")
    build_site(server, src)
    target_network(server, tgt)
    trigger_site(server, src, "wp_43_", "source", "www.example.edu")
    trigger_site(server, tgt, "wp_43_", "target", "pprd.example.edu")
    killed = kill_migration_at(server, src, tgt, 43, tmp_path, "swapped")
    # Where the kill would have left the renaming: the old tables dropped, one trigger doubled.
    old = [n for n in table_names(server, tgt) if n.startswith("_wfo_")]
    run_sql(server, tgt, "SET SESSION foreign_key_checks = 0", *(f"DROP TABLE `{n}`" for n in old),
            "CREATE TRIGGER wp_43_orders_ai AFTER INSERT ON wp_43_orders FOR EACH ROW"
            " INSERT INTO wp_43_order_log (order_id, note) VALUES (NEW.id, 'source created')")  # fmt: skip
    run_sql(server, tgt, "INSERT INTO wp_43_orders VALUES (3, 30, NULL)")
    assert log_notes(server, tgt, "wp_43_")[2:] == ["source created", "source created"]  # twice: doubled
    wfuwp.migrate_site(43, source=server.dsn(src), target=server.dsn(tgt), archive=tmp_path, resume=killed)
    assert of_site(triggers(server, tgt), "wp_43_") == of_site(triggers(server, src), "wp_43_")
    no_work_objects(server, tgt)
    run_sql(server, tgt, "INSERT INTO wp_43_orders VALUES (4, 40, NULL)")
    assert log_notes(server, tgt, "wp_43_")[4:] == ["source created"]


def test_a_migration_without_the_table_a_trigger_writes_and_its_rollback_keep_the_trigger(
    sites, tmp_path: Path
) -> None:
    """The log excluded: the orders' triggers go with them and write into the target's live log; the
    backup (orders alone, their triggers naming the log) restores, as it was refused."""
    server, src, tgt, site, p = sites
    target_triggers = of_site(triggers(server, tgt), p)
    log = log_notes(server, tgt, p)
    excluded = wfuwp.TableFilter(exclude=(f"{p}order_log",))
    report = wfuwp.migrate_site(site, source=server.dsn(src), target=server.dsn(tgt), replacements=PAIRS,
                                archive=tmp_path, tables=excluded)  # fmt: skip
    assert f"{p}order_log" not in [t.name for t in report.tables]
    run_sql(server, tgt, f"INSERT INTO {p}orders VALUES (3, 30, NULL)")
    assert log_notes(server, tgt, p) == [*log, "source created"]
    back = wfuwp.rollback(report.migration_id, db_of(server, tgt, "target"), archive=tmp_path)
    assert back.status == "completed"
    assert of_site(triggers(server, tgt), p) == target_triggers
    no_work_objects(server, tgt)


def test_a_mariadb_dump_with_triggers_imports_with_them(sites, tmp_path: Path) -> None:
    server, src, tgt, site, p = sites
    dump = tmp_path / "site.sql"
    with dump.open("wb") as out:
        subprocess.run(
            ["mariadb-dump", "-uroot", f"-h{server.host}", f"-P{server.port}", src, f"{p}orders",
             f"{p}order_log"],
            stdout=out, check=True,
        )  # fmt: skip
    assert b"DELIMITER ;;" in dump.read_bytes() and b"/*!50017 DEFINER=" in dump.read_bytes()
    report = import_sql(dump, db_of(server, tgt, "pprd"), site_id=site)
    assert report.status == "completed"
    assert of_site(triggers(server, tgt), p) == of_site(triggers(server, src), p)
    no_work_objects(server, tgt)
    assert log_notes(server, tgt, p) == ["source created", "source created"]  # the load fired none
    run_sql(server, tgt, f"INSERT INTO {p}orders VALUES (3, 30, NULL)")
    assert log_notes(server, tgt, p)[2:] == ["source created"]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("INSERT INTO wp_users (ID, user_url) VALUES (NEW.id, 'x')", "names table wp_users"),
        ("UPDATE wp_43_order_log SET note = (SELECT user_url FROM wp_users LIMIT 1)", "names table wp_users"),
        ("CALL anything()", "uses CALL"),
        ("INSERT INTO {other}.t VALUES (1)", "names database"),
    ],
)
def test_an_import_refuses_a_trigger_that_reaches_beyond_the_site(
    mariadb, make_database, tmp_path: Path, body: str, why: str
) -> None:
    server = mariadb
    tgt, other = make_database(server, "wfuwp_tgt"), make_database(server, "wfuwp_other")
    target_network(server, tgt)
    run_sql(server, tgt, "CREATE TABLE wp_43_order_log (id INT, note VARCHAR(100))",
            "CREATE TABLE wp_users (ID INT PRIMARY KEY, user_url VARCHAR(200))")  # fmt: skip
    dump = tmp_path / "evil.sql"
    dump.write_text(
        "CREATE TABLE wp_43_orders (id INT PRIMARY KEY);\nINSERT INTO wp_43_orders VALUES (1);\n"
        "DELIMITER ;;\n"
        "CREATE TRIGGER t1 AFTER INSERT ON wp_43_orders FOR EACH ROW"
        f" BEGIN {body.format(other=other)}; END;;\n"
        "DELIMITER ;\n"
    )
    before = triggers(server, tgt), table_names(server, tgt)
    with pytest.raises(SqlFileError, match=why):
        import_sql(dump, db_of(server, tgt, "pprd"), site_id=43)
    assert (triggers(server, tgt), table_names(server, tgt)) == before


def test_preflight_names_views_routines_and_events_that_name_site_tables(mariadb, make_database) -> None:
    server = mariadb
    src, tgt = make_database(server, "wfuwp_src"), make_database(server, "wfuwp_tgt")
    build_site(server, src)
    target_network(server, tgt)
    trigger_site(server, src, "wp_43_", "source", "www.example.edu")
    run_sql(
        server, src,
        "CREATE VIEW order_totals AS SELECT SUM(total) AS total FROM wp_43_orders",
        "CREATE PROCEDURE count_orders() SELECT COUNT(*) FROM `wp_43_orders` JOIN wp_43_order_log",
        "CREATE FUNCTION unrelated() RETURNS INT DETERMINISTIC RETURN (SELECT COUNT(*) FROM wp_430_posts)",
        "CREATE EVENT purge_order_log ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM wp_43_order_log",
    )  # fmt: skip
    run_sql(server, tgt, "CREATE VIEW site_options AS SELECT option_name FROM wp_43_options")
    report = wfuwp.preflight(43, source=server.dsn(src), target=server.dsn(tgt), archive=None,
                             replacements=PAIRS)  # fmt: skip
    found = {f.check: f for f in report.findings if f.check.endswith(".objects")}
    source = found["source.objects"]
    assert source.level == "warning"
    for text in ("view order_totals (wp_43_orders)", "procedure count_orders (wp_43_order_log, wp_43_orders)",
                 "event purge_order_log (wp_43_order_log)", "not migrated"):  # fmt: skip
        assert text in source.message
    assert "unrelated" not in source.message
    assert "view site_options (wp_43_options)" in found["target.objects"].message
    assert report.ok  # reported, not fatal


def test_an_export_loads_with_its_triggers_in_the_stock_client(
    mariadb, make_database, tmp_path: Path
) -> None:
    server = mariadb
    src, fresh = make_database(server, "wfuwp_src"), make_database(server, "wfuwp_fresh")
    build_site(server, src, with_430=False)
    trigger_site(server, src, "wp_43_", "source", "www.example.edu")
    out = tmp_path / "site43.sql.zst"
    wfuwp.export_site(db_of(server, src, "prod"), 43, out)
    sql = subprocess.run(["zstd", "-dcq", str(out)], check=True, capture_output=True).stdout
    subprocess.run(
        ["mariadb", "-uroot", f"-h{server.host}", f"-P{server.port}", fresh], input=sql, check=True
    )
    assert of_site(triggers(server, fresh), "wp_43_") == of_site(triggers(server, src), "wp_43_")
    run_sql(server, fresh, "INSERT INTO wp_43_orders VALUES (3, 30, NULL)")
    assert log_notes(server, fresh, "wp_43_")[2:] == ["source created"]


def test_a_target_account_without_the_trigger_privilege_is_found_before_anything_is_written(
    mariadb, make_database, tmp_path: Path
) -> None:
    server = mariadb
    src, tgt = make_database(server, "wfuwp_src"), make_database(server, "wfuwp_tgt")
    build_site(server, src, with_430=False)
    target_network(server, tgt)
    trigger_site(server, src, "wp_43_", "source", "www.example.edu")
    with users_on(server) as users:
        held = "SELECT, INSERT, CREATE, DROP, ALTER, LOCK TABLES"
        without = users.create(f"GRANT {held} ON `{tgt}`.* TO {{user}}")
        with_it = users.create(f"GRANT {held}, TRIGGER ON `{tgt}`.* TO {{user}}")
        target = wfuwp.Database(host=server.host, port=server.port, user=without, password="pw-for-tests",
                                database=tgt, name="pprd")  # fmt: skip
        report = wfuwp.preflight(43, source=server.dsn(src), target=target, archive=None, replacements=PAIRS)
        (fatal,) = report.fatal
        assert (
            fatal.check == "target.privileges"
            and "TRIGGER" in fatal.message
            and "3 triggers" in fatal.message
        )
        target = wfuwp.Database(host=server.host, port=server.port, user=with_it, password="pw-for-tests",
                                database=tgt, name="pprd")  # fmt: skip
        assert wfuwp.preflight(43, source=server.dsn(src), target=target, archive=None, replacements=PAIRS).ok
        wfuwp.migrate_site(43, source=server.dsn(src), target=target, replacements=PAIRS)
    assert of_site(triggers(server, tgt), "wp_43_") == of_site(triggers(server, src), "wp_43_")
    no_work_objects(server, tgt)


def test_a_dry_run_shows_what_is_not_migrated(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    run_sql(env.server, env.prod, "CREATE VIEW recent_posts AS SELECT ID FROM wp_43_posts")
    code, out, err = env.run(capsys, "migrate", "43", "--from", "prod", "--to", "pprd", "--dry-run",
                             "--work-dir", str(env.work))  # fmt: skip
    assert code == 0, err
    (line,) = [line for line in out.splitlines() if "source.objects" in line]
    assert "warn" in line and "view recent_posts (wp_43_posts)" in " ".join(out.split())


def test_the_plan_lists_views_and_routines_naming_the_site_tables(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    run_sql(env.server, env.prod, "CREATE VIEW recent_posts AS SELECT ID FROM wp_43_posts",
            "CREATE PROCEDURE count_posts() SELECT COUNT(*) FROM `wp_43_posts`",
            "CREATE VIEW other_site AS SELECT ID FROM wp_430_posts")  # fmt: skip
    code, out, err = env.run(capsys, "migrate", "plan", "43", "--from", "prod", "--to", "pprd")
    assert code == 0, err
    after = " ".join(out.split("\nTables ")[1].split())  # after the table listing
    assert "Schema objects 2 views, stored routines or events name the site's tables" in after
    assert "not migrated view recent_posts (wp_43_posts)" in after
    assert "not migrated procedure count_posts (wp_43_posts)" in after
    assert "other_site" not in out  # names site 430's table, not site 43's

    code, out, err = env.run(capsys, "migrate", "plan", "43", "--from", "prod", "--to", "pprd", "--json")
    assert code == 0, err
    assert orjson.loads(out)["objects"] == [
        {"kind": "procedure", "name": "count_posts", "tables": ["wp_43_posts"], "migrated": False},
        {"kind": "view", "name": "recent_posts", "tables": ["wp_43_posts"], "migrated": False},
    ]
