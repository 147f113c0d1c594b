"""Faults injected into real processes: SIGKILL then resume, SIGINT, full disk, and rollback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import wfuwp
from tests.dbutil import checksums, fetch, run_sql, table_names
from tests.smallsite import PAIRS, build_site, db_of, target_network
from wfuwp.archive.location import ArchiveLocation
from wfuwp.errors import ArchiveError, MigrationError, UsageError
from wfuwp.ops.restore import rollback

ROOT = Path(__file__).resolve().parent.parent

# A migration in its own process that sends itself `signal` once `after` tables are loaded. SIGINT is
# reset first: a runner started with SIGINT ignored (`nohup make test &`) passes that on to its children.
CHILD = """
import json, os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
import wfuwp
args = json.loads(sys.argv[1])
done = []
def progress(event):
    if event.kind == "table-end" and event.step == "copy":
        done.append(event.table)
        if len(done) == args["after"]:
            print(json.dumps({"tables": done}), flush=True)
            os.kill(os.getpid(), args["signal"])
try:
    wfuwp.migrate_site(43, source=args["source"], target=args["target"], replacements=args["pairs"],
                       archive=args["archive"], progress=progress, workers=1,
                       tables=wfuwp.TableFilter(exclude=tuple(args["exclude"])))
except wfuwp.WfuwpError as exc:
    print("ERROR " + str(exc), flush=True)
    sys.exit(exc.exit_code)
"""


def run_child(
    src: str, tgt: str, archive: Path, sig: int, after: int, exclude: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    args = {
        "exclude": list(exclude),
        "source": src,
        "target": tgt,
        "pairs": PAIRS,
        "archive": str(archive),
        "signal": int(sig),
        "after": after,
    }
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip


@pytest.fixture
def network(mariadb, make_database):
    src_db = make_database(mariadb, "wfuwp_src")
    tgt_db = make_database(mariadb, "wfuwp_tgt")
    build_site(mariadb, src_db)
    target_network(mariadb, tgt_db)
    return mariadb, src_db, tgt_db


def test_sigkill_then_resume(network, tmp_path: Path, make_database) -> None:
    server, src_db, tgt_db = network
    before = checksums(server, tgt_db)
    child = run_child(server.dsn(src_db), server.dsn(tgt_db), tmp_path, signal.SIGKILL, after=3)
    assert child.returncode == -signal.SIGKILL
    finished = json.loads(child.stdout.splitlines()[0])["tables"]
    # The process died mid-copy: the site is untouched, its staging tables wait for the resume.
    assert {k: v for k, v in checksums(server, tgt_db).items() if not k.startswith("_wf")} == before
    assert [n for n in table_names(server, tgt_db) if n.startswith("_wfs_")]
    (migration,) = ArchiveLocation.parse(tmp_path).list_migrations()
    events: list[wfuwp.ProgressEvent] = []

    report = wfuwp.migrate_site(
        43, source=server.dsn(src_db), target=server.dsn(tgt_db), archive=tmp_path, resume=migration.id,
        progress=events.append,
    )  # fmt: skip
    assert report.status == "completed" and report.migration_id == migration.id
    copied_again = {e.table for e in events if e.kind == "table-end" and e.step == "copy"}
    assert copied_again and not copied_again & set(finished)  # verified tables were kept, not copied again
    assert not [n for n in table_names(server, tgt_db) if n.startswith("_wf")]

    # The resumed result equals an uninterrupted migration of the same site.
    reference = make_database(server, "wfuwp_ref")
    target_network(server, reference)
    wfuwp.migrate_site(43, source=server.dsn(src_db), target=server.dsn(reference), replacements=PAIRS)
    assert checksums(server, tgt_db) == checksums(server, reference)
    manifest = ArchiveLocation.parse(tmp_path).read_manifest(migration.id)
    assert {o.table for o in manifest.objects_of("migrated")} == {t.name for t in report.tables}
    with pytest.raises(UsageError, match="cannot be resumed"):
        wfuwp.migrate_site(43, source=server.dsn(src_db), target=server.dsn(tgt_db), archive=tmp_path,
                           resume=migration.id)  # fmt: skip


def test_a_resumed_run_keeps_the_table_patterns_it_started_with(network, tmp_path: Path) -> None:
    # The resume is called without the exclude: the tables are still those the run started with.
    server, src_db, tgt_db = network
    run_sql(server, tgt_db, "CREATE TABLE wp_43_redirects (source VARCHAR(190) PRIMARY KEY, target TEXT)",
            "INSERT INTO wp_43_redirects VALUES ('/old', 'kept as the target had it')")  # fmt: skip
    child = run_child(
        server.dsn(src_db),
        server.dsn(tgt_db),
        tmp_path,
        signal.SIGKILL,
        after=2,
        exclude=("wp_43_redirects",),
    )
    assert child.returncode == -signal.SIGKILL
    (migration,) = ArchiveLocation.parse(tmp_path).list_migrations()
    report = wfuwp.migrate_site(
        43, source=server.dsn(src_db), target=server.dsn(tgt_db), archive=tmp_path, resume=migration.id
    )
    assert report.status == "completed"
    assert "wp_43_redirects" not in {t.name for t in report.tables}
    assert {t.name for t in report.tables} >= {"wp_43_options", "wp_43_log"}
    assert fetch(server, tgt_db, "SELECT * FROM wp_43_redirects") == [(b"/old", b"kept as the target had it")]


def test_sigint_cleans_up(network, tmp_path: Path) -> None:
    server, src_db, tgt_db = network
    before = checksums(server, tgt_db)
    child = run_child(server.dsn(src_db), server.dsn(tgt_db), tmp_path, signal.SIGINT, after=2)
    assert child.returncode != 0
    assert "ERROR copy: interrupted; the target was left as it was" in child.stdout
    assert checksums(server, tgt_db) == before  # no staging tables either
    (migration,) = ArchiveLocation.parse(tmp_path).list_migrations()
    assert migration.status.startswith("interrupted")
    with pytest.raises(UsageError, match="cannot be resumed"):
        wfuwp.migrate_site(43, source=server.dsn(src_db), target=server.dsn(tgt_db), archive=tmp_path,
                           resume=migration.id)  # fmt: skip


def test_disk_full_local_archive(network, tmp_path: Path) -> None:
    server, src_db, tgt_db = network
    run_sql(
        server, src_db,
        "CREATE TABLE wp_43_postmeta (meta_id INT AUTO_INCREMENT PRIMARY KEY, meta_value LONGTEXT)",
        "INSERT INTO wp_43_postmeta (meta_value) SELECT SHA2(seq, 512) FROM seq_1_to_20000",
    )  # fmt: skip
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(small)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        before = checksums(server, tgt_db)
        with pytest.raises((MigrationError, ArchiveError), match=r"space|disk"):
            wfuwp.migrate_site(43, source=server.dsn(src_db), target=server.dsn(tgt_db), replacements=PAIRS,
                               archive=small)  # fmt: skip
        assert checksums(server, tgt_db) == before
        files = [p for p in small.rglob("*") if p.is_file()]
        assert not [p for p in files if p.name.endswith(".part")]  # no partial file is left behind
        for done in (p for p in files if p.name.endswith(".zst")):  # tables finished before the disk filled
            assert subprocess.run(["zstd", "-tq", str(done)]).returncode == 0
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_rollback_is_instant_while_old_tables_are_kept(network, tmp_path: Path) -> None:
    server, src_db, tgt_db = network
    before = checksums(server, tgt_db)
    report = wfuwp.migrate_site(43, source=server.dsn(src_db), target=server.dsn(tgt_db), replacements=PAIRS,
                                archive=tmp_path, keep_old=True, drop_target_only=True)  # fmt: skip
    assert checksums(server, tgt_db) != before
    back = rollback(report.migration_id, db_of(server, tgt_db, "target"), archive=tmp_path)
    assert back.status == "completed" and back.source.startswith("old tables")
    assert checksums(server, tgt_db) == before


def test_rollback_from_the_archive_once_old_tables_are_gone(network, tmp_path: Path) -> None:
    server, src_db, tgt_db = network
    before = checksums(server, tgt_db)
    report = wfuwp.migrate_site(43, source=server.dsn(src_db), target=server.dsn(tgt_db), replacements=PAIRS,
                                archive=tmp_path)  # fmt: skip
    back = rollback(report.migration_id, db_of(server, tgt_db, "target"), archive=tmp_path)
    assert back.verified_checksums
    assert checksums(server, tgt_db) == before


# A migration that stops itself with `signal` in the middle of its biggest table and says how long it
# took from the signal to the error.
TIMED_CHILD = """
import json, os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import wfuwp
args = json.loads(sys.argv[1])
sent = []
def progress(event):
    if event.kind == "rows" and event.table == "wp_43_postmeta" and event.rows_done > 5000 and not sent:
        sent.append(time.monotonic())
        os.kill(os.getpid(), args["signal"])
