"""The current user's privileges, read from SHOW GRANTS: what pre-flight checks before a migration."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["DB_LEVEL_ALL", "Grants", "grant_pattern", "privilege_names"]

# Privileges a database-level `GRANT ALL` carries that matter here (RELOAD is global only).
DB_LEVEL_ALL = frozenset({"SELECT", "INSERT", "CREATE", "DROP", "ALTER", "INDEX", "LOCK TABLES", "TRIGGER"})

_SCOPE = re.compile(r"\sON\s+(?:TABLE\s+)?(\*|`(?:[^`]|``)*`)\.(\*|`(?:[^`]|``)*`)\s+TO\s", re.IGNORECASE)


@dataclass
class Grants:
    """The current user's privileges as SHOW GRANTS lists them."""

    account: str  # CURRENT_USER(): user@host
    grantee: str  # 'user'@'host', for GRANT statements in fixes
    global_privileges: set[str] = field(default_factory=set)
    databases: list[tuple[re.Pattern[str], set[str]]] = field(default_factory=list)
    has_roles: bool = False

    @property
    def has_all_global(self) -> bool:
        return "ALL" in self.global_privileges

    @classmethod
    def parse(cls, account: str, lines: Sequence[str]) -> Grants:
        user, _, host = account.rpartition("@")
        grantee = "'" + user.replace("'", "''") + "'@'" + host.replace("'", "''") + "'"
        grants = cls(account, grantee)
        for line in lines:
            if not line.upper().startswith("GRANT "):
                continue
            scope = _SCOPE.search(line)
            if scope is None:
                # `GRANT role TO user` (roles), or PROXY: privileges SHOW GRANTS may not spell out.
                grants.has_roles = grants.has_roles or " ON " not in line.upper()
                continue
            privileges = privilege_names(line[len("GRANT ") : scope.start()])
            database, table = scope.group(1), scope.group(2)
            if database == "*":
                grants.global_privileges |= privileges
            elif table == "*":
                grants.databases.append((grant_pattern(database[1:-1].replace("``", "`")), privileges))
            # Table-level grants cannot cover the staging tables a migration creates; SELECT on the
            # source's tables is tried directly instead.
        return grants

    def on_database(self, database: str) -> set[str]:
        """Privileges the user holds on every table of `database`, present and future."""
        held = set(self.global_privileges)
        for pattern, privileges in self.databases:
            if pattern.fullmatch(database):
                held |= privileges
        if "ALL" in held:
            held |= DB_LEVEL_ALL
        return held


def privilege_names(text: str) -> set[str]:
    """`SELECT, INSERT (a, b), LOCK TABLES` -> {"SELECT", "LOCK TABLES"}: column-level grants dropped."""
    names, depth, current = set(), 0, ""
    for ch in text + ",":
        if ch == "(":
            depth += 1
            current = "\0"  # column-level: not a privilege on the whole table
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            name = " ".join(current.split()).upper()
            if name and "\0" not in name:
                names.add("ALL" if name in ("ALL", "ALL PRIVILEGES") else name)
            current = ""
        elif depth == 0 and current != "\0":
            current += ch
    return names


def grant_pattern(database: str) -> re.Pattern[str]:
    """A database name in a GRANT as a regex: `%` and `_` are wildcards unless escaped with `\\`."""
    out, escaped = [], False
    for ch in database:
        if escaped:
            out.append(re.escape(ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)
