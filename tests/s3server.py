"""Pytest plugin: a real S3-compatible HTTP server (moto's standalone server) for tests.

Register it with `pytest_plugins = ["tests.s3server"]` in the root conftest. Fixtures:

- `s3_server` (session): moto running in a subprocess on a free 127.0.0.1 port. It can be stopped
  and started again (same port, all data lost) to inject outages mid-upload. Dummy credentials and
  a region are put in the environment for the session, and any real AWS config is hidden.
- `s3_bucket` (function): a fresh, empty bucket on that server; its name.
- `s3_client`: a boto3 client for the server, for tests to look at what was written.
- `s3_proxy` (function): a TCP proxy in front of the server whose link can be cut and restored while
  the server keeps its data, to check what an outage leaves behind.
"""

from __future__ import annotations

import contextlib
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.config
import pytest


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class S3Server:
    """A moto server subprocess; `endpoint_url` stays the same across `stop()`/`start()`."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        """Start the server (no-op if running) and wait until it answers HTTP."""
        if self.running:
            return
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"moto server exited with code {self._proc.returncode} on port {self.port}"
                )
            try:
                with urllib.request.urlopen(self.endpoint_url + "/moto-api/", timeout=1):  # noqa: S310 - http only
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto server did not answer on {self.endpoint_url} within {timeout}s")

    def stop(self) -> None:
        """Stop the server; connections are refused until `start()`. Its data is gone."""
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def client(self, **config: Any) -> Any:
        """Return a boto3 S3 client for this server (few retries, so outages fail fast)."""
        cfg = botocore.config.Config(retries={"mode": "standard", "max_attempts": 2}, **config)
        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1", config=cfg)


class FaultyProxy:
    """A TCP proxy to the S3 server: `cut()` drops all connections and refuses new ones; `restore()` heals."""

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self.port = _free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        """Listen again (same port) and forward new connections."""
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Close the listener (new connections are refused) and reset every open connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            a.close()
            b.close()


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
