"""Private servers for tests, benchmarks and the demo: MariaDB instances in temp directories.

`MariaDBServer.start(tmpdir)` runs its own `mariadbd` on a free 127.0.0.1 port with root and no
password, so a test can copy between two servers or kill one without touching the shared server.
`shared_or_private(tmpdir)` returns the server at 127.0.0.1:3306 when it answers, else a private one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import mysql.connector  # after wfuwp, which devtools/__init__.py imports: it loads the C extension


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _find(binary: str) -> str:
    for candidate in (shutil.which(binary), f"/usr/sbin/{binary}", f"/usr/bin/{binary}"):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError(
        f"{binary} is not installed: run ./scripts/ensure-system-deps (installs mariadb-server)"
    )


@dataclass
class MariaDBServer:
    """A MariaDB server reachable over TCP as root with an empty password."""

    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = ""
    datadir: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    extra_args: tuple[str, ...] = ()

    def connect_kwargs(self) -> dict[str, object]:
        """Keyword arguments for mysql.connector.connect()."""
        return {"host": self.host, "port": self.port, "user": self.user, "password": self.password}

    def connect(self, **kwargs: object) -> mysql.connector.MySQLConnection:
        """A new autocommit connection (the C extension's when available)."""
        conn = mysql.connector.connect(**{**self.connect_kwargs(), "connection_timeout": 5, **kwargs})
        conn.autocommit = True
        return conn  # type: ignore[return-value]

    def dsn(self, database: str) -> str:
        """A mysql:// URL for this server and database (no password: it is empty)."""
        return f"mysql://{self.user}@{self.host}:{self.port}/{database}"

    def answers(self) -> bool:
        """Tell whether the server accepts a connection right now."""
        try:
            self.connect().close()
        except mysql.connector.Error:
            return False
        return True

    @classmethod
    def start(cls, basedir: Path, *, extra_args: tuple[str, ...] = ()) -> MariaDBServer:
        """Initialise a data directory under `basedir` and start a private mariadbd on a free port."""
        basedir.mkdir(parents=True, exist_ok=True)
        datadir = basedir / "data"
        if not (datadir / "mysql").exists():
            (basedir / "tmp").mkdir(exist_ok=True)
            subprocess.run(
                [
                    _find("mariadb-install-db"),
                    "--no-defaults",
                    f"--datadir={datadir}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--user=" + (os.environ.get("USER") or "root"),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=_own_tmpdir(basedir),
            )
        server = cls(port=free_port(), datadir=datadir, extra_args=extra_args)
        server.launch()
        return server

    def launch(self) -> None:
        """Start (or restart) this private server's mariadbd and wait until it answers."""
        assert self.datadir is not None, "only private servers can be launched"
        basedir = self.datadir.parent
        args = [
            _find("mariadbd"),
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={basedir / 'mysqld.sock'}",
            f"--pid-file={basedir / 'mysqld.pid'}",
            f"--log-error={basedir / 'error.log'}",
            f"--tmpdir={basedir / 'tmp'}",
            "--innodb-buffer-pool-size=128M",
            "--innodb-log-file-size=64M",
            "--max-allowed-packet=64M",
            "--local-infile=1",
            "--skip-name-resolve",
            "--user=root",
            *self.extra_args,
        ]
        (basedir / "tmp").mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_own_tmpdir(basedir)
        )
        deadline = time.monotonic() + 60
        while not self.answers():
            if self.process.poll() is not None:
                log = (basedir / "error.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"private mariadbd exited with {self.process.returncode}:\n{log}")
            if time.monotonic() > deadline:
                raise RuntimeError("private mariadbd did not answer within 60 s")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the private server (as a crash would), and wait for it to be gone."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """Shut the private server down cleanly."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def shared_or_private(basedir: Path) -> MariaDBServer:
    """The shared server at 127.0.0.1:3306 when it answers, else a private one under basedir."""
    shared = MariaDBServer()
    if shared.answers():
        return shared
    return MariaDBServer.start(basedir)


def sql(server: MariaDBServer, *statements: str) -> list[tuple[object, ...]]:
    """Run `statements` on `server` in one connection; the rows of the last that returned any."""
    conn = server.connect()
    try:
        cur = conn.cursor()
        rows: list[tuple[object, ...]] = []
        for statement in statements:
            cur.execute(statement)
            if cur.with_rows:
                rows = list(cur.fetchall())
        return rows
    finally:
        conn.close()


def drop_database(server: MariaDBServer, name: str) -> None:
    """Drop a database if it exists, ignoring a server that is gone."""
    with contextlib.suppress(mysql.connector.Error):
        conn = server.connect()
        try:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            conn.close()


def _own_tmpdir(basedir: Path) -> dict[str, str]:
    """The environment for a private mariadbd: TMPDIR in its own folder.

    A starting mariadbd deletes every `#sql*` file in its tmpdir (mysql_rm_tmp_tables), so with the
    default /tmp each private server started during a test run deleted the shared server's temporary
    tables under running queries ("Error on delete of '/tmp/#sql-temptable-...MAI'").
    """
    return {**os.environ, "TMPDIR": str(basedir / "tmp")}
