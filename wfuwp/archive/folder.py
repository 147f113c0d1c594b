"""One archive folder: a migration's (or a backup's) per-table SQL objects, its manifest and its state.

site-<site id>/<migration id>/     (a site's; the network tables' are under network/<migration id>/)
    source/<site name>-<site id>-<from>-initial-export-<table>.sql.zst
    backup/<site name>-<site id>-<to>-backup-export-<table>.sql.zst
    migrated/<site name>-<site id>-<to>-migrated-export-<table>.sql.zst
    state.json       while running (MigrationState)
    manifest.json    written last (Manifest)
    log.jsonl        what the run did, one JSON record a line (wfuwp.runlog), once it ends

<migration id> = <UTC YYYYmmddTHHMMSSZ>-<from>-to-<to>-<6 hex digits>, e.g.
                 20261125T101500Z-prod-to-pprd-3fa2c1
"""

from __future__ import annotations

import io
import os
import re
import secrets
import threading
import urllib.parse
from datetime import datetime, timezone
from typing import Any

from wfuwp import runlog
from wfuwp.archive.manifest import ROLES, ArchiveObject, Kind, Manifest, MigrationState, Role, Status
from wfuwp.errors import ArchiveError, UsageError
from wfuwp.mysql.schema import NETWORK_SITE
from wfuwp.storage.compress import ArchiveStream, open_decompressed
from wfuwp.storage.objects import Backend, S3Options, object_ancestors

__all__ = [
    "LOG_NAME",
    "MANIFEST_NAME",
    "STATE_NAME",
    "SUFFIX",
    "MigrationArchive",
    "manifest_of_object",
    "new_migration_id",
    "parse_migration_id",
    "site_dir",
    "site_of_dir",
]

MANIFEST_NAME = "manifest.json"
# What a running migration has finished so far, so an interrupted one can be resumed.
STATE_NAME = "state.json"
# The log of the migration (JSON lines); a resumed run appends its own.
LOG_NAME = "log.jsonl"
SUFFIX = ".sql.zst"

# Role -> (export kind in the file name, which environment the tables came from).
_ROLE_NAMES: dict[str, tuple[str, str]] = {
    "source": ("initial-export", "from"),
    "backup": ("backup-export", "to"),
    "migrated": ("migrated-export", "to"),
}
_ENV_RE = re.compile(r"[a-z0-9_]+")
ID_RE = re.compile(
    r"(?P<when>\d{8}T\d{6}Z)-(?P<from>[a-z0-9_]+)-to-(?P<to>[a-z0-9_]+)-(?P<short>[0-9a-f]{6})"
)
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
# The network tables' folder (their site id is NETWORK_SITE); a site's is site-<id>.
NETWORK_DIR = "network"
_SITE_DIR_RE = re.compile(r"site-(?P<id>[1-9][0-9]*)|network")


def site_dir(site_id: int) -> str:
    """The top folder of a site's archives: `site-<id>`, or `network` for NETWORK_SITE."""
    return NETWORK_DIR if site_id == NETWORK_SITE else f"site-{site_id}"


def site_of_dir(name: str) -> int | None:
    """The site id a top folder holds (NETWORK_SITE for `network`), None when it is no site's folder."""
    m = _SITE_DIR_RE.fullmatch(name)
    if m is None:
        return None
    return NETWORK_SITE if name == NETWORK_DIR else int(m["id"])


def parse_migration_id(migration_id: str) -> tuple[datetime, str, str]:
    """Return (UTC time, from env, to env) of a migration id; raise UsageError if it is not one."""
    m = ID_RE.fullmatch(migration_id)
    if not m:
        raise UsageError(
            f"{migration_id!r} is not a migration id: expected <YYYYmmddTHHMMSSZ>-<from>-to-<to>-<6 hex>, "
            "e.g. 20261125T101500Z-prod-to-pprd-3fa2c1"
        )
    when = datetime.strptime(m["when"], _TIME_FORMAT).replace(tzinfo=timezone.utc)
    return when, m["from"], m["to"]


def check_env_name(env: str) -> None:
    """Raise UsageError unless `env` can be part of a migration id: lowercase letters, digits, _."""
    if not _ENV_RE.fullmatch(env):
        raise UsageError(f"environment name {env!r} must be lowercase letters, digits or _")


