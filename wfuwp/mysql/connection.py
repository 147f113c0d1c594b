"""Database connections: where a database is, how to reach it, and sessions set up for byte-exact copies.

mysql-connector-python's C extension bundles a newer OpenSSL than the one Python's `ssl` module
loads; once `ssl` is imported, the C extension cannot load and the driver falls back to pure Python,
4-6x slower. `wfuwp/__init__.py` loads the C extension before any submodule can import `ssl`; if
it still cannot load, `DRIVER` says "pure" and a warning says why.
"""

from __future__ import annotations

import logging
import random
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

try:  # must precede any import of ssl (see the module docstring)
    import _mysql_connector  # type: ignore[import-not-found]  # noqa: F401

    _CEXT_ERROR = ""
except ImportError as exc:  # pragma: no cover - depends on import order in the host program
    _CEXT_ERROR = str(exc)

import mysql.connector
from mysql.connector import errorcode

from wfuwp import runlog
from wfuwp.errors import DatabaseError, UsageError

DRIVER = "c" if mysql.connector.HAVE_CEXT else "pure"
_log = logging.getLogger(__name__)
if DRIVER == "pure":  # pragma: no cover
    warnings.warn(
        "mysql-connector-python's C extension did not load"
        + (f" ({_CEXT_ERROR.splitlines()[0]})" if _CEXT_ERROR else "")
        + "; migrations will be 4-6x slower."
        " Import wfuwp before anything that imports ssl (boto3, requests).",
        RuntimeWarning,
        stacklevel=2,
    )

# Server errors worth retrying: connection lost/gone, lock wait timeout, deadlock.
TRANSIENT_ERRNOS = frozenset({2006, 2013, 2055, 1205, 1213})
# Errors that no retry fixes.
PERMANENT_ERRNOS = frozenset(
    {errorcode.ER_ACCESS_DENIED_ERROR, errorcode.ER_BAD_DB_ERROR, errorcode.ER_DBACCESS_DENIED_ERROR, 1064}
)

# Seconds to wait for a server to accept a connection and send its greeting (both drivers honour it for
# the greeting too, so a host that accepts TCP but never answers fails after this long, not never).
CONNECT_TIMEOUT_S = 10
# Seconds one call may wait on a server that sends nothing (frozen, or a network gone quiet) before it
# fails with a lost connection, so a stalled server fails the migration instead of hanging it. No
# statement of a migration waits this long on a working server: reads stream, INSERTs are about 1 MiB,
# the swap waits a second at a time; the longest, a checksum of a big table, takes a minute per ~5 GB.
READ_TIMEOUT_S = 300

# Session settings for copying rows byte for byte: raw bytes in and out (no charset conversion, so
# latin1 tables holding UTF-8 keep their bytes), UTC timestamps, zero dates allowed, id 0 kept.
COPY_SESSION_SQL = (
    b"SET NAMES binary",
    b"SET SESSION time_zone = '+00:00'",
    b"SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'",
)


