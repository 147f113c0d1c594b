"""The network generator: shapes exist as claimed, expected values are right, sizes are honoured.

Runs against the MariaDB at 127.0.0.1:3306 (root, no password); each network lives in its own
`netgen_test_<random>` database, dropped at the end.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from devtools import netgen

mysql_connector = pytest.importorskip("mysql.connector")
phpserialize = pytest.importorskip("phpserialize")

SERVER = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
SOURCE = "www.example.edu"
TARGET = "pprd.example.edu"
PAIRS = [
    (f"https://{SOURCE}", f"https://{TARGET}"),
    (f"http://{SOURCE}", f"http://{TARGET}"),
    (SOURCE, TARGET),
]


def _connect() -> Any:
    try:
        return mysql_connector.connect(**SERVER, autocommit=True)
    except mysql_connector.Error as exc:  # pragma: no cover - only without a server
        pytest.skip(f"no MariaDB at 127.0.0.1:3306: {exc}")


@pytest.fixture(scope="module")
def conn() -> Iterator[Any]:
    c = _connect()
    yield c
    c.close()


@pytest.fixture(scope="module")
def net(conn: Any) -> Iterator[netgen.Network]:
    database = f"netgen_test_{secrets.token_hex(6)}"
    try:
        yield netgen.generate_network(conn, database, rows_scale=0.3, big_row_bytes=300_000)
    finally:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{database}`")


def _query(conn: Any, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    cur.execute(sql, params or None)
    rows = cur.fetchall()
    cur.close()
    return rows


def _case(net: netgen.Network, name: str, target: str = TARGET, **kw: Any) -> bytes:
    """The expected value of case `name` as stored in site 43's options."""
    (loc,) = [c for c in net.cases[name] if c.table == "wp_43_options"]
    info = net.tables[loc.table]
    row = net.expected_rows(loc.table, target, **kw)[loc.key]
    value = row[info.columns.index(loc.column)]
    assert value is not None
    return value


# -- shapes -------------------------------------------------------------------------------------------


def test_every_claimed_shape_is_on_site_43(net: netgen.Network) -> None:
    wanted = {
        "no_primary_key", "composite_primary_key", "text_primary_key", "latin1_utf8_bytes",
        "on_update_current_timestamp", "generated_virtual", "generated_stored", "zero_dates", "myisam",
        "auto_increment_above_max", "binary_columns", "enum_set", "float_decimal", "odd_name", "big_row",
    }  # fmt: skip
    shapes = net.table_shapes
    assert wanted <= set(shapes)
    for shape in wanted:
        assert any(net.tables[t].site == 43 for t in shapes[shape]), shape


