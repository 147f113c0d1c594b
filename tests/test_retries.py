"""wfuwp.mysql.connection.with_retries against a real server.

Transient errors are retried with backoff, others are not.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest

import wfuwp
from devtools.sandbox import MariaDBServer
from tests.dbutil import run_sql
from wfuwp.errors import DatabaseError
from wfuwp.mysql.connection import closing, execute, query, with_retries


@pytest.fixture
def table(mariadb: MariaDBServer, make_database: Callable[..., str]) -> wfuwp.Database:
    name = make_database(mariadb, "wfuwp_retry")
    run_sql(mariadb, name, "CREATE TABLE t (id INT PRIMARY KEY, v INT)", "INSERT INTO t VALUES (1, 0)")
    return wfuwp.Database(host=mariadb.host, port=mariadb.port, database=name, name="target")


def test_a_lock_wait_timeout_is_retried_until_the_lock_goes(table: wfuwp.Database) -> None:
    holder = table.connect()
    execute(holder, "START TRANSACTION")
    query(holder, "SELECT * FROM t WHERE id = 1 FOR UPDATE")
    attempts: list[int] = []
    logged: list[str] = []

    def update() -> int:
        attempts.append(1)
        with closing(table.connect()) as conn:
            execute(conn, "SET SESSION innodb_lock_wait_timeout = 1")
            execute(conn, "UPDATE t SET v = v + 1 WHERE id = 1")
            return int(query(conn, "SELECT v FROM t WHERE id = 1")[0][0])

    def log(message: str) -> None:
        logged.append(message)
        execute(holder, "COMMIT")  # the other transaction ends while we back off

    try:
        assert with_retries(update, what="update t", base_delay=0.05, log=log) == 1
    finally:
        holder.close()
    assert len(attempts) == 2
    assert logged[0].startswith("update t: Lock wait timeout exceeded")
    assert "(error 1205); retry 1/4 in" in logged[0]


def test_a_lost_connection_is_retried_on_a_new_one(mariadb: MariaDBServer, table: wfuwp.Database) -> None:
    attempts: list[int] = []

    def read() -> int:
        attempts.append(1)
        with closing(table.connect()) as conn:
            if len(attempts) == 1:  # the first attempt's connection is killed mid-query
                (own_id,) = query(conn, "SELECT CONNECTION_ID()")[0]
                threading.Timer(0.3, run_sql, (mariadb, None, f"KILL CONNECTION {int(own_id)}")).start()
                query(conn, "SELECT SLEEP(10)")
            return int(query(conn, "SELECT v FROM t")[0][0])

    started = time.monotonic()
    assert with_retries(read, what="read t", base_delay=0.05) == 0
    assert len(attempts) == 2 and time.monotonic() - started < 5


def test_a_server_that_never_answers_is_retried_then_reported(table: wfuwp.Database) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    hung = wfuwp.Database(host="127.0.0.1", port=silent.getsockname()[1], database="x", connect_timeout=1)
    attempts: list[int] = []

    def connect() -> None:
        attempts.append(1)
        hung.connect().close()

    try:
        with pytest.raises(DatabaseError, match=r"no answer within 1 s\)$") as info:
            with_retries(connect, what="connect", attempts=2, base_delay=0.05)
    finally:
        silent.close()
    assert len(attempts) == 2 and info.value.errno in (2013, 3024)


def test_other_errors_are_not_retried(table: wfuwp.Database) -> None:
    attempts: list[int] = []

    def missing() -> None:
        attempts.append(1)
        with closing(table.connect()) as conn:
            query(conn, "SELECT * FROM no_such_table")

    with pytest.raises(DatabaseError, match=r"^read no_such_table: .* \(error 1146\); see the server's"):
        with_retries(missing, what="read no_such_table", base_delay=0.05)
    assert attempts == [1]