@dataclass(frozen=True)
class Database:
    """Where one WordPress database lives and how to log in; the password never shows in repr or str.

    TLS: `ssl_ca` (the CA file that signed the server's certificate), `ssl_cert`/`ssl_key` (a client
    certificate and its key, for users created `REQUIRE X509`), `ssl_verify_cert` and
    `ssl_verify_identity` (check the server's certificate, and that it names `host`), `ssl_disabled`.
    Unset ones (None) keep the MySQL connector's defaults.
    """

    host: str
    database: str
    user: str = "root"
    password: str = field(default="", repr=False)
    port: int = 3306
    table_prefix: str = "wp_"
    ssl_ca: str | None = None
    ssl_verify_identity: bool = False
    name: str = ""  # the environment's name (prod, pprd, ...), for file names and messages
    connect_timeout: int = CONNECT_TIMEOUT_S  # seconds (see CONNECT_TIMEOUT_S)
    ssl_cert: str | None = None
    ssl_key: str | None = None
    ssl_verify_cert: bool | None = None
    ssl_disabled: bool | None = None
    read_timeout: int = READ_TIMEOUT_S  # seconds a call may wait for the server (see READ_TIMEOUT_S)

    @classmethod
    def coerce(cls, value: str | Database, role: str) -> Database:
        """`value` as a Database: a mysql:// URL is parsed; an unnamed one is named `role` ("source").

        UsageError naming `role` for anything else.
        """
        if isinstance(value, str):
            value = cls.from_dsn(value)
        if not isinstance(value, Database):
            raise UsageError(f"{role} must be a mysql:// URL or a wfuwp.Database, not {type(value).__name__}")
        return value if value.name else replace(value, name=role)

    @classmethod
    def from_dsn(cls, dsn: str, **overrides: Any) -> Database:
        """Parse `mysql://user:pass@host:port/database?prefix=wp_&ssl_ca=/path&connect_timeout=10`.

        `connect_timeout` and `read_timeout` are whole seconds (see CONNECT_TIMEOUT_S, READ_TIMEOUT_S).

        TLS options are query parameters too: ssl_ca, ssl_cert, ssl_key (paths), ssl_verify_cert,
        ssl_verify_identity, ssl_disabled (1/true or 0/false).
        """
        parts = urlsplit(dsn)
        if parts.scheme not in ("mysql", "mariadb"):
            raise UsageError(f"database URL must start with mysql://, got {parts.scheme or 'no scheme'}://")
        database = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not database:
            raise UsageError("database URL needs a host and a database: mysql://user@host:3306/wordpress")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            port = parts.port or 3306
        except ValueError:
            raise UsageError("database URL has a port that is not a number") from None
        timeouts = {}
        for key, default in (("connect_timeout", CONNECT_TIMEOUT_S), ("read_timeout", READ_TIMEOUT_S)):
            value = query.get(key, str(default))
            if not value.isdigit() or int(value) < 1:
                raise UsageError(f"database URL has {key}={value!r}: give whole seconds, 1 or more")
            timeouts[key] = int(value)
        db = cls(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=database,
            table_prefix=query.get("prefix", "wp_"),
            ssl_ca=query.get("ssl_ca"),
            ssl_cert=query.get("ssl_cert"),
            ssl_key=query.get("ssl_key"),
            ssl_verify_cert=_flag(query.get("ssl_verify_cert")),
            ssl_verify_identity=query.get("ssl_verify_identity", "") in ("1", "true"),
            ssl_disabled=_flag(query.get("ssl_disabled")),
            connect_timeout=timeouts["connect_timeout"],
            read_timeout=timeouts["read_timeout"],
        )
        return replace(db, **overrides) if overrides else db

    def __str__(self) -> str:
        label = f"{self.name} " if self.name else ""
        return f"{label}{self.user}@{self.host}:{self.port}/{self.database}"

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for mysql.connector.connect() (they hold the password: never log them)."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "connection_timeout": max(1, int(self.connect_timeout)),
            "read_timeout": max(1, int(self.read_timeout)),
            "write_timeout": max(1, int(self.read_timeout)),
            "use_pure": DRIVER == "pure",
            "autocommit": True,
            "allow_local_infile": False,
        }
        if self.ssl_ca:
            kwargs["ssl_ca"] = self.ssl_ca
            kwargs["ssl_verify_identity"] = self.ssl_verify_identity
        elif self.ssl_verify_identity:
            kwargs["ssl_verify_identity"] = True
        for name in ("ssl_cert", "ssl_key", "ssl_verify_cert", "ssl_disabled"):
            if getattr(self, name) is not None:
                kwargs[name] = getattr(self, name)
        return kwargs

    def connect(self, *, database: bool = True, local_infile_dir: str | None = None) -> Any:
        """Open a connection (to the database itself unless `database=False`); raise DatabaseError.

        `local_infile_dir`: let `LOAD DATA LOCAL INFILE` read files in that directory (and nowhere else).
        """
        kwargs = self.connect_kwargs()
        if database:
            kwargs["database"] = self.database
        if local_infile_dir is not None:
            kwargs["allow_local_infile_in_path"] = local_infile_dir
        tls = (
            "TLS off"
            if self.ssl_disabled
            else f"TLS {'with' if self.ssl_cert else 'without'} a client certificate"
        )
        runlog.event(_log, logging.DEBUG, "connect", f"connecting to {self} ({tls}, {DRIVER} driver)")
        try:
            return mysql.connector.connect(**kwargs)
        except mysql.connector.Error as exc:
            raise database_error(exc, f"cannot connect to {self}", connecting=self.connect_timeout) from None


def _flag(value: str | None) -> bool | None:
    """A true/false query parameter of a database URL; None when absent."""
    if value is None:
        return None
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"database URL has {value!r} for a true/false option: give 1/true or 0/false")


# Errors of a connection attempt that mean "nothing usable answered there": lost while waiting for the
# greeting (C driver), read timeout (pure driver), cannot connect, unknown host.
_UNREACHABLE_ERRNOS = frozenset({2003, 2005, 2013, 3024})

_GRANT_ADVICE = "grant the user the privilege named (docs/reliability.md lists them)"
_ADVICE = {
    errorcode.ER_ACCESS_DENIED_ERROR: "check the user and password in the configuration",
    errorcode.ER_ACCESS_DENIED_NO_PASSWORD_ERROR: "check the user and password in the configuration",
    errorcode.ER_BAD_DB_ERROR: "check the database name in the configuration",
    errorcode.ER_DBACCESS_DENIED_ERROR: "grant the user access to that database",
    errorcode.ER_TABLEACCESS_DENIED_ERROR: _GRANT_ADVICE,
    errorcode.ER_SPECIFIC_ACCESS_DENIED_ERROR: _GRANT_ADVICE,
    2003: "check the host and port, and that the server is running and reachable",
    2005: "check the host name",
    2006: "the server went away; run the command again",
    2013: "the connection was lost; run the command again",
    1153: "raise max_allowed_packet on the server (SET GLOBAL max_allowed_packet = 1073741824)",
}


