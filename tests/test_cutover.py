"""The cut-over under faults: killed at every state boundary, interrupted mid-swap, blocked by a reader.

Each child process stops itself exactly at a boundary (the "state" progress event the cut-over emits
once that state is durable), so no test sleeps and hopes. After a SIGKILL the target holds either the
old site or the migrated one, never a mix, and `--resume`, `rollback` or `clean` finishes the job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import wfuwp
from tests.dbutil import checksums, table_names
from tests.smallsite import PAIRS, build_site, db_of, target_network
from wfuwp.archive.location import ArchiveLocation
from wfuwp.config.settings import Config
from wfuwp.errors import SwapBlockedError, UsageError
from wfuwp.ops.clean import plan_clean, run_clean
from wfuwp.ops.cutover import SWAP_LOCK_WAIT_S

ROOT = Path(__file__).resolve().parent.parent
STATES = ("swapping", "renamed", "swapped", "old-dropped", "finished")
BEFORE_THE_RENAME = ("swapping",)
# The last state made durable before each boundary's event ("finished" is recorded with the manifest).
RECORDED = {"swapping": "swapping", "renamed": "swapping", "swapped": "swapped", "old-dropped": "swapped",
            "finished": "swapped"}  # fmt: skip

# A migration in its own process that sends itself `signal` at cut-over state `state`. SIGINT is reset
# first: a runner started with SIGINT ignored (`nohup make test &`) passes that on to its children.
CHILD = """
import json, os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
import wfuwp
args = json.loads(sys.argv[1])
def progress(event):
    if event.kind == "state" and event.message == args["state"]:
        os.kill(os.getpid(), args["signal"])
try:
    report = wfuwp.migrate_site(43, source=args["source"], target=args["target"], replacements=args["pairs"],
                                archive=args["archive"], progress=progress, workers=1)
    print(json.dumps({"status": report.status, "deferred": report.interrupt_deferred,
                      "id": report.migration_id}))
except wfuwp.WfuwpError as exc:
    print("ERROR " + str(exc), flush=True)
    sys.exit(exc.exit_code)
"""


def run_child(src: str, tgt: str, archive: Path, state: str, sig: int) -> subprocess.CompletedProcess[str]:
    args = {
        "source": src,
        "target": tgt,
        "pairs": PAIRS,
        "archive": str(archive),
        "state": state,
        "signal": sig,
    }
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, env=env, timeout=300
    )


def live(server: Any, database: str) -> dict[str, int]:
    """Checksums of the site's live tables (not the work tables of a run)."""
    return {k: v for k, v in checksums(server, database).items() if not k.startswith("_wf")}


@pytest.fixture
def sites(mariadb, make_database):
    """(server, source db, target db, the target before, the target as a completed migration leaves it)."""
    src_db, tgt_db, ref_db = (make_database(mariadb, n) for n in ("wfuwp_src", "wfuwp_tgt", "wfuwp_ref"))
    build_site(mariadb, src_db)
    target_network(mariadb, tgt_db)
    target_network(mariadb, ref_db)
    wfuwp.migrate_site(43, source=mariadb.dsn(src_db), target=mariadb.dsn(ref_db), replacements=PAIRS)
    return mariadb, src_db, tgt_db, live(mariadb, tgt_db), live(mariadb, ref_db)


def killed_at(sites, tmp_path: Path, state: str) -> str:
    """Kill a migration at `state`; check the target holds the old or the new site whole; return its id."""
    server, src_db, tgt_db, before, migrated = sites
    child = run_child(server.dsn(src_db), server.dsn(tgt_db), tmp_path, state, signal.SIGKILL)
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    assert live(server, tgt_db) == (before if state in BEFORE_THE_RENAME else migrated)
    (migration,) = ArchiveLocation.parse(tmp_path).list_migrations()
    return migration.id


@pytest.mark.parametrize("state", STATES)
def test_killed_at_any_cutover_state_then_resumed(sites, tmp_path: Path, state: str) -> None:
    server, src_db, tgt_db, _before, migrated = sites
    migration_id = killed_at(sites, tmp_path, state)
    # Pre-flight of the resume does not count the run's own work tables as leftovers of another.
    checks = {
        resume: wfuwp.preflight(
            43, source=server.dsn(src_db), target=server.dsn(tgt_db), archive=tmp_path, replacements=PAIRS,
            resume=resume,
        )
        for resume in (None, migration_id)
    }  # fmt: skip
    leftovers = {r: [f for f in c.findings if f.check == "target.leftovers"] for r, c in checks.items()}
    assert not leftovers[migration_id]
    assert bool(leftovers[None]) == (state in ("swapping", "renamed", "swapped"))
    report = wfuwp.migrate_site(
        43, source=server.dsn(src_db), target=server.dsn(tgt_db), archive=tmp_path, resume=migration_id
    )
    assert report.status == "completed" and report.cutover == "finished"
    assert live(server, tgt_db) == migrated
    assert not [n for n in table_names(server, tgt_db) if n.startswith("_wf")]
    manifest = ArchiveLocation.parse(tmp_path).read_manifest(migration_id)
    assert manifest.status == "completed"
    assert report.tables and {t.name for t in manifest.tables} == {t.name for t in report.tables}


