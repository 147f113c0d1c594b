"""Compressed streams: zstd out (ArchiveStream, into a Sink), zstd and gzip in, each failing loudly.

Reading: zstandard's own `stream_reader` and `read_to_iter` end quietly at a frame cut short (measured with
zstandard 0.25: a frame cut in half reads as 0 bytes, no error), so a half-downloaded archive would
restore as a silently shorter dump. This reader uses `decompressobj`, whose `eof` tells a complete
frame from a cut one, and raises instead.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import warnings
import zlib
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any, BinaryIO, Literal, Protocol, cast

import zstandard

from wfuwp.errors import ArchiveError, WfuwpError

# zstd level 3 with 2 worker threads: 5.7x on WordPress-like SQL at ~350 MiB/s on 2 cores, 1.6x the
# speed of single-threaded level 3; level 6 gains 4% size at a quarter of the speed
# (benchmarks/bench_archive.py).
DEFAULT_LEVEL = 3
DEFAULT_THREADS = 2
_ZSTD_JOB_SIZE = 1024 * 1024
ZSTD_CHUNK = 128 * 1024  # what zstd's stream_writer hands to the sink per write (ZSTD_CStreamOutSize)

# decompressobj returns all the output of the input it is given, and zstd expands tens of thousands of
# times (200 MiB of zeros compress to 6 KiB). Feeding slices sized from the last ratio seen, starting at
# 64 bytes, keeps one call's output to a few MiB even for runs of zeros (measured: 2 MiB) and near
# _TARGET_OUTPUT for ordinary SQL.
_MIN_SLICE = 64
_MAX_SLICE = 128 * 1024
_TARGET_OUTPUT = 1024 * 1024
_READ_SIZE = 256 * 1024


class ZstdReader(io.RawIOBase):
    """Read-only raw stream of the decompressed bytes of `source` (one or more zstd frames).

    Raises `error` (a WfuwpError subclass) naming `name` when `source` ends inside a frame or holds
    corrupt data (frames written by wfuwp carry a checksum). Closing it closes `source` when `closefd`.
    """

    def __init__(self, source: BinaryIO, *, name: str, error: type[WfuwpError], closefd: bool = True) -> None:
        super().__init__()
        self._source = source
        self._name = name
        self.name = name
        self._error = error
        self._closefd = closefd
        self._dctx = zstandard.ZstdDecompressor()
        self._dobj = self._dctx.decompressobj()
        self._in_frame = False  # bytes of the current frame were fed and its end not seen yet
        self._frames = 0  # complete frames seen; an input with none is truncated, not empty
        self._pending = b""  # compressed bytes read, fed up to _pending_pos
        self._pending_pos = 0
        self._out = b""
        self._out_pos = 0
        self._slice = _MIN_SLICE
        self._source_eof = False
        self.compressed_bytes = 0  # compressed bytes read from source so far

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        while self._out_pos >= len(self._out):
            if not self._fill():
                return 0
        n = min(len(buffer), len(self._out) - self._out_pos)
        buffer[:n] = self._out[self._out_pos : self._out_pos + n]
        self._out_pos += n
        return n

    def _fill(self) -> bool:
        """Decompress the next slice into self._out; return False at the clean end of the input."""
        while True:
            if self._pending_pos >= len(self._pending):
                if self._source_eof:
                    if self._in_frame or self._frames == 0:
                        raise self._error(
                            f"{self._name} is truncated at compressed byte {self.compressed_bytes}: "
                            "the file is incomplete; download it again"
                        )
                    return False
                chunk = self._source.read(_READ_SIZE)
                if not chunk:
                    self._source_eof = True
                    continue
                self.compressed_bytes += len(chunk)
                self._pending, self._pending_pos = chunk, 0
            start = self._pending_pos
            piece = memoryview(self._pending)[start : start + self._slice]
            self._pending_pos += len(piece)
            self._in_frame = True
            try:
                out = self._dobj.decompress(piece)
            except zstandard.ZstdError as exc:
                raise self._error(
                    f"{self._name} is not valid zstd data near compressed byte {self.compressed_bytes} "
                    f"({exc}): the file is corrupt; download it again"
                ) from exc
            if self._dobj.eof:
                # A frame ended; whatever followed it in this slice starts the next frame.
                self._frames += 1
                self._pending = self._dobj.unused_data + self._pending[self._pending_pos :]
                self._pending_pos = 0
                self._dobj = self._dctx.decompressobj()
                self._in_frame = False
            ratio = max(1, len(out) // max(1, len(piece)))
            self._slice = max(_MIN_SLICE, min(_MAX_SLICE, _TARGET_OUTPUT // ratio))
            if out:
                self._out, self._out_pos = out, 0
                return True

    def close(self) -> None:
        if not self.closed and self._closefd:
            self._source.close()
        super().close()


def open_zstd_reader(
    source: BinaryIO, *, name: str, error: type[WfuwpError], closefd: bool = True
) -> io.BufferedReader:
    """Return a buffered reader of the decompressed bytes of `source` (see `ZstdReader`)."""
    return io.BufferedReader(
        ZstdReader(source, name=name, error=error, closefd=closefd), buffer_size=_READ_SIZE
    )


class GzipReader(io.RawIOBase):
    """gunzip `source`, turning errors about a damaged or cut stream into one-line `error`s naming `name`."""

    def __init__(self, source: BinaryIO, *, name: str, error: type[WfuwpError]) -> None:
        super().__init__()
        self._source = source
        self._gzip = gzip.GzipFile(fileobj=source, mode="rb")
        self._error = error
        self.name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._gzip.read(len(buffer))
        except EOFError as exc:
            raise self._error(f"{self.name} is truncated: the file is incomplete; download it again") from exc
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise self._error(f"{self.name} is not valid gzip data ({exc}); download it again") from exc
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._gzip.close()  # does not close a fileobj it was given
            self._source.close()
        super().close()


def open_decompressed(source: BinaryIO, *, name: str, error: type[WfuwpError]) -> io.BufferedReader:
    """Return a buffered reader of `source`'s content: `name` ending in .zst or .gz decides the codec.

    A cut or corrupt compressed stream raises `error` when read. Closing the reader closes `source`.
    """
    lower = name.lower()
    if lower.endswith(".zst"):
        return open_zstd_reader(source, name=name, error=error)
    if lower.endswith(".gz"):
        return io.BufferedReader(GzipReader(source, name=name, error=error))
    return source if isinstance(source, io.BufferedReader) else io.BufferedReader(source)  # type: ignore[arg-type]


class Sink(Protocol):
    """Where the compressed bytes of one object go: write() any number of times, then commit() or abort().

    Nothing is visible at the object's name before commit() returns (a local temp file is fsynced and
    renamed; an S3 multipart upload is completed); abort() leaves nothing.
    """

    url: str
    max_bytes: int | None  # the largest object this sink can store, None when unbounded

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> str | None:
        """Drop everything written; return a description if that failed, else None."""


# --------------------------------------------------------------------------------------------------------
# Writing: a zstd-compressing stream into a Sink (wfuwp.storage.objects), published on close.


class _Tee:
    """What zstd writes into: counts and hashes the compressed bytes, then hands them to the sink."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.bytes = 0
        self.sha256 = hashlib.sha256()
        self.discard = False
        self._limit = sink.max_bytes

    def write(self, data: bytes | memoryview) -> int:
        n = len(data)
        if self.discard:
            return n
        chunk = data if isinstance(data, bytes) else bytes(data)
        self.bytes += n
        if self._limit is not None and self.bytes > self._limit:
            raise ArchiveError(
                f"{self.sink.url} would exceed {self._limit // 1024**3} GiB, the most one object can hold "
                "here (S3: 10,000 parts of the configured part size, 5 TiB at most); raise the part size"
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
        sink: Sink,
        *,
        name: str,
        level: int,
        threads: int,
        on_commit: Callable[[ArchiveStream], None] | None = None,
        on_finish: Callable[[ArchiveStream], None] | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.url = sink.url
        self._sink = sink
        self._tee = _Tee(sink)
        # closefd=False: zstandard's stream_writer otherwise closes the inner stream when it is closed,
        # including on an exception, and closing an upload means committing it.
        # zstd's multi-threaded jobs default to 4x the window (8 MiB at level 3), each buffered per worker:
        # with five streams open at once that alone passed the 300 MB memory goal. 1 MiB jobs keep the
        # speed of two workers at a fraction of the memory.
        params = zstandard.ZstdCompressionParameters.from_level(
            level, threads=threads, job_size=_ZSTD_JOB_SIZE if threads else 0, write_checksum=True
        )
        self._zw = zstandard.ZstdCompressor(compression_params=params).stream_writer(
            cast("IO[bytes]", self._tee), closefd=False, write_size=ZSTD_CHUNK
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
