"""The archive of one migration, as the engine writes it: a folder of per-table zstd SQL streams.

    <root>/site-<id>/<migration id>/{source,backup,migrated}/<site>-<id>-<env>-<kind>-export-<table>.sql.zst
    <root>/site-<id>/<migration id>/manifest.json

The engine opens one stream per table and kind, writes SQL into it, and closes it (durable) or aborts
it (nothing left behind). The root is a local directory here; S3 plugs in behind the same calls.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson
import zstandard

from wfuwp.errors import ArchiveError

# File names keep the predecessor's `{site}-{id}-{env}-{initial|backup|migrated}-export` shape.
EXPORT_NAMES = {"source": "initial-export", "backup": "backup-export", "migrated": "migrated-export"}
DEFAULT_LEVEL = 3


class ArchiveStream(Protocol):
    """A binary sink for one table's SQL."""

    def write(self, data: bytes) -> int: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


class ArchiveWriter(Protocol):
    """What the engine needs from an archive."""

    def describe(self) -> dict[str, Any]: ...
    def open_stream(self, kind: str, table: str) -> ArchiveStream: ...
    def write_manifest(self, manifest: dict[str, Any]) -> None: ...
    def abort_open_streams(self) -> None: ...


class LocalZstdStream:
    """zstd-compressed writes to a temp file that becomes the real file only on close()."""

    def __init__(self, path: Path, level: int = DEFAULT_LEVEL, on_done: Any = None) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".partial")
        self._on_done = on_done
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file: BinaryIO = open(self.tmp, "wb")  # noqa: SIM115 - closed in close()/abort()
        except OSError as exc:
            raise ArchiveError(f"cannot write archive file {path}: {exc.strerror}; check the directory") from None
        # closefd=False: an exception must never close (and so finish) the underlying file for us.
        self._writer = zstandard.ZstdCompressor(level=level).stream_writer(self._file, closefd=False)
        self.bytes_in = 0
        self.done = False

    def write(self, data: bytes) -> int:
        try:
            self._writer.write(data)
        except OSError as exc:
            self.abort()
            raise ArchiveError(f"cannot write archive file {self.path}: {exc.strerror}; free some disk space") from None
        self.bytes_in += len(data)
        return len(data)

    def close(self) -> None:
        """Finish the frame, fsync and rename into place: the file is durable when this returns."""
        if self.done:
            return
        try:
            self._writer.flush(zstandard.FLUSH_FRAME)
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.abort()
            raise ArchiveError(f"cannot finish archive file {self.path}: {exc.strerror}; free some disk space") from None
        self.done = True
        if self._on_done:
            self._on_done(self)

    def abort(self) -> None:
        """Drop what was written; no file is left behind."""
        if self.done:
            return
        self.done = True
        try:
            self._file.close()
        finally:
            self.tmp.unlink(missing_ok=True)
        if self._on_done:
            self._on_done(self)


class LocalArchive:
    """A migration folder in a local directory."""

    def __init__(self, root: Path, *, migration_id: str, site_id: int, site_name: str, from_env: str, to_env: str):
        self.root = root
        self.folder = root / f"site-{site_id}" / migration_id
        self.site_id = site_id
        self.site_name = site_name
        self.envs = {"source": from_env, "backup": to_env, "migrated": to_env}
        self._open: set[LocalZstdStream] = set()
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        return {"location": str(self.folder)}

    def object_name(self, kind: str, table: str) -> str:
        """The relative name of one table's export."""
        return f"{kind}/{self.site_name}-{self.site_id}-{self.envs[kind]}-{EXPORT_NAMES[kind]}-{table}.sql.zst"

    def open_stream(self, kind: str, table: str) -> LocalZstdStream:
        stream = LocalZstdStream(self.folder / self.object_name(kind, table), on_done=self._closed)
        with self._lock:
            self._open.add(stream)
        return stream

    def _closed(self, stream: LocalZstdStream) -> None:
        with self._lock:
            self._open.discard(stream)

    def abort_open_streams(self) -> None:
        with self._lock:
            streams = list(self._open)
        for stream in streams:
            stream.abort()

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        path = self.folder / "manifest.json"
        tmp = path.with_suffix(".json.partial")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
            os.replace(tmp, path)
        except OSError as exc:
            raise ArchiveError(f"cannot write {path}: {exc.strerror}") from None


def open_archive(
    spec: str | os.PathLike[str] | ArchiveWriter,
    *,
    migration_id: str,
    site_id: int,
    site_name: str,
    from_env: str,
    to_env: str,
) -> ArchiveWriter:
    """The archive for one migration at `spec` (a directory, or an ArchiveWriter used as is)."""
    if not isinstance(spec, (str, os.PathLike)):
        return spec
    return LocalArchive(
        Path(spec), migration_id=migration_id, site_id=site_id, site_name=site_name, from_env=from_env, to_env=to_env
    )
