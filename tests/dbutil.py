"""Small helpers for tests that look into real databases."""

from __future__ import annotations

from typing import Any

from devtools.sandbox import MariaDBServer


def quote(name: str) -> str:
    """A table name as a backtick-quoted identifier (backticks in it doubled)."""
    return "`" + name.replace("`", "``") + "`"


def run_sql(server: MariaDBServer, database: str | None, *statements: str | bytes) -> None:
    """Execute statements (no results) on a fresh connection, with zero dates allowed."""
    conn = server.connect(**({"database": database} if database else {}))
    try:
        cur = conn.cursor()
        cur.execute("SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'")
        for statement in statements:
            cur.execute(statement)
    finally:
        conn.close()


def fetch(server: MariaDBServer, database: str, statement: str) -> list[tuple[Any, ...]]:
    """All rows of a query, values as raw bytes (None for NULL)."""
    conn = server.connect(database=database)
    try:
        conn.cmd_query(b"SET NAMES binary")
        cur = conn.cursor(raw=True)
        cur.execute(statement)
        return list(cur.fetchall())
    finally:
        conn.close()


def table_names(server: MariaDBServer, database: str) -> list[str]:
    """Every table in the database, sorted."""
    conn = server.connect(database=database)
    try:
        cur = conn.cursor()
        cur.execute("SHOW TABLES")
        return sorted(str(r[0]) for r in cur.fetchall())
    finally:
        conn.close()


def checksums(server: MariaDBServer, database: str) -> dict[str, int]:
    """CHECKSUM TABLE of every table in the database (the byte-identity witness)."""
    names = table_names(server, database)
    if not names:
        return {}
    conn = server.connect(database=database)
    try:
        cur = conn.cursor()
        cur.execute("CHECKSUM TABLE " + ", ".join(quote(n) for n in names))
        return {str(name).split(".", 1)[1]: value for name, value in cur.fetchall()}
    finally:
        conn.close()


def create_statements(server: MariaDBServer, database: str) -> dict[str, str]:
    """SHOW CREATE TABLE of every table, AUTO_INCREMENT included."""
    conn = server.connect(database=database)
    try:
        cur = conn.cursor()
        out = {}
        for name in table_names(server, database):
            cur.execute(f"SHOW CREATE TABLE {quote(name)}")
            out[name] = str(cur.fetchone()[1])
        return out
    finally:
        conn.close()
