"""Where bytes live: the one place a path or an s3:// URL becomes a backend, a reader or a writer.

    open_backend("s3://bucket/prefix" | directory) -> Backend: the same operations on both
    open_reader("dump.sql.gz" | "s3://bucket/key.sql.zst")   -> the content, decompressed by its suffix
    open_writer("export.sql.zst" | "s3://bucket/key")         -> ArchiveStream, published on close()

Only wfuwp.storage.s3 imports boto3; it is loaded when an s3:// URL is first opened.
"""

from __future__ import annotations

import io
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from wfuwp.errors import UsageError, WfuwpError
from wfuwp.storage.compress import (
    DEFAULT_LEVEL,
    DEFAULT_THREADS,
    ZSTD_CHUNK,
    ArchiveStream,
    Sink,
    open_decompressed,
)
from wfuwp.storage.local import LocalBackend

if TYPE_CHECKING:
    from wfuwp.storage.s3 import S3Client

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_PART_SIZE",
    "Backend",
    "S3Options",
    "object_ancestors",
    "open_backend",
    "open_reader",
    "open_writer",
]

# S3 part size. Memory per open S3 stream is about 2 x part size (smart_open's part buffer plus the
# queue in front of the upload thread). 8 MiB parts allow 80 GiB per object (10,000 parts, see
# wfuwp.storage.s3), far above any one table of a site, while three streams at once stay near 50 MiB.
DEFAULT_PART_SIZE = 8 * 1024**2
# Seconds an S3 upload may take no byte before it fails as stalled: botocore's own timeouts and retries
# would take many minutes against an endpoint that accepts connections and then hangs.
STALL_TIMEOUT_S = 300.0
# botocore's attempts per S3 request (its "standard" retry mode backs off between them).
DEFAULT_MAX_ATTEMPTS = 8
# S3's multipart limits: parts of 5 MiB to 5 GiB (the last part may be smaller).
MIN_PART_SIZE = 5 * 1024**2
MAX_PART_SIZE = 5 * 1024**3
SSE_VALUES = ("AES256", "aws:kms")


class Backend(Protocol):
    """The same operations on a directory and on a bucket prefix.

    Keys are '/'-separated, relative to the root.
    """

    url: str

    def url_of(self, key: str) -> str: ...

    def open_sink(self, key: str) -> Sink: ...

    def open_raw(self, key: str, *, error: type[WfuwpError] = ..., hint: str = ...) -> BinaryIO: ...

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def get_bytes(self, key: str) -> bytes | None: ...

    def exists_prefix(self, prefix: str) -> bool: ...

    def list_dirs(self, prefix: str) -> list[str]: ...

    def list_files(self, prefix: str) -> list[tuple[str, int]]: ...

    def check(self) -> None: ...

    def delete(self, key: str) -> None: ...


@dataclass(frozen=True)
class S3Options:
    """How to reach and write S3; ignored for local paths (and refused there when set).

    `endpoint_url`/`region`: else boto3's chain (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_S3, ...).
    `sse`: "AES256" or "aws:kms" (a `sse_kms_key_id` implies "aws:kms"). `storage_class` applies to
    table objects, not to small JSON objects. `part_size`: bytes, 5 MiB..5 GiB. `max_attempts` per
    request; `max_pool_connections` for parallel requests; or a ready boto3 `client`.
    `stall_timeout_s`: an upload that takes no byte for this long fails, and the run writes nothing
    more to that endpoint.
    """

    endpoint_url: str | None = None
    region: str | None = None
    sse: str | None = None
    sse_kms_key_id: str | None = None
    storage_class: str | None = None
    part_size: int = DEFAULT_PART_SIZE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_pool_connections: int = 10
    client: S3Client | None = None
    stall_timeout_s: float = STALL_TIMEOUT_S

    def __post_init__(self) -> None:
        if not MIN_PART_SIZE <= self.part_size <= MAX_PART_SIZE:
            raise UsageError(
                f"part size {self.part_size} is outside S3's limits"
                f" ({MIN_PART_SIZE} to {MAX_PART_SIZE} bytes)"
            )
        if self.sse_kms_key_id and self.sse is None:
            object.__setattr__(self, "sse", "aws:kms")
        if self.sse is not None and self.sse not in SSE_VALUES:
            raise UsageError(f"server-side encryption {self.sse!r} is not one of {', '.join(SSE_VALUES)}")
        if self.sse_kms_key_id and self.sse != "aws:kms":
            raise UsageError("a KMS key id needs server-side encryption aws:kms")

    @property
    def s3_only_set(self) -> bool:
        """Whether an option that only S3 can honour was given."""
        return bool(self.sse or self.storage_class or self.endpoint_url)

    def make_client(self) -> S3Client:
        """The given client, or a new one with these options."""
        if self.client is not None:
            return self.client
        from wfuwp.storage import s3

        return s3.make_client(
            endpoint_url=self.endpoint_url,
            region=self.region,
            max_attempts=self.max_attempts,
            max_pool_connections=self.max_pool_connections,
        )


