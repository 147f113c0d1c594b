"""Schema objects beyond tables: the triggers of a site's tables, and what else names them.

Triggers belong to a table, and a RENAME TABLE takes them along, but their names are unique per
database: a staging twin's trigger cannot have its live twin's name while that one exists. So a
staged trigger is created (once its table is loaded, so that the load fires nothing) under a staging
name, and renamed to its own after the swap (`rename_triggers`). Its body is the source's, unchanged:
it names the live tables, which are the migrated ones from the swap on.

Views, stored routines and events are not per-table: `referencing_objects` finds those whose text
names the site's tables, for pre-flight to report (they are not migrated).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from wfuwp.mysql.connection import as_text, execute, query
from wfuwp.mysql.sql import quote_identifier

__all__ = [
    "ReferencingObject",
    "Trigger",
    "referencing_objects",
    "rename_triggers",
    "site_triggers",
    "trigger_sql",
]


@dataclass(frozen=True)
class Trigger:
    """One trigger of a table: when it fires, its body, and the sql_mode it was created with."""

    name: str
    table: str
    timing: str  # BEFORE or AFTER
    event: str  # INSERT, UPDATE or DELETE
    body: str  # FOR EACH ROW <body>, as the server keeps it
    sql_mode: str

    def create_sql(self, *, name: str | None = None, table: str | None = None) -> str:
        """The CREATE TRIGGER statement, optionally under another name or on another table.

        No DEFINER: the trigger is the connecting account's (naming another needs SUPER or SET USER).
        """
        return (
            f"CREATE TRIGGER {quote_identifier(name or self.name)} {self.timing} {self.event}"
            f" ON {quote_identifier(table or self.table)} FOR EACH ROW {self.body}"
        )


def site_triggers(conn: Any, database: str, tables: Sequence[str]) -> list[Trigger]:
    """The triggers of the named tables, in the order they fire (creating them in this order keeps it)."""
    if not tables:
        return []
    marks = ",".join(["%s"] * len(tables))
    rows = query(
        conn,
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_STATEMENT,"
        " SQL_MODE FROM information_schema.TRIGGERS"
        f" WHERE TRIGGER_SCHEMA = %s AND EVENT_OBJECT_TABLE IN ({marks})"
        " ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER",
        (database, *tables),
    )
    return [Trigger(*(as_text(v) for v in row)) for row in rows]


def trigger_names(conn: Any, database: str, tables: Iterable[str]) -> set[str]:
    """Names of the triggers on the named tables."""
    names = list(tables)
    return {t.name for t in site_triggers(conn, database, names)}


def create_trigger(conn: Any, trigger: Trigger, *, name: str | None = None, table: str | None = None) -> None:
    """Create `trigger` (under `name`, on `table` if given) with its own sql_mode, dropping a namesake."""
    execute(conn, f"DROP TRIGGER IF EXISTS {quote_identifier(name or trigger.name)}")
    # A trigger keeps the sql_mode and character set it was created with: its own, whatever the
    # session (a copy session is `SET NAMES binary`) had, and the session gets its own back.
    execute(conn, _SAVE_SESSION)
    query(conn, "SET SESSION sql_mode = %s", (trigger.sql_mode,))
    execute(conn, "SET NAMES utf8mb4")
    try:
        execute(conn, trigger.create_sql(name=name, table=table).encode("utf-8"))
    finally:
        execute(conn, _RESTORE_SESSION)


_SAVE_SESSION = (
    "SET @wfuwp_sql_mode = @@SESSION.sql_mode, @wfuwp_cs_client = @@SESSION.character_set_client,"
    " @wfuwp_cs_results = @@SESSION.character_set_results,"
    " @wfuwp_collation = @@SESSION.collation_connection"
)
_RESTORE_SESSION = (
    "SET SESSION sql_mode = @wfuwp_sql_mode, character_set_client = @wfuwp_cs_client,"
    " character_set_results = @wfuwp_cs_results, collation_connection = @wfuwp_collation"
)


def rename_triggers(
    conn: Any, database: str, triggers: Sequence[Trigger], staged_name: Callable[[str], str]
) -> None:
    """Give live tables' triggers their own names back, replacing the staging names they were created under.

    Per table, under LOCK TABLES ... WRITE (no write in between fires a trigger twice or not at all):
    create each trigger under its name, then drop its staged twin. Repeatable: a run killed part way
    leaves each trigger staged, doubled (both names) or done, and running this again finishes it.
    A trigger whose name another table's trigger still holds (old tables kept) keeps its staging name.
    """
    by_table: dict[str, list[Trigger]] = {}
    for trigger in triggers:
        by_table.setdefault(trigger.table, []).append(trigger)
    for table, own in by_table.items():
        present = trigger_names(conn, database, [table])
        todo = [t for t in own if t.name not in present or staged_name(t.name) in present]
        if not todo:
            continue
        taken = {
            as_text(n)
            for (n,) in query(
                conn,
                "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s"
                " AND EVENT_OBJECT_TABLE <> %s",
                (database, table),
            )
        }
        execute(conn, f"LOCK TABLES {quote_identifier(table)} WRITE")
        try:
            for trigger in todo:
                if trigger.name in taken:
                    continue
                if trigger.name not in present:
                    create_trigger(conn, trigger, table=table)
                if staged_name(trigger.name) in present:
                    execute(conn, f"DROP TRIGGER IF EXISTS {quote_identifier(staged_name(trigger.name))}")
        finally:
            execute(conn, "UNLOCK TABLES")


def trigger_sql(triggers: Sequence[Trigger]) -> bytes:
    """CREATE TRIGGER statements as the mysql client (and wfuwp's import) loads them: each with its
    sql_mode, in utf8mb4, between `DELIMITER ;;` lines (a body's own statements end in ';')."""
    if not triggers:
        return b""
    out = [b"SET NAMES utf8mb4;\n"]
    for trigger in triggers:
        mode = trigger.sql_mode.replace("\\", "\\\\").replace("'", "\\'")
        out.append(f"SET SESSION sql_mode = '{mode}';\nDELIMITER ;;\n".encode())
        out.append(trigger.create_sql().encode("utf-8") + b";;\nDELIMITER ;\n")
    out.append(b"SET NAMES binary;\n")
    return b"".join(out)


@dataclass(frozen=True)
class ReferencingObject:
    """A view, procedure, function, event or trigger of another table whose text names site tables."""

    kind: str  # view, procedure, function, event, trigger
    name: str
    tables: tuple[str, ...]  # the site tables it names


def referencing_objects(conn: Any, database: str, tables: Sequence[str]) -> list[ReferencingObject]:
    """Views, stored routines and events of `database` whose definitions name any of `tables`.

    Read from information_schema (definitions the account may see); a name counts when it appears as a
    whole identifier, quoted or not. Sorted by kind and name.
    """
    if not tables:
        return []
    wanted = set(tables)
    word = re.compile(r"`((?:[^`]|``)+)`|([A-Za-z0-9_$\x80-\U0010ffff]+)")
    sources: list[tuple[str, str, str]] = []
    for name, text in query(
        conn,
        "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s",
        (database,),
    ):
        sources.append(("view", as_text(name), as_text(text or "")))
    for kind, name, text in query(
        conn,
        "SELECT ROUTINE_TYPE, ROUTINE_NAME, ROUTINE_DEFINITION FROM information_schema.ROUTINES"
        " WHERE ROUTINE_SCHEMA = %s",
        (database,),
    ):
        sources.append((as_text(kind).lower(), as_text(name), as_text(text or "")))
    for name, text in query(
        conn,
        "SELECT EVENT_NAME, EVENT_DEFINITION FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s",
        (database,),
    ):
        sources.append(("event", as_text(name), as_text(text or "")))
    found = []
    for kind, name, text in sources:
        named = set()
        for m in word.finditer(text):
            ident = m.group(1).replace("``", "`") if m.group(1) is not None else m.group(2)
            if ident in wanted:
                named.add(ident)
        if named:
            found.append(ReferencingObject(kind, name, tuple(sorted(named))))
    return sorted(found, key=lambda o: (o.kind, o.name))
