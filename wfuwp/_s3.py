"""S3 plumbing shared by the archive sinks, the SQL reader and the media copy: clients, limits, error text."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.config
import botocore.exceptions

# boto3 ships no type hints; boto3-stubs[s3] would give a precise type here.
S3Client = Any

# Outside limits of S3 multipart uploads (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html):
# every part but the last is at least 5 MiB, at most 5 GiB; an upload has at most 10,000 parts; an object
# is at most 5 TiB. The largest object we can write is therefore part_size * 10,000.
MIN_PART_SIZE = 5 * 1024**2
MAX_PART_SIZE = 5 * 1024**3
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = 5 * 1024**4
# A single CopyObject request copies at most 5 GiB; bigger objects need a multipart copy.
MAX_COPY_OBJECT_SIZE = 5 * 1024**3

# botocore's "standard" retry mode retries throttling, 5xx and connection errors with exponential backoff and
# jitter; 8 attempts ride out a blip of roughly half a minute. ("adaptive" adds client-side rate limiting,
# which only helps when many processes share one account's request rate.)
DEFAULT_MAX_ATTEMPTS = 8


def make_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    max_pool_connections: int = 10,
) -> S3Client:
    """Return a boto3 S3 client with retries configured.

    With no `endpoint_url`/`region`, boto3's own chain applies (AWS_PROFILE, AWS_REGION,
    AWS_ENDPOINT_URL_S3, ~/.aws/config, instance roles, ...).
    """
    config = botocore.config.Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        max_pool_connections=max_pool_connections,
        connect_timeout=10,
        read_timeout=120,
    )
    session = boto3.session.Session(region_name=region)
    return session.client("s3", endpoint_url=endpoint_url, config=config)


def describe_error(exc: BaseException) -> str:
    """Return a short, password-free description of a botocore/network error for a one-line message."""
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "?")
        msg = err.get("Message", "")
        return f"{code}: {msg}" if msg else str(code)
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return "no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return f"cannot reach the S3 endpoint ({exc})"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_not_found(exc: BaseException) -> bool:
    """Return True when a botocore error means the key (or bucket) does not exist."""
    if not isinstance(exc, botocore.exceptions.ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}