def test_shapes_exist_in_information_schema(conn: Any, net: netgen.Network) -> None:
    db = net.database

    def columns(table: str) -> dict[str, tuple[str, str, str]]:
        rows = _query(
            conn,
            "SELECT COLUMN_NAME, COLUMN_TYPE, COLUMN_KEY, EXTRA FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            db,
            table,
        )
        return {r[0]: (r[1], r[2], r[3].lower()) for r in rows}

    def table_row(table: str) -> tuple[Any, ...]:
        (row,) = _query(
            conn,
            "SELECT ENGINE, TABLE_COLLATION, AUTO_INCREMENT FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            db,
            table,
        )
        return tuple(row)

    def pk(table: str) -> list[str]:
        return [
            r[0]
            for r in _query(
                conn,
                "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s "
                "AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
                db,
                table,
            )
        ]

    assert pk("wp_43_netgen_activity_log") == []
    assert pk("wp_43_netgen_object_meta") == ["object_id", "meta_key"]
    assert pk("wp_43_netgen_redirects") == ["source_url"]
    assert columns("wp_43_netgen_redirects")["source_url"][0] == "varchar(191)"
    assert table_row("wp_43_netgen_legacy")[1].startswith("latin1")
    assert table_row("wp_43_posts")[1] == "utf8mb4_unicode_520_ci"
    assert table_row("wp_43_netgen_cache")[0] == "MyISAM"
    assert table_row("wp_43_posts")[0] == "InnoDB"
    stats = columns("wp_43_netgen_stats")
    assert "on update current_timestamp" in stats["updated_at"][2]
    assert "on update current_timestamp" in stats["modified"][2]
    gen = columns("wp_43_netgen_url_index")
    assert gen["url_length"][2] == "virtual generated"
    assert gen["url_host"][2] == "stored generated"
    files = columns("wp_43_netgen_files")
    assert [files[c][0] for c in ("sha1", "host_tag", "token", "flags", "thumbnail", "archive")] == [
        "binary(20)", "binary(32)", "varbinary(255)", "bit(10)", "mediumblob", "longblob",
    ]  # fmt: skip
    typed = columns("wp_43_netgen_typed")
    assert typed["status"][0].startswith("enum(") and typed["features"][0].startswith("set(")
    assert [typed[c][0] for c in ("ratio", "score", "price")] == ["float", "double", "decimal(20,6)"]
    assert "wp_43_odd-name$x" in net.site_tables(43)
    assert columns("wp_43_odd-name$x")
    for table in net.table_shapes["auto_increment_above_max"]:
        key = net.tables[table].primary_key[0]
        ((max_id,),) = _query(conn, f"SELECT MAX(`{key}`) FROM `{db}`.`{table}`")
        assert table_row(table)[2] == net.tables[table].auto_increment > max_id
    ((zero,),) = _query(
        conn,
        f"SELECT COUNT(*) FROM `{db}`.wp_43_netgen_zero_dates "
        "WHERE CAST(created AS CHAR) = '0000-00-00 00:00:00'",
    )
    assert zero == 2
    ((old,),) = _query(conn, f"SELECT MAX(updated_at) FROM `{db}`.wp_43_netgen_stats")
    assert old.year <= 2015
    ((big,),) = _query(
        conn, f"SELECT LENGTH(option_value) FROM `{db}`.wp_43_options WHERE option_name = 'netgen_big_option'"
    )
    assert 0.8 * 300_000 < big < 1.2 * 300_000


def test_site_membership(conn: Any, net: netgen.Network) -> None:
    in_db = {r[0] for r in _query(conn, "SHOW TABLES FROM `" + net.database + "`")}
    owned = [t for s in net.sites for t in net.site_tables(s)] + net.network_tables()
    assert sorted(owned) == sorted(in_db)  # every table belongs to exactly one site or the network
    assert not [t for t in net.site_tables(43) if t.startswith("wp_430_")]
    assert any(t.startswith("wp_430_") for t in in_db)
    assert all(t.startswith("wp_43_") for t in net.site_tables(43))
    assert "wp_2fa_backup_codes" in net.site_tables(1)
    assert "wp_2fa_backup_codes" not in net.site_tables(2)
    assert not set(net.site_tables(1)) & {f"wp_{n}" for n in netgen.NETWORK_TABLES}
    assert {"wp_blog_versions", "wp_sitecategories"} <= set(net.network_tables())
    blogs = _query(conn, f"SELECT blog_id, domain, path FROM `{net.database}`.wp_blogs ORDER BY blog_id")
    assert blogs == [
        (1, SOURCE, "/"),
        (2, SOURCE, "/site2/"),
        (43, SOURCE, "/site43/"),
        (430, SOURCE, "/site430/"),
    ]
    siteurl = _query(
        conn, f"SELECT option_value FROM `{net.database}`.wp_43_options WHERE option_name = 'siteurl'"
    )
    assert siteurl == [("https://www.example.edu/site43",)]


def test_every_case_family_is_written(net: netgen.Network) -> None:
    for name in netgen.CASE_NAMES:
        tables = {loc.table for loc in net.cases[name]}
        assert {"wp_43_options", "wp_43_postmeta", "wp_options"} <= tables, name


