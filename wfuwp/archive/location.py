"""Where archives live (an S3 bucket prefix or a local directory): start, find, list and download migrations.

    ArchiveLocation.parse("s3://backups/wordpress", sse="aws:kms")   # or a directory; None: per-user default
        .new_migration(site_id=43, site_name="biology", from_env="prod", to_env="pprd")  -> MigrationArchive
        .migration(id) / .read_manifest(id) / .list_migrations(site_id, env) / .download_migration(id, dir)

The layout of one folder is in wfuwp.archive.folder and docs/archives.md. An object appears only once
it is complete; `manifest.json` is written last, so a folder without one is a migration that did not
finish ("incomplete").
"""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import platformdirs

from wfuwp.archive.folder import (
    ID_RE,
    SUFFIX,
    MigrationArchive,
    check_env_name,
    check_relative,
    new_migration_id,
    parse_migration_id,
    site_dir,
    site_of_dir,
)
from wfuwp.archive.manifest import Manifest
from wfuwp.errors import ArchiveError, UsageError
from wfuwp.mysql.identity import NetworkIdentity
from wfuwp.mysql.schema import NETWORK_SITE
from wfuwp.storage.compress import DEFAULT_LEVEL, DEFAULT_THREADS, open_decompressed
from wfuwp.storage.local import LocalSink
from wfuwp.storage.objects import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_PART_SIZE,
    STALL_TIMEOUT_S,
    Backend,
    S3Options,
    is_bucket,
    open_backend,
)

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_LEVEL",
    "DEFAULT_PART_SIZE",
    "DEFAULT_THREADS",
    "ArchiveLocation",
    "MigrationArchive",
    "MigrationInfo",
    "default_local_root",
    "list_migrations",
    "parse_migration_id",
]

# Parallel S3 requests for listing manifests and downloading a migration.
DEFAULT_CONCURRENCY = 4


def default_local_root() -> Path:
    """Return the directory used when no archive location is configured (per-user data dir)."""
    return Path(platformdirs.user_data_dir("wfuwp")) / "archives"


@dataclass(frozen=True)
class MigrationInfo:
    """One migration folder as listed: from its manifest, or from its name when it has none."""

    id: str
    site_id: int  # NETWORK_SITE (0) for the network tables' migrations (folder network/)
    site_name: str | None
    from_env: str
    to_env: str
    when: datetime
    status: str  # the manifest's status, or "incomplete" when the folder has no manifest
    bytes: int | None  # uncompressed SQL bytes (None without a manifest)
    compressed_bytes: int
    objects: int
    url: str
    # The networks the tables were read from and written to (the same for a backup); None when
    # the manifest does not say (made before archives recorded them, or no manifest).
    source_network: NetworkIdentity | None = None
    target_network: NetworkIdentity | None = None

    def in_network(self, network: str) -> bool:
        """Whether either side is `network`: a network id (or its first 4+ digits), or a main domain
        (with its path, if not "/")."""
        wanted = network.strip().lower()
        for side in (self.source_network, self.target_network):
            if side is None:
                continue
            if wanted in (side.domain, side.address.lower()):
                return True
            if len(wanted) >= 4 and side.id.startswith(wanted):
                return True
        return False


