"""Server-side media copy between buckets, on a real S3-compatible server."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from wfuwp.errors import UsageError
from wfuwp.ops import media
from wfuwp.ops.media import SOURCE_ETAG_KEY, copy_prefix

if TYPE_CHECKING:
    from devtools.s3server import S3Server


MiB = 1024 * 1024


def _put_multipart(client: Any, bucket: str, key: str, parts: list[bytes]) -> None:
    upload = client.create_multipart_upload(Bucket=bucket, Key=key, ContentType="video/mp4")
    done = []
    for n, body in enumerate(parts, 1):
        r = client.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=n, Body=body)
        done.append({"ETag": r["ETag"], "PartNumber": n})
    client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": done}
    )


def _tree(client: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    out = {}
    for obj in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        out[obj["Key"][len(prefix) :]] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


@pytest.fixture
def buckets(s3_client: Any) -> tuple[str, str]:
    names = (f"media-src-{os.urandom(4).hex()}", f"media-dst-{os.urandom(4).hex()}")
    for name in names:
        s3_client.create_bucket(Bucket=name)
    return names


def test_copies_only_what_differs_and_is_idempotent(
    s3_server: S3Server, s3_client: Any, buckets: tuple[str, str]
) -> None:
    src, dst = buckets
    s3_client.put_object(
        Bucket=src,
        Key="sites/43/a.jpg",
        Body=b"a" * 100,
        ContentType="image/jpeg",
        CacheControl="max-age=60",
        Metadata={"alt": "x"},
    )
    s3_client.put_object(Bucket=src, Key="sites/43/2024/01/b.png", Body=b"new b")
    s3_client.put_object(Bucket=src, Key="sites/43/c.txt", Body=b"same")
    _put_multipart(s3_client, src, "sites/43/video.mp4", [os.urandom(5 * MiB), b"tail"])
    s3_client.put_object(Bucket=src, Key="sites/430/not-mine.jpg", Body=b"other site")
    s3_client.put_object(Bucket=dst, Key="sites/43/2024/01/b.png", Body=b"old")
    s3_client.put_object(Bucket=dst, Key="sites/43/c.txt", Body=b"same")
    s3_client.put_object(Bucket=dst, Key="sites/43/only-in-target.txt", Body=b"kept")

    kwargs: dict[str, Any] = {"endpoint_url": s3_server.endpoint_url, "concurrency": 3}
    plan = copy_prefix(src, "sites/43", dst, "sites/43/", dry_run=True, **kwargs)
    assert plan.dry_run and plan.copied == 3 and plan.skipped == 1
    assert plan.keys == ("2024/01/b.png", "a.jpg", "video.mp4")
    assert _tree(s3_client, dst, "sites/43/")["2024/01/b.png"] == b"old"  # nothing written

    done = copy_prefix(src, "sites/43", dst, "sites/43", **kwargs)
    assert (done.copied, done.skipped, done.bytes_copied) == (3, 1, 100 + 5 + 5 * MiB + 4)
    want = {k: v for k, v in _tree(s3_client, src, "sites/43/").items()}
    got = _tree(s3_client, dst, "sites/43/")
    assert got.pop("only-in-target.txt") == b"kept"  # nothing is deleted
    assert got == want
    head = s3_client.head_object(Bucket=dst, Key="sites/43/a.jpg")
    assert head["ContentType"] == "image/jpeg"
    assert head["CacheControl"] == "max-age=60"
    assert head["Metadata"]["alt"] == "x"
    assert SOURCE_ETAG_KEY in head["Metadata"]
    assert "sites/430/not-mine.jpg" not in {
        o["Key"] for o in s3_client.list_objects_v2(Bucket=dst).get("Contents", [])
    }

    # Nothing differs now, the multipart video included (its copy has another ETag: the stamp decides).
    again = copy_prefix(src, "sites/43", dst, "sites/43", **kwargs)
    assert (again.copied, again.skipped) == (0, 4)

    s3_client.put_object(Bucket=src, Key="sites/43/a.jpg", Body=b"b" * 100)  # same size, new content
    changed = copy_prefix(src, "sites/43", dst, "sites/43", **kwargs)
    assert changed.keys == ("a.jpg",)


def test_big_objects_use_a_multipart_copy(
    s3_client: Any, buckets: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = buckets
    monkeypatch.setattr(media, "COPY_OBJECT_LIMIT", 5 * MiB)  # instead of 5 GiB
    monkeypatch.setattr(media, "_COPY_PART_SIZE", 5 * MiB)
    body = os.urandom(11 * MiB)
    s3_client.put_object(Bucket=src, Key="sites/2/big.bin", Body=body, ContentType="application/pdf")
    result = copy_prefix(src, "sites/2", dst, "sites/2", client=s3_client)
    assert result.copied == 1
    assert s3_client.get_object(Bucket=dst, Key="sites/2/big.bin")["Body"].read() == body
    head = s3_client.head_object(Bucket=dst, Key="sites/2/big.bin")
    assert head["ContentType"] == "application/pdf"
    assert "-" in head["ETag"]  # really a multipart object
    assert copy_prefix(src, "sites/2", dst, "sites/2", client=s3_client).skipped == 1


def test_refuses_overlapping_prefixes(s3_client: Any, buckets: tuple[str, str]) -> None:
    src, _ = buckets
    with pytest.raises(UsageError, match="overlap"):
        copy_prefix(src, "sites/2", src, "sites/2/x", client=s3_client)


def test_sync_media_between_environments_from_the_config(
    s3_server: S3Server, s3_client: Any, buckets: tuple[str, str], tmp_path: Any
) -> None:
    from wfuwp.config.settings import Config
    from wfuwp.errors import ConfigError

    src, dst = buckets
    config = Config.load(tmp_path / "config.json")
    for env, bucket in (("prod", src), ("pprd", dst)):
        config.set(f"env.{env}.host", "127.0.0.1")
        config.set(f"env.{env}.media_bucket", bucket)
    config.set("s3.endpoint_url", s3_server.endpoint_url)
    s3_client.put_object(Bucket=src, Key="sites/43/2026/11/a.jpg", Body=b"jpeg")
    s3_client.put_object(Bucket=src, Key="sites/430/2026/11/b.jpg", Body=b"other site")

    preview = media.sync_media(config, 43, "prod", "pprd", dry_run=True)
    assert preview.copied == 1 and _tree(s3_client, dst, "sites/") == {}
    first = media.sync_media(config, 43, "prod", "pprd")
    assert first.copied == 1
    assert _tree(s3_client, dst, "sites/") == {"43/2026/11/a.jpg": b"jpeg"}  # site 430 stays out
    again = media.sync_media(config, 43, "prod", "pprd")
    assert (again.copied, again.skipped) == (0, 1)
    config.set("env.pprd.media_bucket", "")
    with pytest.raises(ConfigError, match=r"env\.pprd\.media_bucket is not set"):
        media.sync_media(config, 43, "prod", "pprd")