# -- expected values ----------------------------------------------------------------------------------


def test_generated_rows_are_the_source_rendering(conn: Any, net: netgen.Network) -> None:
    # The canonical form (numbers, floats, BIT, latin1 bytes, generated columns) matches the server's.
    for table in net.tables:
        assert net.diff_table(conn, table, SOURCE) == [], table


def test_expected_exact_bytes(net: netgen.Network) -> None:
    assert _case(net, "url_https") == b"https://pprd.example.edu/site43/"
    assert (
        _case(net, "looks_serialized_wrong_length") == b's:99:"https://pprd.example.edu/site43/wrong-length";'
    )
    assert _case(net, "ser_double_top_level") == (
        b's:59:"a:1:{s:3:"url";s:35:"https://pprd.example.edu/site43/top";}";'
    )
    assert _case(net, "ser_object_private_members") == (
        b'O:20:"WPSEO\\Unloaded_Thing":5:{s:12:"\0*\0canonical";s:41:"https://pprd.example.edu/site43/protected";'
        b's:28:"\0WPSEO\\Unloaded_Thing\0secret";s:21:"mail@pprd.example.edu";'
        b's:10:"public_url";s:38:"https://pprd.example.edu/site43/public";'
        b'i:0;s:42:"https://pprd.example.edu/site43/int-member";'
        b's:1:"7";s:53:"https://pprd.example.edu/site43/numeric-string-member";}'
    )
    # C: payloads and array keys are not rewritten; the strings around them are.
    assert _case(net, "ser_custom_payload") == (
        b'a:3:{i:0;s:38:"https://pprd.example.edu/site43/before";'
        b'i:1;C:11:"ArrayObject":76:{x:i:0;a:1:{s:3:"url";s:37:"https://www.example.edu/site43/custom";};m:a:0:{}}'
        b'i:2;s:37:"https://pprd.example.edu/site43/after";}'
    )
    assert _case(net, "ser_host_in_keys") == (
        b'a:2:{s:34:"https://www.example.edu/site43/key";s:37:"https://pprd.example.edu/site43/value";'
        b's:5:"plain";s:1:"k";}'
    )
    assert _case(net, "ser_references") == (
        b'a:3:{i:0;s:35:"https://pprd.example.edu/site43/ref";i:1;R:2;'
        b'i:2;O:8:"stdClass":2:{s:4:"self";r:4;s:3:"url";s:35:"https://pprd.example.edu/site43/obj";}}'
    )
    assert _case(net, "ser_scalars").startswith(
        b"a:13:{i:0;b:1;i:1;b:0;i:2;i:-42;i:3;i:0;i:4;d:0.1000000000000000055511151231257827;i:5;d:-0;"
        b"i:6;d:1.0E+25;i:7;d:INF;i:8;d:-INF;i:9;d:NAN;i:10;d:-1.2345678901234567E-300;i:11;N;"
        b'i:12;s:45:"https://pprd.example.edu/site43/after-scalars";}'
    )
    multibyte = _case(net, "ser_bytes_in_strings")
    assert (
        b's:65:"Caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x8e\x93 https://pprd.'
        in multibyte
    )
    assert b's:48:"a\x00b\r\nc\\d\x1ae\tf https://pprd.example.edu/site43/ctl";' in multibyte
    assert _case(net, "ser_surrounding_whitespace") == (
        b'\n  a:1:{s:3:"url";s:34:"https://pprd.example.edu/site43/ws";}\n'
    )
    assert _case(net, "json_escaped_slashes").startswith(
        b'{"url":"https:\\/\\/pprd.example.edu\\/site43\\/",'
    )
    assert _case(net, "json_in_json") == (
        rb'{"settings":"{\"url\":\"https:\\\/\\\/pprd.example.edu\\\/site43\\\/json-in-json\",\"t\":\"\\u00e9\"}"}'
    )
    assert (
        _case(net, "url_encoded")
        == b"redirect_to=https%3A%2F%2Fpprd.example.edu%2Fsite43%2Flogin%2F&reauth=1"
    )
    assert _case(net, "url_encoded_dots") == b"u=https%3A%2F%2Fwww%2Eexample%2Eedu%2F"
    assert _case(net, "base64_url") == b"aHR0cHM6Ly93d3cuZXhhbXBsZS5lZHUvc2l0ZTQzL2I2NA=="
    assert _case(net, "other_environment_url") == b"https://dev.example.edu/site43/kept/"
    assert _case(net, "other_environment_url", "uat") == b"https://dev.example.edu/site43/kept/"
    # Plain pairs hit the substring traps; host-bounded rules would not.
    assert _case(net, "trap_longer_tld") == b"https://pprd.example.edu.au/site43/ and pprd.example.edu.au"
    assert _case(net, "trap_prefixed_name") == b"https://mypprd.example.edu/ and mypprd.example.edu"
    assert _case(net, "trap_mail_at_host") == b"mail@pprd.example.edu"
    whole = {"whole_host_only": True}
    assert (
        _case(net, "trap_longer_tld", **whole) == b"https://www.example.edu.au/site43/ and www.example.edu.au"
    )
    assert _case(net, "trap_mail_at_host", **whole) == b"mail@www.example.edu"
    assert _case(net, "url_https", **whole) == b"https://pprd.example.edu/site43/"


