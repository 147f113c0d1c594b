"""A server that stops answering mid-migration: the migration fails within its bound, the target whole.

The S3 endpoint or the target database is frozen with SIGSTOP, so connections stay open and nothing
comes back: the case that no error, only a timeout, can end. Each migration runs in a child process
with a deadline, so a hang fails the test instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from devtools.s3server import S3Server
from tests.dbutil import checksums, run_sql, table_names
from tests.smallsite import PAIRS, build_site, target_network

ROOT = Path(__file__).resolve().parent.parent

# Migrates site 43 and freezes process `freeze` (SIGSTOP) once the big table is half way; prints how long
# the migration took from the freeze to its error.
CHILD = """
import json, os, signal, sys, time
import wfuwp
from wfuwp.archive.location import ArchiveLocation
args = json.loads(sys.argv[1])
archive = args["archive"]
if archive.startswith("s3://"):
    archive = ArchiveLocation.parse(archive, endpoint_url=args["endpoint_url"], part_size=5 << 20,
                                    stall_timeout=args["stall"])
frozen = []
def progress(event):
    if event.kind == "rows" and event.table == "wp_43_postmeta" and event.rows_done > 20000 and not frozen:
        frozen.append(time.monotonic())
        os.kill(args["freeze"], signal.SIGSTOP)
try:
    wfuwp.migrate_site(43, source=args["source"], target=args["target"], replacements=args["pairs"],
                       archive=archive, progress=progress, workers=1)
    print(json.dumps({"error": None}))
except wfuwp.WfuwpError as exc:
    print(json.dumps({"seconds": time.monotonic() - frozen[0], "error": str(exc)}), flush=True)
"""


def run_child(**args: Any) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps({"pairs": PAIRS, **args})],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert child.returncode == 0, child.stdout + child.stderr
    return dict(json.loads(child.stdout.splitlines()[-1]))


def big_site(server: Any, database: str) -> None:
    build_site(server, database)
    run_sql(
        server, database,
        "CREATE TABLE wp_43_postmeta (meta_id INT AUTO_INCREMENT PRIMARY KEY, meta_value LONGTEXT)",
        # Random text does not compress: the upload needs several 5 MiB parts.
        "INSERT INTO wp_43_postmeta (meta_value) SELECT CONCAT(SHA2(seq, 512), SHA2(seq + 1, 512),"
        " SHA2(seq + 2, 512), 'https://www.example.edu/') FROM seq_1_to_60000",
    )  # fmt: skip


def test_a_frozen_s3_endpoint_fails_the_migration_within_the_stall_limit(
    mariadb, make_database, s3_server: S3Server
) -> None:
    # A server of its own to freeze (s3_server sets the session's dummy credentials).
    src_db, tgt_db = make_database(mariadb, "wfuwp_src"), make_database(mariadb, "wfuwp_tgt")
    big_site(mariadb, src_db)
    target_network(mariadb, tgt_db)
    before = checksums(mariadb, tgt_db)
    s3 = S3Server()
    s3.start()
    try:
        client = s3.client()
        client.create_bucket(Bucket="frozen")
        result = run_child(
            source=mariadb.dsn(src_db), target=mariadb.dsn(tgt_db), archive="s3://frozen/x",
            endpoint_url=s3.endpoint_url, stall=3, freeze=s3.pid,
        )  # fmt: skip
        os.kill(s3.pid, signal.SIGCONT)
        assert (
            result["error"]
            and "made no progress for 3 s: the S3 endpoint stopped answering" in result["error"]
        )
        # Every stream of the run, stalled or aborted, bounded by the stall limit; not botocore's minutes.
        assert result["seconds"] < 40, result
        assert checksums(mariadb, tgt_db) == before
        assert not [n for n in table_names(mariadb, tgt_db) if n.startswith("_wf")]
        keys = [o["Key"] for o in client.list_objects_v2(Bucket="frozen").get("Contents", [])]
        assert not [k for k in keys if "postmeta" in k]  # no partial object became visible
    finally:
        if s3.running:
            os.kill(s3.pid, signal.SIGCONT)
        s3.stop()


def test_a_frozen_target_server_fails_the_migration_within_its_read_timeout(
    mariadb, private_mariadb, make_database, tmp_path: Path
) -> None:
    src_db = make_database(mariadb, "wfuwp_src")
    big_site(mariadb, src_db)
    conn = private_mariadb.connect()
    conn.cursor().execute("CREATE DATABASE wfuwp_tgt")
    conn.close()
    target_network(private_mariadb, "wfuwp_tgt")
    before = checksums(private_mariadb, "wfuwp_tgt")
    assert private_mariadb.process is not None
    pid = private_mariadb.process.pid
    try:
        result = run_child(
            source=mariadb.dsn(src_db), archive=str(tmp_path), freeze=pid,
            target=private_mariadb.dsn("wfuwp_tgt") + "?read_timeout=3&connect_timeout=2",
        )  # fmt: skip
    finally:
        os.kill(pid, signal.SIGCONT)
    assert result["error"] and result["error"].startswith("copy of table wp_43_postmeta: ")
    assert "Lost connection" in result["error"] or "timed out" in result["error"], result
    assert result["seconds"] < 60, result
    # The live tables are as they were; the staging tables it could not drop wait for `clean`.
    live = {k: v for k, v in checksums(private_mariadb, "wfuwp_tgt").items() if not k.startswith("_wf")}
    assert live == before


def test_an_s3_error_names_no_python_internals() -> None:
    # smart_open gives up on an endpoint that keeps failing with the repr of the botocore call in its
    # message, which reached users as "<bound method ClientCreator._create_api_method...>".
    from wfuwp.storage.s3 import describe_error

    gave_up = OSError(
        "unable to perform <bound method ClientCreator._create_api_method.<locals>._api_call of "
        "<botocore.client.S3 object at 0x7f0123456789>> after 6 attempts"
    )
    assert describe_error(gave_up) == "OSError: unable to perform an S3 request after 6 attempts"
