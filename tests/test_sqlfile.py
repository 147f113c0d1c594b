"""The SQL dump reader: splitting (hypothesis + edge cases), opening, and the import policy."""

from __future__ import annotations

import gzip
import io
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wfuwp.errors import SqlFileError
from wfuwp.mysql.sqlfile import Statement, check_statement, iter_statements
from wfuwp.ops.restore import open_sql
from wfuwp.storage.objects import S3Options

if TYPE_CHECKING:
    from devtools.s3server import S3Server


WS = b" \t\r\n\f\v"
# More examples for a deeper run: WFUWP_HYPOTHESIS_EXAMPLES=5000 pytest tests/test_sqlfile.py
EXAMPLES = int(os.environ.get("WFUWP_HYPOTHESIS_EXAMPLES", "300"))


class Trickle(io.RawIOBase):
    """A stream that returns reads of the given sizes in turn (short reads, like a pipe or socket)."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self._data = data
        self._pos = 0
        self._sizes = sizes or [len(data) or 1]
        self._i = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        size = self._sizes[self._i % len(self._sizes)]
        self._i += 1
        if n >= 0:
            size = min(size, n)
        out = self._data[self._pos : self._pos + size]
        self._pos += len(out)
        return out


def split(data: bytes, **kwargs: Any) -> list[bytes]:
    return list(iter_statements(io.BytesIO(data), **kwargs))


# --- hypothesis: generated statements survive join + split, whatever the read sizes


def _escape_backslash(raw: bytes, quote: bytes) -> bytes:
    return raw.replace(b"\\", b"\\\\").replace(quote, b"\\" + quote)


def _escape_double(raw: bytes, quote: bytes) -> bytes:
    return raw.replace(b"\\", b"\\\\").replace(quote, quote + quote)


@st.composite
def string_literal(draw: st.DrawFn) -> bytes:
    raw = draw(
        st.binary(max_size=40) | st.sampled_from([b"';", b"\\", b"*/", b"-- ", b"#", b"/*", b"`", b'"'])
    )
    quote = draw(st.sampled_from([b"'", b'"']))
    escape = draw(st.sampled_from([_escape_backslash, _escape_double]))
    return quote + escape(raw, quote) + quote


@st.composite
def identifier(draw: st.DrawFn) -> bytes:
    name = draw(st.text(min_size=1, max_size=12)).encode("utf-8")
    return b"`" + name.replace(b"`", b"``") + b"`"


WORD = st.from_regex(rb"\A[A-Za-z_][A-Za-z0-9_]{0,8}\Z").filter(lambda w: w.lower() != b"delimiter")
COMMENT_TEXT = st.binary(max_size=20).map(lambda b: b.replace(b"\n", b" ").replace(b"\r", b" "))
INNER_COMMENT = st.one_of(
    COMMENT_TEXT.map(lambda t: b"/* " + t.replace(b"*/", b"* /") + b" */"),
    COMMENT_TEXT.map(lambda t: b"-- " + t + b"\n"),
    COMMENT_TEXT.map(lambda t: b"#" + t + b"\n"),
)
PLAIN_TOKEN = st.one_of(
    WORD,
    st.integers(-(10**6), 10**6).map(lambda i: str(i).encode()),
    st.sampled_from([b"(", b")", b",", b".", b"=", b"+", b"*", b"<>", b"-", b"/", b"1--2", b"@@x", b"\\"]),
    string_literal(),
    identifier(),
)


@st.composite
def statement(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        # A versioned comment as the whole statement; ';' inside it does not end it.
        inner = draw(st.lists(st.one_of(PLAIN_TOKEN, st.just(b";")), max_size=6))
        return b"/*!40101 SET " + b" ".join(inner) + b" */"
    tokens = [draw(WORD)]
    tokens += draw(st.lists(st.one_of(PLAIN_TOKEN, INNER_COMMENT), max_size=12))
    seps = draw(
        st.lists(st.sampled_from([b" ", b"\n", b"\t", b"\r\n"]), min_size=len(tokens), max_size=len(tokens))
    )
    out = b""
    for tok, sep in zip(tokens, seps, strict=True):
        out += tok + sep
    return out


GAP = st.lists(
    st.one_of(
        st.sampled_from([b" ", b"\n", b"\r\n", b"\t", b";", b"/*M!999999\\- enable the sandbox mode */"]),
        INNER_COMMENT,
    ),
    max_size=4,
).map(lambda parts: b"".join(parts) + b"\n")


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    stmts=st.lists(statement(), max_size=8),
    gaps=st.lists(GAP, min_size=9, max_size=9),
    terminate_last=st.booleans(),
    chunk_size=st.integers(1, 64),
    read_sizes=st.lists(st.integers(1, 50), max_size=5),
)
def test_split_recovers_generated_statements(
    stmts: list[bytes], gaps: list[bytes], terminate_last: bool, chunk_size: int, read_sizes: list[int]
) -> None:
    data = gaps[0]
    for i, stmt in enumerate(stmts):
        last = i == len(stmts) - 1
        if last and not terminate_last:
            data += stmt  # no ';' and nothing after it: the statement runs to the end of the file
        else:
            data += stmt + b";" + gaps[i + 1]
    expected = [s.rstrip(WS) for s in stmts]
    got = list(iter_statements(Trickle(data, read_sizes), chunk_size=chunk_size))  # type: ignore[arg-type]
    assert got == expected


# --- edge cases, by hand


def test_comments_and_quotes() -> None:
    data = (
        b"-- header\n# another\n/* block ; */\n"
        b"INSERT INTO t VALUES ('a;b', \"c;d\", 'it''s', 'x\\'y;', `we;ird``n`);\n"
        b"SELECT 1 -- trailing; comment\n + 2;\n"
        b"SELECT 3--4;\n"  # '--' not followed by a space is two minus signs
        b"SELECT '\\\\';SELECT 5"  # an escaped backslash ends the string; last statement has no ';'
    )
    assert split(data) == [
        b"INSERT INTO t VALUES ('a;b', \"c;d\", 'it''s', 'x\\'y;', `we;ird``n`)",
        b"SELECT 1 -- trailing; comment\n + 2",
        b"SELECT 3--4",
        b"SELECT '\\\\'",
        b"SELECT 5",
    ]


def test_versioned_comments_are_statements_and_client_commands_are_dropped() -> None:
    data = (
        b"/*M!999999\\- enable the sandbox mode */ \n"
        b"/*!40101 SET NAMES utf8mb4 */;\n"
        b"/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY, NOTE_VERBOSITY=0 */;\n"
        b"CREATE TABLE t (a int) /*!50100 PARTITION BY HASH (a) */;\n"
        b"/*!40101 SET x='*/;' */;\n"
    )
    assert split(data) == [
        b"/*!40101 SET NAMES utf8mb4 */",
        b"/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY, NOTE_VERBOSITY=0 */",
        b"CREATE TABLE t (a int) /*!50100 PARTITION BY HASH (a) */",
        b"/*!40101 SET x='*/;' */",
    ]


def test_empty_and_comment_only_input() -> None:
    assert split(b"") == []
    assert split(b"  \n-- nothing\n;;\n/* x */") == []


def test_long_statement_across_many_chunks() -> None:
    stmt = b"INSERT INTO t VALUES " + b",".join(
        b"(%d,'%s\\';')" % (i, b"x" * (i % 50)) for i in range(20_000)
    )
    assert split(stmt + b";\nSELECT 1;", chunk_size=4096) == [stmt, b"SELECT 1"]


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"INSERT INTO t VALUES ('abc", "inside a quoted string that starts at byte 22"),
        (b"SELECT 1; SELECT `x", "inside a quoted string that starts at byte 17"),
        (b"SELECT 1 /* never closed", "inside a comment that starts at byte 9"),
        (b"/*!40101 SET x=1", "inside a versioned comment"),
        (b"INSERT INTO t VALUES ('a\\", "inside a quoted string"),
    ],
)
def test_truncated_input_raises_with_the_offset(data: bytes, where: str) -> None:
    with pytest.raises(SqlFileError, match=re.escape(where)) as info:
        split(data, chunk_size=3)
    assert f"truncated at byte {len(data)}" in str(info.value)
    assert "download it again" in str(info.value)


def test_require_terminator_catches_a_cut_between_rows() -> None:
    data = b"INSERT INTO t VALUES (1),(2)"
    assert split(data) == [data]
    with pytest.raises(SqlFileError, match="no terminating"):
        split(data, require_terminator=True)


def test_delimiter_is_obeyed_as_the_client_obeys_it() -> None:
    data = (
        b"SELECT 1;\nDELIMITER ;;\nCREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW BEGIN SET @a=1; END ;;\n"
        b"/*!50003 CREATE*/ /*!50003 TRIGGER y AFTER INSERT ON t FOR EACH ROW BEGIN SET @b=';;'; END */;;\n"
        b"DELIMITER ;\nSELECT 2;\ndelimiter $$\nSELECT 'a$$b'$$ SELECT 3$$\nDELIMITER //\nSELECT 4/2//\n"
    )
    expected = [
        b"SELECT 1",
        b"CREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW BEGIN SET @a=1; END",
        b"/*!50003 CREATE*/ /*!50003 TRIGGER y AFTER INSERT ON t FOR EACH ROW BEGIN SET @b=';;'; END */",
        b"SELECT 2",
        b"SELECT 'a$$b'",
        b"SELECT 3",
        b"SELECT 4/2",
    ]
    assert split(data) == expected
    for size in (1, 2, 3, 7):  # every cut of the buffer: a delimiter split across reads
        assert list(iter_statements(io.BytesIO(data), chunk_size=size)) == expected


def test_an_unusable_delimiter_is_refused() -> None:
    with pytest.raises(SqlFileError, match=r"dump\.sql has an unusable DELIMITER at byte 10"):
        list(iter_statements(io.BytesIO(b"SELECT 1;\nDELIMITER '\nSELECT 2'\n"), name="dump.sql"))


# --- open_sql


def test_open_sql_by_extension(tmp_path: Path) -> None:
    body = b"SET NAMES utf8mb4;\nINSERT INTO t VALUES ('\\0');\n" * 1000
    (tmp_path / "a.sql").write_bytes(body)
    (tmp_path / "a.sql.gz").write_bytes(gzip.compress(body))
    (tmp_path / "a.sql.zst").write_bytes(zstandard.ZstdCompressor().compress(body))
    for name in ("a.sql", "a.sql.gz", "a.sql.zst"):
        with open_sql(tmp_path / name) as f:
            assert f.read() == body
            assert f.name == str(tmp_path / name)
    with pytest.raises(SqlFileError, match="must end in"):
        open_sql(tmp_path / "a.txt")
    with pytest.raises(SqlFileError, match=r"no object .*missing\.sql; check the path"):
        open_sql(tmp_path / "missing.sql")


def test_open_sql_detects_cut_compressed_files(tmp_path: Path) -> None:
    body = bytes(range(256)) * 4000
    (tmp_path / "cut.sql.gz").write_bytes(gzip.compress(body)[:-20])
    (tmp_path / "cut.sql.zst").write_bytes(zstandard.ZstdCompressor().compress(body)[:-20])
    for name in ("cut.sql.gz", "cut.sql.zst"):
        with (
            pytest.raises(SqlFileError, match=r"truncated.*download it again"),
            open_sql(tmp_path / name) as f,
        ):
            f.read()


def test_open_sql_from_s3(s3_server: S3Server, s3_client: Any, s3_bucket: str) -> None:
    body = b"SELECT 1;\n" * 10
    s3_client.put_object(
        Bucket=s3_bucket, Key="dumps/x?y.sql.zst", Body=zstandard.ZstdCompressor().compress(body)
    )
    with open_sql(
        f"s3://{s3_bucket}/dumps/x?y.sql.zst", s3=S3Options(endpoint_url=s3_server.endpoint_url)
    ) as f:
        assert split(f.read()) == [b"SELECT 1"] * 10
    with pytest.raises(SqlFileError, match="no object"):
        open_sql(f"s3://{s3_bucket}/dumps/missing.sql", s3=S3Options(client=s3_client))


# --- the import policy


def allow_all(name: str) -> bool:
    return True


@pytest.mark.parametrize(
    ("sql", "kind", "tables"),
    [
        (b"SET NAMES utf8mb4", "set", []),
        (b"SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO'", "set", []),
        (b"/*!40101 SET character_set_client = @saved_cs_client */", "set", []),
        (b"DROP TABLE IF EXISTS `wp_2_posts`", "drop_table", ["wp_2_posts"]),
        (
            b"CREATE TABLE `a``b` (\n `id` int NOT NULL\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            "create_table",
            ["a`b"],
        ),
        (
            b"CREATE TABLE `log` (`p` int, CONSTRAINT `fk` FOREIGN KEY (`p`) REFERENCES `perm` (`id`))"
            b" ENGINE=InnoDB",
            "create_table",
            ["log", "perm"],
        ),
        (
            b"CREATE TABLE t (a int) /*!50100 PARTITION BY RANGE (a) (PARTITION p0 VALUES LESS THAN (10)) */",
            "create_table",
            ["t"],
        ),
        (b"LOCK TABLES `wp_2_posts` WRITE", "lock_tables", ["wp_2_posts"]),
        (b"LOCK TABLES a READ LOCAL, b AS c WRITE", "lock_tables", ["a", "b"]),
        (b"UNLOCK TABLES", "unlock_tables", []),
        (b"/*!40000 ALTER TABLE `wp_2_posts` DISABLE KEYS */", "alter_keys", ["wp_2_posts"]),
        (
            b"INSERT INTO `t` VALUES (1,'a;b',NULL,-1.5e-3,0x00ff,_binary 'x\\0',X'ab',b'01',TRUE),"
            b"(2,'',\"q\",3,4,5,6,7,8)",
            "insert",
            ["t"],
        ),
        (b"INSERT IGNORE INTO t (`a`, b) VALUES ('x' 'y'), ()", "insert", ["t"]),
        (b"insert into t value (1)", "insert", ["t"]),
    ],
)
def test_policy_accepts_what_dumps_contain(sql: bytes, kind: str, tables: list[str]) -> None:
    result = check_statement(sql, allow_all)
    assert result.kind == kind
    assert [t.name for t in result.tables] == tables


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        (b"SELECT * FROM wp_users", "SELECT statement"),
        (b"UPDATE wp_2_options SET option_value='x'", "UPDATE statement"),
        (b"DELETE FROM wp_2_posts", "DELETE"),
        (b"DROP TABLE wp_2_posts", "IF"),
        (b"DROP DATABASE wordpress", "TABLE"),
        (b"GRANT ALL ON *.* TO x", "GRANT"),
        (b"USE wordpress", "USE"),
        (b"CREATE DATABASE x", "TABLE"),
        (b"CREATE TABLE t AS SELECT * FROM wp_users", "'('"),
        (b"CREATE TABLE t (a int) SELECT user_pass FROM wp_users", "SELECT"),
        (b"CREATE TABLE t (a int) /*!50000 SELECT 1 */", "SELECT"),
        (b"CREATE TABLE t LIKE wp_users", "'('"),
        (b"CREATE TABLE t (a int) ENGINE=CONNECT TABLE_TYPE=CSV FILE_NAME='/etc/passwd'", "engine"),
        (b"CREATE TABLE t (a int) DATA DIRECTORY='/tmp'", "DIRECTORY"),
        (b"CREATE OR REPLACE TABLE t (a int)", "TABLE"),
        (b"INSERT INTO t SELECT * FROM wp_users", "VALUES"),
        (b"INSERT INTO t VALUES ((SELECT user_pass FROM wp_users LIMIT 1))", "not a literal"),
        (b"INSERT INTO t VALUES (CONCAT('a','b'))", "not a literal"),
        (b"INSERT INTO t VALUES (@x)", "not a literal"),
        (b"INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a=(SELECT 1)", "not a literal"),
        (b"INSERT INTO t SET a=1", "VALUES"),
        (b"INSERT INTO otherdb.t VALUES (1)", "another database"),
        (b"INSERT INTO `otherdb`.`t` VALUES (1)", "another database"),
        (b"REPLACE INTO t VALUES (1)", "REPLACE"),
        (b"SET GLOBAL general_log=1", "GLOBAL"),
        (b"SET @@GLOBAL.x=1", "GLOBAL"),
        (b"SET PASSWORD FOR root = PASSWORD('x')", "PASSWORD"),
        (b"SET STATEMENT max_statement_time=1 FOR DELETE FROM t", "STATEMENT"),
        (b"SET @a = (SELECT user_pass FROM wp_users LIMIT 1)", "SELECT"),
        (b"SET @a = SLEEP(10)", "function"),
        (b"/*!40101 SET NAMES utf8 */ DELETE FROM t", "mixes"),
        (b"/*!50003 CREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW CALL p() */", "uses CALL"),
        (b"CREATE TRIGGER x AFTER INSERT ON t FOR EACH ROW BEGIN PREPARE s FROM @q; END", "uses PREPARE"),
        (b"CREATE TRIGGER x AFTER INSERT ON t FOR EACH ROW FOLLOWS y SET @a=1", "FOLLOWS"),
        (b"CREATE TRIGGER x AFTER INSERT ON otherdb.t FOR EACH ROW SET @a=1", "another database"),
        (b"CREATE TRIGGER x AFTER INSERT ON t FOR EACH ROW SELECT 1 INTO OUTFILE '/tmp/x'", "OUTFILE"),
        (b"CREATE TRIGGER x ON t FOR EACH ROW SET @a=1", "BEFORE or AFTER"),
        (b"ALTER TABLE t ADD COLUMN x int", "DISABLE"),
        (b"LOCK TABLES t WRITE, otherdb.u READ", "another database"),
    ],
)
def test_policy_rejects_everything_else(sql: bytes, why: str) -> None:
    with pytest.raises(SqlFileError, match=re.escape(why)) as info:
        check_statement(sql, allow_all)
    assert "\n" not in str(info.value)


def test_policy_checks_every_table_against_the_allow_list() -> None:
    site = {"wp_2_posts", "wp_2_log", "wp_2_perm"}.__contains__
    check_statement(b"INSERT INTO `wp_2_posts` VALUES (1)", site)
    with pytest.raises(SqlFileError, match="'wp_users'"):
        check_statement(b"DROP TABLE IF EXISTS `wp_2_posts`, `wp_users`", site)
    with pytest.raises(SqlFileError, match="'wp_users'"):
        check_statement(b"CREATE TABLE wp_2_log (p int, FOREIGN KEY (p) REFERENCES wp_users (ID))", site)
    with pytest.raises(SqlFileError, match="'wp_430_posts'"):
        check_statement(b"/*!40000 ALTER TABLE `wp_430_posts` DISABLE KEYS */", site)


def test_foreign_key_parents_pass_their_own_allow_list() -> None:
    """A restore loads only its archive's tables, but a child's key may reference another site table."""
    loaded = {"wp_2_log"}.__contains__
    parents = {"wp_2_log", "wp_2_perm"}.__contains__
    create = b"CREATE TABLE wp_2_log (p int, FOREIGN KEY (p) REFERENCES wp_2_perm (ID))"
    with pytest.raises(SqlFileError, match="'wp_2_perm'"):
        check_statement(create, loaded)
    assert [t.name for t in check_statement(create, loaded, parents).tables] == ["wp_2_log", "wp_2_perm"]
    with pytest.raises(SqlFileError, match="'wp_users'"):
        check_statement(create.replace(b"wp_2_perm", b"wp_users"), loaded, parents)
    with pytest.raises(SqlFileError, match="'wp_2_perm'"):  # the file itself writes only its own tables
        check_statement(b"INSERT INTO wp_2_perm VALUES (1)", loaded, parents)
    with pytest.raises(SqlFileError, match="'wp_2_perm'"):
        check_statement(
            b"CREATE TABLE wp_2_perm (p int, FOREIGN KEY (p) REFERENCES wp_2_log (p))", loaded, parents
        )


def test_a_trigger_as_mariadb_dump_writes_it_becomes_one_plain_statement() -> None:
    dumped = (
        b"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 trigger `wp_2_ai` after insert"
        b" on `wp_2_posts` for each row begin insert into wp_2_log values (new.id); set @a = ';'; end \n*/"
    )
    stmt = check_statement(dumped, {"wp_2_posts"}.__contains__)
    assert stmt.kind == "create_trigger" and stmt.table == "wp_2_posts"
    assert stmt.trigger is not None and stmt.trigger.name == "wp_2_ai"
    assert {"wp_2_log", "new", "id"} <= set(stmt.body_names)
    # Without the DEFINER (the importing account's), the staging names in place, the body untouched.
    assert stmt.with_tables(lambda n: "stage_" + n, trigger=lambda n: "staged_" + n) == (
        b"CREATE TRIGGER `staged_wp_2_ai` AFTER INSERT ON `stage_wp_2_posts` FOR EACH ROW begin insert into"
        b" wp_2_log values (new.id); set @a = ';'; end"
    )
    # The ON table is checked like any table a statement names.
    with pytest.raises(SqlFileError, match="'wp_2_posts'"):
        check_statement(dumped, {"wp_2_log"}.__contains__)


def test_with_tables_redirects_every_table_identifier() -> None:
    stmt = check_statement(
        b"CREATE TABLE `wp_2_log` (`p` int, FOREIGN KEY (`p`) REFERENCES wp_2_perm (`id`)) ENGINE=InnoDB",
        allow_all,
    )
    assert stmt.with_tables(lambda n: "stage_" + n) == (
        b"CREATE TABLE `stage_wp_2_log` (`p` int, FOREIGN KEY (`p`) REFERENCES `stage_wp_2_perm` (`id`))"
        b" ENGINE=InnoDB"
    )
    versioned = check_statement(b"/*!40000 ALTER TABLE `we``ird` DISABLE KEYS */", allow_all)
    assert versioned.versioned
    assert versioned.with_tables(lambda n: n + "`2") == b"/*!40000 ALTER TABLE `we``ird``2` DISABLE KEYS */"
    assert isinstance(versioned, Statement)


@st.composite
def literal(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["str", "num", "null", "hex", "binary"]))
    if kind == "str":
        return draw(string_literal())
    if kind == "num":
        return str(draw(st.integers() | st.floats(allow_nan=False, allow_infinity=False))).encode()
    if kind == "null":
        return b"NULL"
    if kind == "hex":
        return b"0x" + draw(st.binary(min_size=1, max_size=8)).hex().encode()
    return b"_binary " + draw(string_literal())


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    rows=st.lists(st.lists(literal(), max_size=6), min_size=1, max_size=6),
    space=st.sampled_from([b"", b" ", b"\n"]),
)
def test_policy_accepts_any_rows_of_literals(rows: list[list[bytes]], space: bytes) -> None:
    body = (b"," + space).join(b"(" + b",".join(r) + b")" for r in rows)
    sql = b"INSERT INTO `t` VALUES" + space + body
    assert check_statement(sql, allow_all).table == "t"
    assert split(sql + b";") == [sql]