def new_migration_id(from_env: str, to_env: str, when: datetime | None = None) -> str:
    """`<UTC timestamp>-<from>-to-<to>-<6 hex>`: sortable, readable, unique (see check_env_name)."""
    when = (when or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{when.strftime(_TIME_FORMAT)}-{from_env}-to-{to_env}-{secrets.token_hex(3)}"


def _safe_name(text: str) -> str:
    """Return `text` usable as one file name: bytes other than letters, digits and _-.$@+ become %XX."""
    return urllib.parse.quote(text, safe="_-.$@+")


def utc_iso(when: datetime) -> str:
    """`YYYY-mm-ddTHH:MM:SSZ`, the manifest's time format."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class MigrationArchive:
    """The folder of one migration: per-table streams under source/, backup/, migrated/, and a manifest.

    Get one from `ArchiveLocation.new_migration` or `ArchiveLocation.migration`. Thread-safe: streams
    may be written from several threads at once (one writer per stream).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        migration_id: str,
        site_id: int,
        site_name: str | None,
        level: int,
        threads: int,
    ) -> None:
        self.backend = backend
        self.id = migration_id
        self.site_id = site_id
        self.site_name = site_name
        self.level = level
        self.threads = threads
        self.created, self.from_env, self.to_env = parse_migration_id(migration_id)
        self.folder = f"{site_dir(site_id)}/{migration_id}"
        self._lock = threading.Lock()
        self._objects: dict[str, ArchiveObject] = {}
        self._tables: dict[str, tuple[Role, str]] = {}
        self._open: set[str] = set()

    @property
    def url(self) -> str:
        """Where the folder is (s3://... or a directory path)."""
        return self.backend.url_of(self.folder)

    @property
    def objects(self) -> list[ArchiveObject]:
        """Objects committed through this instance (or adopted), as they will appear in the manifest."""
        with self._lock:
            return [o for _, o in sorted(self._objects.items())]

    def objects_of(self, role: Role, table: str | None = None) -> list[ArchiveObject]:
        """The committed objects of `role` (and of `table`, when given)."""
        return [o for o in self.objects if o.role == role and (table is None or o.table == table)]

    def object_name(self, role: Role, table: str) -> str:
        """Return the relative name of the object holding `table` for `role` (source, backup, migrated)."""
        if role not in _ROLE_NAMES:
            raise UsageError(f"unknown archive role {role!r}: use one of {', '.join(ROLES)}")
        kind, side = _ROLE_NAMES[role]
        env = self.from_env if side == "from" else self.to_env
        # The site name is domain + path ("biology", "www.wfu.edu/biology"): '/' reads better as '-'.
        site = _safe_name(self.site_name.strip("/").replace("/", "-")) if self.site_name else "site"
        who = NETWORK_DIR if self.site_id == NETWORK_SITE else f"{site}-{self.site_id}"
        name = f"{role}/{who}-{env}-{kind}-{_safe_name(table)}{SUFFIX}"
        with self._lock:
            self._tables[name] = (role, table)
        return name

    def open_table_stream(self, role: Role, table: str) -> ArchiveStream:
        """Open the stream for `table` under `role`; shorthand for open_stream(object_name(role, table))."""
        return self.open_stream(self.object_name(role, table))

    def open_stream(self, relative_name: str) -> ArchiveStream:
        """Open a compressing stream for `relative_name` in this folder (see ArchiveStream)."""
        name = check_relative(relative_name)
        if name in (MANIFEST_NAME, STATE_NAME, LOG_NAME):
            raise UsageError(
                f"{name} is written with write_manifest()/write_state()/append_log(), not as a stream"
            )
        with self._lock:
            if name in self._open:
                raise UsageError(f"{name} is already open for writing in migration {self.id}")
            self._open.add(name)
        try:
            sink = self.backend.open_sink(f"{self.folder}/{name}")
        except BaseException:
            with self._lock:
                self._open.discard(name)
            raise
        return ArchiveStream(
            sink,
            name=name,
            level=self.level,
            threads=self.threads,
            on_commit=self._record,
            on_finish=self._finished,
        )

    def _record(self, stream: ArchiveStream) -> None:
        with self._lock:
            role_table = self._tables.get(stream.name)
            role = (
                role_table[0]
                if role_table
                else next((r for r in ROLES if stream.name.startswith(r + "/")), None)
            )
            self._objects[stream.name] = ArchiveObject(
                name=stream.name,
                bytes=stream.bytes_in,
                compressed_bytes=stream.bytes_out,
                sha256=stream.sha256,
                role=role,
                table=role_table[1] if role_table else None,
            )

    def _finished(self, stream: ArchiveStream) -> None:
        with self._lock:
            self._open.discard(stream.name)

    def open_read(self, relative_name: str) -> io.BufferedReader:
        """Open an object of this folder for reading; `.zst` objects come out decompressed, streaming.

        The zstd frame checksum is verified; a truncated or corrupt object raises ArchiveError when read.
        """
        key = f"{self.folder}/{check_relative(relative_name)}"
        return open_decompressed(
            self.backend.open_raw(key), name=self.backend.url_of(key), error=ArchiveError
        )

    def new_manifest(self, *, kind: Kind, status: Status) -> Manifest:
        """A Manifest of this folder (id, site, environments, creation time) for the caller to fill in."""
        return Manifest(
            id=self.id,
            kind=kind,
            status=status,
            site_id=self.site_id,
            site_name=self.site_name,
            from_env=self.from_env,
            to_env=self.to_env,
            created=utc_iso(self.created),
        )

    def write_manifest(self, manifest: Manifest) -> Manifest:
        """Write manifest.json and return it. Call it last: it lists every object committed so far.

        Sets `objects` and `written`; writing again replaces the manifest atomically. Raises UsageError
        while streams are still open or for a manifest of another folder, ArchiveError if the write fails.
        """
        if manifest.id != self.id:
            raise UsageError(f"the manifest of {manifest.id} cannot be written into {self.id}")
        with self._lock:
            if self._open:
                raise UsageError(
                    f"{len(self._open)} archive stream(s) of migration {self.id} are still open "
                    f"(e.g. {min(self._open)}); close them before writing the manifest"
                )
        manifest.objects = self.objects
        manifest.written = utc_iso(datetime.now(timezone.utc))
        self.backend.put_bytes(f"{self.folder}/{MANIFEST_NAME}", manifest.to_json())
        return manifest

    def read_manifest(self) -> Manifest | None:
        """Return the manifest, or None if it has not been written (yet). Raises ArchiveError if damaged."""
        key = f"{self.folder}/{MANIFEST_NAME}"
        blob = self.backend.get_bytes(key)
        return None if blob is None else Manifest.from_json(blob, self.backend.url_of(key))

    def read_record(self) -> Manifest | None:
        """What the migration did: its manifest or, for a run with none (still running, or died before
        writing it), what its state.json recorded, with how far its cut-over got. None: neither exists."""
        manifest = self.read_manifest()
        if manifest is not None:
            return manifest
        state = self.read_state()
        if state is None:
            return None
        # "running" in state.json: still running, or killed before it could say otherwise.
        record = self.new_manifest(kind="migration", status=state.status)
        record.tables = sorted((t.report for t in state.tables.values()), key=lambda t: t.name)
        objects = [o for t in state.tables.values() for o in t.objects]
        if state.backup is not None:
            record.backup_tables = dict(state.backup.tables)
            objects += state.backup.objects
        self.adopt(objects)
        record.objects = self.objects
        record.target_only_tables = list(state.retired)
        record.target_only_dropped = bool(state.retired)
        record.cutover = state.cutover
        record.source_network, record.target_network = state.source_network, state.target_network
        record.error = (
            "the process stopped before it could write its manifest (killed, or the machine stopped)"
        )
        return record

    def write_state(self, state: MigrationState) -> None:
        """Replace state.json: what the running migration has finished (read back by `read_state`)."""
        self.backend.put_bytes(f"{self.folder}/{STATE_NAME}", state.to_json())

    def read_state(self) -> MigrationState | None:
        """Return state.json, or None when the migration never wrote one. Raises ArchiveError if damaged."""
        key = f"{self.folder}/{STATE_NAME}"
        blob = self.backend.get_bytes(key)
        return None if blob is None else MigrationState.from_json(blob, self.backend.url_of(key))

    def append_log(self, lines: bytes) -> None:
        """Add JSON lines to log.jsonl (created by the first run, extended by a resumed one)."""
        key = f"{self.folder}/{LOG_NAME}"
        earlier = self.backend.get_bytes(key) or b""
        self.backend.put_bytes(key, earlier + lines)

    def read_log(self) -> list[dict[str, Any]] | None:
        """Return the records of log.jsonl, or None when the migration wrote none (it is still running,
        was killed, or ran before migrations kept logs). Raises ArchiveError if it is damaged."""
        key = f"{self.folder}/{LOG_NAME}"
        data = self.backend.get_bytes(key)
        return None if data is None else runlog.parse(data, self.backend.url_of(key))

    def adopt(self, objects: list[ArchiveObject]) -> None:
        """Count objects committed by an earlier attempt of this migration as committed.

        That includes the objects listed in its manifest.
        """
        with self._lock:
            for entry in objects:
                self._objects[entry.name] = entry