try:
    wfuwp.migrate_site(43, source=args["source"], target=args["target"], replacements=args["pairs"],
                       archive=args["archive"], progress=progress)
except wfuwp.WfuwpError as exc:
    print(json.dumps({"seconds": time.monotonic() - sent[0], "error": str(exc)}), flush=True)
    sys.exit(exc.exit_code)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_the_copy_within_a_second(network, tmp_path: Path, sig: int) -> None:
    server, src_db, tgt_db = network
    run_sql(
        server, src_db,
        "CREATE TABLE wp_43_postmeta (meta_id INT AUTO_INCREMENT PRIMARY KEY, meta_value LONGTEXT)",
        "INSERT INTO wp_43_postmeta (meta_value) SELECT CONCAT(REPEAT(SHA2(seq, 512), 16), "
        "'https://www.example.edu/') FROM seq_1_to_40000",
    )  # fmt: skip
    before = checksums(server, tgt_db)
    args = {"source": server.dsn(src_db), "target": server.dsn(tgt_db), "pairs": PAIRS,
            "archive": str(tmp_path), "signal": int(sig)}  # fmt: skip
    child = subprocess.run([sys.executable, "-c", TIMED_CHILD, json.dumps(args)], capture_output=True,
                           text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)  # fmt: skip
    assert child.returncode == 1, child.stdout + child.stderr
    stopped = json.loads(child.stdout.splitlines()[-1])
    assert stopped["error"] == "copy: interrupted; the target was left as it was"
    # Workers blocked in a fetch or an INSERT are cut short (KILL QUERY) instead of being waited for.
    assert stopped["seconds"] < 2.0, stopped
    assert checksums(server, tgt_db) == before