def test_expected_rows_of_awkward_tables(net: netgen.Network) -> None:
    redirects = net.expected_rows("wp_43_netgen_redirects", "pprd")
    assert redirects[b"https://www.example.edu/site43/old-1/"] == (
        b"https://pprd.example.edu/site43/old-1/",
        b"https://pprd.example.edu/site43/new-1/",
        b"7",
    )
    index = net.expected_rows("wp_43_netgen_url_index", TARGET)
    assert index[1] == (b"1", b"https://pprd.example.edu/site43/a/", b"34", b"pprd.example.edu")
    assert index[3][3] == b"pprd.example.edu.au"
    files = net.expected_rows("wp_43_netgen_files", TARGET)[1]
    cols = net.tables["wp_43_netgen_files"].columns
    assert files[cols.index("token")] == b"https://www.example.edu/site43/token/1\xff\xfe"
    assert files[cols.index("host_tag")] == b"www.example.edu" + b"\0" * 17
    assert b"www.example.edu" in (files[cols.index("thumbnail")] or b"")
    assert files[cols.index("url")] == b"https://pprd.example.edu/site43/img-1.png"
    legacy = net.expected_rows("wp_43_netgen_legacy", TARGET)
    assert b"https://pprd.example.edu/site43/" in {row[2] for row in legacy.values()}
    typed = net.expected_rows("wp_43_netgen_typed", TARGET)[3]
    assert typed[11] == b'{"nested":{"a":[1,2,{"u":"http:\\/\\/pprd.example.edu\\/"}]}}'
    assert (
        net.expected_rows("wp_43_netgen_stats", TARGET)[1][3] == net.source_rows("wp_43_netgen_stats")[1][3]
    )
    log = list(net.expected_rows("wp_43_netgen_activity_log", TARGET).rows())
    dup = (b"2016-06-06 06:06:06", b"info", b"login from https://pprd.example.edu/site43/wp-login.php", None)
    assert log.count(dup) == 2


def _php_replace(value: bytes) -> bytes:
    for search, replace in PAIRS:
        for s, r in ((search, replace), (search.replace("/", "\\/"), replace.replace("/", "\\/"))):
            value = value.replace(s.encode(), r.encode())
    return value


_LOOKS_SERIALIZED = re.compile(rb"^[ \t\n\r\0\x0b]*([aOsCEbid]:|N;)")


