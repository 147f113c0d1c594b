"""Fixtures that give tests real servers: MariaDB (shared or private instances) and S3 (moto's server)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import wfuwp
from devtools.sandbox import MariaDBServer, drop_database, shared_or_private

pytest_plugins = ["tests.s3fixtures"]


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"wfuwp core: {wfuwp.IMPLEMENTATION}"
        f" (WFUWP_NO_EXTENSIONS={os.environ.get('WFUWP_NO_EXTENSIONS', '')!r})"
    )


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    """The MariaDB server at 127.0.0.1:3306 when it answers, else a private one for the session."""
    server = shared_or_private(tmp_path_factory.mktemp("mariadb-shared"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def second_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    """A private MariaDB server, so that source and target are on different servers."""
    server = MariaDBServer.start(tmp_path_factory.mktemp("mariadb-second"))
    yield server
    server.stop()


@pytest.fixture
def private_mariadb(tmp_path: Path) -> Iterator[MariaDBServer]:
    """A private MariaDB server for one test, which the test may kill and relaunch."""
    server = MariaDBServer.start(tmp_path / "mariadb")
    yield server
    server.stop()


@pytest.fixture
def make_database() -> Iterator[Callable[[MariaDBServer], str]]:
    """Create uniquely named empty databases on a server; all are dropped after the test."""
    created: list[tuple[MariaDBServer, str]] = []

    def make(server: MariaDBServer, stem: str = "wfuwp_test") -> str:
        name = f"{stem}_{uuid.uuid4().hex[:10]}"
        conn = server.connect()
        try:
            conn.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        finally:
            conn.close()
        created.append((server, name))
        return name

    yield make
    for server, name in created:
        drop_database(server, name)
