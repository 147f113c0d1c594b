"""A real S3-compatible HTTP server (moto's standalone server) for tests, benchmarks and the demo.

- `S3Server`: moto running on a free 127.0.0.1 port. It can be stopped and started again (same port, all
  data lost) to inject outages mid-upload; `client()` gives a boto3 client for it.
- `FaultyProxy`: a TCP proxy in front of the server whose link can be cut and restored while the server
  keeps its data, to check what an outage leaves behind.

The pytest fixtures built on them (`s3_server`, `s3_client`, `s3_bucket`, `s3_proxy`) are in
tests/s3fixtures.py.
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
from typing import Any

import boto3
import botocore.config


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

    @property
    def pid(self) -> int:
        """The server process's id (to freeze it with SIGSTOP: connections hang instead of failing)."""
        if self._proc is None:
            raise RuntimeError("the moto server is not running")
        return self._proc.pid

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
