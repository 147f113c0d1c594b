"""The local-directory transport of the archive: atomic file sinks and a directory backend."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO

from wfuwp.errors import ArchiveError, WfuwpError


class LocalSink:
    """A file written under a hidden temporary name, fsynced and renamed into place on commit."""

    max_bytes: int | None = None  # the file system's own limit applies

    def __init__(self, path: Path) -> None:
        self.url = str(path)
        self._path = path
        self._tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.part"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh: BinaryIO | None = open(self._tmp, "xb")  # noqa: SIM115 - closed in commit/abort
        except OSError as exc:
            raise ArchiveError(
                f"cannot create {self._tmp}: {exc.strerror}; "
                "check the archive directory exists and is writable"
            ) from exc

    def write(self, data: bytes) -> None:
        assert self._fh is not None
        try:
            self._fh.write(data)
        except OSError as exc:
            raise ArchiveError(
                f"writing {self._path} failed: {exc.strerror}; "
                "free disk space or choose another archive directory"
            ) from exc

    def commit(self) -> None:
        assert self._fh is not None
        fh, self._fh = self._fh, None
        try:
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
            os.replace(self._tmp, self._path)
            fsync_dir(self._path.parent)
        except OSError as exc:
            fh.close()
            self._tmp.unlink(missing_ok=True)
            raise ArchiveError(
                f"writing {self._path} failed: {exc.strerror}; "
                "free disk space or choose another archive directory"
            ) from exc

    def abort(self) -> str | None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None
        try:
            self._tmp.unlink(missing_ok=True)
        except OSError as exc:
            return f"could not remove {self._tmp}: {exc.strerror}"
        return None


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBackend:
    """Archive operations on a directory; keys are '/'-separated paths relative to `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*[p for p in key.split("/") if p])

    def url_of(self, key: str) -> str:
        return str(self._path(key))

    def open_sink(self, key: str) -> LocalSink:
        return LocalSink(self._path(key))

    def open_raw(
        self,
        key: str,
        *,
        error: type[WfuwpError] = ArchiveError,
        hint: str = "check the migration id and name",
    ) -> BinaryIO:
        """Open an object's bytes.

        A missing one (message ending in `hint`) or an unreadable one raises `error`.
        """
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise error(f"no object {self._path(key)}; {hint}") from None
        except OSError as exc:
            raise error(f"cannot read {self._path(key)}: {exc.strerror}") from exc

    def put_bytes(self, key: str, data: bytes) -> None:
        sink = LocalSink(self._path(key))
        try:
            sink.write(data)
            sink.commit()
        except BaseException:
            sink.abort()
            raise

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ArchiveError(f"cannot read {self._path(key)}: {exc.strerror}") from exc

    def exists_prefix(self, prefix: str) -> bool:
        return self._path(prefix).is_dir()

    def list_dirs(self, prefix: str) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(self._path(prefix)) if e.is_dir())
        except FileNotFoundError:
            return []

    def list_files(self, prefix: str) -> list[tuple[str, int]]:
        base = self._path(prefix)
        out = []
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                if f.startswith(".") and f.endswith(".part"):
                    continue  # a write in progress or left by a crash; never part of the archive
                p = Path(dirpath) / f
                out.append((p.relative_to(base).as_posix(), p.stat().st_size))
        return sorted(out)

    def delete(self, key: str) -> None:
        """Remove one object if it exists. Raises ArchiveError when it cannot be removed."""
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise ArchiveError(f"cannot remove {self._path(key)}: {exc.strerror}") from exc

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArchiveError(f"cannot create the archive directory {self.root}: {exc.strerror}") from exc
        if not os.access(self.root, os.W_OK):
            raise ArchiveError(f"the archive directory {self.root} is not writable; fix its permissions")
