"""How big a table's rows are: the largest one measured, or bounded by the column types.

Pre-flight compares these with max_allowed_packet: a row whose INSERT exceeds it cannot be copied.
"""

from __future__ import annotations

from typing import Any

from wfuwp.mysql.connection import as_text, query
from wfuwp.mysql.schema import Table
from wfuwp.mysql.sql import quote_identifier

__all__ = ["column_octets", "largest_row", "row_bound"]


def column_octets(conn: Any, database: str, names: list[str]) -> dict[str, dict[str, int | None]]:
    """Most bytes each column can hold (None: no bound from its type worth using)."""
    if not names:
        return {}
    marks = ",".join(["%s"] * len(names))
    out: dict[str, dict[str, int | None]] = {}
    for table, column, octets, precision in query(
        conn,
        "SELECT TABLE_NAME, COLUMN_NAME, CHARACTER_OCTET_LENGTH, NUMERIC_PRECISION "
        f"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN ({marks})",
        (database, *names),
    ):
        bound = int(octets) if octets is not None else (int(precision) + 2 if precision is not None else 64)
        out.setdefault(as_text(table), {})[as_text(column)] = bound
    return out


def row_bound(table: Table, octets: dict[str, int | None]) -> tuple[int, int] | None:
    """(raw, rendered) upper bounds of a row from the column types, or None when they allow > 1 GiB."""
    raw = rendered = 2
    for column in table.copied_columns:
        size = octets.get(column.name)
        if size is None or size > 1024**3:
            return None
        raw += size
        rendered += (2 * size if column.kind == b"X" else 2 * size if column.kind == b"T" else size) + 3
    return raw, rendered


def largest_row(conn: Any, database: str, table: Table) -> tuple[int, int]:
    """(bytes of the largest row's values, bytes of that row rendered as one INSERT's VALUES tuple).

    Rendered: text as is plus quotes (escapes add a little more), binary as hex (twice its length).
    One full read of the table.
    """
    if not table.copied_columns:
        return 0, 0
    raw, rendered = [], []
    for column in table.copied_columns:
        length = f"LENGTH({quote_identifier(column.name)})"
        raw.append(f"COALESCE({length}, 0)")
        # NULL renders as 4 bytes; the 3 are a value's quotes (or 0x) and its comma.
        rendered.append(f"(COALESCE({length}, 2) * {2 if column.kind == b'X' else 1} + 3)")
    rows = query(
        conn,
        f"SELECT COALESCE(MAX({' + '.join(raw)}), 0), COALESCE(MAX({' + '.join(rendered)} + 2), 0) "
        f"FROM {quote_identifier(database)}.{quote_identifier(table.name)}",
    )
    return int(rows[0][0]), int(rows[0][1])
