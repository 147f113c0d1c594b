"""Rows loaded with LOAD DATA LOCAL INFILE (through the loader's pipe) arrive byte for byte as INSERTs
bring them, on a real MariaDB; a target that refuses LOAD DATA gets INSERTs and the report says so."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import wfuwp
from devtools.sandbox import MariaDBServer
from tests.smallsite import PAIRS, build_site, db_of, target_network
from wfuwp.mysql.connection import Database, prepare_copy_session
from wfuwp.mysql.loader import Loader
from wfuwp.mysql.sql import insert_prefix
from wfuwp.replace import Replacer, Rule

COLUMNS = ["id", "txt", "lat", "bin", "blb", "num", "dt", "en", "js"]
KINDS = b"NTTXXNQQT"
CREATE = """CREATE TABLE {name} (
  id INT NOT NULL PRIMARY KEY,
  txt LONGTEXT,
  lat VARCHAR(200) CHARACTER SET latin1,
  bin VARBINARY(64),
  blb LONGBLOB,
  num DECIMAL(12,4),
  dt DATETIME,
  en ENUM('a','b\\tc',''),
  js LONGTEXT
) DEFAULT CHARSET=utf8mb4"""

# Every kind of value a LOAD DATA file can get wrong: NULL against the texts 'NULL', 'N' and '\N';
# tabs, newlines, CRs, backslashes and NUL inside values; latin1 bytes; binary with every byte; empty
# strings; a zero date; a row far larger than the pipe's buffer.
ROWS: list[tuple[bytes | None, ...]] = [
    (b"1", b"plain https://www.example.edu/x", b"caf\xe9", b"\x00\x01\t\n\\N", bytes(range(256)), b"1.5000",
     b"2024-01-02 03:04:05", b"a", b'{"u":"https:\\/\\/www.example.edu\\/"}'),
    (b"2", None, None, None, None, None, None, None, None),
    (b"3", b"NULL", b"N", b"", b"", b"-0.0001", b"0000-00-00 00:00:00", b"b\tc", b"\\N"),
    (b"4", b"tab\there\nnew\r\nline\\back\\\\slash\x00nul\x1a'\"", b"\\", b"\\", b"\t", b"0", None, b"",
     b"\\\\N"),
    (b"5", b'a:1:{s:3:"url";s:23:"https://www.example.edu";}', b"\xff\xfe", b"\n", b"\r", b"2", None, None,
     b"\t\n"),
    (b"6", b"x" * (3 << 20) + b"www.example.edu\t", b"y" * 200, b"z" * 64, bytes(range(256)) * 8000, b"3",
     None, b"a", b"end\\"),
]  # fmt: skip


def _table(conn: object, name: str) -> list[tuple[object, ...]]:
    cur = conn.cursor(raw=True)  # type: ignore[attr-defined]
    cur.execute(f"SELECT {', '.join(COLUMNS)} FROM {name} ORDER BY id")
    return list(cur.fetchall())


@pytest.mark.parametrize("connections", [1, 2])
def test_load_data_rows_match_inserted_rows_byte_for_byte(
    mariadb: MariaDBServer, make_database: Callable[[MariaDBServer], str], connections: int
) -> None:
    database = make_database(mariadb)
    db = Database.from_dsn(mariadb.dsn(database))
    replacer = Replacer([Rule(b"www.example.edu", b"pprd.example.edu")])
    conn = db.connect()
    try:
        prepare_copy_session(conn, reading=False)
        for name in ("by_insert", "by_load"):
            conn.cmd_query(CREATE.format(name=name).encode())
        # Small chunks: several LOAD DATA pieces stream into one statement, the big row alone.
        chunks, _o, _c, checksum, loads = replacer.render_rows_and_load(ROWS, KINDS, max_chunk=300)
        assert len(loads) == len(chunks) > 2
        with Loader(db, connections, load_data=True) as loader:
            assert loader.load_refused is None
            statement = loader.load_statement("by_load", COLUMNS)
            for chunk, load in zip(chunks, loads, strict=True):
                loader.send(insert_prefix("by_insert", COLUMNS) + chunk)
                loader.send_load(statement, load, b"SELECT 1 FROM no_such_table")
            loader.flush()
            assert loader.load_refused is None
        inserted = _table(conn, "by_insert")
        assert len(inserted) == len(ROWS)
        assert _table(conn, "by_load") == inserted
        expected = [tuple(replacer.replace(v) if v is not None and k == ord("T") else v
                          for v, k in zip(row, KINDS, strict=True)) for row in ROWS]  # fmt: skip
        # The latin1 and binary columns hold the bytes sent (padding aside), NULLs are NULL.
        assert [r[0:4] for r in _table(conn, "by_load")] == [r[0:4] for r in expected]
        assert [r[4] for r in _table(conn, "by_load")] == [r[4] for r in expected]
        assert [r[8] for r in _table(conn, "by_load")] == [r[8] for r in expected]
        del checksum
    finally:
        conn.close()


def test_target_refusing_load_data_gets_inserts_and_the_report_says_so(
    private_mariadb: MariaDBServer, make_database: Callable[[MariaDBServer], str]
) -> None:
    conn = private_mariadb.connect()
    conn.cursor().execute("SET GLOBAL local_infile = 0")
    conn.close()
    source, target = make_database(private_mariadb), make_database(private_mariadb)
    build_site(private_mariadb, source)
    target_network(private_mariadb, target)
    report = wfuwp.migrate_site(
        43,
        source=db_of(private_mariadb, source, "prod"),
        target=db_of(private_mariadb, target, "pprd"),
        replacements=PAIRS,
    )
    assert report.rows > 0
    conn = private_mariadb.connect(database=target)
    try:
        cur = conn.cursor()
        cur.execute("SELECT option_value FROM wp_43_options WHERE option_name = 'siteurl'")
        assert cur.fetchall() == [("https://pprd.example.edu/bio",)]
    finally:
        conn.close()
    assert any("not LOAD DATA LOCAL" in note and "local_infile off" in note for note in report.skipped)


def _show_create(server: MariaDBServer, database: str, table: str) -> str:
    conn = server.connect(database=database)
    try:
        cur = conn.cursor()
        cur.execute(f"SHOW CREATE TABLE `{table}`")
        text = str(cur.fetchall()[0][1])
    finally:
        conn.close()
    return text.split(") ENGINE")[0]


def test_small_rows_go_by_load_data_and_big_rows_bit_and_spatial_by_insert(
    mariadb: MariaDBServer,
    make_database: Callable[[MariaDBServer], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """LOAD DATA for tables of small rows (each with its indexes and foreign keys as the source has
    them), INSERTs for rows past LOAD_DATA_MAX_ROW_BYTES and for BIT columns; every value arrives."""
    import logging

    source, target = make_database(mariadb), make_database(mariadb)
    build_site(mariadb, source, with_430=False)
    target_network(mariadb, target)
    conn = mariadb.connect(database=source)
    try:
        cur = conn.cursor()
        for statement in (
            "CREATE TABLE wp_43_postmeta (meta_id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,"
            " post_id BIGINT UNSIGNED NOT NULL, meta_key VARCHAR(255), meta_value LONGTEXT,"
            " UNIQUE KEY one (post_id, meta_key), KEY post_id (post_id), KEY meta_key (meta_key(191)))",
            "INSERT INTO wp_43_postmeta (post_id, meta_key, meta_value) SELECT seq % 50, CONCAT('k', seq),"
            " CONCAT('https://www.example.edu/', seq) FROM seq_1_to_3000",
            "CREATE TABLE wp_43_children (id INT PRIMARY KEY, meta BIGINT UNSIGNED, KEY meta (meta),"
            " CONSTRAINT child_meta FOREIGN KEY (meta) REFERENCES wp_43_postmeta (meta_id))",
            "INSERT INTO wp_43_children SELECT seq, seq FROM seq_1_to_20",
            "CREATE TABLE wp_43_big (id INT PRIMARY KEY, body MEDIUMTEXT)",
            "INSERT INTO wp_43_big SELECT seq, CONCAT(REPEAT('x\t\\\n', 700), 'https://www.example.edu/')"
            " FROM seq_1_to_40",
            "ANALYZE TABLE wp_43_postmeta, wp_43_children",
        ):
            cur.execute(statement)
            if cur.with_rows:
                cur.fetchall()
    finally:
        conn.close()
    caplog.set_level(logging.INFO, logger="wfuwp")
    wfuwp.migrate_site(43, source=db_of(mariadb, source, "prod"), target=db_of(mariadb, target, "pprd"),
                       replacements=PAIRS)  # fmt: skip
    ends = {
        getattr(r, "table", None): r.details  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "event", None) == "table-end"
    }
    assert ends["wp_43_postmeta"]["load_data"] is True
    assert ends["wp_43_children"]["load_data"] is True
    assert ends["wp_43_shapes"]["load_data"] is False  # a BIT column: INSERTs
    assert ends["wp_43_big"]["load_data"] is False  # 3 KB rows: INSERTs are faster
    for table in ("wp_43_postmeta", "wp_43_big"):
        assert _checksum(mariadb, target, table) == _checksum(mariadb, source, table, replaced=True)
    for table in ("wp_43_postmeta", "wp_43_children"):
        assert _show_create(mariadb, target, table) == _show_create(mariadb, source, table)


def _checksum(server: MariaDBServer, database: str, table: str, *, replaced: bool = False) -> object:
    """A digest of the whole table; `replaced`: of its values with the source host renamed as PAIRS do."""
    conn = server.connect(database=database)
    try:
        cur = conn.cursor()
        cur.execute(f"SELECT * FROM `{table}` ORDER BY 1")
        rows = [
            tuple(
                v.replace("https://www.example.edu", "https://pprd.example.edu")
                if replaced and isinstance(v, str)
                else v
                for v in row
            )
            for row in cur.fetchall()
        ]
    finally:
        conn.close()
    return rows
