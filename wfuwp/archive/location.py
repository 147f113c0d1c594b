"""Archive sinks: zstd-compressed SQL per table and a manifest per migration, in S3 or a local directory.

Layout under a root (`s3://bucket/prefix` or a directory); it is stable, see docs/archives.md:

    <root>/site-<site id>/<migration id>/
        source/<site name>-<site id>-<from>-initial-export-<table>.sql.zst
        backup/<site name>-<site id>-<to>-backup-export-<table>.sql.zst
        migrated/<site name>-<site id>-<to>-migrated-export-<table>.sql.zst
        manifest.json

    <migration id> = <UTC YYYYmmddTHHMMSSZ>-<from>-to-<to>-<6 hex digits>, e.g.
                     20261125T101500Z-prod-to-pprd-3fa2c1

An object appears only once it is complete: a local file is written under a temporary name, fsynced
and renamed; an S3 object is a multipart upload completed on `close()` and aborted on any error.
`manifest.json` is written last; a folder without one is a migration that did not finish.

Typical use:

    location = ArchiveLocation.parse("s3://backups/wordpress", sse="aws:kms")
    archive = location.new_migration(site_id=43, site_name="biology", from_env="prod", to_env="pprd")
    with archive.open_table_stream("source", "wp_43_posts") as out:
        out.write(b"INSERT INTO ...;\\n")
    archive.write_manifest({"status": "complete", "tables": [...]})
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import secrets
import threading
import urllib.parse
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO, Literal, Protocol, cast

import orjson
import platformdirs
import zstandard

from wfuwp.storage import local as _local
from wfuwp.storage import s3 as _s3
from wfuwp.storage.compress import open_zstd_reader
from wfuwp.storage.s3 import MAX_OBJECT_SIZE, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, S3Client
from wfuwp.errors import ArchiveError, UsageError

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_LEVEL",
    "DEFAULT_PART_SIZE",
    "DEFAULT_THREADS",
    "ArchiveLocation",
    "ArchiveStream",
    "MigrationArchive",
    "MigrationInfo",
    "Role",
    "default_local_root",
    "list_migrations",
    "parse_migration_id",
]

# S3 part size. Memory per open S3 stream is about 2 x part size (smart_open's part buffer plus the
# queue in front of the upload thread). 16 MiB parts allow 160 GiB per object (10,000 parts, see
# wfuwp.storage.s3), far above any one table of a site, while three streams at once stay near 100 MiB.
DEFAULT_PART_SIZE = 8 * 1024**2
# Parallel S3 requests for listing manifests and downloading a migration.
DEFAULT_CONCURRENCY = 4
# zstd level 3 with 2 worker threads: 5.7x on WordPress-like SQL at ~350 MiB/s on 2 cores, 1.6x the
# speed of single-threaded level 3; level 6 gains 4% size at a quarter of the speed
# (benchmarks/bench_archive.py).
DEFAULT_LEVEL = 3
DEFAULT_THREADS = 2

MANIFEST_NAME = "manifest.json"
# What a running migration has finished so far, so an interrupted one can be resumed.
STATE_NAME = "state.json"
MANIFEST_FORMAT = 1
SUFFIX = ".sql.zst"
_ZSTD_JOB_SIZE = 1024 * 1024
_ZSTD_CHUNK = 128 * 1024  # what zstd's stream_writer hands to the sink per write (ZSTD_CStreamOutSize)

Role = Literal["source", "backup", "migrated"]
# Role -> (export kind in the file name, which environment the tables came from).
_ROLES: dict[str, tuple[str, Literal["from", "to"]]] = {
    "source": ("initial-export", "from"),
    "backup": ("backup-export", "to"),
    "migrated": ("migrated-export", "to"),
}

_ENV_RE = re.compile(r"[a-z0-9_]+")
_ID_RE = re.compile(
    r"(?P<when>\d{8}T\d{6}Z)-(?P<from>[a-z0-9_]+)-to-(?P<to>[a-z0-9_]+)-(?P<short>[0-9a-f]{6})"
)
_SITE_DIR_RE = re.compile(r"site-(?P<id>[1-9][0-9]*)")
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
_SSE_VALUES = ("AES256", "aws:kms")


def default_local_root() -> Path:
    """Return the directory used when no archive location is configured (per-user data dir)."""
    return Path(platformdirs.user_data_dir("wfuwp")) / "archives"


def parse_migration_id(migration_id: str) -> tuple[datetime, str, str]:
    """Return (UTC time, from env, to env) of a migration id; raise UsageError if it is not one."""
    m = _ID_RE.fullmatch(migration_id)
    if not m:
        raise UsageError(
            f"{migration_id!r} is not a migration id: expected <YYYYmmddTHHMMSSZ>-<from>-to-<to>-<6 hex>, "
            "e.g. 20261125T101500Z-prod-to-pprd-3fa2c1"
        )
    when = datetime.strptime(m["when"], _TIME_FORMAT).replace(tzinfo=timezone.utc)
    return when, m["from"], m["to"]


def _safe_name(text: str) -> str:
    """Return `text` usable as one file name: bytes other than letters, digits and _-.$@+ become %XX."""
    return urllib.parse.quote(text, safe="_-.$@+")


def _utc_iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------------------
# Sinks: where the compressed bytes of one object go. write() any number of times, then commit() or abort().


class _Sink(Protocol):
    url: str

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> str | None:
        """Drop everything written; return a description if that failed, else None."""


# --------------------------------------------------------------------------------------------------------
# The public stream.


class _Tee:
    """What zstd writes into: counts and hashes the compressed bytes, then hands them to the sink."""

    def __init__(self, sink: _Sink, part_size: int | None) -> None:
        self.sink = sink
        self.bytes = 0
        self.sha256 = hashlib.sha256()
        self.discard = False
        self._limit = min(part_size * MAX_PARTS, MAX_OBJECT_SIZE) if part_size else None

    def write(self, data: bytes | memoryview) -> int:
        n = len(data)
        if self.discard:
            return n
        chunk = data if isinstance(data, bytes) else bytes(data)
        self.bytes += n
        if self._limit is not None and self.bytes > self._limit:
            raise ArchiveError(
                f"{self.sink.url} would exceed {self._limit // 1024**3} GiB, what S3 allows with this part "
                f"size ({MAX_PARTS} parts, 5 TiB at most); raise the part size"
            )
        self.sha256.update(chunk)
        self.sink.write(chunk)
        return n

    def flush(self) -> None:
        pass


class ArchiveStream(io.BufferedIOBase):
    """A writable binary stream that zstd-compresses into one archive object.

    Use it as a context manager. `close()` returns once the object is durable (local file fsynced and
    renamed / S3 multipart upload completed); an exception in the `with` block, `abort()`, or dropping
    the stream unclosed discards it (local temp file removed / multipart upload aborted), so a partial
    object is never visible. `flush()` does not force data out (that would hurt the ratio).
    Not thread-safe: one writer per stream. Errors raise ArchiveError.
    """

    def __init__(
        self,
        sink: _Sink,
        *,
        name: str,
        level: int,
        threads: int,
        part_size: int | None = None,
        on_commit: Callable[[ArchiveStream], None] | None = None,
        on_finish: Callable[[ArchiveStream], None] | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.url = sink.url
        self._sink = sink
        self._tee = _Tee(sink, part_size)
        # closefd=False: zstandard's stream_writer otherwise closes the inner stream when it is closed,
        # including on an exception, and closing an upload means committing it.
        # zstd's multi-threaded jobs default to 4x the window (8 MiB at level 3), each buffered per worker:
        # with five streams open at once that alone passed the 300 MB memory goal. 1 MiB jobs keep the
        # speed of two workers at a fraction of the memory.
        params = zstandard.ZstdCompressionParameters.from_level(
            level, threads=threads, job_size=_ZSTD_JOB_SIZE if threads else 0, write_checksum=True
        )
        self._zw = zstandard.ZstdCompressor(compression_params=params).stream_writer(
            cast("IO[bytes]", self._tee), closefd=False, write_size=_ZSTD_CHUNK
        )
        self._state: Literal["open", "committed", "aborted"] = "open"
        self._on_commit = on_commit
        self._on_finish = on_finish
        self.bytes_in = 0  # uncompressed bytes written by the caller
        self.abort_problem: str | None = None  # set when discarding the partial object failed

    @property
    def bytes_out(self) -> int:
        """Compressed bytes produced so far (the object's size once closed)."""
        return self._tee.bytes

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the compressed object; final once the stream is closed."""
        return self._tee.sha256.hexdigest()

    @property
    def closed(self) -> bool:
        return self._state != "open"

    @property
    def committed(self) -> bool:
        """True once `close()` has made the object durable."""
        return self._state == "committed"

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def write(self, data: Any) -> int:
        """Compress and write `data` (any bytes-like); return its length."""
        if self._state != "open":
            raise ValueError(f"write to a closed archive stream ({self.url})")
        n = memoryview(data).nbytes
        try:
            self._zw.write(data)
        except ArchiveError:
            self.abort()
            raise
        self.bytes_in += n
        return n

    def flush(self) -> None:
        """Do nothing: forcing compressed data out early would only hurt the ratio."""

    def close(self) -> None:
        """Finish the object and return once it is durable. Raises ArchiveError (and discards the object)."""
        if self._state != "open":
            return
        try:
            # Writes the end of the frame into the sink; the sink stays open (closefd=False).
            self._zw.close()  # type: ignore[no-untyped-call]
            self._sink.commit()
        except BaseException:
            self.abort()
            raise
        self._state = "committed"
        try:
            if self._on_commit is not None:
                self._on_commit(self)
        finally:
            if self._on_finish is not None:
                self._on_finish(self)

    def abort(self) -> None:
        """Discard the object: nothing becomes visible. Safe to call more than once, and after close()."""
        if self._state != "open":
            return
        self._state = "aborted"
        self._tee.discard = True
        with contextlib.suppress(Exception):
            # Frees the compressor's threads; what it still writes is discarded by the tee.
            self._zw.close()  # type: ignore[no-untyped-call]
        self.abort_problem = self._sink.abort()
        if self._on_finish is not None:
            self._on_finish(self)

    def __enter__(self) -> ArchiveStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self) -> None:
        # io.IOBase.__del__ would call close(), i.e. publish whatever was written; an unclosed stream is a
        # failed one, so discard it instead.
        if getattr(self, "_state", None) == "open":
            warnings.warn(
                f"archive stream {self.url} was not closed; discarded it", ResourceWarning, stacklevel=1
            )
            with contextlib.suppress(Exception):
                self.abort()

    def __repr__(self) -> str:
        return f"<ArchiveStream {self.url} {self._state} in={self.bytes_in} out={self.bytes_out}>"


# --------------------------------------------------------------------------------------------------------
# Backends: the same operations on a directory and on a bucket prefix. Keys are '/'-separated and relative
# to the root.


class _Backend(Protocol):
    url: str

    def url_of(self, key: str) -> str: ...

    def open_sink(self, key: str) -> _Sink: ...

    def open_raw(self, key: str) -> BinaryIO: ...

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def get_bytes(self, key: str) -> bytes | None: ...

    def exists_prefix(self, prefix: str) -> bool: ...

    def list_dirs(self, prefix: str) -> list[str]: ...

    def list_files(self, prefix: str) -> list[tuple[str, int]]: ...

    def check(self) -> None: ...


# --------------------------------------------------------------------------------------------------------
# Migrations.


@dataclass(frozen=True)
class MigrationInfo:
    """One migration folder as listed: from its manifest, or from its name when it has none."""

    id: str
    site_id: int
    site_name: str | None
    from_env: str
    to_env: str
    when: datetime
    status: str  # the manifest's status, or "incomplete" when the folder has no manifest
    bytes: int | None  # uncompressed SQL bytes (None without a manifest)
    compressed_bytes: int
    objects: int
    url: str


class MigrationArchive:
    """The folder of one migration: per-table streams under source/, backup/, migrated/, and a manifest."""

    def __init__(
        self,
        location: ArchiveLocation,
        *,
        migration_id: str,
        site_id: int,
        site_name: str | None,
    ) -> None:
        self.location = location
        self.id = migration_id
        self.site_id = site_id
        self.site_name = site_name
        self.created, self.from_env, self.to_env = parse_migration_id(migration_id)
        self.folder = f"site-{site_id}/{migration_id}"
        self._lock = threading.Lock()
        self._objects: dict[str, dict[str, Any]] = {}
        self._tables: dict[str, tuple[str, str]] = {}
        self._open: set[str] = set()

    @property
    def url(self) -> str:
        """Where the folder is (s3://... or a directory path)."""
        return self.location.backend.url_of(self.folder)

    @property
    def objects(self) -> list[dict[str, Any]]:
        """Objects committed through this instance, as they will appear in the manifest."""
        with self._lock:
            return [dict(o) for _, o in sorted(self._objects.items())]

    def object_name(self, role: Role, table: str) -> str:
        """Return the relative name of the object holding `table` for `role` (source, backup, migrated)."""
        if role not in _ROLES:
            raise UsageError(f"unknown archive role {role!r}: use one of {', '.join(_ROLES)}")
        kind, side = _ROLES[role]
        env = self.from_env if side == "from" else self.to_env
        # The site name is domain + path ("biology", "www.wfu.edu/biology"): '/' reads better as '-'.
        site = _safe_name(self.site_name.strip("/").replace("/", "-")) if self.site_name else "site"
        name = f"{role}/{site}-{self.site_id}-{env}-{kind}-{_safe_name(table)}{SUFFIX}"
        with self._lock:
            self._tables[name] = (role, table)
        return name

    def open_table_stream(self, role: Role, table: str) -> ArchiveStream:
        """Open the stream for `table` under `role`; shorthand for open_stream(object_name(role, table))."""
        return self.open_stream(self.object_name(role, table))

    def open_stream(self, relative_name: str) -> ArchiveStream:
        """Open a compressing stream for `relative_name` in this folder (see ArchiveStream)."""
        name = _check_relative(relative_name)
        if name == MANIFEST_NAME:
            raise UsageError("manifest.json is written with write_manifest(), not as a stream")
        with self._lock:
            if name in self._open:
                raise UsageError(f"{name} is already open for writing in migration {self.id}")
            self._open.add(name)
        loc = self.location
        try:
            sink = loc.backend.open_sink(f"{self.folder}/{name}")
        except BaseException:
            with self._lock:
                self._open.discard(name)
            raise
        return ArchiveStream(
            sink,
            name=name,
            level=loc.level,
            threads=loc.threads,
            part_size=loc.part_size if loc.is_s3 else None,
            on_commit=self._record,
            on_finish=self._finished,
        )

    def _record(self, stream: ArchiveStream) -> None:
        with self._lock:
            role, table = self._tables.get(stream.name, (stream.name.split("/", 1)[0], None))
            entry: dict[str, Any] = {
                "name": stream.name,
                "bytes": stream.bytes_in,
                "compressed_bytes": stream.bytes_out,
                "sha256": stream.sha256,
            }
            if role in _ROLES:
                entry["role"] = role
            if table is not None:
                entry["table"] = table
            self._objects[stream.name] = entry

    def _finished(self, stream: ArchiveStream) -> None:
        with self._lock:
            self._open.discard(stream.name)

    def open_read(self, relative_name: str) -> io.BufferedReader:
        """Open an object of this folder for reading; `.zst` objects come out decompressed, streaming."""
        return self.location.open_read(f"{self.folder}/{_check_relative(relative_name)}")

    def write_manifest(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Write manifest.json (JSON via orjson) and return what was written. Call it last.

        `data` holds what the caller wants recorded (its "status" defaults to "complete"; any JSON-able
        values). The archive adds the reserved keys format, id, site, from, to, created, written, objects
        (every object committed through this instance, with sizes and SHA-256), bytes and compressed_bytes;
        `data` may not set them. Writing again replaces the manifest atomically.
        Raises UsageError while streams are still open, ArchiveError if the write fails.
        """
        reserved = {
            "format",
            "id",
            "site",
            "from",
            "to",
            "created",
            "written",
            "objects",
            "bytes",
            "compressed_bytes",
        }
        clash = sorted(reserved & set(data))
        if clash:
            raise UsageError(f"manifest keys {', '.join(clash)} are set by the archive; rename them")
        with self._lock:
            if self._open:
                raise UsageError(
                    f"{len(self._open)} archive stream(s) of migration {self.id} are still open "
                    f"(e.g. {min(self._open)}); close them before writing the manifest"
                )
        objects = self.objects
        manifest: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "id": self.id,
            "site": {"id": self.site_id, "name": self.site_name},
            "from": self.from_env,
            "to": self.to_env,
            "created": _utc_iso(self.created),
            "written": _utc_iso(datetime.now(timezone.utc)),
            "status": "complete",
            **data,
            "objects": objects,
            "bytes": sum(o["bytes"] for o in objects),
            "compressed_bytes": sum(o["compressed_bytes"] for o in objects),
        }
        try:
            blob = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
        except TypeError as exc:
            raise UsageError(f"the manifest data is not JSON-serializable: {exc}") from exc
        self.location.backend.put_bytes(f"{self.folder}/{MANIFEST_NAME}", blob)
        return manifest

    def read_manifest(self) -> dict[str, Any] | None:
        """Return the manifest, or None if it has not been written (yet)."""
        return self.location._load_manifest(self.folder)

    def write_state(self, state: Mapping[str, Any]) -> None:
        """Replace state.json: what the running migration has finished (read back by `read_state`)."""
        blob = orjson.dumps(dict(state), option=orjson.OPT_NON_STR_KEYS)
        self.location.backend.put_bytes(f"{self.folder}/{STATE_NAME}", blob)

    def read_state(self) -> dict[str, Any] | None:
        """Return state.json, or None when the migration never wrote one."""
        blob = self.location.backend.get_bytes(f"{self.folder}/{STATE_NAME}")
        return None if blob is None else dict(orjson.loads(blob))

    def adopt(self, objects: list[dict[str, Any]]) -> None:
        """Count objects committed by an earlier attempt of this migration as committed (for resume)."""
        with self._lock:
            for entry in objects:
                self._objects[entry["name"]] = dict(entry)


def _check_relative(name: str) -> str:
    parts = name.replace("\\", "/").strip("/").split("/")
    if not name or any(p in ("", ".", "..") for p in parts):
        raise UsageError(f"{name!r} is not a relative archive name (like source/x.sql.zst)")
    return "/".join(parts)


# --------------------------------------------------------------------------------------------------------
# Locations.


@dataclass
class ArchiveLocation:
    """Where archives live: an S3 bucket prefix or a local directory, with the options to write there.

    Build it with `ArchiveLocation.parse`. Thread-safe for concurrent streams.
    """

    url: str
    backend: _Backend
    is_s3: bool
    part_size: int = DEFAULT_PART_SIZE
    concurrency: int = DEFAULT_CONCURRENCY
    level: int = DEFAULT_LEVEL
    threads: int = DEFAULT_THREADS

    @classmethod
    def parse(
        cls,
        url_or_path: str | os.PathLike[str] | None = None,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        sse: str | None = None,
        sse_kms_key_id: str | None = None,
        storage_class: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        level: int = DEFAULT_LEVEL,
        threads: int = DEFAULT_THREADS,
        max_attempts: int = _s3.DEFAULT_MAX_ATTEMPTS,
        client: S3Client | None = None,
    ) -> ArchiveLocation:
        """Return the location for `s3://bucket[/prefix]` or a directory (default: `default_local_root()`).

        S3 options: `endpoint_url`/`region` (else boto3's chain: AWS_PROFILE, AWS_REGION,
        AWS_ENDPOINT_URL_S3, ...), `sse` ("AES256" or "aws:kms"; a `sse_kms_key_id` implies "aws:kms"),
        `storage_class` (e.g. "STANDARD_IA"; applied to the table objects, not to manifest.json),
        `part_size` in bytes (5 MiB..5 GiB; objects can reach 10,000 parts), `max_attempts` per S3 request,
        or a ready `client`. `concurrency`: parallel S3 requests when listing and downloading.
        `level`/`threads`: zstd level (1..22) and worker threads (0 = compress in the caller's thread).
        Raises UsageError for invalid values. No network access happens here (see `check()`).
        """
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise UsageError(
                f"part size {part_size} is outside S3's limits ({MIN_PART_SIZE} to {MAX_PART_SIZE} bytes)"
            )
        if not 1 <= level <= 22:
            raise UsageError(f"zstd level {level} is outside 1..22; 3 is the default")
        if threads < 0 or concurrency < 1:
            raise UsageError("threads must be >= 0 and concurrency >= 1")
        if sse_kms_key_id and sse is None:
            sse = "aws:kms"
        if sse is not None and sse not in _SSE_VALUES:
            raise UsageError(f"server-side encryption {sse!r} is not one of {', '.join(_SSE_VALUES)}")
        if sse_kms_key_id and sse != "aws:kms":
            raise UsageError("a KMS key id needs server-side encryption aws:kms")
        common = {"part_size": part_size, "concurrency": concurrency, "level": level, "threads": threads}

        text = os.fspath(url_or_path) if url_or_path is not None else None
        if text is not None and text.startswith("s3://"):
            parsed = urllib.parse.urlsplit(text)
            bucket, prefix = parsed.netloc, parsed.path.strip("/")
            if not bucket:
                raise UsageError(f"{text!r} has no bucket name: use s3://bucket/prefix")
            if client is None:
                client = _s3.make_client(
                    endpoint_url=endpoint_url,
                    region=region,
                    max_attempts=max_attempts,
                    max_pool_connections=max(10, concurrency * 2),
                )
            sse_args: dict[str, str] = {}
            if sse:
                sse_args["ServerSideEncryption"] = sse
            if sse_kms_key_id:
                sse_args["SSEKMSKeyId"] = sse_kms_key_id
            object_args = {**sse_args, "ContentType": "application/zstd"}
            if storage_class:
                object_args["StorageClass"] = storage_class
            # The manifest stays in the default storage class: it is read by every listing, and the
            # infrequent-access classes bill a 128 KiB minimum and a fee per retrieval.
            manifest_args = {**sse_args, "ContentType": "application/json"}
            backend: _Backend = _s3.S3Backend(
                client,
                bucket,
                prefix,
                part_size=part_size,
                # About one part may wait for the upload thread: memory per stream ~ 2 parts.
                queue_chunks=part_size // _ZSTD_CHUNK,
                object_args=object_args,
                manifest_args=manifest_args,
            )
            return cls(url=backend.url, backend=backend, is_s3=True, **common)
        if text is not None and "://" in text:
            raise UsageError(f"{text!r} is neither s3://bucket/prefix nor a local directory")
        if sse or storage_class or endpoint_url:
            raise UsageError("encryption, storage class and endpoint apply to s3:// archive locations only")
        root = Path(text).expanduser() if text else default_local_root()
        backend = _local.LocalBackend(root.absolute())
        return cls(url=backend.url, backend=backend, is_s3=False, **common)

    # --- writing

    def check(self) -> None:
        """Check the location is usable (S3: HeadBucket; local: directory writable). Raises ArchiveError."""
        self.backend.check()

    def new_migration(
        self,
        *,
        site_id: int,
        site_name: str | None,
        from_env: str,
        to_env: str,
        when: datetime | None = None,
    ) -> MigrationArchive:
        """Start the folder of a new migration and return it; the id is made from the UTC time and a random
        suffix. Nothing is written until a stream or the manifest is. Env names: lowercase letters,
        digits, underscore (they are part of the id)."""
        if site_id < 1:
            raise UsageError(f"site id {site_id} is not a site id (1 or more)")
        for env in (from_env, to_env):
            if not _ENV_RE.fullmatch(env):
                raise UsageError(f"environment name {env!r} must be lowercase letters, digits or _")
        when = (when or datetime.now(timezone.utc)).astimezone(timezone.utc)
        migration_id = f"{when.strftime(_TIME_FORMAT)}-{from_env}-to-{to_env}-{secrets.token_hex(3)}"
        return MigrationArchive(self, migration_id=migration_id, site_id=site_id, site_name=site_name)

    # --- finding and reading

    def _folder(self, migration_id: str, site_id: int | None) -> str:
        """Return 'site-<n>/<id>' for a migration id, searching the site folders if `site_id` is None."""
        if "/" in migration_id:
            site_part, _, migration_id = migration_id.strip("/").partition("/")
            m = _SITE_DIR_RE.fullmatch(site_part)
            if not m:
                raise UsageError(f"{site_part!r} is not a site folder (site-<id>)")
            site_id = int(m["id"])
        parse_migration_id(migration_id)
        if site_id is not None:
            folder = f"site-{site_id}/{migration_id}"
            if self.backend.exists_prefix(folder):
                return folder
        else:
            sites = [d for d in self.backend.list_dirs("") if _SITE_DIR_RE.fullmatch(d)]
            candidates = [f"{s}/{migration_id}" for s in sites]
            with ThreadPoolExecutor(self.concurrency) as pool:
                for folder, found in zip(
                    candidates, pool.map(self.backend.exists_prefix, candidates), strict=True
                ):
                    if found:
                        return folder
        raise ArchiveError(
            f"no migration {migration_id} under {self.url}; list the migrations to see the ids"
        )

    def _load_manifest(self, folder: str) -> dict[str, Any] | None:
        blob = self.backend.get_bytes(f"{folder}/{MANIFEST_NAME}")
        if blob is None:
            return None
        url = self.backend.url_of(f"{folder}/{MANIFEST_NAME}")
        try:
            manifest = orjson.loads(blob)
        except orjson.JSONDecodeError as exc:
            raise ArchiveError(f"{url} is not valid JSON ({exc}); it was damaged") from exc
        if not isinstance(manifest, dict):
            raise ArchiveError(f"{url} is not a JSON object; it was damaged")
        return manifest

    def migration(self, migration_id: str, *, site_id: int | None = None) -> MigrationArchive:
        """Return an existing migration's folder by id ('<id>' or 'site-<n>/<id>'). Raises ArchiveError."""
        folder = self._folder(migration_id, site_id)
        site_dir, _, mid = folder.partition("/")
        manifest = self._load_manifest(folder) or {}
        site = manifest.get("site") or {}
        archive = MigrationArchive(
            self, migration_id=mid, site_id=int(site_dir[5:]), site_name=site.get("name")
        )
        for obj in manifest.get("objects", []):
            archive._objects[obj["name"]] = obj
        return archive

    def read_manifest(self, migration_id: str, *, site_id: int | None = None) -> dict[str, Any]:
        """Return a migration's manifest. Raises ArchiveError if the migration or its manifest is missing."""
        folder = self._folder(migration_id, site_id)
        manifest = self._load_manifest(folder)
        if manifest is None:
            raise ArchiveError(
                f"migration {migration_id} has no manifest: it did not finish (status incomplete)"
            )
        return manifest

    def migration_status(self, migration_id: str, *, site_id: int | None = None) -> str:
        """Return the manifest's status, or "incomplete" when the folder has no manifest."""
        manifest = self._load_manifest(self._folder(migration_id, site_id))
        return "incomplete" if manifest is None else str(manifest.get("status", "unknown"))

    def list_migrations(
        self, site_id: int | None = None, env: str | None = None, *, limit: int | None = None
    ) -> list[MigrationInfo]:
        """Return migrations newest first, optionally only `site_id`'s and those from or to `env`.

        The folder names alone give id, site, envs and time; manifests (read in parallel) give status
        and sizes. `limit` reads only that many of the newest. Raises ArchiveError.
        """
        if site_id is not None:
            sites = [f"site-{site_id}"]
        else:
            sites = [d for d in self.backend.list_dirs("") if _SITE_DIR_RE.fullmatch(d)]
        folders: list[tuple[str, str]] = []  # (migration id, folder)
        with ThreadPoolExecutor(self.concurrency) as pool:
            for site, names in zip(sites, pool.map(self.backend.list_dirs, sites), strict=True):
                for name in names:
                    m = _ID_RE.fullmatch(name)
                    if m and (env is None or env in (m["from"], m["to"])):
                        folders.append((name, f"{site}/{name}"))
            # Ids start with a fixed-width UTC time, so sorting the strings sorts by time.
            folders.sort(reverse=True)
            if limit is not None:
                folders = folders[:limit]
            return list(pool.map(self._info, [f for _, f in folders]))

    def _info(self, folder: str) -> MigrationInfo:
        site_dir, _, mid = folder.partition("/")
        when, from_env, to_env = parse_migration_id(mid)
        manifest = self._load_manifest(folder)
        url = self.backend.url_of(folder)
        if manifest is None:
            files = self.backend.list_files(folder)
            return MigrationInfo(
                id=mid,
                site_id=int(site_dir[5:]),
                site_name=None,
                from_env=from_env,
                to_env=to_env,
                when=when,
                status="incomplete",
                bytes=None,
                compressed_bytes=sum(s for _, s in files),
                objects=len(files),
                url=url,
            )
        objects = manifest.get("objects", [])
        return MigrationInfo(
            id=mid,
            site_id=int(site_dir[5:]),
            site_name=(manifest.get("site") or {}).get("name"),
            from_env=from_env,
            to_env=to_env,
            when=when,
            status=str(manifest.get("status", "unknown")),
            bytes=int(manifest.get("bytes", sum(o.get("bytes", 0) for o in objects))),
            compressed_bytes=int(
                manifest.get("compressed_bytes", sum(o.get("compressed_bytes", 0) for o in objects))
            ),
            objects=len(objects),
            url=url,
        )

    def open_read(self, relative_name: str) -> io.BufferedReader:
        """Open `relative_name` (relative to the root) for reading; `.zst` comes out decompressed, streaming.

        The zstd frame checksum is verified; a truncated or corrupt object raises ArchiveError when read.
        """
        name = _check_relative(relative_name)
        raw = self.backend.open_raw(name)
        if name.endswith(".zst"):
            return open_zstd_reader(raw, name=self.backend.url_of(name), error=ArchiveError)
        return io.BufferedReader(raw) if not isinstance(raw, io.BufferedReader) else raw  # type: ignore[arg-type]

    def download_migration(
        self,
        migration_id: str,
        local_path: str | os.PathLike[str],
        *,
        decompress: bool = False,
        site_id: int | None = None,
    ) -> list[Path]:
        """Copy a migration's folder to `local_path/<id>/` and return the files written.

        With `decompress`, `.sql.zst` objects become `.sql` files. Objects listed in the manifest are
        verified (SHA-256 of the compressed bytes, or the uncompressed size and zstd checksum).
        Files are written under temporary names and renamed, so a failed download leaves no partial
        file. Raises ArchiveError.
        """
        folder = self._folder(migration_id, site_id)
        mid = folder.partition("/")[2]
        manifest = self._load_manifest(folder) or {}
        expected = {o["name"]: o for o in manifest.get("objects", []) if "name" in o}
        files = [name for name, _ in self.backend.list_files(folder)]
        dest_root = Path(local_path) / mid

        def fetch(name: str) -> Path:
            unzip = decompress and name.endswith(SUFFIX)
            dest = dest_root.joinpath(*name.split("/"))
            if unzip:
                dest = dest.with_name(dest.name[: -len(".zst")])
            key = f"{folder}/{name}"
            src = self.open_read(key) if unzip else self.backend.open_raw(key)
            sink = _local.LocalSink(dest)
            digest = hashlib.sha256()
            size = 0
            try:
                with src:
                    while chunk := src.read(1024 * 1024):
                        digest.update(chunk)
                        size += len(chunk)
                        sink.write(chunk)
                want = expected.get(name)
                if want is not None:
                    if unzip and size != want.get("bytes", size):
                        raise ArchiveError(
                            f"{self.backend.url_of(key)} decompressed to {size} bytes, the manifest says "
                            f"{want['bytes']}; the archive is damaged"
                        )
                    if not unzip and digest.hexdigest() != want.get("sha256", digest.hexdigest()):
                        raise ArchiveError(
                            f"{self.backend.url_of(key)} does not match the SHA-256 in its manifest; "
                            "the archive is damaged or was changed"
                        )
                sink.commit()
            except BaseException:
                sink.abort()
                raise
            return dest

        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(fetch, files))


def list_migrations(
    root: ArchiveLocation | str | os.PathLike[str] | None,
    site_id: int | None = None,
    env: str | None = None,
    *,
    limit: int | None = None,
) -> list[MigrationInfo]:
    """Return the migrations under `root` newest first (see ArchiveLocation.list_migrations)."""
    location = root if isinstance(root, ArchiveLocation) else ArchiveLocation.parse(root)
    return location.list_migrations(site_id, env, limit=limit)
