"""preflight() against real servers: what it finds, that it writes nothing, and that its verdicts hold.

The privilege tests run the real migration with the same users: a list preflight accepts must be
enough for migrate_site, and each privilege it calls fatal must make migrate_site fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

import wfuwp
from devtools.s3server import S3Server
from devtools.sandbox import MariaDBServer
from tests.dbutil import checksums, run_sql, table_names
from tests.smallsite import PAIRS, build_site, target_network
from tests.users import Users, users_on
from wfuwp.archive.location import ArchiveLocation
from wfuwp.errors import PreflightError, UsageError, WfuwpError
from wfuwp.mysql.grants import Grants
from wfuwp.mysql.lock import SiteLock
from wfuwp.ops.preflight import Finding, PreflightReport, preflight

SOURCE_GRANTS = ("GRANT SELECT, LOCK TABLES ON `{src}`.* TO {{user}}", "GRANT RELOAD ON *.* TO {{user}}")
TARGET_PRIVILEGES = ["SELECT", "INSERT", "CREATE", "DROP", "ALTER", "LOCK TABLES"]


@pytest.fixture
def sites(mariadb: MariaDBServer, make_database: Callable[..., str]) -> tuple[MariaDBServer, str, str]:
    """A source network and a target network, as two databases on the shared server."""
    src_db = make_database(mariadb, "wfuwp_src")
    tgt_db = make_database(mariadb, "wfuwp_tgt")
    build_site(mariadb, src_db)
    target_network(mariadb, tgt_db)
    return mariadb, src_db, tgt_db


@pytest.fixture
def users(mariadb: MariaDBServer) -> Iterator[Users]:
    with users_on(mariadb) as made:
        yield made


def db(
    server: MariaDBServer, database: str, name: str, user: str = "root", password: str = ""
) -> wfuwp.Database:
    return wfuwp.Database(
        host=server.host, port=server.port, user=user, password=password, database=database, name=name
    )


def checks(report: PreflightReport, level: str | None = None) -> list[str]:
    return [f.check for f in report.findings if level is None or f.level == level]


def find(report: PreflightReport, check: str, level: str | None = None) -> Finding:
    found = [f for f in report.findings if f.check == check and (level is None or f.level == level)]
    assert found, f"no {level or ''} {check} finding in {report.findings}"
    return found[0]


def assert_one_line(report: PreflightReport) -> None:
    for f in report.findings:
        assert "\n" not in f.message + f.fix, f


def test_a_sound_migration_has_nothing_fatal_and_preflight_writes_nothing(sites, tmp_path: Path) -> None:
    server, src_db, tgt_db = sites
    run_sql(
        server,
        tgt_db,
        "ALTER TABLE wp_43_options ADD COLUMN legacy INT, MODIFY autoload VARCHAR(10),"
        " DROP COLUMN option_value",
    )
    before = (checksums(server, src_db), checksums(server, tgt_db))
    archive = tmp_path / "archive"

    report = preflight(
        43, source=db(server, src_db, "prod"), target=db(server, tgt_db, "pprd"), archive=archive
    )

    assert report.ok, report.fatal
    assert report.error() is None
    report.raise_if_fatal()
    assert not report.warnings, report.warnings
    assert_one_line(report)
    # Schema differences are information: the migrated site takes the source's schema.
    schema = " ".join(f.message for f in report.findings if f.check == "schema")
    assert "wp_43_options: the source adds option_value longtext" in schema
    assert "removes legacy" in schema
    assert "changes autoload from varchar(10) to varchar(20)" in schema
    assert "exist only in the target and are kept: wp_43_only_here" in schema
    # Figures: every table measured exactly, packets of both servers, an estimate.
    assert {t.name for t in report.tables} >= {"wp_43_options", "wp_43_shapes", "wp_43_myisam"}
    assert all(t.exact and t.largest_statement and t.largest_statement > t.largest_row for t in report.tables)
    options = next(t for t in report.tables if t.name == "wp_43_options")
    assert options.largest_row >= len(b'a:2:{s:3:"url";s:27:"https://www.example.edu/bio";s:1:"n";i:5;}')
    assert set(report.max_allowed_packet) == {"source", "target"}
    assert report.estimate["tables"] == len(report.tables) and report.estimate["seconds"] >= 0
    assert find(report, "estimate", "info").message.startswith(f"{len(report.tables)} tables")
    assert report.privileges["target"] == dict.fromkeys(TARGET_PRIVILEGES, True)
    # Plain data for --json.
    data = orjson.loads(orjson.dumps(report.to_dict()))
    assert data["ok"] is True and data["counts"]["fatal"] == 0
    # Nothing was written: databases as before, the archive's test object gone.
    assert (checksums(server, src_db), checksums(server, tgt_db)) == before
    assert not [n for n in table_names(server, tgt_db) if n.startswith("_wf")]
    assert list(archive.iterdir()) == []


def test_the_documented_privileges_are_enough(sites, users: Users, tmp_path: Path) -> None:
    server, src_db, tgt_db = sites
    source_user = users.create(*(g.format(src=src_db) for g in SOURCE_GRANTS))
    target_user = users.create(f"GRANT {', '.join(TARGET_PRIVILEGES)} ON `{tgt_db}`.* TO {{user}}")
    source = db(server, src_db, "prod", source_user, "pw-for-tests")
    target = db(server, tgt_db, "pprd", target_user, "pw-for-tests")

    report = preflight(43, source=source, target=target, archive=tmp_path)
    assert report.ok and not report.warnings, report.findings
    assert report.privileges["source"] == {
        "SELECT": True,
        "LOCK TABLES": True,
        "RELOAD or FLUSH_TABLES": True,
    }
    result = wfuwp.migrate_site(43, source=source, target=target, replacements=PAIRS, archive=tmp_path)
    assert result.status == "completed"
    assert result.snapshot["method"] == "flush-tables-with-read-lock"
    # Now the target has a MyISAM table, so a second run needs LOCK TABLES there to back it up: still held.
    assert preflight(43, source=source, target=target, archive=tmp_path).ok


@pytest.mark.parametrize("missing", TARGET_PRIVILEGES)
def test_each_target_privilege_preflight_calls_fatal_is_needed(
    sites, users: Users, tmp_path: Path, missing: str
) -> None:
    server, src_db, tgt_db = sites
    # LOCK TABLES is needed to back up non-transactional tables: give the target's site one.
    run_sql(server, tgt_db, "CREATE TABLE wp_43_myisam (id INT PRIMARY KEY, body TEXT) ENGINE=MyISAM")
    source_user = users.create(*(g.format(src=src_db) for g in SOURCE_GRANTS))
    held = ", ".join(p for p in TARGET_PRIVILEGES if p != missing)
    target_user = users.create(f"GRANT {held} ON `{tgt_db}`.* TO {{user}}")
    source = db(server, src_db, "prod", source_user, "pw-for-tests")
    target = db(server, tgt_db, "pprd", target_user, "pw-for-tests")

    report = preflight(43, source=source, target=target, archive=tmp_path)
    fatal = find(report, "target.privileges", "fatal")
    assert f"lacks {missing} on database {tgt_db}" in fatal.message
    assert fatal.fix == f"GRANT {missing} ON `{tgt_db}`.* TO '{target_user}'@'%'"
    assert report.privileges["target"][missing] is False
    with pytest.raises(PreflightError, match=f"^preflight target.privileges: .* lacks {missing} ") as info:
        report.raise_if_fatal()
    assert info.value.exit_code == 5 and "\n" not in str(info.value)
    # The verdict holds: the migration itself fails, and leaves the target as it was.
    before = checksums(server, tgt_db)
    with pytest.raises(WfuwpError):
        wfuwp.migrate_site(43, source=source, target=target, replacements=PAIRS, archive=tmp_path)
    assert checksums(server, tgt_db) == before


def test_source_without_lock_tables_or_reload(sites, users: Users, tmp_path: Path) -> None:
    server, src_db, tgt_db = sites
    source_user = users.create(f"GRANT SELECT ON `{src_db}`.* TO {{user}}")
    source = db(server, src_db, "prod", source_user, "pw-for-tests")
    target = db(server, tgt_db, "pprd")

    report = preflight(43, source=source, target=target, archive=tmp_path)
    fatal = find(report, "source.privileges", "fatal")
    assert "lacks LOCK TABLES" in fatal.message and "wp_43_myisam" in fatal.message
    warning = find(report, "source.privileges", "warning")
    assert "lacks RELOAD (or FLUSH_TABLES)" in warning.message and "one connection" in warning.message
    assert warning.fix == f"GRANT RELOAD ON *.* TO '{source_user}'@'%'"
    before = checksums(server, tgt_db)
    with pytest.raises(WfuwpError, match="consistent snapshot"):
        wfuwp.migrate_site(43, source=source, target=target, replacements=PAIRS)
    assert checksums(server, tgt_db) == before

    # Without MyISAM tables, LOCK TABLES only costs the parallel snapshot: warnings, and the copy works.
    run_sql(server, src_db, "DROP TABLE wp_43_myisam")
    report = preflight(43, source=source, target=target, archive=tmp_path)
    assert report.ok and checks(report, "warning").count("source.privileges") == 2
    result = wfuwp.migrate_site(43, source=source, target=target, replacements=PAIRS)
    assert result.snapshot["method"] == "single-connection"


def test_tables_the_user_cannot_read(sites, users: Users) -> None:
    server, src_db, tgt_db = sites
    tables = [n for n in table_names(server, src_db) if n.startswith("wp_43_") and n != "wp_43_options"]
    source_user = users.create(
        f"GRANT LOCK TABLES ON `{src_db}`.* TO {{user}}",
        *(f"GRANT SELECT ON `{src_db}`.`{n}` TO {{user}}" for n in tables),
        f"GRANT SELECT (option_name) ON `{src_db}`.`wp_43_options` TO {{user}}",
    )
    report = preflight(
        43, source=db(server, src_db, "prod", source_user, "pw-for-tests"), target=db(server, tgt_db, "pprd"),
        archive=None, replacements=PAIRS,
    )  # fmt: skip
    # One column of wp_43_options is not enough: the copy reads them all.
    fatal = find(report, "source.privileges", "fatal")
    assert "cannot read 1 of the site's tables" in fatal.message and "wp_43_options" in fatal.message
    # Per-table grants hide the tables the user cannot read, which a migration would then leave out.
    assert "lacks SELECT" in find(report, "source.privileges", "warning").message
    assert "archive" in checks(report, "warning")  # no archive: no backup


def test_wildcard_and_role_grants_are_understood() -> None:
    grants = Grants.parse(
        "app@%",
        [
            "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*0123456789ABCDEF'",
            "GRANT SELECT, INSERT (`a`, `b`), LOCK TABLES ON `wp\\_prod`.* TO `app`@`%`",
            "GRANT ALL PRIVILEGES ON `wp\\_pprd\\_%`.* TO `app`@`%`",
            "GRANT DELETE ON `wp_prod`.`wp_users` TO `app`@`%`",
            "GRANT `dba` TO `app`@`%`",
        ],
    )
    assert grants.on_database("wp_prod") == {"USAGE", "SELECT", "LOCK TABLES"}
    assert grants.on_database("wpXprod") == {"USAGE"}  # the escaped _ is a literal underscore
    assert {"CREATE", "DROP", "ALTER", "INSERT"} <= grants.on_database("wp_pprd_43")
    assert grants.has_roles and grants.grantee == "'app'@'%'"
    assert Grants.parse("x@h", ["GRANT RELOAD, FLUSH_TABLES ON *.* TO `x`@`h`"]).global_privileges == {
        "RELOAD",
        "FLUSH_TABLES",
    }


def test_missing_sites_and_blogs_rows(sites) -> None:
    server, src_db, tgt_db = sites
    source, target = db(server, src_db, "prod"), db(server, tgt_db, "pprd")
    missing = preflight(44, source=source, target=target, archive=None, replacements=PAIRS)
    assert find(missing, "source.site", "fatal").message.startswith("site 44 has no tables with prefix 'wp_'")

    run_sql(server, tgt_db, "DELETE FROM wp_blogs WHERE blog_id = 43")
    given = preflight(43, source=source, target=target, archive=None, replacements=PAIRS)
    assert given.ok and "no row in wp_blogs" in find(given, "target.site", "warning").message
    derived = preflight(43, source=source, target=target, archive=None)
    assert find(derived, "target.site", "fatal").fix.startswith("create the site there first")

    run_sql(server, tgt_db, "DROP TABLE wp_blogs")
    no_blogs = preflight(43, source=source, target=target, archive=None)
    assert "cannot read wp_blogs" in find(no_blogs, "target.site", "fatal").message


def test_leftovers_a_held_lock_and_the_same_database(sites, tmp_path: Path) -> None:
    server, src_db, tgt_db = sites
    source, target = db(server, src_db, "prod"), db(server, tgt_db, "pprd")
    run_sql(server, tgt_db, "CREATE TABLE _wfs_abcdef_wp_43_options (id INT)")
    with SiteLock(target, 43):
        report = preflight(43, source=source, target=target, archive=tmp_path, replacements=PAIRS)
    assert "1 staging/old tables" in find(report, "target.leftovers", "warning").message
    lock = find(report, "target.lock", "fatal")
    assert "another migration" in lock.message and lock.fix.startswith("wait for it")
    assert preflight(43, source=source, target=target, archive=tmp_path, replacements=PAIRS).ok

    same = preflight(43, source=source, target=db(server, src_db, "pprd"), archive=None, replacements=PAIRS)
    assert "same database" in find(same, "target", "fatal").message


def test_connection_problems_are_findings(sites, tmp_path: Path) -> None:
    server, src_db, tgt_db = sites
    nowhere = wfuwp.Database(host="127.0.0.1", port=_closed_port(), database=tgt_db, name="pprd")
    report = preflight(
        43, source=db(server, src_db, "prod"), target=nowhere, archive=tmp_path, replacements=PAIRS,
        migration_db=wfuwp.Database(host="127.0.0.1", port=server.port, user="nobody-here", database="x"),
    )  # fmt: skip
    target = find(report, "target.connect", "fatal")
    assert "error 2003" in target.message and target.fix.startswith("check the host and port")
    migration = find(report, "migration.connect", "fatal")
    assert "Access denied for user 'nobody-here'" in migration.message
    assert migration.fix == "check the user and password in the configuration"
    # The source was still checked.
    assert report.tables and "source.site" not in checks(report)
    error = report.error()
    assert error is not None and error.problems == 2
    assert str(error).endswith("(and 1 more fatal problem; run a dry run to see all)")


def test_rows_larger_than_a_servers_packet(
    mariadb: MariaDBServer, private_mariadb: MariaDBServer, make_database: Callable[..., str]
) -> None:
    src_db = make_database(mariadb, "wfuwp_src")
    build_site(mariadb, src_db)
    big = "INSERT INTO wp_43_options (option_name, option_value) VALUES ('big', REPEAT('x', 3000000))"
    run_sql(mariadb, src_db, big)
    run_sql(private_mariadb, None, "CREATE DATABASE t")
    target_network(private_mariadb, "t")
    run_sql(private_mariadb, "t", big, "SET GLOBAL max_allowed_packet = 1048576")
    source, target = db(mariadb, src_db, "prod"), db(private_mariadb, "t", "pprd")

    report = preflight(43, source=source, target=target, archive=None, replacements=PAIRS)
    fatal = find(report, "row-size", "fatal")
    assert fatal.message.startswith("wp_43_options has a row of 30000")
    assert "target's max_allowed_packet allows (1047552)" in fatal.message
    assert fatal.fix.startswith("raise max_allowed_packet on the target")
    # Above the exact-scan size, a table is judged by its column types (LONGTEXT: no useful bound).
    rough = preflight(
        43, source=source, target=target, archive=None, replacements=PAIRS, exact_row_scan_bytes=0
    )
    assert "row-size" not in checks(rough, "fatal")
    assert "wp_43_options" in " ".join(f.message for f in rough.findings if f.check == "row-size")
    # A server sends rows larger than its max_allowed_packet, but cannot take them back: a warning.
    back = preflight(43, source=target, target=source, archive=None, replacements=PAIRS)
    warning = find(back, "row-size", "warning")
    assert "source's max_allowed_packet allows (1047552)" in warning.message and back.ok


def test_archive_locations(
    sites, tmp_path: Path, s3_server: S3Server, s3_bucket: str, s3_client: Any
) -> None:
    server, src_db, tgt_db = sites
    source, target = db(server, src_db, "prod"), db(server, tgt_db, "pprd")

    def run(archive: Any) -> PreflightReport:
        return preflight(43, source=source, target=target, archive=archive, replacements=PAIRS)

    s3 = run(ArchiveLocation.parse(f"s3://{s3_bucket}/wp", endpoint_url=s3_server.endpoint_url))
    assert s3.ok and s3.archive == f"s3://{s3_bucket}/wp" and "archive" not in checks(s3)
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0  # the test object is gone
    missing = run(ArchiveLocation.parse("s3://no-such-bucket-wfuwp", endpoint_url=s3_server.endpoint_url))
    assert "no-such-bucket-wfuwp" in find(missing, "archive", "fatal").message
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert "cannot create the archive directory" in find(run(blocker / "archive"), "archive", "fatal").message
    assert "is neither s3://" in find(run("gs://bucket/x"), "archive", "fatal").message


def test_free_disk_against_the_estimated_archive_size(
    sites, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, src_db, tgt_db = sites
    source, target = db(server, src_db, "prod"), db(server, tgt_db, "pprd")
    need = preflight(43, source=source, target=target, archive=tmp_path, replacements=PAIRS).estimate[
        "archive_bytes"
    ]
    assert need > 0

    def nearly_full(free: int) -> Callable[[Any], Any]:
        # A disk that is nearly full, as shutil.disk_usage would describe it.
        return lambda _path: SimpleNamespace(total=10 * need, used=10 * need - free, free=free)

    monkeypatch.setattr("wfuwp.ops.preflight.shutil.disk_usage", nearly_full(int(need * 0.5)))
    full = preflight(
        43, source=source, target=target, archive=tmp_path, replacements=PAIRS, work_dir=tmp_path / "w"
    )
    disk = find(full, "disk", "fatal")
    assert disk.message.startswith(str(tmp_path)) and "free, the archives need about" in disk.message
    monkeypatch.setattr("wfuwp.ops.preflight.shutil.disk_usage", nearly_full(int(need * 1.5)))
    tight = preflight(43, source=source, target=target, archive=tmp_path, replacements=PAIRS)
    assert find(tight, "disk", "warning") and tight.ok


def test_arguments_are_checked_like_migrate_site(sites) -> None:
    server, src_db, tgt_db = sites
    source, target = db(server, src_db, "prod"), db(server, tgt_db, "pprd")
    with pytest.raises(UsageError, match="site id must be a whole number"):
        preflight("4x", source=source, target=target, archive=None)
    with pytest.raises(UsageError, match="empty search string"):
        preflight(43, source=source, target=target, archive=None, replacements=[("", "x")])
    report = preflight(
        43, source=server.dsn(src_db), target=server.dsn(tgt_db), archive=None, replacements=PAIRS
    )
    assert report.source.startswith("source root@") and report.ok


def _closed_port() -> int:
    from devtools.sandbox import free_port

    return free_port()