def _rewrite_loaded(value: Any) -> Any:
    """Apply the pairs to the string values of an unserialized tree (nested serialized strings too)."""
    if isinstance(value, bytes):
        if _LOOKS_SERIALIZED.match(value):
            try:
                inner = phpserialize.loads(value.strip(b" \t\n\r\0\x0b"), object_hook=phpserialize.phpobject)
            except (ValueError, RecursionError):
                return _php_replace(value)
            return ("serialized", _rewrite_loaded(inner))
        return _php_replace(value)
    if isinstance(value, dict):
        return {k: _rewrite_loaded(v) for k, v in value.items()}
    if isinstance(value, phpserialize.phpobject):
        return (value.__name__, {k: _rewrite_loaded(v) for k, v in value.__php_vars__.items()})
    return repr(value) if isinstance(value, float) else value  # NAN != NAN


def _normalize_loaded(value: Any) -> Any:
    if isinstance(value, bytes) and _LOOKS_SERIALIZED.match(value):
        try:
            inner = phpserialize.loads(value.strip(b" \t\n\r\0\x0b"), object_hook=phpserialize.phpobject)
        except (ValueError, RecursionError):
            return value
        return ("serialized", _normalize_loaded(inner))
    if isinstance(value, dict):
        return {k: _normalize_loaded(v) for k, v in value.items()}
    if isinstance(value, phpserialize.phpobject):
        return (value.__name__, {k: _normalize_loaded(v) for k, v in value.__php_vars__.items()})
    return repr(value) if isinstance(value, float) else value


def test_expected_values_agree_with_the_pairs(net: netgen.Network) -> None:
    """Cross-check the template rendering against the contract, for every text value of site 43.

    Plain values must equal PHP str_replace over the pairs (and their JSON forms); serialized values that
    phpserialize can read must unserialize to the source tree with the pairs applied to its strings.
    """
    checked_plain = checked_serialized = 0
    for table in net.site_tables(43):
        info = net.tables[table]
        source = net.source_rows(table)
        expected = net.expected_rows(table, TARGET)
        text_columns = [
            i for i, c in enumerate(info.columns) if c not in info.binary_columns and c not in info.generated
        ]
        for key in list(source)[:400]:
            for i in text_columns:
                before, after = source[key][i], expected[key][i]
                if before is None or after is None or before.isdigit():
                    continue
                if not _LOOKS_SERIALIZED.match(before):
                    assert after == _php_replace(before), (table, key, info.columns[i])
                    checked_plain += 1
                    continue
                try:
                    loaded = phpserialize.loads(
                        before.strip(b" \t\n\r\0\x0b"), object_hook=phpserialize.phpobject
                    )
                except (ValueError, RecursionError):
                    continue  # C:, E:, R:, private members, deep nesting: see the exact-bytes test
                after_loaded = phpserialize.loads(
                    after.strip(b" \t\n\r\0\x0b"), object_hook=phpserialize.phpobject
                )
                assert _normalize_loaded(after_loaded) == _rewrite_loaded(loaded), (
                    table,
                    key,
                    info.columns[i],
                )
                checked_serialized += 1
    assert checked_plain > 300 and checked_serialized > 100


_HOST_CHAR = rb"[A-Za-z0-9_.@-]"


def test_whole_host_occurrences_are_bounded(net: netgen.Network) -> None:
    # Templates mark each occurrence as whole or embedded; a misfiled one would show here.
    bounded = re.compile(rb"(?<!" + _HOST_CHAR + rb")pprd\.example\.edu(?![A-Za-z0-9_-]|\.[A-Za-z0-9])")
    for table in net.site_tables(43):
        for row in net.expected_rows(table, TARGET, whole_host_only=True).rows():
            for value in row:
                if value and b"pprd.example.edu" in value:
                    assert value.count(b"pprd.example.edu") == len(bounded.findall(value)), (
                        table,
                        value[:200],
                    )


def test_target_containing_the_source_is_refused(net: netgen.Network) -> None:
    with pytest.raises(ValueError, match="contains the source host"):
        net.expected_rows("wp_43_options", "www.example.edu.au")
    assert net.replacement_pairs("pprd") == PAIRS


