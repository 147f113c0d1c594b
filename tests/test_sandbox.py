"""The fixtures' servers are real: a private mariadbd starts, stores data, dies on SIGKILL, restarts."""

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
