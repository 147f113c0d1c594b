"""Pytest plugin: fixtures around a real S3-compatible server (devtools.s3server), for tests.

Registered with `pytest_plugins = ["tests.s3fixtures"]` in tests/conftest.py. Fixtures:

- `s3_server` (session): moto running in a subprocess on a free 127.0.0.1 port (`S3Server`). It can be
  stopped and started again (same port, all data lost) to inject outages mid-upload. Dummy credentials
  and a region are put in the environment for the session, and any real AWS config is hidden.
- `s3_bucket` (function): a fresh, empty bucket on that server; its name.
- `s3_client`: a boto3 client for the server, for tests to look at what was written.
- `s3_proxy` (function): a TCP proxy in front of the server whose link can be cut and restored while
  the server keeps its data (`FaultyProxy`), to check what an outage leaves behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.s3server import FaultyProxy, S3Server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """Yield a running moto S3 server for the session (see `S3Server`)."""
    nowhere = tmp_path_factory.mktemp("aws") / "none"
    with pytest.MonkeyPatch.context() as mp:
        # Dummy credentials, and no real profile/config file: tests must never reach a real account.
        for var in (
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
        ):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_REGION", "us-east-1")
        mp.setenv("AWS_CONFIG_FILE", str(nowhere))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        server = S3Server()
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def s3_client(s3_server: S3Server) -> Any:
    """Return a boto3 client for `s3_server`, restarting the server if a test left it stopped."""
    s3_server.start()
    return s3_server.client()


@pytest.fixture
def s3_bucket(s3_server: S3Server, s3_client: Any) -> str:
    """Create a fresh bucket on `s3_server` and return its name."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_proxy(s3_server: S3Server, s3_client: Any) -> Iterator[FaultyProxy]:
    """Yield a cuttable proxy to `s3_server` (see `FaultyProxy`); it is torn down after the test."""
    proxy = FaultyProxy(s3_server.port)
    try:
        yield proxy
    finally:
        proxy.cut()
