"""One writer per site and target: a server-side named lock, released when its connection ends.

The network tables (site id NETWORK_SITE) have a lock of their own, apart from every site's.
"""

from __future__ import annotations

import hashlib
from typing import Any

import mysql.connector

from wfuwp.errors import LockedError
from wfuwp.mysql.connection import Database, database_error, query
from wfuwp.mysql.schema import NETWORK_SITE, site_or_network_name

__all__ = ["HOLDER_GRACE_S", "SiteLock"]

# Seconds to wait for a held lock. A process killed a moment ago still holds its lock until the server
# has noticed its connection closed, which on a busy server is not instant; a live holder keeps it.
HOLDER_GRACE_S = 3


class SiteLock:
    """A server-side lock on (target database, site): released when its connection ends, even on a crash.

    `site_id` NETWORK_SITE locks the network tables (a lock no site's migration takes).
    """

    def __init__(self, db: Database, site_id: int) -> None:
        key = f"wfuwp:{db.database}:{'network' if site_id == NETWORK_SITE else site_id}"
        # MySQL 5.7+ limits lock names to 64 characters.
        self.name = (
            key
            if len(key) <= 64
            else "wfuwp:" + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()
        )
        self.db = db
        self.site_id = site_id
        self.conn: Any = None

    def acquire(self) -> None:
        """Take the lock, or raise LockedError when another migration holds it (after HOLDER_GRACE_S)."""
        self.conn = self.db.connect()
        try:
            (got,) = query(self.conn, f"SELECT GET_LOCK(%s, {HOLDER_GRACE_S})", (self.name,))[0]
        except mysql.connector.Error as exc:
            what = site_or_network_name(self.site_id)
            raise database_error(exc, f"cannot lock {what} on {self.db}") from None
        if got != 1:
            self.conn.close()
            self.conn = None
            raise LockedError(
                f"another migration is writing {site_or_network_name(self.site_id)} of {self.db}: wait for "
                "it to finish (the lock goes when its process ends)"
            )

    def release(self) -> None:
        """Release the lock (closing the connection would too)."""
        if self.conn is not None:
            try:
                query(self.conn, "SELECT RELEASE_LOCK(%s)", (self.name,))
                self.conn.close()
            except Exception:
                pass
            self.conn = None

    def __enter__(self) -> SiteLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
