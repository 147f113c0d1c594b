"""The fixtures' servers are real: a private mariadbd starts, stores data, dies on SIGKILL, restarts."""

import tempfile
import uuid
from pathlib import Path

from devtools.sandbox import MariaDBServer


def test_private_server_survives_kill_and_relaunch(private_mariadb: MariaDBServer) -> None:
    conn = private_mariadb.connect()
    cur = conn.cursor()
    cur.execute("CREATE DATABASE t")
    cur.execute("CREATE TABLE t.x (id INT PRIMARY KEY) ENGINE=InnoDB")
    cur.execute("INSERT INTO t.x VALUES (1), (2)")
    conn.close()
    private_mariadb.kill()
    assert not private_mariadb.answers()
    private_mariadb.launch()
    conn = private_mariadb.connect()
    cur = conn.cursor()
    cur.execute("SELECT COUNT(*) FROM t.x")
    assert cur.fetchone() == (2,)
    conn.close()


def test_a_starting_private_server_leaves_other_servers_temporary_files(tmp_path: Path) -> None:
    # A starting mariadbd deletes the `#sql*` files of its tmpdir; in /tmp those were the shared
    # server's temporary tables, under queries of tests running at the same time.
    other = Path(tempfile.gettempdir()) / f"#sql-temptable-wfuwp-{uuid.uuid4().hex}.MAI"
    other.touch()
    try:
        server = MariaDBServer.start(tmp_path / "mariadb")
        try:
            assert server.answers()
        finally:
            server.stop()
        assert other.exists()
    finally:
        other.unlink(missing_ok=True)