def open_backend(url_or_path: str | os.PathLike[str], options: S3Options | None = None) -> Backend:
    """Return the backend for `s3://bucket[/prefix]` or a local directory. No network access happens here.

    Raises UsageError for a URL of another scheme, an S3 URL without a bucket, or S3 options on a path.
    """
    options = options or S3Options()
    text = os.fspath(url_or_path)
    if text.startswith("s3://"):
        from wfuwp.storage import s3

        parsed = urllib.parse.urlsplit(text)
        bucket, prefix = parsed.netloc, parsed.path.strip("/")
        if not bucket:
            raise UsageError(f"{text!r} has no bucket name: use s3://bucket/prefix")
        sse_args: dict[str, str] = {}
        if options.sse:
            sse_args["ServerSideEncryption"] = options.sse
        if options.sse_kms_key_id:
            sse_args["SSEKMSKeyId"] = options.sse_kms_key_id
        object_args = {**sse_args, "ContentType": "application/zstd"}
        if options.storage_class:
            object_args["StorageClass"] = options.storage_class
        # Small JSON objects stay in the default storage class: they are read by every listing, and the
        # infrequent-access classes bill a 128 KiB minimum and a fee per retrieval.
        json_args = {**sse_args, "ContentType": "application/json"}
        return s3.S3Backend(
            options.make_client(),
            bucket,
            prefix,
            part_size=options.part_size,
            # About one part may wait for the upload thread: memory per stream ~ 2 parts.
            queue_chunks=options.part_size // ZSTD_CHUNK,
            object_args=object_args,
            manifest_args=json_args,
            stall_s=options.stall_timeout_s,
        )
    if "://" in text:
        raise UsageError(f"{text!r} is neither s3://bucket/prefix nor a local directory")
    if options.s3_only_set:
        raise UsageError("encryption, storage class and endpoint apply to s3:// locations only")
    return LocalBackend(Path(text).expanduser().absolute())


def is_bucket(backend: Backend) -> bool:
    """Whether `backend` is a bucket (else a directory)."""
    return not isinstance(backend, LocalBackend)


def open_reader(
    path_or_url: str | os.PathLike[str],
    *,
    error: type[WfuwpError],
    options: S3Options | None = None,
    decompress: bool = True,
) -> io.BufferedReader:
    """Open a local file or s3://bucket/key for streaming reads; its `name` is the path or URL.

    With `decompress`, a name ending in `.zst` or `.gz` comes out decompressed (a cut or corrupt
    stream raises `error` when read). A missing object, or a network failure, raises `error`.
    """
    text = os.fspath(path_or_url)
    parent, name = _split_object(text, error)
    raw = open_backend(parent, options).open_raw(name, error=error, hint="check the path or URL")
    if decompress:
        return open_decompressed(raw, name=text, error=error)
    return raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]


def open_writer(
    destination: str | os.PathLike[str],
    *,
    options: S3Options | None = None,
    level: int = DEFAULT_LEVEL,
    threads: int = DEFAULT_THREADS,
) -> ArchiveStream:
    """A zstd-compressing stream that becomes `destination` (a file, or s3://bucket/key) once closed.

    Nothing is visible until `close()` returns; `abort()` or an exception in its `with` block leaves
    nothing. Raises UsageError for a destination that is a directory or names no object.
    """
    text = os.fspath(destination)
    if not text.startswith("s3://"):
        path = Path(text).expanduser().absolute()
        if path.is_dir():
            raise UsageError(f"{path} is a directory: give a file name, like {path / 'export.sql.zst'}")
        text = str(path)
    parent, name = _split_object(text, UsageError)
    backend = open_backend(parent, options)
    return ArchiveStream(backend.open_sink(name), name=name, level=level, threads=threads)


def object_ancestors(
    path_or_url: str | os.PathLike[str], levels: int, options: S3Options | None = None
) -> tuple[list[str], Backend] | None:
    """The names of the `levels` folders above an object (a file, or s3://bucket/key), outermost first,
    and the folder holding the outermost of them as a Backend (no network access here); None when the
    path is shorter.

    `options` apply to s3:// URLs only.
    """
    text = os.fspath(path_or_url)
    if text.startswith("s3://"):
        root, _, key = text.partition("//")[2].partition("/")
        parts = [p for p in key.split("/") if p]
        base = f"s3://{root}"
    else:
        absolute = Path(text).expanduser().absolute()
        parts, base, options = list(absolute.parts[1:]), absolute.anchor, None
    if len(parts) <= levels:
        return None
    holder = "/".join([base.rstrip("/"), *parts[: -levels - 1]])
    return parts[-levels - 1 : -1], open_backend(holder or "/", options)


def _split_object(text: str, error: type[WfuwpError]) -> tuple[str, str]:
    """(the folder or bucket prefix, the object's name) of a path or s3://bucket/key."""
    if text.startswith("s3://"):
        root, _, name = text.rstrip("/").rpartition("/")
        if not name or root in ("s3:", "s3:/"):
            raise error(f"{text} names no object: give s3://bucket/path/file.sql.zst")
        return root, name
    path = Path(text)
    return str(path.parent), path.name
