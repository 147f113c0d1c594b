"""Collations the target lacks: MySQL 8's `utf8mb4_0900_*` on MariaDB, and the nearest one it has.

MySQL 8 creates tables with `utf8mb4_0900_ai_ci` unless told otherwise; MariaDB before 11.4.5 has no
collation of that name, so `CREATE TABLE ... COLLATE=utf8mb4_0900_ai_ci` fails there ("Unknown
collation", error 1273). The rows do not care (the copy sends bytes), only the table definition does.
So every CREATE TABLE (and SET) that goes to a target passes through `to_target_collations`, which
rewrites the collation names the target lacks to the nearest ones it has, as listed in `NEAREST`
(the one mapping table) and found in the target's information_schema by `target_collations`.

    available = target_collations(conn)
    mapping = collation_mapping(collations_in(create_sql), available)   # {"utf8mb4_0900_ai_ci": ...}
    execute(conn, to_target_collations(create_sql, available))
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any, TypeVar

import mysql.connector

from wfuwp.mysql.connection import as_text, query

__all__ = [
    "NEAREST",
    "collation_mapping",
    "collations_in",
    "nearest_collation",
    "target_collations",
    "to_target_collations",
]

# MySQL 8's language codes in `utf8mb4_<code>_0900_*` and MariaDB's names for the same tailorings
# (`utf8mb4_uca1400_<name>_*` from 10.10, `utf8mb4_<name>_ci` before). Languages MariaDB has no
# tailoring for (ja, zh, ru, ...) fall back to the language-neutral collation of the same strength.
_LANGUAGES = {
    "cs": "czech",
    "da": "danish",
    "de_pb": "german2",
    "eo": "esperanto",
    "es": "spanish",
    "es_trad": "spanish2",
    "et": "estonian",
    "hr": "croatian",
    "hu": "hungarian",
    "is": "icelandic",
    "la": "roman",
    "lt": "lithuanian",
    "lv": "latvian",
    "pl": "polish",
    "ro": "romanian",
    "sk": "slovak",
    "sl": "slovenian",
    "sv": "swedish",
    "tr": "turkish",
    "vi": "vietnamese",
}

# The one mapping table: a collation some servers lack -> the ones to use instead, nearest first; the
# first the target has wins. The 0900 collations are UCA 9.0.0 and NO PAD (trailing spaces count), so
# the nearest are MariaDB's UCA 14.0.0 NO PAD ones, which MariaDB 11.4.5 itself makes the 0900 names
# aliases of; then UCA 5.2.0 (what WordPress picks on MariaDB), then the older UCA 4.0.0 ones. The PAD
# SPACE fallbacks are still listed after their NO PAD twins: closer ordering matters more than padding
# to a site, and only a unique key on values that differ by trailing spaces alone could notice.
NEAREST: dict[str, tuple[str, ...]] = {
    "utf8mb4_0900_ai_ci": (
        "utf8mb4_uca1400_nopad_ai_ci",
        "utf8mb4_uca1400_ai_ci",
        "utf8mb4_unicode_520_nopad_ci",
        "utf8mb4_unicode_520_ci",
        "utf8mb4_unicode_nopad_ci",
        "utf8mb4_unicode_ci",
        "utf8mb4_general_ci",
    ),
    "utf8mb4_0900_as_ci": (
        "utf8mb4_uca1400_nopad_as_ci",
        "utf8mb4_uca1400_as_ci",
        "utf8mb4_unicode_520_nopad_ci",
        "utf8mb4_unicode_520_ci",
        "utf8mb4_unicode_ci",
        "utf8mb4_general_ci",
    ),
    "utf8mb4_0900_as_cs": (
        "utf8mb4_uca1400_nopad_as_cs",
        "utf8mb4_uca1400_as_cs",
        "utf8mb4_nopad_bin",
        "utf8mb4_bin",
    ),
    "utf8mb4_0900_bin": ("utf8mb4_nopad_bin", "utf8mb4_bin"),
    # The other way, MariaDB 10.10+ to MySQL 8: its UCA 14.0.0 defaults have 0900 twins there.
    "utf8mb4_uca1400_ai_ci": ("utf8mb4_0900_ai_ci", "utf8mb4_unicode_520_ci", "utf8mb4_unicode_ci"),
    "utf8mb4_uca1400_nopad_ai_ci": ("utf8mb4_0900_ai_ci", "utf8mb4_unicode_520_ci", "utf8mb4_unicode_ci"),
    "utf8mb4_uca1400_as_ci": ("utf8mb4_0900_as_ci", "utf8mb4_unicode_520_ci", "utf8mb4_unicode_ci"),
    "utf8mb4_uca1400_nopad_as_ci": ("utf8mb4_0900_as_ci", "utf8mb4_unicode_520_ci", "utf8mb4_unicode_ci"),
    "utf8mb4_uca1400_as_cs": ("utf8mb4_0900_as_cs", "utf8mb4_bin"),
    "utf8mb4_uca1400_nopad_as_cs": ("utf8mb4_0900_as_cs", "utf8mb4_bin"),
}

# utf8mb4_<language>_0900_<strength>, where strength is ai_ci, as_ci, as_cs or (ja) as_cs_ks.
_LANGUAGE_0900 = re.compile(r"utf8mb4_([a-z]{2}(?:_[a-z]+)?)_0900_(ai_ci|as_ci|as_cs)(?:_ks)?")


def nearest_collation(name: str, available: Collection[str]) -> str | None:
    """The collation of `available` to use for `name`: itself if there, else the nearest listed, else None.

    `available` holds lower-case names (as `target_collations` returns them).
    """
    name = name.lower()
    if name in available:
        return name
    for candidate in _candidates(name):
        if candidate in available:
            return candidate
    return None


def _candidates(name: str) -> tuple[str, ...]:
    listed = NEAREST.get(name)
    if listed is not None:
        return listed
    match = _LANGUAGE_0900.fullmatch(name)
    if match is None:
        return ()
    code, strength = match.groups()
    neutral = NEAREST[f"utf8mb4_0900_{strength}"]
    language = _LANGUAGES.get(code)
    if language is None:
        return neutral
    accents, case = strength.split("_")
    tailored: tuple[str, ...] = (
        f"utf8mb4_uca1400_{language}_nopad_{strength}",
        f"utf8mb4_uca1400_{language}_{strength}",
    )
    # MariaDB's older tailorings are accent- and case-insensitive: near only to ai_ci.
    if accents == "ai" and case == "ci":
        tailored += (f"utf8mb4_{language}_520_ci", f"utf8mb4_{language}_ci")
    return tailored + neutral


def collation_mapping(names: Iterable[str], available: Collection[str]) -> dict[str, str | None]:
    """For each of `names` the target lacks: the collation it becomes (None: nothing near enough)."""
    return {
        name: nearest_collation(name, available)
        for name in dict.fromkeys(n.lower() for n in names)
        if name not in available
    }


def target_collations(conn: Any) -> frozenset[str]:
    """Every collation name the server of `conn` accepts, lower-case.

    MariaDB 10.10+ lists its UCA 14.0.0 collations once per character set only in
    COLLATION_CHARACTER_SET_APPLICABILITY.FULL_COLLATION_NAME (COLLATIONS says `uca1400_ai_ci`), so
    both are read; MySQL has no such column.
    """
    names = {
        as_text(n).lower() for (n,) in query(conn, "SELECT COLLATION_NAME FROM information_schema.COLLATIONS")
    }
    try:
        rows = query(
            conn, "SELECT FULL_COLLATION_NAME FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY"
        )
    except mysql.connector.Error:  # MySQL: no FULL_COLLATION_NAME, and COLLATIONS has every name
        rows = []
    names.update(as_text(n).lower() for (n,) in rows)
    return frozenset(names)


# A quoted string or identifier (skipped: a value that happens to be a collation's name is data), or a
# collation named after COLLATE [=] or in `SET collation_connection = ...` (bare or quoted).
_COLLATION_AT = re.compile(
    r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`(?:[^`]|``)*`"
    r"|(?<![A-Za-z0-9_$])(?:COLLATE\s*=?\s*|collation_(?:connection|database|server)\s*=\s*)"
    r"(['\"]?)([A-Za-z0-9_]+)\1(?![A-Za-z0-9_$])",
    re.IGNORECASE | re.DOTALL,
)

_Sql = TypeVar("_Sql", str, bytes)


def collations_in(sql: str | bytes) -> list[str]:
    """The collations a CREATE TABLE or SET statement names (lower-case, in order, each once)."""
    text = sql.decode("latin-1") if isinstance(sql, bytes) else sql
    found = (m.group(2).lower() for m in _COLLATION_AT.finditer(text) if m.group(2))
    return list(dict.fromkeys(found))


def to_target_collations(sql: _Sql, available: Collection[str]) -> _Sql:
    """`sql` (a CREATE TABLE or SET; text or bytes) with each collation the target lacks replaced by the
    nearest one it has. Collations with no near one stay, for the server to refuse by name (preflight
    says so first). `available`: `target_collations`' answer.
    """
    text = sql.decode("latin-1") if isinstance(sql, bytes) else sql  # latin-1: every byte unchanged

    def swap(match: re.Match[str]) -> str:
        name = match.group(2)
        if not name or name.lower() in available:
            return match.group(0)
        nearest = nearest_collation(name, available)
        if nearest is None:
            return match.group(0)
        start, end = match.span(2)
        whole = match.group(0)
        return whole[: start - match.start(0)] + nearest + whole[end - match.start(0) :]

    rewritten = _COLLATION_AT.sub(swap, text)
    return rewritten.encode("latin-1") if isinstance(sql, bytes) else rewritten
