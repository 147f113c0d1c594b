"""Every exit code of the command line, as wfuwp.errors.EXIT_CODES (and docs/cli.md) says, one test each."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard

from tests.wpsite import Env, checksums, clean_environment, env, write_config
from wfuwp.config.settings import Config
from wfuwp.errors import EXIT_CODES
from wfuwp.mysql.connection import Database
from wfuwp.mysql.lock import SiteLock

__all__ = ["clean_environment", "env"]

ROOT = Path(__file__).resolve().parent.parent
MIGRATE = ["migrate", "43", "--from", "prod", "--to", "pprd", "--yes"]


def test_the_documented_codes_are_the_table() -> None:
    cli_md = (ROOT / "docs" / "cli.md").read_text()
    for code, meaning in EXIT_CODES.items():
        assert f"| {code} | {meaning} |" in cli_md
    assert sorted(EXIT_CODES) == [0, 1, 2, 3, 4, 5, 130]


def test_0_success(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = env.run(capsys, "migrate", "plan", "43", "--from", "prod", "--to", "pprd")
    assert code == 0 and out.startswith("Replacement plan prod -> pprd")


def test_1_a_step_failed_a_tampered_archive(
    env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    work = ["--work-dir", str(env.work)]
    code, out, err = env.run(capsys, *MIGRATE, *work, "--json")
    assert code == 0, err
    report = orjson.loads(out)
    # Someone changes a row in the archived backup, keeping it valid SQL.
    folder = Path(report["archive"]["location"])
    (backup,) = sorted(folder.glob("backup/*wp_43_options.sql.zst"))
    sql = zstandard.ZstdDecompressor().decompressobj().decompress(backup.read_bytes())
    assert b"old pprd copy" in sql
    backup.write_bytes(zstandard.ZstdCompressor().compress(sql.replace(b"old pprd copy", b"new pprd copy")))
    migrated = checksums(env.server, env.pprd)
    code, _out, err = env.run(
        capsys, "migrate", "restore", report["migration_id"], "--env", "pprd", "--yes", *work
    )
    assert code == 1
    assert "the archive was changed or damaged" in err.splitlines()[-1]
    assert checksums(env.server, env.pprd) == migrated


def test_2_usage(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = env.run(capsys, "migrate", "43", "--from", "prod", "--to", "qa", "--yes")
    assert code == 2 and "unknown environment 'qa'" in err


def test_3_site_not_found_and_findings_printed_once(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = env.run(
        capsys, "migrate", "999", "--from", "prod", "--to", "pprd", "--yes", "--skip-backup"
    )
    assert code == 3
    assert sum("site 999 has no tables" in line for line in (out + err).splitlines()) == 1  # the FAIL line
    assert err.splitlines()[-1] == (
        "error: pre-flight found 1 problem that would make the migration fail, marked FAIL above with its "
        "fix: nothing was written"
    )


def test_4_another_migration_holds_the_site(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    before = checksums(env.server, env.pprd)
    pprd = Database(host=env.server.host, port=env.server.port, user=env.server.user, database=env.pprd)
    with SiteLock(pprd, 43):
        code, out, _err = env.run(capsys, *MIGRATE, "--skip-backup")
    assert code == 4 and "wait for it to finish" in out
    assert checksums(env.server, env.pprd) == before


def test_5_preflight(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    assert env.run(capsys, "config", "set", "env.pprd.table_prefix", "wpx_")[0] == 0
    code, out, _err = env.run(capsys, *MIGRATE, "--skip-backup")
    assert code == 5 and "prefix 'wp_' differs from target prefix 'wpx_'" in out


def test_130_ctrl_c_while_a_server_does_not_answer(
    mariadb, private_mariadb, make_database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The target server is frozen, so pre-flight is stuck in a connection attempt when Ctrl-C comes.
    from tests.wpsite import make_network

    prod = make_database(mariadb, "wfuwp_prod")
    make_network(mariadb, prod, "www.wfu.edu")
    conn = private_mariadb.connect()
    conn.cursor().execute("CREATE DATABASE wfuwp_pprd")
    conn.close()
    config = tmp_path / "config.json"
    write_config(config, mariadb, {"prod": prod, "pprd": "wfuwp_pprd"}, None)
    settings = Config.load(config)
    settings.set("env.pprd.port", str(private_mariadb.port))  # pprd lives on the server about to freeze
    settings.save(config)
    assert private_mariadb.process is not None
    os.kill(private_mariadb.process.pid, signal.SIGSTOP)
    try:
        env = {k: v for k, v in os.environ.items() if k != "WFUWP_CONFIG"}
        child = subprocess.Popen(
            [sys.executable, "-m", "wfuwp", "--config", str(config), *MIGRATE, "--dry-run"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**env, "PYTHONPATH": str(ROOT)},
            # The child must see Ctrl-C even when this run ignores it (`nohup make test &`).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        # Ctrl-C must come once the child waits on the frozen server, not while it is still importing
        # (on a loaded machine that takes longer than any fixed sleep).
        _wait_for_connection(child, private_mariadb.port)
        child.send_signal(signal.SIGINT)
        _out, err = child.communicate(timeout=60)
    finally:
        os.kill(private_mariadb.process.pid, signal.SIGCONT)
    assert child.returncode == 130, err
    assert err.splitlines()[-1].startswith("error: interrupted")


def _wait_for_connection(child: subprocess.Popen[str], port: int, timeout: float = 60.0) -> None:
    """Wait until `child` holds an established TCP connection to 127.0.0.1:`port`.

    The kernel completes the handshake for a stopped server, so the connection shows while the child
    waits for the server's greeting.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert child.poll() is None, "the child exited before it reached the server"
        if _connected(child.pid, port):
            time.sleep(0.2)  # into the read that waits for the greeting
            return
        time.sleep(0.05)
    raise AssertionError(f"the child never connected to port {port}")


