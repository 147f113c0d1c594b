"""SQL text: quoting identifiers, the statements a copy sends, and the dump framing of archives.

Every identifier that reaches a statement goes through `quote_identifier`; every value goes through
the core's renderer (`Replacer.render_rows`) or a driver parameter. Nothing is pasted unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from wfuwp.errors import UsageError

# MySQL and MariaDB identifiers are at most 64 characters.
MAX_IDENTIFIER = 64

# Session settings at the top of every archive file: the same byte-exact settings the copy uses,
# so `zstd -dc file.sql.zst | mariadb db` recreates the tables as they were.
DUMP_HEADER = (
    b"/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n"
    b"/*!40101 SET NAMES binary */;\n"
    b"/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;\n"
    b"/*!40103 SET TIME_ZONE='+00:00' */;\n"
    b"/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;\n"
    b"/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;\n"
    b"/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;\n"
)
DUMP_FOOTER = (
    b"/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n"
    b"/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;\n"
    b"/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;\n"
    b"/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n"
    b"/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;\n"
    b"-- wfuwp dump complete\n"
)


def quote_identifier(name: str) -> str:
    """Quote a table or column name with backticks; raise UsageError for names MySQL cannot hold."""
    if not name or len(name) > MAX_IDENTIFIER or "\x00" in name or name != name.rstrip(" "):
        raise UsageError(
            f"{name!r} is not a valid table or column name (1-64 characters, no NUL, no trailing space)"
        )
    return "`" + name.replace("`", "``") + "`"


def quote_identifier_bytes(name: str) -> bytes:
    """`quote_identifier` as UTF-8 bytes, for SQL built as bytes."""
    return quote_identifier(name).encode("utf-8")


def insert_prefix(table: str, columns: Sequence[str]) -> bytes:
    """`INSERT INTO `t` (`a`,`b`) VALUES ` for a rendered chunk to follow."""
    return (
        b"INSERT INTO "
        + quote_identifier_bytes(table)
        + b" ("
        + b",".join(quote_identifier_bytes(c) for c in columns)
        + b") VALUES "
    )


def checksum_query(table: str, columns: Sequence[str]) -> str:
    """A query returning (row count, checksum) comparable with `Replacer.render_rows`' checksum.

    Per row: CRC32 of the comma-joined decimal CRC32s of the columns' bytes (`N` for NULL), summed.
    CRC32 per column keeps the server from building row-long strings (rows can pass max_allowed_packet).
    """
    parts = ",".join(f"IFNULL(CRC32(CAST({quote_identifier(c)} AS BINARY)),'N')" for c in columns)
    return f"SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS(',', {parts}))), 0) FROM {quote_identifier(table)}"


_CREATE_TABLE_NAME = re.compile(r"^\s*CREATE\s+TABLE\s+(`(?:[^`]|``)+`)", re.IGNORECASE)


def create_table_as(create_sql: str, new_name: str) -> str:
    """Rewrite `SHOW CREATE TABLE` output so it creates `new_name` instead."""
    match = _CREATE_TABLE_NAME.match(create_sql)
    if not match:
        raise UsageError(f"unexpected CREATE TABLE statement: {create_sql[:60]!r}")
    return create_sql[: match.start(1)] + quote_identifier(new_name) + create_sql[match.end(1) :]


# One foreign key of SHOW CREATE TABLE output (one line each):
#   CONSTRAINT `name` FOREIGN KEY (`col`) REFERENCES `parent` (`col`) ON DELETE CASCADE
_FOREIGN_KEY = re.compile(
    r"CONSTRAINT\s+`((?:[^`]|``)+)`\s+FOREIGN\s+KEY\s*\((?:[^()]|\([^()]*\))*\)\s*REFERENCES\s+"
    r"(?:`(?:[^`]|``)+`\.)?`((?:[^`]|``)+)`[^\n]*?(?=,?\n|,?$)",
    re.IGNORECASE,
)


def _unquote(name: str) -> str:
    return name.replace("``", "`")


def stage_foreign_keys(
    create_sql: str, constraint_name: Callable[[str], str], parent_name: Callable[[str], str]
) -> tuple[str, list[tuple[str, str]]]:
    """Rename a CREATE TABLE's foreign keys for a staging copy; return the SQL and what to restore.

    InnoDB's constraint names are unique per database, so a staging table cannot reuse its live
    twin's: each becomes `constraint_name(name)`, and each parent table `parent_name(parent)` (so
    that staged children point at staged parents, and at the live ones once the swap renames both).
    Returns (the new CREATE TABLE, [(staging constraint name, the original clause)]).
    """
    restore: list[tuple[str, str]] = []

    def rename(match: re.Match[str]) -> str:
        original = match.group(0)
        name, parent = _unquote(match.group(1)), _unquote(match.group(2))
        staged = constraint_name(name)
        restore.append((staged, original))
        clause = original[: match.start(1) - match.start(0) - 1] + quote_identifier(staged)
        clause += original[match.end(1) - match.start(0) + 1 : match.start(2) - match.start(0) - 1]
        return clause + quote_identifier(parent_name(parent)) + original[match.end(2) - match.start(0) + 1 :]

    return _FOREIGN_KEY.sub(rename, create_sql), restore


def foreign_key_parents(create_sql: str) -> list[str]:
    """The parent table of each foreign key of a CREATE TABLE (or of one key's clause), in order."""
    parents: list[str] = []

    def note(parent: str) -> str:
        parents.append(parent)
        return parent

    stage_foreign_keys(create_sql, lambda n: n, note)
    return parents


def table_preamble(table: str, create_sql: str) -> bytes:
    """The statements that (re)create an empty table at the top of its dump."""
    return (
        b"DROP TABLE IF EXISTS "
        + quote_identifier_bytes(table)
        + b";\n"
        + create_table_as(create_sql, table).encode("utf-8")
        + b";\n"
    )