@pytest.mark.parametrize("state", STATES)
def test_killed_at_any_cutover_state_then_rolled_back(sites, tmp_path: Path, state: str) -> None:
    server, _src_db, tgt_db, before, _migrated = sites
    migration_id = killed_at(sites, tmp_path, state)
    # Without a manifest, `status` tells from state.json how far the cut-over got.
    record = ArchiveLocation.parse(tmp_path).migration(migration_id).read_record()
    assert record is not None and record.status == "running" and record.cutover == RECORDED[state]
    target = db_of(server, tgt_db, "target")
    if state in BEFORE_THE_RENAME:
        with pytest.raises(UsageError, match="never put its tables live"):
            wfuwp.rollback(migration_id, target, archive=tmp_path)
        assert live(server, tgt_db) == before
        return
    back = wfuwp.rollback(migration_id, target, archive=tmp_path)
    assert back.status == "completed"
    assert live(server, tgt_db) == before
    assert not [n for n in table_names(server, tgt_db) if n.startswith("_wf")]
    assert ArchiveLocation.parse(tmp_path).read_manifest(migration_id).status == "rolled-back"
    with pytest.raises(UsageError, match="rolled back already"):
        wfuwp.rollback(migration_id, target, archive=tmp_path)
    # Nor can a resume bring the rolled-back migration back over the restored site.
    with pytest.raises(UsageError, match="cannot be resumed"):
        wfuwp.migrate_site(43, source=server.dsn(_src_db), target=server.dsn(tgt_db), archive=tmp_path,
                           resume=migration_id)  # fmt: skip
    assert live(server, tgt_db) == before


@pytest.mark.parametrize("state", ["swapping", "swapped"])
def test_killed_at_a_cutover_state_then_cleaned(sites, tmp_path: Path, state: str) -> None:
    server, _src_db, tgt_db, before, migrated = sites
    migration_id = killed_at(sites, tmp_path, state)
    config = Config()
    for key, value in {
        "host": server.host,
        "port": str(server.port),
        "user": server.user,
        "database": tgt_db,
    }.items():
        config.set(f"env.pprd.{key}", value)
    plan = run_clean(plan_clean(config, migration=False))
    assert not plan.errors and plan.tables > 0
    assert not [n for n in table_names(server, tgt_db) if n.startswith("_wf")]
    # Cleaning keeps whichever site was live; after the swap the backup still rolls it back.
    assert live(server, tgt_db) == (before if state in BEFORE_THE_RENAME else migrated)
    if state not in BEFORE_THE_RENAME:
        wfuwp.rollback(migration_id, db_of(server, tgt_db, "target"), archive=tmp_path)
        assert live(server, tgt_db) == before


def test_ctrl_c_just_before_the_rename_stops_the_swap(sites, tmp_path: Path) -> None:
    server, src_db, tgt_db, before, _migrated = sites
    child = run_child(server.dsn(src_db), server.dsn(tgt_db), tmp_path, "swapping", signal.SIGINT)
    assert child.returncode == 1, child.stdout + child.stderr
    assert child.stdout.splitlines()[-1] == "ERROR swap: interrupted; the target was left as it was"
    assert checksums(server, tgt_db) == before  # no work tables either
    (stopped,) = ArchiveLocation.parse(tmp_path).list_migrations()
    record = ArchiveLocation.parse(tmp_path).read_manifest(stopped.id)
    assert (record.status, record.cutover) == ("interrupted", "staging")


@pytest.mark.parametrize("state", ["renamed", "swapped", "old-dropped", "finished"])
def test_ctrl_c_during_the_swap_waits_for_it_and_says_so(sites, tmp_path: Path, state: str) -> None:
    server, src_db, tgt_db, _before, migrated = sites
    child = run_child(server.dsn(src_db), server.dsn(tgt_db), tmp_path, state, signal.SIGINT)
    assert child.returncode == 0, child.stdout + child.stderr
    result = json.loads(child.stdout.splitlines()[-1])
    assert result == {"status": "completed", "deferred": True, "id": result["id"]}
    assert live(server, tgt_db) == migrated
    assert not [n for n in table_names(server, tgt_db) if n.startswith("_wf")]
    assert ArchiveLocation.parse(tmp_path).read_manifest(result["id"]).status == "completed"


