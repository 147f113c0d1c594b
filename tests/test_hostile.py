"""Hostile and wrong input through the library API: each fails with the right one-line error, or works.

Every failure asserts the exception type, that its message is one line, and (where there is a target)
that the target's tables are unchanged (CHECKSUM TABLE). Passwords must never show in a message, a
repr, a report or a manifest.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import re
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote as urlquote

import orjson
import pytest

import wfuwp
from devtools.s3server import S3Server
from devtools.sandbox import MariaDBServer, free_port
from tests.dbutil import checksums, fetch, quote, run_sql
from tests.smallsite import PAIRS
from tests.users import Users, users_on
from wfuwp.archive.location import ArchiveLocation
from wfuwp.config.settings import Config
from wfuwp.errors import (
    ArchiveError,
    ConfigError,
    DatabaseError,
    SiteNotFoundError,
    SqlFileError,
    UsageError,
    WfuwpError,
)
from wfuwp.mysql.sqlfile import check_statement, iter_statements
from wfuwp.ops.preflight import preflight

SECRET = "Hostile-p@ss:w%rd/42"  # '@', ':', '%' and '/' also test URL parsing


@pytest.fixture
def site(mariadb: MariaDBServer, make_database: Callable[..., str]) -> tuple[MariaDBServer, str, str]:
    """A source network with site 43 and a target network with an older copy of it, on the shared server."""
    src_db = make_database(mariadb, "wfuwp_src")
    tgt_db = make_database(mariadb, "wfuwp_tgt")
    for database, host in ((src_db, "www.example.edu"), (tgt_db, "pprd.example.edu")):
        run_sql(
            mariadb,
            database,
            "CREATE TABLE wp_blogs (blog_id INT PRIMARY KEY, domain VARCHAR(200), path VARCHAR(100))",
            f"INSERT INTO wp_blogs VALUES (1, '{host}', '/'), (43, '{host}', '/bio/')",
            "CREATE TABLE wp_43_options (option_id INT PRIMARY KEY, option_name VARCHAR(191),"
            " option_value LONGTEXT)",
            f"INSERT INTO wp_43_options VALUES (1, 'siteurl', 'https://{host}/bio'),"
            f" (2, 'home', 'https://{host}/bio')",
        )
    return mariadb, src_db, tgt_db


@pytest.fixture
def users(mariadb: MariaDBServer) -> Iterator[Users]:
    with users_on(mariadb) as made:
        yield made


def db(server: MariaDBServer, database: str, name: str, **kw: Any) -> wfuwp.Database:
    return wfuwp.Database(host=server.host, port=server.port, database=database, name=name, **kw)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text and "\r" not in text, repr(text)
    return text


# -- configuration ------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_real_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WFUWP_NO_KEYRING", "1")
    monkeypatch.delenv("WFUWP_CONFIG", raising=False)


def test_unknown_environment_name(tmp_path: Path) -> None:
    config = Config.load(tmp_path / "config.json")
    config.set("env.prod.host", "db.prod")
    config.set("env.pprd.host", "db.pprd")
    config.save()
    for name in ("production", "", "PROD", "prod; rm -rf /", "../prod", "prod\nX", "prod "):
        with pytest.raises(ConfigError) as info:
            Config.load(tmp_path / "config.json").env(name)
        assert "pprd, prod" in one_line(info.value)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b'{"environments": {"prod": {"password": "' + SECRET.encode() + b'"',  # truncated after the password
        b"\x00\xff\xfe binary garbage",
        b"[1, 2, 3]",
        b'{"environments": {"prod": {"password": "' + SECRET.encode() + b'", "port": "not a port"}}}',
        b'{"environments": {"prod": {"password": 12345678}}}',
        b'{"environments": {"prod": {"host": "http://db/x"}}, "s3": {"sse": "rot13"}}',
        b'{"environments": "prod"}',
        b'{"unexpected": true}',
    ],
)
def test_a_corrupt_config_file_is_one_line_without_the_password(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        Config.load(path)
    message = one_line(info.value)
    assert str(path) in message and SECRET not in message and "12345678" not in message


# -- site ids, replacements --------------------------------------------------------------------------------


BAD_SITE_IDS = ["4x", "", " ", "-1", "0", "1.5", "1e3", "²", "٤٣", "43; DROP TABLE wp_blogs", "9" * 5000,
                None, 1.5, True, 0, -43, 2**64, 10**5000]  # fmt: skip


def _case_id(value: object) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        return "int-of-5001-digits"
    return text if len(text) <= 24 else text[:21] + "..."


@pytest.mark.parametrize("site_id", BAD_SITE_IDS, ids=_case_id)
def test_a_site_id_that_is_not_a_number(site, site_id: object) -> None:
    server, src_db, tgt_db = site
    before = checksums(server, tgt_db)
    source, target = db(server, src_db, "prod"), db(server, tgt_db, "pprd")
    with pytest.raises(UsageError, match=r"^site id must be a whole number") as info:
        wfuwp.migrate_site(site_id, source=source, target=target, replacements=PAIRS)  # type: ignore[arg-type]
    assert len(one_line(info.value)) < 120
    with pytest.raises(UsageError, match=r"^site id must be a whole number"):
        preflight(site_id, source=source, target=target, archive=None)  # type: ignore[arg-type]
    assert checksums(server, tgt_db) == before


def test_a_site_without_tables(site) -> None:
    server, src_db, tgt_db = site
    before = checksums(server, tgt_db)
    source, target = db(server, src_db, "prod"), db(server, tgt_db, "pprd")
    for site_id in (44, 4, "0044", 2**64 - 1):
        with pytest.raises(
            SiteNotFoundError, match=f"^site {int(site_id)} has no tables with prefix 'wp_'"
        ) as info:
            wfuwp.migrate_site(site_id, source=source, target=target, replacements=PAIRS)
        one_line(info.value)
    report = preflight(44, source=source, target=target, archive=None, replacements=PAIRS)
    assert [f.check for f in report.fatal] == ["source.site"]
    assert checksums(server, tgt_db) == before


@pytest.mark.parametrize("pairs", [[("", "x")], [(b"", b"")], [PAIRS[0], ("", "https://evil.example")]])
def test_an_empty_search_string(site, pairs: list[tuple[Any, Any]]) -> None:
    server, src_db, tgt_db = site
    before = checksums(server, tgt_db)
    source, target = db(server, src_db, "prod"), db(server, tgt_db, "pprd")
    with pytest.raises(UsageError, match="empty search string") as info:
        wfuwp.migrate_site(43, source=source, target=target, replacements=pairs)
    one_line(info.value)
    with pytest.raises(UsageError, match="empty search string"):
        preflight(43, source=source, target=target, archive=None, replacements=pairs)
    assert checksums(server, tgt_db) == before


def test_a_replacement_that_contains_its_search_string_is_applied_once(site) -> None:
    server, src_db, tgt_db = site
    value = 'a:1:{s:3:"url";s:21:"https://example.edu/a";}'
    run_sql(
        server,
        src_db,
        "INSERT INTO wp_43_options VALUES (3, 'widget', '" + value + "'),"
        " (4, 'twice', 'example.edu and example.edu'), (5, 'already', 'www.example.edu')",
    )
    wfuwp.migrate_site(
        43, source=db(server, src_db, "prod"), target=db(server, tgt_db, "pprd"),
        replacements=[("example.edu", "www.example.edu")],
    )  # fmt: skip
    got = dict(
        fetch(server, tgt_db, "SELECT option_name, option_value FROM wp_43_options WHERE option_id >= 3")
    )
    assert got[b"widget"] == b'a:1:{s:3:"url";s:25:"https://www.example.edu/a";}'
    assert got[b"twice"] == b"www.example.edu and www.example.edu"
    # One pass over the source value: the replacement's own text is not searched again.
    assert got[b"already"] == b"www.www.example.edu"


# -- connections ------------------------------------------------------------------------------------------


def test_a_wrong_password(site, users: Users) -> None:
    server, src_db, tgt_db = site
    user = users.create(f"GRANT ALL ON `{src_db}`.* TO {{user}}", password=SECRET)
    wrong = db(server, src_db, "prod", user=user, password=SECRET + "x")
    with pytest.raises(DatabaseError) as info:
        wrong.connect()
    message = one_line(info.value)
    assert f"cannot connect to prod {user}@127.0.0.1:{server.port}/{src_db}" in message
    assert message.endswith("check the user and password in the configuration")
    assert info.value.errno == 1045
    before = checksums(server, tgt_db)
    with pytest.raises(DatabaseError) as info:
        wfuwp.migrate_site(43, source=wrong, target=db(server, tgt_db, "pprd"), replacements=PAIRS)
    assert f"{user}@127.0.0.1" in one_line(info.value)
    report = preflight(43, source=wrong, target=db(server, tgt_db, "pprd"), archive=None, replacements=PAIRS)
    assert report.fatal[0].check == "source.connect"
    shown = [
        message, str(info.value), repr(info.value), "".join(traceback.format_exception(info.value)),
        str(report.error()), orjson.dumps(report.to_dict()).decode(), repr(wrong), str(wrong),
    ]  # fmt: skip
    assert not [s for s in shown if SECRET in s or urlquote(SECRET) in s]
    assert checksums(server, tgt_db) == before
    # The right password works (the user exists; only the password was wrong).
    db(server, src_db, "prod", user=user, password=SECRET).connect().close()


def test_an_unreachable_host_fails_fast(site) -> None:
    server, src_db, _ = site
    port = free_port()  # nothing listens there: refused at once
    closed = wfuwp.Database(host="127.0.0.1", port=port, database="wordpress", name="pprd")
    started = time.monotonic()
    with pytest.raises(DatabaseError) as info:
        closed.connect()
    assert time.monotonic() - started < 5
    assert info.value.errno == 2003
    assert one_line(info.value).startswith(f"cannot connect to pprd root@127.0.0.1:{port}/wordpress")
    assert "check the host and port" in str(info.value)
    with pytest.raises(DatabaseError, match=f"127.0.0.1:{port}"):
        wfuwp.migrate_site(43, source=db(server, src_db, "prod"), target=closed, replacements=PAIRS)


def test_a_server_that_never_answers_times_out(site) -> None:
    server, src_db, _ = site
    # Accepts TCP connections (the kernel's backlog) but never sends the server greeting.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        port = silent.getsockname()[1]
        hung = wfuwp.Database.from_dsn(
            f"mysql://root@127.0.0.1:{port}/wordpress?connect_timeout=1", name="pprd"
        )
        started = time.monotonic()
        with pytest.raises(DatabaseError) as info:
            hung.connect()
        assert time.monotonic() - started < 6
        assert one_line(info.value).endswith("(no answer within 1 s)")
        started = time.monotonic()
        report = preflight(
            43,
            source=db(server, src_db, "prod"),
            target=hung,
            archive=None,
            replacements=PAIRS,
            connect_timeout=1,
        )
        assert time.monotonic() - started < 15
        assert report.fatal[0].check == "target.connect" and "no answer within 1 s" in report.fatal[0].fix
    finally:
        silent.close()
    with pytest.raises(UsageError, match="connect_timeout"):
        wfuwp.Database.from_dsn("mysql://root@127.0.0.1/wordpress?connect_timeout=-1")


def test_a_bucket_that_does_not_exist(site, s3_server: S3Server, tmp_path: Path) -> None:
    server, src_db, tgt_db = site
    before = checksums(server, tgt_db)
    location = ArchiveLocation.parse(
        "s3://no-such-bucket-wfuwp/archives", endpoint_url=s3_server.endpoint_url
    )
    with pytest.raises(ArchiveError, match="no-such-bucket-wfuwp") as info:
        wfuwp.migrate_site(
            43, source=db(server, src_db, "prod"), target=db(server, tgt_db, "pprd"), replacements=PAIRS,
            archive=location,
        )  # fmt: skip
    one_line(info.value)
    assert checksums(server, tgt_db) == before
    report = preflight(
        43, source=db(server, src_db, "prod"), target=db(server, tgt_db, "pprd"), archive=location
    )
    assert [f.check for f in report.fatal] == ["archive"]


# -- SQL files ---------------------------------------------------------------------------------------------

SITE_TABLES = re.compile(r"wp_43_\w+").fullmatch


@pytest.mark.parametrize(
    "sql",
    [
        b"DROP DATABASE wordpress",
        b"/*!50000 DROP DATABASE wordpress */",
        b"DROP TABLE IF EXISTS wp_users",
        b"INSERT INTO wp_users (user_login, user_pass) VALUES ('evil', 'x')",
        b"INSERT INTO `wordpress`.`wp_43_posts` VALUES (1)",
        b"INSERT INTO wp_43_posts VALUES ((SELECT user_pass FROM wp_users LIMIT 1))",
        b"INSERT INTO wp_43_posts SELECT * FROM wp_users",
        b"INSERT INTO wp_43_posts VALUES (1)/*! ; DROP TABLE wp_users */",
        b"INSERT INTO wp_43_posts VALUES (LOAD_FILE('/etc/passwd'))",
        b"SELECT * FROM wp_users INTO OUTFILE '/tmp/users.txt'",
        b"SELECT '<?php system($_GET[c]); ?>' INTO DUMPFILE '/var/www/html/x.php'",
        b"LOAD DATA INFILE '/etc/passwd' INTO TABLE wp_43_posts",
        b"CREATE TABLE wp_43_copy (id INT) SELECT * FROM wp_users",
        b"CREATE TABLE wp_43_copy LIKE wp_users",
        b"CREATE TABLE wp_43_fed (id INT) ENGINE=FEDERATED CONNECTION='mysql://u:p@evil/db/t'",
        b"CREATE TABLE wp_43_x (id INT) DATA DIRECTORY='/tmp'",
        b"SET GLOBAL general_log_file = '/var/www/html/x.php'",
        b"SET @x = (SELECT user_pass FROM wp_users LIMIT 1)",
        b"SET PASSWORD FOR root = PASSWORD('x')",
        b"GRANT ALL ON *.* TO 'evil'@'%'",
        b"RENAME TABLE wp_43_posts TO wp_users",
        b"ALTER TABLE wp_43_posts RENAME TO wp_users",
        b"LOCK TABLES wp_users WRITE",
        b"UPDATE wp_users SET user_pass = 'x'",
        b"DELETE FROM wp_43_posts",
        b"CALL drop_everything()",
        b"PREPARE s FROM @q",
        b"DO SLEEP(3600)",
        b"HANDLER wp_users OPEN",
        b"SHUTDOWN",
        # A trigger is code that runs on every later write: it may touch the site's tables only.
        b"CREATE TRIGGER t BEFORE INSERT ON wp_users FOR EACH ROW SET @x = 1",
        b"/*!50003 CREATE*/ /*!50003 TRIGGER t AFTER INSERT ON wp_43_posts FOR EACH ROW CALL p() */",
        b"CREATE TRIGGER t AFTER INSERT ON wp_43_posts FOR EACH ROW BEGIN PREPARE s FROM @q; EXECUTE s; END",
        b"CREATE TRIGGER t AFTER INSERT ON wp_43_posts FOR EACH ROW SELECT 1 INTO DUMPFILE '/tmp/x'",
        b"CREATE TRIGGER t AFTER INSERT ON wp_43_posts FOR EACH ROW DROP TABLE wp_users",
    ],
)
def test_a_malicious_statement_is_rejected(sql: bytes) -> None:
    with pytest.raises(SqlFileError, match=r"^statement ") as info:
        check_statement(sql, SITE_TABLES)
    one_line(info.value)


@pytest.mark.parametrize(
    ("dump", "message"),
    [
        (b"INSERT INTO wp_43_posts VALUES (1, 'abc", "truncated at byte"),
        (b"INSERT INTO wp_43_posts VALUES (1);\n/* a comment that never ends", "truncated at byte"),
        (b"INSERT INTO `wp_43_posts VALUES (1);", "truncated at byte"),
        (b"DELIMITER '\nCREATE TRIGGER t BEFORE INSERT ON wp_43_posts FOR EACH ROW SET @x = 1'", "DELIMITER"),
    ],
)
def test_a_truncated_or_unsupported_file_is_rejected(dump: bytes, message: str) -> None:
    with pytest.raises(SqlFileError, match=message) as info:
        list(iter_statements(io.BytesIO(dump), name="dump.sql", require_terminator=True))
    one_line(info.value)


def test_a_statement_smuggled_after_a_good_one_is_rejected() -> None:
    dump = b"INSERT INTO wp_43_posts VALUES (1, 'a;b');\nDROP DATABASE wordpress;\n"
    statements = list(iter_statements(io.BytesIO(dump)))
    assert check_statement(statements[0], SITE_TABLES).kind == "insert"
    with pytest.raises(SqlFileError, match="DROP DATABASE wordpress"):
        check_statement(statements[1], SITE_TABLES)


# -- odd table names --------------------------------------------------------------------------------------

ODD_NAMES = [
    "wp_43_a`b", "wp_43_q'uote\"s", "wp_43_dollar$", "wp_43_da-sh", "wp_43_sp ace", "wp_43_ünï€",
    "wp_43_semi;colon", "wp_43_back\\slash", "wp_43_dot.ted", "wp_43_per%cent_", "wp_43_new\nline",
    "wp_43_slash/x",
    "wp_43_" + "long`name " * 5 + "ende",  # 62 characters: the staging name must be shortened
]  # fmt: skip
ODD_COLUMNS = ["id", "col`x", "quote'd", "sp ace", "ü", "url"]


def test_odd_table_and_column_names_migrate(site, tmp_path: Path) -> None:
    server, src_db, tgt_db = site
    columns = ", ".join(f"{quote(c)} {'INT PRIMARY KEY' if c == 'id' else 'TEXT'}" for c in ODD_COLUMNS)
    for name in ODD_NAMES:
        run_sql(
            server,
            src_db,
            f"CREATE TABLE {quote(name)} ({columns})",
            f"INSERT INTO {quote(name)} VALUES (1, 'a`b', 'it''s', ' ', 'ü', 'https://www.example.edu/bio/{name[:5]}')",
        )
    # The target holds an older copy of a few: they are backed up and swapped out.
    for name in ODD_NAMES[:4]:
        run_sql(
            server,
            tgt_db,
            f"CREATE TABLE {quote(name)} (id INT PRIMARY KEY)",
            f"INSERT INTO {quote(name)} VALUES (9)",
        )
    source, target = db(server, src_db, "prod"), db(server, tgt_db, "pprd")
    source_before = checksums(server, src_db)
    assert preflight(43, source=source, target=target, archive=tmp_path, replacements=PAIRS).ok

    report = wfuwp.migrate_site(43, source=source, target=target, replacements=PAIRS, archive=tmp_path)

    assert report.status == "completed"
    assert {t.name for t in report.tables} == {*ODD_NAMES, "wp_43_options"}
    assert set(report.backup_tables) == {*ODD_NAMES[:4], "wp_43_options"}
    for name in ODD_NAMES:
        assert fetch(server, tgt_db, f"SELECT * FROM {quote(name)}") == [
            (b"1", b"a`b", b"it's", b" ", "ü".encode(), f"https://pprd.example.edu/bio/{name[:5]}".encode())
        ]
    assert checksums(server, src_db) == source_before
    assert not [n for n in checksums(server, tgt_db) if n.startswith("_wf")]
    manifest = orjson.loads(next(tmp_path.glob("site-43/*/manifest.json")).read_bytes())
    assert manifest["status"] == "completed"


def test_an_error_naming_an_odd_table_is_one_line() -> None:
    from wfuwp.errors import MigrationError

    error = MigrationError("the row is too large", step="copy", table="wp_43_new\nline")
    assert one_line(error) == "copy of table 'wp_43_new\\nline': the row is too large"
    assert one_line(MigrationError("x", step="copy", table="wp_43_ünï€")) == "copy of table wp_43_ünï€: x"


# -- passwords --------------------------------------------------------------------------------------------


def test_passwords_never_show(site, users: Users, tmp_path: Path) -> None:
    server, src_db, tgt_db = site
    source_user = users.create(
        f"GRANT SELECT, LOCK TABLES ON `{src_db}`.* TO {{user}}",
        "GRANT RELOAD ON *.* TO {user}",
        password=SECRET,
    )
    target_user = users.create(
        f"GRANT SELECT, INSERT, CREATE, DROP, ALTER, LOCK TABLES ON `{tgt_db}`.* TO {{user}}", password=SECRET
    )
    # Through a URL (percent-encoded), and through the configuration.
    source = wfuwp.Database.from_dsn(
        f"mysql://{source_user}:{urlquote(SECRET, safe='')}@127.0.0.1:{server.port}/{src_db}", name="prod"
    )
    assert source.password == SECRET
    config = Config.load(tmp_path / "config.json")
    for key, value in {"host": "127.0.0.1", "port": str(server.port), "user": target_user, "password": SECRET,
                       "database": tgt_db}.items():  # fmt: skip
        config.set(f"env.pprd.{key}", value)
    config.save()
    config = Config.load(tmp_path / "config.json")
    target = config.env("pprd").as_database()

    report = wfuwp.migrate_site(
        43, source=source, target=target, replacements=PAIRS, archive=tmp_path / "archive"
    )
    checked = preflight(43, source=source, target=target, archive=tmp_path / "archive", replacements=PAIRS)

    assert report.status == "completed" and checked.ok
    manifest = next((tmp_path / "archive").glob("site-43/*/manifest.json")).read_text()
    # Errors that carry connection details: a failed lock on the target, a wrong password.
    wrong_target = dataclasses.replace(target, password=SECRET + "!")
    errors = [
        _error(lambda: wfuwp.Database.from_dsn(f"mysql://u:{urlquote(SECRET, safe='')}@h:port/db")),
        _error(lambda: wfuwp.migrate_site(43, source=source, target=wrong_target)),
    ]
    shown = [
        repr(source), str(source), repr(target), str(target), repr(config), str(config.env("pprd")),
        repr(config.env("pprd").connect_kwargs()), str(config.masked()), str(config.items()),
        str(report), orjson.dumps(report.to_dict()).decode(), manifest,
        str(checked), orjson.dumps(checked.to_dict()).decode(),
        (tmp_path / "config.json").read_text(),
        *errors,
    ]  # fmt: skip
    leaks = [s for s in shown if SECRET in s or urlquote(SECRET, safe="") in s]
    assert not leaks


def _error(action: Callable[[], object]) -> str:
    with pytest.raises(WfuwpError) as info:
        action()
    return one_line(info.value) + repr(info.value) + "".join(traceback.format_exception(info.value))


# -- how SQL is built -------------------------------------------------------------------------------------

PACKAGE = Path(__file__).resolve().parent.parent / "wfuwp"
# Strings spliced into statements that are not identifiers, reviewed: (file, expression) -> why it is safe.
REVIEWED = {
    (
        "preflight.py",
        "', '.join(missing)",
    ): "a GRANT shown as a fix, never run; privilege names are constants",
    (
        "preflight.py",
        "grants.grantee",
    ): "a GRANT shown as a fix, never run; CURRENT_USER() with quotes doubled",
    ("preflight.py", "grantee"): "a GRANT shown as a fix, never run; CURRENT_USER() with quotes doubled",
    ("inspect.py", "where"): "quote_identifier(key) and the constant conditions of _ORPHAN_CHECKS",
}
# Offenders found in modules this suite may not change, reported instead: (file, expression).
KNOWN_OFFENDERS: set[tuple[str, str]] = set()


def test_statements_are_built_only_from_quoted_identifiers() -> None:
    found = {
        (path.name, expr)
        for path in sorted(PACKAGE.glob("*.py"))
        for _line, expr in _sql_splices(path.read_text())
    }
    unreviewed = found - set(REVIEWED) - KNOWN_OFFENDERS
    assert not unreviewed, f"identifiers spliced into SQL without quote_identifier: {sorted(unreviewed)}"
    assert not (KNOWN_OFFENDERS - found), "an offender was fixed: take it off KNOWN_OFFENDERS"


def test_the_sql_building_check_catches_what_it_should() -> None:
    bad = """