@dataclass
class ArchiveLocation:
    """Where archives live: an S3 bucket prefix or a local directory, with the options to write there.

    Build it with `ArchiveLocation.parse`. Thread-safe for concurrent streams.
    """

    url: str
    backend: Backend
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
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        client: Any = None,
        stall_timeout: float = STALL_TIMEOUT_S,
    ) -> ArchiveLocation:
        """Return the location for `s3://bucket[/prefix]` or a directory (default: `default_local_root()`).

        S3 options: `endpoint_url`/`region` (else boto3's chain: AWS_PROFILE, AWS_REGION,
        AWS_ENDPOINT_URL_S3, ...), `sse` ("AES256" or "aws:kms"; a `sse_kms_key_id` implies "aws:kms"),
        `storage_class` (e.g. "STANDARD_IA"; applied to the table objects, not to manifest.json),
        `part_size` in bytes (5 MiB..5 GiB; objects can reach 10,000 parts), `max_attempts` per S3 request,
        or a ready `client`. `concurrency`: parallel S3 requests when listing and downloading.
        `level`/`threads`: zstd level (1..22) and worker threads (0 = compress in the caller's thread).
        `stall_timeout`: seconds an S3 upload may take no byte before the run fails (and writes nothing
        more there).
        Raises UsageError for invalid values. No network access happens here (see `check()`).
        """
        if not 1 <= level <= 22:
            raise UsageError(f"zstd level {level} is outside 1..22; 3 is the default")
        if threads < 0 or concurrency < 1:
            raise UsageError("threads must be >= 0 and concurrency >= 1")
        options = S3Options(
            endpoint_url=endpoint_url,
            region=region,
            sse=sse,
            sse_kms_key_id=sse_kms_key_id,
            storage_class=storage_class,
            part_size=part_size,
            max_attempts=max_attempts,
            max_pool_connections=max(10, concurrency * 2),
            client=client,
            stall_timeout_s=stall_timeout,
        )
        backend = open_backend(url_or_path if url_or_path is not None else default_local_root(), options)
        return cls(
            url=backend.url,
            backend=backend,
            is_s3=is_bucket(backend),
            part_size=part_size,
            concurrency=concurrency,
            level=level,
            threads=threads,
        )

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
        digits, underscore (they are part of the id). `site_id` NETWORK_SITE: the network tables'
        (folder network/)."""
        if site_id < 1 and site_id != NETWORK_SITE:
            raise UsageError(f"site id {site_id} is not a site id (1 or more)")
        check_env_name(from_env)
        check_env_name(to_env)
        return self._archive(new_migration_id(from_env, to_env, when), site_id, site_name)

    def _archive(self, migration_id: str, site_id: int, site_name: str | None) -> MigrationArchive:
        return MigrationArchive(
            self.backend,
            migration_id=migration_id,
            site_id=site_id,
            site_name=site_name,
            level=self.level,
            threads=self.threads,
        )

    # --- finding and reading

    def _folder(self, migration_id: str, site_id: int | None) -> str:
        """Return 'site-<n>/<id>' (or 'network/<id>') for a migration id, searching the site folders if
        `site_id` is None."""
        if "/" in migration_id:
            site_part, _, migration_id = migration_id.strip("/").partition("/")
            site_id = site_of_dir(site_part)
            if site_id is None:
                raise UsageError(f"{site_part!r} is not a site folder (site-<id> or network)")
        parse_migration_id(migration_id)
        if site_id is not None:
            folder = f"{site_dir(site_id)}/{migration_id}"
            if self.backend.exists_prefix(folder):
                return folder
        else:
            sites = [d for d in self.backend.list_dirs("") if site_of_dir(d) is not None]
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

    def _load_manifest(self, folder: str) -> Manifest | None:
        top, _, mid = folder.partition("/")
        return self._archive(mid, _site_of(top), None).read_manifest()

    def migration(self, migration_id: str, *, site_id: int | None = None) -> MigrationArchive:
        """Return an existing migration's folder by id ('<id>' or 'site-<n>/<id>'). Raises ArchiveError.

        Objects its manifest lists count as committed (so a manifest written again keeps them).
        """
        folder = self._folder(migration_id, site_id)
        top, _, mid = folder.partition("/")
        manifest = self._load_manifest(folder)
        archive = self._archive(mid, _site_of(top), manifest.site_name if manifest else None)
        if manifest is not None:
            archive.adopt(manifest.objects)
        return archive

    def read_manifest(self, migration_id: str, *, site_id: int | None = None) -> Manifest:
        """Return a migration's manifest. Raises ArchiveError if the migration or its manifest is missing."""
        manifest = self._load_manifest(self._folder(migration_id, site_id))
        if manifest is None:
            raise ArchiveError(
                f"migration {migration_id} has no manifest: it did not finish (status incomplete)"
            )
        return manifest

    def migration_status(self, migration_id: str, *, site_id: int | None = None) -> str:
        """Return the manifest's status, or "incomplete" when the folder has no manifest."""
        manifest = self._load_manifest(self._folder(migration_id, site_id))
        return "incomplete" if manifest is None else manifest.status

    def list_migrations(
        self,
        site_id: int | None = None,
        env: str | None = None,
        *,
        limit: int | None = None,
        network: str | None = None,
    ) -> list[MigrationInfo]:
        """Return migrations newest first, optionally only `site_id`'s and those from or to `env`.

        `site_id` NETWORK_SITE: the network tables' migrations (folder network/); their MigrationInfo
        has that site id.

        The folder names alone give id, site, envs and time; manifests (read in parallel) give status,
        sizes and networks. `network`: only those read from or written to that network (an id, 4 or
        more of its first digits, or a main domain; see MigrationInfo.in_network): archives whose
        manifest records no network are left out then. `limit` reads only that many of the newest
        (of those in `network`). Raises ArchiveError.
        """
        if site_id is not None:
            sites = [site_dir(site_id)]
        else:
            sites = [d for d in self.backend.list_dirs("") if site_of_dir(d) is not None]
        folders: list[tuple[str, str]] = []  # (migration id, folder)
        with ThreadPoolExecutor(self.concurrency) as pool:
            for site, names in zip(sites, pool.map(self.backend.list_dirs, sites), strict=True):
                for name in names:
                    m = ID_RE.fullmatch(name)
                    if m and (env is None or env in (m["from"], m["to"])):
                        folders.append((name, f"{site}/{name}"))
            # Ids start with a fixed-width UTC time, so sorting the strings sorts by time.
            folders.sort(reverse=True)
            if network is not None:
                # Only manifests know the network: read them all, then take the newest.
                found = [i for i in pool.map(self._info, [f for _, f in folders]) if i.in_network(network)]
                return found[:limit] if limit is not None else found
            if limit is not None:
                folders = folders[:limit]
            return list(pool.map(self._info, [f for _, f in folders]))

    def _info(self, folder: str) -> MigrationInfo:
        top, _, mid = folder.partition("/")
        when, from_env, to_env = parse_migration_id(mid)
        manifest = self._load_manifest(folder)
        url = self.backend.url_of(folder)
        if manifest is None:
            files = self.backend.list_files(folder)
            return MigrationInfo(
                id=mid,
                site_id=_site_of(top),
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
        return MigrationInfo(
            id=mid,
            site_id=_site_of(top),
            site_name=manifest.site_name,
            from_env=from_env,
            to_env=to_env,
            when=when,
            status=manifest.status,
            bytes=manifest.bytes,
            compressed_bytes=manifest.compressed_bytes,
            objects=len(manifest.objects),
            url=url,
            source_network=manifest.source_network,
            target_network=manifest.target_network,
        )

    def open_read(self, relative_name: str) -> io.BufferedReader:
        """Open `relative_name` (relative to the root) for reading; `.zst` comes out decompressed, streaming.

        The zstd frame checksum is verified; a truncated or corrupt object raises ArchiveError when read.
        """
        name = check_relative(relative_name)
        return open_decompressed(
            self.backend.open_raw(name), name=self.backend.url_of(name), error=ArchiveError
        )

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
        manifest = self._load_manifest(folder)
        expected = {o.name: o for o in manifest.objects} if manifest is not None else {}
        files = [name for name, _ in self.backend.list_files(folder)]
        dest_root = Path(local_path) / mid

        def fetch(name: str) -> Path:
            unzip = decompress and name.endswith(SUFFIX)
            dest = dest_root.joinpath(*name.split("/"))
            if unzip:
                dest = dest.with_name(dest.name[: -len(".zst")])
            key = f"{folder}/{name}"
            src = self.open_read(key) if unzip else self.backend.open_raw(key)
            sink = LocalSink(dest)
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
                    if unzip and size != want.bytes:
                        raise ArchiveError(
                            f"{self.backend.url_of(key)} decompressed to {size} bytes, the manifest says "
                            f"{want.bytes}; the archive is damaged"
                        )
                    if not unzip and digest.hexdigest() != want.sha256:
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


def _site_of(top: str) -> int:
    site = site_of_dir(top)
    if site is None:  # callers pass folders found through site_of_dir
        raise ArchiveError(f"{top!r} is not a site's archive folder")
    return site


def list_migrations(
    root: ArchiveLocation | str | os.PathLike[str] | None,
    site_id: int | None = None,
    env: str | None = None,
    *,
    limit: int | None = None,
    network: str | None = None,
) -> list[MigrationInfo]:
    """Return the migrations under `root` newest first (see ArchiveLocation.list_migrations)."""
    location = root if isinstance(root, ArchiveLocation) else ArchiveLocation.parse(root)
    return location.list_migrations(site_id, env, limit=limit, network=network)
