"""Database users with chosen privileges, for tests of privileges and passwords; dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from devtools.sandbox import MariaDBServer
from tests.dbutil import run_sql


class Users:
    """Create users on a server (`'name'@'%'` with a password); `drop_all()` removes them."""

    def __init__(self, server: MariaDBServer) -> None:
        self.server = server
        self.created: list[str] = []

    def create(self, *grants: str, password: str = "pw-for-tests") -> str:  # noqa: S107 - a test user
        """Create a user and run `grants` with `{user}` standing for its account; return its name."""
        name = f"wfuwp_{uuid.uuid4().hex[:10]}"
        account = f"'{name}'@'%'"
        run_sql(self.server, None, f"CREATE USER {account} IDENTIFIED BY '{password}'")
        self.created.append(account)
        run_sql(self.server, None, *(g.format(user=account) for g in grants))
        return name

    def drop_all(self) -> None:
        """Drop every user created here."""
        if self.created:
            run_sql(self.server, None, "DROP USER IF EXISTS " + ", ".join(self.created))
        self.created = []


@contextmanager
def users_on(server: MariaDBServer) -> Iterator[Users]:
    """Users on `server` for the duration of a `with` block."""
    users = Users(server)
    try:
        yield users
    finally:
        users.drop_all()