def f(conn, name, table, db):
    execute(conn, f"DROP TABLE {name}")
    query(conn, "SELECT * FROM %s" % table)
    query(conn, "SELECT * FROM {}".format(table))
    conn.cmd_query(b"TRUNCATE " + name.encode())
    statement = "DELETE FROM " + quote_identifier(db) + "." + table
    names = ", ".join(n for n in table)
    execute(conn, f"LOCK TABLES {names} READ")
"""
    good = """
CONSTANT = b"COMMIT"
def f(conn, name, names, cols):
    execute(conn, f"DROP TABLE {quote_identifier(name)}")
    marks = ",".join(["%s"] * len(names))
    query(conn, f"SELECT 1 FROM t WHERE x IN ({marks})", names)
    parts, more = [], []
    for c in cols:
        parts.append(f"LENGTH({quote_identifier(c)})")
    listed = ", ".join(qi(n) for n in names) or "1"
    query(conn, f"SELECT {' + '.join(parts)}, {listed} FROM {quote_identifier(name)}")
    execute(conn, b"UNLOCK TABLES " + CONSTANT)
"""
    assert [expr for _line, expr in _sql_splices(bad)] == [
        "name", "table", "table", "name.encode()", "table", "names",
    ]  # fmt: skip
    assert _sql_splices(good) == []


_SQL_START = re.compile(
    r"\s*\(?\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|RENAME|TRUNCATE|LOCK|UNLOCK|FLUSH|SHOW|SET|"
    r"GRANT|REVOKE|KILL|CALL|CHECKSUM|ANALYZE|OPTIMIZE|LOAD|HANDLER|DO|START|COMMIT|ROLLBACK)\b"
)
_QUOTERS = {"quote_identifier", "qi"}
# Functions returning SQL built from quoted identifiers (their own bodies are checked here as well).
_BUILDERS = {"create_table_as", "insert_prefix", "checksum_query", "table_preamble"}


def _sql_splices(source: str) -> list[tuple[int, str]]:
    """(line, expression) of every value spliced into SQL text that is not provably a quoted identifier.

    SQL text: an f-string, `%` or `.format()` or `+` expression that starts with an SQL keyword. Safe
    splices: constants (and ALL_CAPS module constants), quote_identifier()/qi() calls, the builders
    above, joins/concatenations/f-strings of safe parts, and local names whose every assignment
    (and .append) in the enclosing function or module is safe.
    """
    tree = ast.parse(source)
    assignments: dict[ast.AST, dict[str, list[ast.expr]]] = {}
    for scope in ast.walk(tree):
        if isinstance(scope, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef)):
            table: dict[str, list[ast.expr]] = {}
            for node in ast.walk(scope):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            table.setdefault(target.id, []).append(node.value)
                        elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                            for t, v in zip(target.elts, node.value.elts, strict=False):
                                if isinstance(t, ast.Name):
                                    table.setdefault(t.id, []).append(v)
                elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
                    if node.value is not None:
                        table.setdefault(node.target.id, []).append(node.value)
                elif (
                    isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "append" and isinstance(node.func.value, ast.Name) and node.args
                ):  # fmt: skip
                    table.setdefault(node.func.value.id, []).append(ast.List([node.args[0]]))
            assignments[scope] = table

    def safe(node: ast.expr, scopes: list[ast.AST], depth: int = 0) -> bool:
        if depth > 8:
            return False
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.Name):
            if node.id.isupper():
                return True
            for scope in scopes:
                values = assignments.get(scope, {}).get(node.id)
                if values:
                    return all(safe(v, scopes, depth + 1) for v in values)
            return False
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name in _QUOTERS or name in _BUILDERS:
                return True
            if name == "encode" and isinstance(func, ast.Attribute):
                return safe(func.value, scopes, depth + 1)
            if name == "join" and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Constant):
                arg = node.args[0] if len(node.args) == 1 else None
                if isinstance(arg, (ast.GeneratorExp, ast.ListComp)):
                    return safe(arg.elt, scopes, depth + 1)
                if isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Mult):  # ["%s"] * n
                    return safe(arg.left, scopes, depth + 1)
                return arg is not None and safe(arg, scopes, depth + 1)
            return False
        if isinstance(node, (ast.List, ast.Tuple)):
            return all(safe(e, scopes, depth + 1) for e in node.elts)
        if isinstance(node, ast.JoinedStr):
            return all(
                safe(v.value, scopes, depth + 1) for v in node.values if isinstance(v, ast.FormattedValue)
            )
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return safe(node.left, scopes, depth + 1) and safe(node.right, scopes, depth + 1)
        if isinstance(node, ast.BoolOp):
            return all(safe(v, scopes, depth + 1) for v in node.values)
        if isinstance(node, ast.IfExp):
            return safe(node.body, scopes, depth + 1) and safe(node.orelse, scopes, depth + 1)
        return False

    def leading_text(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            return node.value.decode("latin-1") if isinstance(node.value, bytes) else node.value
        if isinstance(node, ast.JoinedStr):
            first = node.values[0] if node.values else None
            return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
            return leading_text(node.left)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
            return leading_text(node.func.value)
        return None

    def splices(node: ast.expr) -> list[ast.expr]:
        if isinstance(node, ast.JoinedStr):
            return [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            return list(node.right.elts) if isinstance(node.right, ast.Tuple) else [node.right]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return splices(node.left) + ([] if isinstance(node.right, ast.Constant) else [node.right])
        if isinstance(node, ast.Call):  # .format()
            return [*node.args, *(k.value for k in node.keywords)]
        if isinstance(node, ast.Constant):
            return []
        return [node]

    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, scopes: list[ast.AST]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scopes = [node, *scopes]
        if isinstance(node, (ast.JoinedStr, ast.BinOp, ast.Call)):
            text = leading_text(node)
            if text is not None and _SQL_START.match(text):
                found.extend((p.lineno, ast.unparse(p)) for p in splices(node) if not safe(p, scopes))
                return
        for child in ast.iter_child_nodes(node):
            visit(child, scopes)

    visit(tree, [tree])
    return found
