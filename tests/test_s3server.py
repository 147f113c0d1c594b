"""The S3 fixture itself: a real HTTP server that can be stopped and started again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import botocore.exceptions
import pytest

if TYPE_CHECKING:
    from devtools.s3server import S3Server


def test_bucket_is_fresh_and_usable(s3_client: Any, s3_bucket: str) -> None:
    assert s3_client.list_objects_v2(Bucket=s3_bucket)["KeyCount"] == 0
    s3_client.put_object(Bucket=s3_bucket, Key="a", Body=b"x")
    assert s3_client.get_object(Bucket=s3_bucket, Key="a")["Body"].read() == b"x"


def test_stop_refuses_connections_and_start_comes_back(s3_server: S3Server) -> None:
    client = s3_server.client()
    s3_server.stop()
    try:
        with pytest.raises(botocore.exceptions.EndpointConnectionError):
            client.list_buckets()
    finally:
        s3_server.start()
    assert "Buckets" in client.list_buckets()