def error_advice(errno: int | None, *, connecting: int | None = None) -> str:
    """What to do about driver error `errno`; `connecting` is the connect timeout when connecting."""
    if connecting is not None and errno in _UNREACHABLE_ERRNOS:
        return (
            f"check the host and port, and that the server is running and reachable "
            f"(no answer within {connecting} s)"
        )
    return _ADVICE.get(errno or 0, "see the server's message")


def database_error(exc: BaseException, what: str, *, connecting: int | None = None) -> DatabaseError:
    """Turn a driver error into a one-line DatabaseError with advice; never includes a password.

    `connecting`: the connect timeout in seconds, when the error came from opening a connection.
    """
    errno = getattr(exc, "errno", None)
    # The pure-Python driver's messages span several lines; a message must stay one line.
    msg = _one_line(str(getattr(exc, "msg", None) or exc))
    advice = error_advice(errno, connecting=connecting)
    return DatabaseError(f"{what}: {msg} (error {errno}); {advice}", errno=errno)


def kill_queries(db: Database, connections: Sequence[Any]) -> None:
    """Cut short whatever `connections` (of `db`) are running, with KILL QUERY from a connection of
    its own: a thread blocked in a long statement or fetch then fails out at once. Never raises."""
    try:
        with closing(db.connect()) as killer:
            for conn in connections:
                execute(killer, f"KILL QUERY {int(conn.connection_id)}")
    except Exception:
        pass  # the server is gone too: the blocked calls fail on their own


def as_text(value: object) -> str:
    """A value as the driver returns it (bytes in a `SET NAMES binary` session, else str) as text."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8")
    return str(value)


def _one_line(text: str) -> str:
    return " ".join(text.split())


T = TypeVar("T")


def with_retries(
    action: Callable[[], T],
    *,
    what: str,
    attempts: int = 5,
    base_delay: float = 0.5,
    max_delay: float = 10.0,
    log: Callable[[str], None] | None = None,
) -> T:
    """Run `action`, retrying transient server errors with exponential backoff and full jitter.

    Only errors whose errno is in TRANSIENT_ERRNOS are retried, at most `attempts` times in all; a
    driver error (mysql.connector.Error) and a DatabaseError (what `Database.connect` raises) both
    count. Anything else, and the last failure, is raised as DatabaseError naming `what`. `action`
    must be safe to repeat and must open its own connection when 2006/2013 are to be survived.
    """
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except (mysql.connector.Error, DatabaseError) as exc:
            if exc.errno not in TRANSIENT_ERRNOS or attempt == attempts:
                if isinstance(exc, DatabaseError):
                    raise
                raise database_error(exc, what) from None
            delay = random.uniform(0, min(max_delay, base_delay * 2 ** (attempt - 1)))
            why = _one_line(str(exc.msg if isinstance(exc, mysql.connector.Error) else exc))
            message = f"{what}: {why} (error {exc.errno}); retry {attempt}/{attempts - 1} in {delay:.1f} s"
            runlog.event(_log, logging.WARNING, "retry", message, retries=attempt, what=what, errno=exc.errno)
            if log:
                log(message)
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def execute(conn: Any, statement: bytes | str) -> None:
    """Run one statement that returns no rows, consuming any result."""
    conn.cmd_query(statement)
    if getattr(conn, "unread_result", False):
        conn.get_rows()


def query(conn: Any, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run a parameterised query and return all rows (decoded); for small metadata queries only."""
    cur = conn.cursor()
    try:
        cur.execute(statement, params)
        return list(cur.fetchall()) if cur.with_rows else []
    finally:
        cur.close()


def prepare_copy_session(conn: Any, *, reading: bool) -> None:
    """Set a session up for byte-exact copying (see COPY_SESSION_SQL)."""
    for statement in COPY_SESSION_SQL:
        execute(conn, statement)
    if reading:
        # A stalled consumer (a slow target or S3) must not make the server drop the stream (error 2013).
        execute(conn, b"SET SESSION net_write_timeout = 3600")
        execute(conn, b"SET SESSION net_read_timeout = 3600")
    else:
        execute(conn, b"SET SESSION unique_checks = 0")
        execute(conn, b"SET SESSION foreign_key_checks = 0")
        execute(conn, b"SET SESSION net_read_timeout = 3600")


def max_allowed_packet(conn: Any) -> int:
    """The server's max_allowed_packet in bytes."""
    return int(query(conn, "SELECT @@max_allowed_packet")[0][0])


@contextmanager
def closing(conn: Any) -> Iterator[Any]:
    """Close a connection on exit, whatever happens (a dead one is closed already)."""
    try:
        yield conn
    finally:
        try:
            conn.close()
        except Exception:
            pass
