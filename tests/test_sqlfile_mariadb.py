"""Real mariadb-dump output through iter_statements + check_statement, replayed into MariaDB, checksummed.

Needs the MariaDB at 127.0.0.1:3306 (root, no password) and `mariadb-dump` on PATH; override with
WFUWP_TEST_MYSQL_HOST / _PORT / _USER / _PASSWORD. Every database it creates has a unique name and is
dropped afterwards.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import mysql.connector
import pytest

from wfuwp.mysql.sqlfile import check_statement, iter_statements

HOST = os.environ.get("WFUWP_TEST_MYSQL_HOST", "127.0.0.1")
PORT = int(os.environ.get("WFUWP_TEST_MYSQL_PORT", "3306"))
USER = os.environ.get("WFUWP_TEST_MYSQL_USER", "root")
PASSWORD = os.environ.get("WFUWP_TEST_MYSQL_PASSWORD", "")

TRICKY = [
    "it's",
    'say "hi"',
    "back\\slash\\",
    "\\'",
    "semi;colon;",
    "nul\x00byte",
    "ctrl-z\x1a",
    "line\nbreak\r\ncrlf\ttab",
    "emoji 😀🎉 and ünïcödé",
    "-- not a comment",
    "/* not a comment */ */",
    "# not a comment",
    "/*!40101 not versioned */",
    "DELIMITER ;;",
    "'; DROP TABLE wp_users; --",
    'a:2:{s:3:"foo";s:7:"b\'a;r\\n";s:3:"url";s:23:"https://www.wfu.edu/x;y";}',
    "`backtick` and ``double``",
    "",
]


def _connect(database: str | None = None) -> Any:
    return mysql.connector.connect(
        host=HOST,
        port=PORT,
        user=USER,
        password=PASSWORD,
        database=database,
        charset="utf8mb4",
        autocommit=True,
    )


@pytest.fixture
def scratch_dbs() -> Iterator[Callable[[], str]]:
    """Return a factory of fresh, uniquely named databases; all are dropped after the test."""
    if shutil.which("mariadb-dump") is None:
        pytest.fail("mariadb-dump is not on PATH; install mariadb-client")
    try:
        admin = _connect()
    except mysql.connector.Error as exc:
        pytest.fail(f"MariaDB at {HOST}:{PORT} is not reachable ({exc}); start it or set WFUWP_TEST_MYSQL_*")
    made: list[str] = []

    def make() -> str:
        name = f"wfuwp_test_{uuid.uuid4().hex[:12]}"
        admin.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        made.append(name)
        return name

    try:
        yield make
    finally:
        cur = admin.cursor()
        for name in made:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def _fill(db: str) -> list[str]:
    cnx = _connect(db)
    cur = cnx.cursor()
    cur.execute(
        "CREATE TABLE `wp_9_posts` (`ID` bigint unsigned NOT NULL AUTO_INCREMENT, `s` longtext, "
        "`b` longblob, `d` double, `n` int DEFAULT NULL, PRIMARY KEY (`ID`)) "
        "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    )
    cur.execute(
        "CREATE TABLE `we``ird;name` (`id` int NOT NULL PRIMARY KEY, `se;mi` varchar(50), "
        "`p` bigint unsigned, CONSTRAINT `fk;x` FOREIGN KEY (`p`) REFERENCES `wp_9_posts` (`ID`)) "
        "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    )
    rows: list[tuple[Any, ...]] = []
    for i, s in enumerate(TRICKY):
        rows.append((s, s.encode("utf-8") + bytes(range(256)), i / 7, None if i % 3 else i))
    rows.append(("x" * 1_500_000, os.urandom(300_000), -1.5e-300, -(2**31)))  # longer than one INSERT
    for i in range(4000):  # enough rows for several extended INSERT statements
        rows.append((f"row {i} ';\\ 😀", bytes([i % 256]) * (i % 500), float(i), i))
    rows.append((None, None, None, None))
    # Prepared statements send values in binary: mysql.connector's text-mode escaping is not charset-aware
    # and, with random bytes in a utf8mb4 session, now and then produced SQL the server misread.
    prepared = cnx.cursor(prepared=True)
    for row in rows:
        prepared.execute("INSERT INTO `wp_9_posts` (`s`, `b`, `d`, `n`) VALUES (?, ?, ?, ?)", row)
    for i in range(50):
        prepared.execute(
            "INSERT INTO `we``ird;name` VALUES (?, ?, ?)", (i, TRICKY[i % len(TRICKY)][:50], i + 1)
        )
    cnx.close()
    return ["wp_9_posts", "we`ird;name"]


def _checksums(db: str, tables: list[str]) -> list[tuple[int, int]]:
    cnx = _connect(db)
    cur = cnx.cursor()
    out = []
    for t in tables:
        quoted = "`" + t.replace("`", "``") + "`"
        cur.execute(f"CHECKSUM TABLE {quoted} EXTENDED")
        checksum = cur.fetchone()[1]
        cur.execute(f"SELECT COUNT(*) FROM {quoted}")
        out.append((checksum, cur.fetchone()[0]))
    cnx.close()
    return out


@pytest.mark.parametrize(
    "options",
    [
        [],  # the defaults: extended inserts, DROP/CREATE, LOCK TABLES, DISABLE KEYS, versioned comments
        ["--hex-blob", "--complete-insert", "--net-buffer-length=16384"],
        ["--skip-extended-insert", "--skip-add-locks", "--compact"],
    ],
    ids=["defaults", "hex-blob-complete-insert", "one-row-per-insert"],
)
def test_real_dump_replays_to_identical_tables(scratch_dbs: Callable[[], str], options: list[str]) -> None:
    source, target = scratch_dbs(), scratch_dbs()
    tables = _fill(source)
    dump = subprocess.run(
        [
            "mariadb-dump",
            f"--host={HOST}",
            f"--port={PORT}",
            f"--user={USER}",
            *([f"--password={PASSWORD}"] if PASSWORD else []),
            "--single-transaction",
            *options,
            source,
        ],
        check=True,
        capture_output=True,
    ).stdout
    # The escapes under test really occur (with --hex-blob, blobs are 0x... instead).
    assert (b"\\Z" in dump and b"\\0" in dump) or "--hex-blob" in options

    # Import under other names (as a staging import would), then compare with the originals.
    staged = {t: f"stage_{t}" for t in tables}
    cnx = _connect(target)
    # --compact leaves out the dump's own SET FOREIGN_KEY_CHECKS=0, and tables come in name order.
    cnx.cmd_query(b"SET FOREIGN_KEY_CHECKS=0")
    seen = set()
    for stmt in iter_statements(io.BytesIO(dump), chunk_size=64 * 1024, require_terminator=True):
        checked = check_statement(stmt, staged.__contains__)
        seen.add(checked.kind)
        cnx.cmd_query(checked.with_tables(staged.__getitem__))
    cnx.close()
    assert {"insert", "create_table"} <= seen

    assert _checksums(target, list(staged.values())) == _checksums(source, tables)