def manifest_of_object(
    path_or_url: str | os.PathLike[str], *, options: S3Options | None = None
) -> tuple[Manifest, Role] | None:
    """The manifest of the archive folder an object belongs to, and the object's role.

    For `.../site-<n>/<migration id>/<role>/<name>` or `.../network/<migration id>/<role>/<name>`
    (a file, or an s3:// URL reached with `options`);
    None for anything else (a dump made elsewhere, an export) and for a folder without a manifest.
    Raises ArchiveError when the manifest is damaged or cannot be read.
    """
    found = object_ancestors(path_or_url, 3, options)
    if found is None:
        return None
    (top, migration_id, role_dir), backend = found
    if role_dir not in ROLES or not ID_RE.fullmatch(migration_id) or site_of_dir(top) is None:
        return None
    key = f"{top}/{migration_id}/{MANIFEST_NAME}"
    blob = backend.get_bytes(key)
    if blob is None:
        return None
    return Manifest.from_json(blob, backend.url_of(key)), role_dir


def check_relative(name: str) -> str:
    """`name` as a clean relative key ('a/b'); UsageError for '', '.', '..' parts."""
    parts = name.replace("\\", "/").strip("/").split("/")
    if not name or any(p in ("", ".", "..") for p in parts):
        raise UsageError(f"{name!r} is not a relative archive name (like source/x.sql.zst)")
    return "/".join(parts)