def _connected(pid: int, port: int) -> bool:
    try:
        inodes = {
            os.readlink(f"/proc/{pid}/fd/{fd}")[len("socket:[") : -1]
            for fd in os.listdir(f"/proc/{pid}/fd")
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")
        }
    except (FileNotFoundError, ProcessLookupError):  # an fd closed while we looked: look again
        return False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                remote_port, state, inode = int(fields[2].rsplit(":", 1)[1], 16), fields[3], fields[9]
                if remote_port == port and state == "01" and inode in inodes:  # 01: ESTABLISHED
                    return True
    return False


def test_1_not_2_when_the_server_is_lost_during_an_import(
    mariadb, private_mariadb, make_database, tmp_path: Path
) -> None:
    # A dump that the server stops taking half way is a database failure (1), not a bad file (2).
    from tests.smallsite import build_site, target_network
    from wfuwp.errors import DatabaseError, SqlFileError
    from wfuwp.ops.restore import import_sql

    src = make_database(mariadb, "wfuwp_src")
    build_site(mariadb, src)
    dump = tmp_path / "site.sql"
    with dump.open("wb") as out:
        subprocess.run(
            ["mariadb-dump", "-uroot", f"-h{mariadb.host}", f"-P{mariadb.port}", "--skip-triggers", src],
            stdout=out, check=True,
        )  # fmt: skip
    conn = private_mariadb.connect()
    conn.cursor().execute("CREATE DATABASE wfuwp_tgt")
    conn.close()
    target_network(private_mariadb, "wfuwp_tgt")
    target = Database(host=private_mariadb.host, port=private_mariadb.port, user="root", database="wfuwp_tgt")

    def lose_the_server(event: Any) -> None:
        if event.kind == "step-start" and event.step == "load":
            private_mariadb.kill()

    with pytest.raises(DatabaseError) as lost:
        import_sql(dump, target, site_id=43, progress=lose_the_server)
    assert lost.value.exit_code == 1 and not isinstance(lost.value, SqlFileError)
