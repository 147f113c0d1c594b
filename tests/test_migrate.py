"""The migration engine against real MariaDB servers: what arrives, what stays, what is archived."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import wfuwp
from devtools.sandbox import MariaDBServer
from tests.dbutil import checksums, create_statements, fetch, run_sql, table_names
from tests.smallsite import PAIRS, SERIALIZED_EXPECTED, build_site, db_of, target_network
from wfuwp.archive.location import ArchiveLocation
from wfuwp.errors import LockedError, MigrationError, SiteNotFoundError, UsageError
from wfuwp.mysql.lock import SiteLock


@pytest.fixture
def networks(
    mariadb: MariaDBServer, second_mariadb: MariaDBServer, make_database: Callable[..., str]
) -> tuple[MariaDBServer, str, MariaDBServer, str]:
    """A source network on the shared server and a target network on a second, private server."""
    source_db = make_database(mariadb, "wfuwp_src")
    target_db = make_database(second_mariadb, "wfuwp_tgt")
    build_site(mariadb, source_db)
    target_network(second_mariadb, target_db)
    return mariadb, source_db, second_mariadb, target_db


def test_migrates_every_table_shape_between_servers(networks, tmp_path: Path) -> None:
    src, src_db, tgt, tgt_db = networks
    untouched_before = {k: v for k, v in checksums(tgt, tgt_db).items() if not k.startswith("wp_43_")}
    source_before = checksums(src, src_db)
    events: list[wfuwp.ProgressEvent] = []

    report = wfuwp.migrate_site(
        43,
        source=db_of(src, src_db, "prod"),
        target=db_of(tgt, tgt_db, "pprd"),
        replacements=PAIRS,
        archive=tmp_path / "archive",
        progress=events.append,
    )

    assert report.status == "completed"
    assert sorted(t.name for t in report.tables) == [
        "wp_43_legacy", "wp_43_log", "wp_43_myisam", "wp_43_options", "wp_43_redirects", "wp_43_shapes",
        "wp_43_term_relationships",
    ]  # fmt: skip
    options = dict((r[1], r[2]) for r in fetch(tgt, tgt_db, "SELECT * FROM wp_43_options"))
    assert options[b"siteurl"] == b"https://pprd.example.edu/bio"
    assert options[b"widget"] == SERIALIZED_EXPECTED
    assert options[b"json"] == b'{"u":"https:\\/\\/pprd.example.edu\\/x"}'
    assert b"old" not in options  # the target's own rows went with its old table
    assert fetch(tgt, tgt_db, "SELECT * FROM wp_43_log") == [
        (b"visit https://pprd.example.edu/", b"0000-00-00 00:00:00"),
        (b"visit https://pprd.example.edu/", b"0000-00-00 00:00:00"),
        (None, None),
    ]
    assert fetch(tgt, tgt_db, "SELECT * FROM wp_43_legacy") == [
        (b"1", b"caf\xc3\xa9 https://pprd.example.edu")
    ]
    assert fetch(tgt, tgt_db, "SELECT * FROM wp_43_shapes") == [
        (
            b"1", b"https://pprd.example.edu/a", b"2001-02-03 04:05:06", b"26", b"HTTPS://PPRD.EXAMPLE.EDU/A",
            b"https://www.example.edu/\x00\x1a", b"\x00\xff\x10\xaa", b"\x05", b"b", b"0.1", b"12.50",
        )
    ]  # fmt: skip
    assert fetch(tgt, tgt_db, "SELECT * FROM wp_43_redirects") == [(b"/old", b"https://pprd.example.edu/new")]
    assert fetch(tgt, tgt_db, "SELECT * FROM wp_43_myisam") == [(b"1", b"pprd.example.edu")]
    # The migrated site takes the source's schema, AUTO_INCREMENT counter included.
    assert "AUTO_INCREMENT=505" in create_statements(src, src_db)["wp_43_options"]
    assert "AUTO_INCREMENT=505" in create_statements(tgt, tgt_db)["wp_43_options"]
    assert "ENGINE=MyISAM" in create_statements(tgt, tgt_db)["wp_43_myisam"]
    # Target-only tables are reported and kept; other tables and the source are untouched.
    assert report.target_only_tables == ["wp_43_only_here"]
    assert fetch(tgt, tgt_db, "SELECT * FROM wp_43_only_here") == [(b"7",)]
    after = checksums(tgt, tgt_db)
    assert {k: v for k, v in after.items() if not k.startswith("wp_43_")} == untouched_before
    assert checksums(src, src_db) == source_before
    assert not [n for n in table_names(tgt, tgt_db) if n.startswith("_wf")]
    # Per-table figures and progress.
    shapes = next(t for t in report.tables if t.name == "wp_43_shapes")
    assert (shapes.rows, shapes.values_changed, shapes.replacements) == (1, 1, 1)
    assert report.snapshot["myisam_tables"] == ["wp_43_myisam"]
    kinds = {e.kind for e in events}
    assert {"step-start", "step-end", "table-start", "table-end", "rows"} <= kinds
    assert {e.table for e in events if e.kind == "table-end" and e.step == "copy"} == {
        t.name for t in report.tables
    }


def test_archives_load_with_the_stock_client(networks, tmp_path: Path, make_database) -> None:
    src, src_db, tgt, tgt_db = networks
    before = checksums(tgt, tgt_db)
    report = wfuwp.migrate_site(
        43, source=db_of(src, src_db, "prod"), target=db_of(tgt, tgt_db, "pprd"), replacements=PAIRS,
        archive=tmp_path,
    )  # fmt: skip
    folder = Path(report.archive["location"])
    assert (folder / "manifest.json").exists()

    def load(kind: str) -> tuple[str, dict[str, int]]:
        db = make_database(src, "wfuwp_load")
        for file in sorted((folder / kind).glob("*.sql.zst")):
            assert file.name.startswith(f"bio-43-{'prod' if kind == 'source' else 'pprd'}-")
            sql = subprocess.run(["zstd", "-dc", str(file)], check=True, capture_output=True).stdout
            subprocess.run(["mariadb", "-uroot", f"-h{src.host}", f"-P{src.port}", db], input=sql, check=True)
        return db, checksums(src, db)

    _, migrated = load("migrated")
    assert migrated == {
        k: v for k, v in checksums(tgt, tgt_db).items() if k.startswith("wp_43_") and k != "wp_43_only_here"
    }
    _, source = load("source")
    assert source == {k: v for k, v in checksums(src, src_db).items() if k.startswith("wp_43_")}
    _, backup = load("backup")
    assert backup == {k: v for k, v in before.items() if k.startswith("wp_43_")}


def test_derives_the_site_url_pairs_from_both_networks(networks) -> None:
    src, src_db, tgt, tgt_db = networks
    report = wfuwp.migrate_site(43, source=db_of(src, src_db, "prod"), target=db_of(tgt, tgt_db, "pprd"))
    assert report.pairs_origin.startswith("derived")
    # The site's host as a whole host token, plain and URL-encoded (the same planner as the CLI's).
    assert report.pairs == [
        ("www.example.edu", "pprd.example.edu"),
        ("%2F%2Fwww.example.edu", "%2F%2Fpprd.example.edu"),
    ]
    options = dict((r[1], r[2]) for r in fetch(tgt, tgt_db, "SELECT * FROM wp_43_options"))
    assert options[b"siteurl"] == b"https://pprd.example.edu/bio"
    assert options[b"widget"] == SERIALIZED_EXPECTED


def test_drop_target_only_and_keep_old(networks) -> None:
    src, src_db, tgt, tgt_db = networks
    report = wfuwp.migrate_site(
        43, source=db_of(src, src_db, "prod"), target=db_of(tgt, tgt_db, "pprd"), replacements=PAIRS,
        drop_target_only=True, keep_old=True,
    )  # fmt: skip
    names = table_names(tgt, tgt_db)
    assert "wp_43_only_here" not in names
    assert report.target_only_dropped
    kept = report.old_tables_kept
    assert len(kept) == 2 and all(n.startswith("_wfo_") and n in names for n in kept)


def test_failure_after_swap_swaps_back(networks) -> None:
    src, src_db, tgt, tgt_db = networks
    before = checksums(tgt, tgt_db)

    def reject(_report: wfuwp.MigrationReport) -> None:
        raise RuntimeError("the site does not answer")

    with pytest.raises(MigrationError, match="swap: RuntimeError: the site does not answer"):
        wfuwp.migrate_site(
            43, source=db_of(src, src_db, "prod"), target=db_of(tgt, tgt_db, "pprd"), replacements=PAIRS,
            verify_after_swap=reject,
        )  # fmt: skip
    assert checksums(tgt, tgt_db) == before


def test_row_larger_than_targets_packet_fails_before_swap(
    mariadb: MariaDBServer, private_mariadb: MariaDBServer, make_database
) -> None:
    src_db = make_database(mariadb, "wfuwp_src")
    build_site(mariadb, src_db)
    run_sql(
        mariadb,
        src_db,
        "INSERT INTO wp_43_options (option_name, option_value) VALUES ('big', REPEAT('x', 3000000))",
    )
    run_sql(private_mariadb, None, "CREATE DATABASE t", "SET GLOBAL max_allowed_packet = 1048576")
    target_network(private_mariadb, "t")
    before = checksums(private_mariadb, "t")
    with pytest.raises(MigrationError, match=r"copy of table wp_43_options: a row of .* max_allowed_packet"):
        wfuwp.migrate_site(43, source=db_of(mariadb, src_db, "prod"),
                           target=db_of(private_mariadb, "t", "pprd"), replacements=PAIRS)  # fmt: skip
    assert checksums(private_mariadb, "t") == before


def test_killing_the_target_server_mid_load_leaves_it_unchanged(
    mariadb: MariaDBServer, private_mariadb: MariaDBServer, make_database
) -> None:
    src_db = make_database(mariadb, "wfuwp_src")
    build_site(mariadb, src_db, with_430=False)
    run_sql(
        mariadb,
        src_db,
        "CREATE TABLE wp_43_postmeta (meta_id INT AUTO_INCREMENT PRIMARY KEY, meta_value LONGTEXT)",
        "INSERT INTO wp_43_postmeta (meta_value) SELECT REPEAT('https://www.example.edu/ ', 400) FROM"
        " seq_1_to_20000",
    )
    run_sql(private_mariadb, None, "CREATE DATABASE t")
    target_network(private_mariadb, "t")
    before = checksums(private_mariadb, "t")
    killed = threading.Event()

    def kill_midway(event: wfuwp.ProgressEvent) -> None:
        if (
            event.kind == "rows"
            and event.table == "wp_43_postmeta"
            and event.rows_done > 2000
            and not killed.is_set()
        ):
            killed.set()
            private_mariadb.kill()

    with pytest.raises(MigrationError, match="copy"):
        wfuwp.migrate_site(43, source=db_of(mariadb, src_db, "prod"),
                           target=db_of(private_mariadb, "t", "pprd"), replacements=PAIRS,
                           progress=kill_midway)  # fmt: skip
    assert killed.is_set()
    private_mariadb.launch()
    # Staging tables may survive a crash (nothing could drop them); the site's own tables are as before.
    after = checksums(private_mariadb, "t")
    assert {k: v for k, v in after.items() if not k.startswith("_wf")} == before


def test_losing_the_source_connection_mid_stream_fails_cleanly(networks, mariadb: MariaDBServer) -> None:
    src, src_db, tgt, tgt_db = networks
    run_sql(
        src,
        src_db,
        "CREATE TABLE wp_43_postmeta (meta_id INT AUTO_INCREMENT PRIMARY KEY, meta_value LONGTEXT)",
        "INSERT INTO wp_43_postmeta (meta_value)"
        " SELECT REPEAT('https://www.example.edu/ ', 400) FROM seq_1_to_20000",
    )
    before = checksums(tgt, tgt_db)
    killed = threading.Event()

    def kill_reader(event: wfuwp.ProgressEvent) -> None:
        if event.kind == "rows" and event.table == "wp_43_postmeta" and not killed.is_set():
            killed.set()
            # Every connection on the source database but this one: the snapshot's readers, whether their
            # SELECT is in flight or between batches (matching the SELECT alone raced with the batches).
            rows = fetch(
                mariadb,
                src_db,
                "SELECT ID FROM information_schema.PROCESSLIST"
                f" WHERE DB = '{src_db}' AND ID <> CONNECTION_ID()",
            )
            run_sql(mariadb, None, *(f"KILL CONNECTION {int(r[0])}" for r in rows))

    with pytest.raises(MigrationError, match="copy"):
        wfuwp.migrate_site(43, source=db_of(src, src_db, "prod"), target=db_of(tgt, tgt_db, "pprd"),
                           replacements=PAIRS, progress=kill_reader)  # fmt: skip
    assert killed.is_set()
    assert checksums(tgt, tgt_db) == before


def test_two_migrations_of_one_site_exclude_each_other(networks) -> None:
    src, src_db, tgt, tgt_db = networks
    with SiteLock(db_of(tgt, tgt_db, "pprd"), 43), pytest.raises(LockedError, match="another migration"):
        wfuwp.migrate_site(
            43, source=db_of(src, src_db, "prod"), target=db_of(tgt, tgt_db, "pprd"), replacements=PAIRS
        )
    # A different site of the same target is free.
    with SiteLock(db_of(tgt, tgt_db, "pprd"), 430):
        report = wfuwp.migrate_site(
            43, source=db_of(src, src_db, "prod"), target=db_of(tgt, tgt_db, "pprd"), replacements=PAIRS
        )
    assert report.status == "completed"


def test_a_run_that_never_held_the_site_writes_nothing_into_the_archive(networks, tmp_path: Path) -> None:
    src, src_db, tgt, tgt_db = networks
    source, target = db_of(src, src_db, "prod"), db_of(tgt, tgt_db, "pprd")
    location = ArchiveLocation.parse(tmp_path)
    # Refused at the lock: no folder of a migration that never started.
    with SiteLock(target, 43), pytest.raises(LockedError):
        wfuwp.migrate_site(43, source=source, target=target, replacements=PAIRS, archive=location)
    assert location.list_migrations() == []
    # A completed migration asked to resume is refused and keeps its manifest, so it can still be rolled back.
    done = wfuwp.migrate_site(43, source=source, target=target, replacements=PAIRS, archive=location)
    manifest = location.read_manifest(done.migration_id)
    with pytest.raises(UsageError, match="cannot be resumed"):
        wfuwp.migrate_site(43, source=source, target=target, archive=location, resume=done.migration_id)
    assert location.read_manifest(done.migration_id) == manifest
    # Resuming while another process holds the site leaves that run's state alone.
    state = location.migration(done.migration_id).read_state()
    with SiteLock(target, 43), pytest.raises(LockedError):
        wfuwp.migrate_site(43, source=source, target=target, archive=location, resume=done.migration_id)
    assert location.migration(done.migration_id).read_state() == state
    assert wfuwp.rollback(done.migration_id, target, archive=location).status == "completed"


def test_site_without_tables_and_bad_input(networks) -> None:
    src, src_db, tgt, tgt_db = networks
    before = checksums(tgt, tgt_db)
    with pytest.raises(SiteNotFoundError, match="site 44 has no tables"):
        wfuwp.migrate_site(
            44, source=db_of(src, src_db, "prod"), target=db_of(tgt, tgt_db, "pprd"), replacements=PAIRS
        )
    with pytest.raises(UsageError, match="site id must be a whole number"):
        wfuwp.migrate_site("4x", source=db_of(src, src_db, "prod"), target=db_of(tgt, tgt_db, "pprd"))
    with pytest.raises(UsageError, match="empty search string"):
        wfuwp.migrate_site(
            43, source=db_of(src, src_db, "prod"), target=db_of(tgt, tgt_db, "pprd"), replacements=[("", "x")]
        )
    assert checksums(tgt, tgt_db) == before


def test_two_sites_migrate_into_one_target_at_the_same_time(networks) -> None:
    src, src_db, tgt, tgt_db = networks
    results: dict[int, object] = {}

    def migrate(site: int) -> None:
        try:
            results[site] = wfuwp.migrate_site(
                site, source=db_of(src, src_db, "prod"), target=db_of(tgt, tgt_db, "pprd"), replacements=PAIRS
            )
        except Exception as exc:
            results[site] = exc

    threads = [threading.Thread(target=migrate, args=(site,)) for site in (43, 430)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(r, wfuwp.MigrationReport) and r.status == "completed" for r in results.values()), (
        results
    )
    assert fetch(tgt, tgt_db, "SELECT guid FROM wp_430_posts") == [(b"https://pprd.example.edu/chem/?p=1",)]
    assert fetch(tgt, tgt_db, "SELECT body FROM wp_43_myisam") == [(b"pprd.example.edu",)]


def test_a_row_of_tens_of_megabytes(private_mariadb: MariaDBServer) -> None:
    # The private server allows 64 MB packets (the shared one 16 MB).
    run_sql(private_mariadb, None, "CREATE DATABASE s", "CREATE DATABASE t")
    build_site(private_mariadb, "s", with_430=False)
    target_network(private_mariadb, "t")
    big = b'a:1:{s:4:"page";s:%d:"%s";}'
    body = b"https://www.example.edu/ " * 1_000_000  # 25 MB of text holding a million URLs
    conn = private_mariadb.connect(database="s")
    try:
        conn.cursor().execute(
            "INSERT INTO wp_43_options (option_name, option_value) VALUES ('huge', %s)",
            (big % (len(body), body),),
        )
    finally:
        conn.close()
    report = wfuwp.migrate_site(
        43,
        source=db_of(private_mariadb, "s", "prod"),
        target=db_of(private_mariadb, "t", "pprd"),
        replacements=PAIRS,
    )
    expected_body = b"https://pprd.example.edu/ " * 1_000_000
    (value,) = fetch(
        private_mariadb, "t", "SELECT option_value FROM wp_43_options WHERE option_name = 'huge'"
    )[0]
    assert value == big % (len(expected_body), expected_body)
    options = next(t for t in report.tables if t.name == "wp_43_options")
    assert options.replacements >= 1_000_000
