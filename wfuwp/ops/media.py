"""Copy a site's media between buckets: server-side, in parallel, only what differs.

The building block of a media sync (the predecessor copied `s3://<from bucket>/sites/<id>/` to the
target bucket with the AWS CLI). Objects never pass through this machine: small ones are copied with
CopyObject, big ones with a multipart copy (UploadPartCopy). Nothing is deleted in the destination.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from wfuwp.config.settings import Config
from wfuwp.errors import ArchiveError, ConfigError, UsageError
from wfuwp.storage import s3 as _s3
from wfuwp.storage.s3 import MAX_COPY_OBJECT_SIZE, S3Client

__all__ = ["SOURCE_ETAG_KEY", "CopyResult", "copy_prefix"]

# User metadata stamped on every copy: the source's ETag. A copy's own ETag often differs from its
# source's (a multipart upload's ETag is not the MD5 of the data; SSE-KMS ETags are not MD5s at all), so
# without this every run would copy those objects again.
SOURCE_ETAG_KEY = "wfuwp-source-etag"
# Objects up to this size are copied with one CopyObject request (S3 allows at most 5 GiB); bigger ones
# with a managed multipart copy in parts of _COPY_PART_SIZE.
COPY_OBJECT_LIMIT = MAX_COPY_OBJECT_SIZE
_COPY_PART_SIZE = 256 * 1024**2
DEFAULT_COPY_CONCURRENCY = 8
# Headers that describe the content; CopyObject with MetadataDirective=REPLACE drops them unless resent.
_CONTENT_HEADERS = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")


@dataclass(frozen=True)
class CopyResult:
    """What `copy_prefix` did (or, with `dry_run`, would do)."""

    copied: int  # objects copied (or to copy)
    skipped: int  # objects already identical in the destination
    bytes_copied: int
    keys: tuple[str, ...]  # the copied keys, relative to the prefixes
    dry_run: bool


def _norm(prefix: str) -> str:
    # "sites/4" must not pick up "sites/43/...": a non-empty prefix always ends with '/'.
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def _list(client: S3Client, bucket: str, prefix: str) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                out[obj["Key"][len(prefix) :]] = (int(obj["Size"]), str(obj.get("ETag", "")).strip('"'))
    except _s3.ERRORS as exc:
        raise ArchiveError(
            f"listing s3://{bucket}/{prefix} failed: {_s3.describe_error(exc)}; "
            + _s3.advice(exc, "check the bucket name and credentials")
        ) from exc
    return out


def copy_prefix(
    src_bucket: str,
    src_prefix: str,
    dst_bucket: str,
    dst_prefix: str,
    *,
    dry_run: bool = False,
    concurrency: int = DEFAULT_COPY_CONCURRENCY,
    client: S3Client | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> CopyResult:
    """Copy every object under s3://src_bucket/src_prefix/ to the same relative key under dst_prefix/.

    Only objects that are missing or differ in the destination are copied: same size and same ETag (or
    the source ETag recorded on an earlier copy) means identical. Content type, cache headers and user
    metadata are kept. `concurrency` objects are copied at a time. `dry_run` lists and compares only.
    Raises ArchiveError (after the other copies finished) if any copy failed, UsageError for a copy
    onto itself.
    """
    src_prefix, dst_prefix = _norm(src_prefix), _norm(dst_prefix)
    if src_bucket == dst_bucket and (src_prefix.startswith(dst_prefix) or dst_prefix.startswith(src_prefix)):
        raise UsageError(f"s3://{src_bucket}/{src_prefix} and s3://{dst_bucket}/{dst_prefix} overlap")
    if concurrency < 1:
        raise UsageError("concurrency must be at least 1")
    if client is None:
        client = _s3.make_client(
            endpoint_url=endpoint_url, region=region, max_pool_connections=max(10, concurrency * 2)
        )
    src = _list(client, src_bucket, src_prefix)
    dst = _list(client, dst_bucket, dst_prefix)

    todo: list[str] = []
    undecided: list[str] = []
    skipped = 0
    for rel, (size, etag) in sorted(src.items()):
        there = dst.get(rel)
        if there is None or there[0] != size:
            todo.append(rel)
        elif there[1] == etag:
            skipped += 1
        else:
            undecided.append(rel)

    def recorded_etag(rel: str) -> str | None:
        try:
            head = client.head_object(Bucket=dst_bucket, Key=dst_prefix + rel)
        except _s3.ERRORS as exc:
            raise ArchiveError(
                f"reading s3://{dst_bucket}/{dst_prefix}{rel} failed: {_s3.describe_error(exc)}"
            ) from exc
        value = head.get("Metadata", {}).get(SOURCE_ETAG_KEY)
        return str(value) if value is not None else None

    with ThreadPoolExecutor(concurrency) as pool:
        for rel, recorded in zip(undecided, pool.map(recorded_etag, undecided), strict=True):
            if recorded == src[rel][1]:
                skipped += 1
            else:
                todo.append(rel)
        todo.sort()
        total = sum(src[rel][0] for rel in todo)
        if dry_run:
            return CopyResult(len(todo), skipped, total, tuple(todo), dry_run=True)

        def copy(rel: str) -> BaseException | None:
            try:
                _copy_one(client, src_bucket, src_prefix + rel, dst_bucket, dst_prefix + rel, src[rel])
            except Exception as exc:
                return exc
            return None

        failures = [
            (rel, exc) for rel, exc in zip(todo, pool.map(copy, todo), strict=True) if exc is not None
        ]
    if failures:
        rel, exc = failures[0]
        raise ArchiveError(
            f"{len(failures)} of {len(todo)} copies to s3://{dst_bucket}/{dst_prefix} failed, e.g. {rel}: "
            f"{_s3.describe_error(exc)}; run again to copy what is still missing"
        )
    return CopyResult(len(todo), skipped, total, tuple(todo), dry_run=False)


def _copy_one(
    client: S3Client, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str, size_etag: tuple[int, str]
) -> None:
    size, etag = size_etag
    head = client.head_object(Bucket=src_bucket, Key=src_key)
    if head.get("ETag", "").strip('"') != etag:
        # Changed since the listing: record the ETag of what is actually copied.
        etag = head["ETag"].strip('"')
        size = int(head["ContentLength"])
    extra: dict[str, Any] = {h: head[h] for h in _CONTENT_HEADERS if head.get(h)}
    metadata: Mapping[str, str] = head.get("Metadata", {})
    extra["Metadata"] = {**metadata, SOURCE_ETAG_KEY: etag}
    extra["MetadataDirective"] = "REPLACE"
    source = {"Bucket": src_bucket, "Key": src_key}
    if size <= COPY_OBJECT_LIMIT:
        client.copy_object(CopySource=source, Bucket=dst_bucket, Key=dst_key, **extra)
        return
    # A managed copy: CreateMultipartUpload (with the metadata above) + UploadPartCopy per part.
    # s3transfer ignores Metadata (keeping the source's) unless MetadataDirective=REPLACE is passed too.
    _s3.multipart_copy(client, source, dst_bucket, dst_key, extra_args=extra, part_size=_COPY_PART_SIZE)


def media_location(config: Config, site_id: int, from_env: str, to_env: str) -> tuple[str, str, str]:
    """(source bucket, target bucket, key prefix) of a site's media; ConfigError when a bucket is unset."""
    buckets = []
    for name in (from_env, to_env):
        bucket = config.env(name).media_bucket
        if not bucket:
            raise ConfigError(
                f"env.{name}.media_bucket is not set, so media have nowhere to copy from or to: "
                f"run `wfuwp config set env.{name}.media_bucket BUCKET`"
            )
        buckets.append(bucket)
    return buckets[0], buckets[1], config.s3.media_prefix_for(site_id)


def sync_media(
    config: Config,
    site_id: int,
    from_env: str,
    to_env: str,
    *,
    dry_run: bool = False,
    concurrency: int = DEFAULT_COPY_CONCURRENCY,
    client: S3Client | None = None,
) -> CopyResult:
    """Copy a site's uploads between two environments' media buckets (see copy_prefix).

    The buckets are the environments' `media_bucket`, the keys those under `s3.media_prefix`
    (`sites/<id>/` by default). Server-side copies of only what differs, in parallel; nothing is
    deleted. `dry_run` counts what would be copied.
    """
    src, dst, prefix = media_location(config, site_id, from_env, to_env)
    return copy_prefix(
        src,
        prefix,
        dst,
        prefix,
        dry_run=dry_run,
        concurrency=concurrency,
        client=client,
        endpoint_url=config.s3.endpoint_url,
        region=config.s3.region,
    )