def test_a_reader_holding_the_site_cannot_stall_it_behind_the_swap(sites, tmp_path: Path) -> None:
    server, src_db, tgt_db, before, migrated = sites
    holder = server.connect()
    holder.autocommit = False
    holder_cursor = holder.cursor()
    holder_cursor.execute("SELECT CONNECTION_ID()")
    (holder_id,) = holder_cursor.fetchone()
    # An open transaction that has read the site's options holds their metadata lock until it ends.
    holder_cursor.execute("START TRANSACTION")
    holder_cursor.execute(f"SELECT COUNT(*) FROM `{tgt_db}`.`wp_43_options`")
    holder_cursor.fetchall()

    waits: list[float] = []
    swap_waiting = threading.Event()
    done = threading.Event()

    def page_views() -> None:
        # What each WordPress request does: read the options, in a transaction of its own.
        conn = server.connect()
        cursor = conn.cursor()
        while not done.is_set():
            if swap_waiting.is_set():
                started = time.monotonic()
                cursor.execute(f"SELECT option_value FROM `{tgt_db}`.`wp_43_options` LIMIT 1")
                cursor.fetchall()
                waits.append(time.monotonic() - started)
            time.sleep(0.05)
        conn.close()

    def progress(event: wfuwp.ProgressEvent) -> None:
        if event.kind == "log" and event.step == "swap" and "waited" in event.message:
            swap_waiting.set()

    reader = threading.Thread(target=page_views)
    reader.start()
    try:
        with pytest.raises(SwapBlockedError, match=rf"connection {holder_id} \(.*transaction open"):
            wfuwp.migrate_site(
                43, source=server.dsn(src_db), target=server.dsn(tgt_db), replacements=PAIRS,
                archive=tmp_path, progress=progress, swap_attempts=4,
            )  # fmt: skip
    finally:
        done.set()
        reader.join()
    # The page views went on while the swap kept trying: none waited much longer than one try.
    assert swap_waiting.is_set() and waits
    assert max(waits) < SWAP_LOCK_WAIT_S + 2, waits
    holder.rollback()
    holder.close()
    assert live(server, tgt_db) == before
    assert not [n for n in table_names(server, tgt_db) if n.startswith("_wf")]
    # Recorded as never swapped: there is nothing to roll back (the backup must not be laid over the site).
    (blocked,) = ArchiveLocation.parse(tmp_path).list_migrations()
    record = ArchiveLocation.parse(tmp_path).read_manifest(blocked.id)
    assert (record.status, record.cutover) == ("failed", "staging")
    with pytest.raises(UsageError, match="never put its tables live"):
        wfuwp.rollback(blocked.id, db_of(server, tgt_db, "target"), archive=tmp_path)
    # Once the reader is gone the same migration goes through.
    wfuwp.migrate_site(43, source=server.dsn(src_db), target=server.dsn(tgt_db), replacements=PAIRS)
    assert live(server, tgt_db) == migrated


def test_a_first_migration_into_an_empty_target_rolls_back_to_empty(
    sites, make_database, tmp_path: Path
) -> None:
    server, src_db, _tgt_db, _before, _migrated = sites
    empty = make_database(server, "wfuwp_empty")
    report = wfuwp.migrate_site(43, source=server.dsn(src_db), target=server.dsn(empty), replacements=PAIRS,
                                archive=tmp_path)  # fmt: skip
    assert all(t.action == "created" for t in report.tables) and live(server, empty)
    wfuwp.rollback(report.migration_id, db_of(server, empty, "target"), archive=tmp_path)
    assert live(server, empty) == {}


def test_a_run_killed_before_its_check_after_the_swap_is_checked_on_resume(sites, tmp_path: Path) -> None:
    server, src_db, tgt_db, before, _migrated = sites
    migration_id = killed_at(sites, tmp_path, "renamed")

    def reject(_report: wfuwp.MigrationReport) -> None:
        raise RuntimeError("the new site does not answer")

    with pytest.raises(wfuwp.MigrationError, match="the new site does not answer"):
        wfuwp.migrate_site(43, source=server.dsn(src_db), target=server.dsn(tgt_db), archive=tmp_path,
                           resume=migration_id, verify_after_swap=reject)  # fmt: skip
    assert live(server, tgt_db) == before  # swapped back
    record = ArchiveLocation.parse(tmp_path).read_manifest(migration_id)
    assert record.swapped_back and record.cutover == "staging"
