"""Archive sinks against a real directory and a real S3-compatible server (moto over HTTP)."""

from __future__ import annotations

import gc
import hashlib
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest
import smart_open.s3
import zstandard

from wfuwp.archive.location import (
    ArchiveLocation,
    MigrationArchive,
    list_migrations,
    parse_migration_id,
)
from wfuwp.errors import ArchiveError, UsageError
from wfuwp.storage.compress import ArchiveStream

if TYPE_CHECKING:
    from devtools.s3server import FaultyProxy, S3Server


MiB = 1024 * 1024
WHEN = datetime(2026, 11, 25, 10, 15, 0, tzinfo=timezone.utc)


def _objects(client: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def _pending_uploads(client: Any, bucket: str) -> list[str]:
    return [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


@pytest.fixture(params=["local", "s3"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> ArchiveLocation:
    """The same tests against a directory and against a bucket prefix."""
    if request.param == "local":
        return ArchiveLocation.parse(tmp_path / "archives")
    server: S3Server = request.getfixturevalue("s3_server")
    bucket: str = request.getfixturevalue("s3_bucket")
    return ArchiveLocation.parse(
        f"s3://{bucket}/wp/archives", endpoint_url=server.endpoint_url, part_size=5 * MiB
    )


def _new(
    location: ArchiveLocation, when: datetime = WHEN, site_id: int = 43, to_env: str = "pprd"
) -> MigrationArchive:
    return location.new_migration(
        site_id=site_id, site_name="biology", from_env="prod", to_env=to_env, when=when
    )


# --- names and ids


def test_ids_and_names_follow_the_documented_layout(tmp_path: Path) -> None:
    archive = _new(ArchiveLocation.parse(tmp_path))
    assert archive.id.startswith("20261125T101500Z-prod-to-pprd-")
    assert len(archive.id.rsplit("-", 1)[1]) == 6
    assert archive.folder == f"site-43/{archive.id}"
    assert parse_migration_id(archive.id) == (WHEN, "prod", "pprd")
    assert (
        archive.object_name("source", "wp_43_posts")
        == "source/biology-43-prod-initial-export-wp_43_posts.sql.zst"
    )
    assert (
        archive.object_name("backup", "wp_43_posts")
        == "backup/biology-43-pprd-backup-export-wp_43_posts.sql.zst"
    )
    assert archive.object_name("migrated", "wp_43_options") == (
        "migrated/biology-43-pprd-migrated-export-wp_43_options.sql.zst"
    )
    # A name that is not a path segment stays one, reversibly.
    assert (
        archive.object_name("source", "a/b?c d")
        == "source/biology-43-prod-initial-export-a%2Fb%3Fc%20d.sql.zst"
    )
    with pytest.raises(UsageError):
        archive.object_name("elsewhere", "t")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"part_size": 4 * MiB},
        {"level": 0},
        {"sse": "rot13"},
        {"sse": "AES256", "sse_kms_key_id": "k"},
    ],
)
def test_parse_rejects_impossible_options(kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        ArchiveLocation.parse("s3://bucket/p", **kwargs)


def test_parse_rejects_s3_options_for_a_directory_and_other_schemes(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        ArchiveLocation.parse(tmp_path, sse="AES256")
    with pytest.raises(UsageError):
        ArchiveLocation.parse("gs://bucket/p")
    with pytest.raises(UsageError):
        ArchiveLocation.parse("s3:///p")


def test_env_names_must_fit_in_the_id(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        ArchiveLocation.parse(tmp_path).new_migration(
            site_id=2, site_name=None, from_env="pro-d", to_env="uat"
        )


# --- streams: round trip, atomicity, counters


def test_stream_round_trip(location: ArchiveLocation) -> None:
    archive = _new(location)
    payload = os.urandom(3 * MiB) + b"INSERT INTO t VALUES ('x');\n" * 400_000  # > 2 S3 parts compressed
    name = archive.object_name("source", "wp_43_posts")
    with archive.open_stream(name) as out:
        view = memoryview(payload)
        for i in range(0, len(payload), 1 << 20):
            out.write(view[i : i + (1 << 20)])
    assert out.committed
    assert out.bytes_in == len(payload)
    assert 0 < out.bytes_out < len(payload)
    with archive.open_read(name) as back:
        assert back.read() == payload
    # The object is one plain zstd frame any zstd tool can read, with the size and hash we report.
    raw = location.backend.open_raw(f"{archive.folder}/{name}").read()
    assert len(raw) == out.bytes_out
    assert hashlib.sha256(raw).hexdigest() == out.sha256
    assert zstandard.ZstdDecompressor().decompressobj().decompress(raw) == payload


def test_nothing_is_visible_before_close(location: ArchiveLocation) -> None:
    archive = _new(location)
    with archive.open_stream("source/t.sql.zst") as out:
        out.write(os.urandom(6 * MiB))  # at least one S3 part is uploaded by now
        assert location.backend.list_files(archive.folder) == []
    assert [n for n, _ in location.backend.list_files(archive.folder)] == ["source/t.sql.zst"]


def test_exception_in_with_block_leaves_nothing(location: ArchiveLocation) -> None:
    archive = _new(location)
    with pytest.raises(RuntimeError, match="dump failed"), archive.open_stream("source/t.sql.zst") as out:
        out.write(os.urandom(12 * MiB))  # two S3 parts uploaded
        raise RuntimeError("dump failed")
    assert out.closed and not out.committed
    assert location.backend.list_files("") == []  # no object, no temporary file


def test_explicit_abort_leaves_nothing_and_close_after_abort_is_a_no_op(location: ArchiveLocation) -> None:
    archive = _new(location)
    out = archive.open_stream("backup/t.sql.zst")
    out.write(os.urandom(7 * MiB))
    out.abort()
    out.close()
    out.abort()
    assert location.backend.list_files("") == []
    with pytest.raises(ValueError):
        out.write(b"more")


def test_unclosed_stream_is_discarded_not_published(location: ArchiveLocation) -> None:
    archive = _new(location)
    out = archive.open_stream("source/t.sql.zst")
    out.write(os.urandom(6 * MiB))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del out
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)
    assert location.backend.list_files("") == []


def test_s3_abort_removes_the_multipart_upload(s3_server: S3Server, s3_bucket: str, s3_client: Any) -> None:
    location = ArchiveLocation.parse(
        f"s3://{s3_bucket}", endpoint_url=s3_server.endpoint_url, part_size=5 * MiB
    )
    out = _new(location).open_stream("source/t.sql.zst")
    out.write(os.urandom(11 * MiB))
    assert len(_pending_uploads(s3_client, s3_bucket)) == 1
    out.abort()
    assert _pending_uploads(s3_client, s3_bucket) == []
    assert _objects(s3_client, s3_bucket) == []


def test_s3_encryption_storage_class_and_content_type_are_applied(
    s3_server: S3Server, s3_bucket: str, s3_client: Any
) -> None:
    location = ArchiveLocation.parse(
        f"s3://{s3_bucket}/x",
        endpoint_url=s3_server.endpoint_url,
        sse_kms_key_id="alias/wfuwp",
        storage_class="STANDARD_IA",
    )
    archive = _new(location)
    with archive.open_stream("source/t.sql.zst") as out:
        out.write(b"SELECT 1;\n")
    archive.write_manifest(archive.new_manifest(kind="migration", status="completed"))
    head = s3_client.head_object(Bucket=s3_bucket, Key=f"x/{archive.folder}/source/t.sql.zst")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith("alias/wfuwp")
    assert head["StorageClass"] == "STANDARD_IA"
    assert head["ContentType"] == "application/zstd"
    manifest_head = s3_client.head_object(Bucket=s3_bucket, Key=f"x/{archive.folder}/manifest.json")
    assert manifest_head["ServerSideEncryption"] == "aws:kms"
    assert manifest_head.get("StorageClass", "STANDARD") == "STANDARD"


def test_bare_s3_url_uses_the_boto3_environment(
    s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint_url)
    location = ArchiveLocation.parse(f"s3://{s3_bucket}/env")
    location.check()
    archive = _new(location)
    with archive.open_stream("source/t.sql.zst") as out:
        out.write(b"x")
    assert archive.open_read("source/t.sql.zst").read() == b"x"


def test_missing_bucket_fails_with_one_line(s3_server: S3Server) -> None:
    location = ArchiveLocation.parse("s3://no-such-bucket-wfuwp", endpoint_url=s3_server.endpoint_url)
    with pytest.raises(ArchiveError, match="no-such-bucket-wfuwp") as info:
        location.check()
    assert "\n" not in str(info.value)
    with pytest.raises(ArchiveError, match="cannot start an upload"):
        _new(location).open_stream("source/t.sql.zst")


def test_outage_mid_upload_aborts_and_never_publishes(
    s3_proxy: FaultyProxy, s3_bucket: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # smart_open retries connection errors 6 times, 10 s apart, on top of botocore's; keep the test fast.
    monkeypatch.setattr(smart_open.s3.RETRY, "sleep_seconds", 0)
    location = ArchiveLocation.parse(
        f"s3://{s3_bucket}", endpoint_url=s3_proxy.endpoint_url, part_size=5 * MiB, max_attempts=2
    )
    out = _new(location).open_stream("source/t.sql.zst")
    out.write(os.urandom(6 * MiB))
    s3_proxy.cut()
    with pytest.raises(ArchiveError, match=r"uploading s3://.* failed") as info:
        for _ in range(20):
            out.write(os.urandom(1 * MiB))
        out.close()
    assert "\n" not in str(info.value)
    assert out.closed and not out.committed
    assert out.abort_problem  # the abort request could not be sent either
    s3_proxy.restore()
    del out
    gc.collect()  # smart_open's writer would complete the upload here if it were not disarmed
    assert _objects(s3_client, s3_bucket) == []


def test_outage_of_the_whole_server_mid_upload_raises(
    s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(smart_open.s3.RETRY, "sleep_seconds", 0)
    location = ArchiveLocation.parse(
        f"s3://{s3_bucket}", endpoint_url=s3_server.endpoint_url, part_size=5 * MiB, max_attempts=2
    )
    out = _new(location).open_stream("source/t.sql.zst")
    out.write(os.urandom(6 * MiB))
    s3_server.stop()
    try:
        with pytest.raises(ArchiveError, match="failed"), out:
            for _ in range(20):
                out.write(os.urandom(1 * MiB))
    finally:
        s3_server.start()
    assert not out.committed


def test_smart_open_writer_still_has_the_attribute_we_disarm(
    s3_server: S3Server, s3_bucket: str, s3_client: Any
) -> None:
    # _S3Sink relies on smart_open's MultipartWriter keeping its upload id in `_upload_id` (to stop a
    # garbage-collected writer from completing an upload); fail loudly if a smart_open upgrade changes it.
    writer = smart_open.s3.open(s3_bucket, "k", "wb", client=s3_client)
    assert writer._upload_id is not None
    writer.terminate()
    assert writer._upload_id is None


# --- manifests, listing, status, download


def test_manifest_listing_status_and_lookup_by_id(location: ArchiveLocation) -> None:
    first = _new(location, when=datetime(2026, 11, 24, 9, 0, 0, tzinfo=timezone.utc))
    dump = b"INSERT INTO `wp_43_posts` VALUES (1);\n" * 1000
    for role in ("source", "backup", "migrated"):
        with first.open_table_stream(role, "wp_43_posts") as out:  # type: ignore[arg-type]
            out.write(dump)
    manifest = first.new_manifest(kind="migration", status="completed")
    manifest.details = {"rows": {"wp_43_posts": 1000}}
    written = first.write_manifest(manifest)
    assert written.bytes == 3 * len(dump)
    assert {o.role for o in written.objects} == {"source", "backup", "migrated"}
    assert all(o.table == "wp_43_posts" for o in written.objects)

    second = _new(location, when=datetime(2026, 11, 25, 9, 0, 0, tzinfo=timezone.utc), to_env="uat")
    with second.open_table_stream("source", "wp_43_posts") as out:
        out.write(b"x")  # and then the process "dies": no manifest
    other_site = _new(location, when=datetime(2026, 11, 23, 9, 0, 0, tzinfo=timezone.utc), site_id=7)
    other_site.write_manifest(other_site.new_manifest(kind="migration", status="failed"))

    listed = location.list_migrations()
    assert [m.id for m in listed] == [second.id, first.id, other_site.id]
    assert [m.status for m in listed] == ["incomplete", "completed", "failed"]
    assert listed[1].bytes == 3 * len(dump) and listed[1].objects == 3 and listed[1].site_name == "biology"
    assert listed[0].bytes is None and listed[0].compressed_bytes > 0
    assert [m.id for m in location.list_migrations(site_id=43)] == [second.id, first.id]
    assert [m.id for m in location.list_migrations(env="uat")] == [second.id]
    assert [m.id for m in location.list_migrations(limit=1)] == [second.id]
    assert [m.id for m in list_migrations(location, 7)] == [other_site.id]

    # Found by id alone (searching the site folders), or with the site given.
    assert location.read_manifest(first.id).details["rows"] == {"wp_43_posts": 1000}
    assert location.read_manifest(f"site-43/{first.id}").id == first.id
    assert location.migration_status(first.id, site_id=43) == "completed"
    assert location.migration_status(second.id) == "incomplete"
    with pytest.raises(ArchiveError, match="did not finish"):
        location.read_manifest(second.id)
    with pytest.raises(ArchiveError, match="no migration"):
        location.read_manifest("20200101T000000Z-prod-to-uat-abcdef")
    with pytest.raises(UsageError):
        location.read_manifest("not-an-id")
    reopened = location.migration(first.id)
    name = first.object_name("migrated", "wp_43_posts")
    assert reopened.open_read(name).read() == dump
    assert orjson.loads(reopened.open_read("manifest.json").read())["status"] == "completed"
    # Manifests written before the status vocabulary was settled said "complete".
    old = orjson.loads(reopened.open_read("manifest.json").read())
    location.backend.put_bytes(
        f"{reopened.folder}/manifest.json", orjson.dumps({**old, "status": "complete"})
    )
    assert location.read_manifest(first.id).status == "completed"


def test_manifest_guards(tmp_path: Path) -> None:
    archive = _new(ArchiveLocation.parse(tmp_path))
    out = archive.open_stream("source/t.sql.zst")
    with pytest.raises(UsageError, match="still open"):
        archive.write_manifest(archive.new_manifest(kind="migration", status="completed"))
    out.close()
    other = _new(ArchiveLocation.parse(tmp_path), site_id=7)
    with pytest.raises(UsageError, match="cannot be written into"):
        archive.write_manifest(other.new_manifest(kind="migration", status="completed"))
    unknown = tmp_path / archive.folder / "manifest.json"
    unknown.write_bytes(b'{"id": "x", "status": "done"}')
    with pytest.raises(ArchiveError, match="is not a wfuwp manifest"):
        archive.read_manifest()
    with pytest.raises(UsageError):
        archive.open_stream("../escape.sql.zst")
    with pytest.raises(UsageError):
        archive.open_stream("manifest.json")


def test_download_migration_verifies_and_decompresses(location: ArchiveLocation, tmp_path: Path) -> None:
    archive = _new(location)
    tables = {"wp_43_posts": os.urandom(100_000), "wp_43_options": b"a;b\n" * 50_000}
    for table, data in tables.items():
        with archive.open_table_stream("migrated", table) as out:
            out.write(data)
    archive.write_manifest(archive.new_manifest(kind="migration", status="completed"))
    got = location.download_migration(archive.id, tmp_path / "dl")
    names = sorted(p.relative_to(tmp_path / "dl" / archive.id).as_posix() for p in got)
    assert names == sorted(["manifest.json", *(archive.object_name("migrated", t) for t in tables)])
    plain = location.download_migration(archive.id, tmp_path / "plain", decompress=True, site_id=43)
    for table, data in tables.items():
        path = tmp_path / "plain" / archive.id / archive.object_name("migrated", table)[: -len(".zst")]
        assert path in plain
        assert path.read_bytes() == data


def test_download_detects_a_changed_object(tmp_path: Path) -> None:
    location = ArchiveLocation.parse(tmp_path / "a")
    archive = _new(location)
    with archive.open_stream("source/t.sql.zst") as out:
        out.write(b"SELECT 1;\n" * 1000)
    archive.write_manifest(archive.new_manifest(kind="migration", status="completed"))
    path = tmp_path / "a" / archive.folder / "source" / "t.sql.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(b"SELECT 2;\n" * 1000))
    with pytest.raises(ArchiveError, match="SHA-256"):
        location.download_migration(archive.id, tmp_path / "dl")
    assert not list((tmp_path / "dl").rglob("t.sql.zst"))


def test_truncated_object_raises_on_read(location: ArchiveLocation) -> None:
    archive = _new(location)
    with archive.open_stream("source/t.sql.zst") as out:
        out.write(os.urandom(200_000))
    raw = location.backend.open_raw(f"{archive.folder}/source/t.sql.zst").read()
    location.backend.put_bytes(f"{archive.folder}/source/cut.sql.zst", raw[: len(raw) // 2])
    with pytest.raises(ArchiveError, match="truncated at compressed byte"):
        archive.open_read("source/cut.sql.zst").read()
    with pytest.raises(ArchiveError, match=r"no object .*missing\.sql\.zst; check the migration id"):
        archive.open_read("source/missing.sql.zst")


def test_stream_is_a_binary_file_for_text_wrappers(tmp_path: Path) -> None:
    import io

    archive = _new(ArchiveLocation.parse(tmp_path))
    stream = archive.open_stream("source/t.sql.zst")
    assert isinstance(stream, ArchiveStream)
    with io.TextIOWrapper(stream, encoding="utf-8") as text:
        text.write("SET NAMES utf8mb4;\n€\n")
    assert archive.open_read("source/t.sql.zst").read().decode() == "SET NAMES utf8mb4;\n€\n"


def test_manifests_of_earlier_versions_still_read() -> None:
    from wfuwp.archive.manifest import Manifest

    common = {"id": "20261101T000000Z-pprd-to-pprd-abcdef", "site": {"id": 43, "name": "bio"}, "from": "pprd",
              "to": "pprd", "objects": []}  # fmt: skip
    # What a restore's own backup wrote before manifests had a kind.
    backup = Manifest.from_dict({**common, "status": "backup before restore", "backup_tables": {"t": [1, 2]}})
    assert (backup.kind, backup.status) == ("backup", "completed")
    # A migration whose clean-up failed after its swap: only the target can tell which side it is on.
    failed = Manifest.from_dict({**common, "status": "failed, swapped back; clean-up failed (x)"})
    assert (failed.status, failed.cutover) == ("failed", "swapping")
    assert Manifest.from_dict({**common, "status": "complete"}).cutover == "finished"