# -- helpers for migration tests ----------------------------------------------------------------------


def test_diff_and_checksums_notice_changes(conn: Any, net: netgen.Network) -> None:
    db = net.database
    before = net.checksum_of_other_tables(conn, 43)
    assert "wp_430_options" in before and "wp_blogs" in before and "wp_43_options" not in before
    cur = conn.cursor()
    try:
        cur.execute(
            f"UPDATE `{db}`.wp_43_options SET option_value = 'x' WHERE option_name = 'blogdescription'"
        )
        assert net.checksum_of_other_tables(conn, 43) == before
        diff = net.diff_table(conn, "wp_43_options", SOURCE)
        assert len(diff) == 2 and "option_value: got b'x'" in diff[0]
        cur.execute(f"UPDATE `{db}`.wp_430_options SET autoload = 'no' WHERE option_name = 'siteurl'")
        after = net.checksum_of_other_tables(conn, 43)
        assert {k for k in before if before[k] != after[k]} == {"wp_430_options"}
    finally:
        cur.execute(f"DROP TABLE `{db}`.wp_43_options")  # no later test reads it again
        cur.execute(f"UPDATE `{db}`.wp_430_options SET autoload = 'yes' WHERE option_name = 'siteurl'")
        cur.close()


# -- size ---------------------------------------------------------------------------------------------


def test_size_is_roughly_honoured(conn: Any) -> None:
    database = f"netgen_test_{secrets.token_hex(6)}"
    size = 5_000_000
    try:
        net = netgen.generate_network(dict(SERVER), database, sites=(1, 43), rows_scale=0.2, size_bytes=size)
        assert 0.9 * size < net.site_bytes[43] < 1.1 * size
        assert net.site_bytes[1] < size / 20
        ((stored,),) = _query(
            conn,
            "SELECT SUM(DATA_LENGTH) FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME LIKE 'wp\\_43\\_%%'",
            database,
        )
        assert 0.7 * size < stored < 4 * size
        assert "bulk_rows" in net.tables["wp_43_postmeta"].shapes
        posts = net.expected_rows("wp_43_posts", "pprd")
        last = max(int(k[0] or 0) for k in posts)
        row = posts[last]
        assert (
            row[net.tables["wp_43_posts"].columns.index("guid")]
            == f"http://pprd.example.edu/site43/?p={last}".encode()
        )
        assert netgen.fetch_rows(conn, database, "wp_43_posts")[-1] == net.source_rows("wp_43_posts")[last]
        ((big,),) = _query(
            conn,
            f"SELECT LENGTH(option_value) FROM `{database}`.wp_43_options "
            "WHERE option_name = 'netgen_big_option'",
        )
        assert 0.9 * 2 * 1024 * 1024 < big < 1.1 * 2 * 1024 * 1024
    finally:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{database}`")


# -- CLI ----------------------------------------------------------------------------------------------


def test_parse_size() -> None:
    assert netgen.parse_size("200MB") == 200_000_000
    assert netgen.parse_size("1GB") == 1_000_000_000
    assert netgen.parse_size("1.5KiB") == 1536
    assert netgen.parse_size("42") == 42
    with pytest.raises(ValueError):
        netgen.parse_size("12 parsecs")


def test_cli_builds_a_network(conn: Any, capsys: pytest.CaptureFixture[str]) -> None:
    database = f"netgen_test_{secrets.token_hex(6)}"
    try:
        argv = ["--database", database, "--size", "1MB", "--sites", "1,43", "--big-row", "0", "--quiet"]
        assert netgen.main(argv) == 0
        out = capsys.readouterr().out
        assert f"database {database}:" in out and "    43 " in out
        assert netgen.main(argv) == 1  # the database now holds tables
        assert "already holds tables" in capsys.readouterr().err
    finally:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{database}`")
