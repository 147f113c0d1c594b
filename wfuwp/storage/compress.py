"""Streaming zstd decompression that notices truncated input.

zstandard's own `stream_reader` and `read_to_iter` end quietly at a frame cut short (measured with
zstandard 0.25: a frame cut in half reads as 0 bytes, no error), so a half-downloaded archive would
restore as a silently shorter dump. This reader uses `decompressobj`, whose `eof` tells a complete
frame from a cut one, and raises instead.
"""

from __future__ import annotations

import io
from typing import BinaryIO

import zstandard

from wfuwp.errors import WfuwpError

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
