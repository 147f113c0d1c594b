"""The S3 transport: clients, limits, error text, and the archive's multipart sink and bucket backend.

Shared by the archive, the SQL reader and the media copy. This is the only module that imports
boto3/botocore (they ship no type hints).
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import queue
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, BinaryIO, cast

import boto3  # type: ignore[import-untyped]
import botocore.config  # type: ignore[import-untyped]
import botocore.exceptions  # type: ignore[import-untyped]
import smart_open.s3

from wfuwp.errors import ArchiveError, WfuwpError
from wfuwp.storage.objects import STALL_TIMEOUT_S

# boto3 ships no type hints; boto3-stubs[s3] would give a precise type here.
S3Client = Any

# What a failed S3 request raises (network/config errors, and error responses).
ERRORS: tuple[type[Exception], ...] = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
# ... plus what smart_open turns them into (ValueError for a missing bucket, OSError after its retries).
_OPEN_ERRORS: tuple[type[Exception], ...] = (ValueError, OSError, *ERRORS)
_READ_ERRORS: tuple[type[Exception], ...] = (OSError, *ERRORS)

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
# Seconds to wait for an aborted upload's thread: its AbortMultipartUpload should take well under one.
ABORT_WAIT_S = 10
# An S3 server on this machine (moto, MinIO) that refuses connections is down, and backing off does not
# bring it back: requests to one make at most LOCAL_MAX_ATTEMPTS attempts, each connect bounded by
# LOCAL_CONNECT_TIMEOUT_S seconds, and fail in about a second instead of riding out AWS-sized blips.
LOCAL_MAX_ATTEMPTS = 2
LOCAL_CONNECT_TIMEOUT_S = 2
CONNECT_TIMEOUT_S = 10


def is_local_endpoint(endpoint_url: str | None) -> bool:
    """Whether `endpoint_url` is on this machine (localhost or a loopback address)."""
    host = urllib.parse.urlsplit(endpoint_url or "").hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    max_pool_connections: int = 10,
) -> S3Client:
    """Return a boto3 S3 client with retries configured.

    With no `endpoint_url`/`region`, boto3's own chain applies (AWS_PROFILE, AWS_REGION,
    AWS_ENDPOINT_URL_S3, ~/.aws/config, instance roles, ...). An endpoint on this machine gets few
    attempts and a short connect timeout (see LOCAL_MAX_ATTEMPTS).
    """
    local = is_local_endpoint(endpoint_url)
    config = botocore.config.Config(
        retries={
            "mode": "standard",
            "max_attempts": min(max_attempts, LOCAL_MAX_ATTEMPTS) if local else max_attempts,
        },
        max_pool_connections=max_pool_connections,
        connect_timeout=LOCAL_CONNECT_TIMEOUT_S if local else CONNECT_TIMEOUT_S,
        read_timeout=120,
    )
    session = boto3.session.Session(region_name=region)
    return session.client("s3", endpoint_url=endpoint_url, config=config)


def multipart_copy(
    client: S3Client,
    source: Mapping[str, str],
    bucket: str,
    key: str,
    *,
    extra_args: Mapping[str, Any],
    part_size: int,
    max_concurrency: int = 4,
) -> None:
    """Copy `source` ({"Bucket", "Key"}) to bucket/key server-side with UploadPartCopy, in parallel parts."""
    from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]

    config = TransferConfig(
        multipart_threshold=MIN_PART_SIZE,
        multipart_chunksize=max(MIN_PART_SIZE, part_size),
        max_concurrency=max_concurrency,
    )
    client.copy(CopySource=dict(source), Bucket=bucket, Key=key, ExtraArgs=dict(extra_args), Config=config)


def describe_error(exc: BaseException) -> str:
    """Return a short, password-free description of a botocore/network error for a one-line message."""
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "?")
        msg = err.get("Message", "")
        return f"{code}: {msg}" if msg else str(code)
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return "no AWS credentials found"
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return f"cannot reach the S3 endpoint ({exc})"
    text = str(exc).splitlines()[0] if str(exc) else ""
    # smart_open's retry wrapper names the botocore call it gave up on by its repr; say what it was.
    text = _BOUND_METHOD.sub("an S3 request", text)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_BOUND_METHOD = re.compile(r"<bound method [^<>]*(?:<[^<>]*(?:<[^<>]*>[^<>]*)*>[^<>]*)*>")


# What S3's error codes mean for the person who has to act on them.
_CREDENTIAL_CODES = frozenset(
    {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
)
_BUCKET_CODES = frozenset({"404", "NoSuchBucket", "NotFound", "InvalidBucketName"})
_REGION_CODES = frozenset(
    {"301", "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}
)
_BUSY_CODES = frozenset({"500", "503", "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"})


def is_unreachable(exc: BaseException) -> bool:
    """Whether an error means nothing answered (connection refused or timed out, endpoint unknown), as
    opposed to an S3 server that answered and refused (credentials, bucket, region)."""
    return isinstance(
        exc, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)
    ) and not isinstance(exc, botocore.exceptions.SSLError)


def advice(exc: BaseException, otherwise: str) -> str:
    """What to do about a failed S3 request: reach the endpoint, fix the credentials, the bucket name or
    the region, or wait; `otherwise` when the error says none of these."""
    if is_unreachable(exc):
        return (
            "nothing answered there: check that the S3 endpoint (s3.endpoint_url, or AWS) is up and "
            "reachable from this machine, then run again"
        )
    if isinstance(exc, botocore.exceptions.SSLError):
        return "the S3 endpoint's TLS certificate was refused: check s3.endpoint_url and the CA bundle"
    if isinstance(exc, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)):
        return "set AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    if isinstance(exc, botocore.exceptions.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _CREDENTIAL_CODES:
            return "check the AWS credentials and what they may do on this bucket (docs/s3-permissions.md)"
        if code in _BUCKET_CODES:
            return "check the bucket name (s3.bucket, or the URL given)"
        if code in _REGION_CODES:
            return "check the region (s3.region): the bucket is in another one"
        if code in _BUSY_CODES:
            return "S3 is busy or failing: run again in a while"
    return otherwise


def is_not_found(exc: BaseException) -> bool:
    """Return True when a botocore error means the key (or bucket) does not exist."""
    if not isinstance(exc, botocore.exceptions.ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


_COMMIT = object()
_ABORT = object()


class S3Sink:
    """An S3 multipart upload through smart_open, fed by a background thread.

    The caller's thread only queues compressed chunks; the upload thread owns the smart_open writer, so
    compression goes on while a part uploads. smart_open uploads one part at a time (checked in 9.0).
    Traps this class exists to avoid: closing a smart_open writer COMPLETES the upload, and so does
    garbage-collecting it (io.IOBase.__del__ calls close()), so a failed dump would become a visible,
    truncated object. Nothing here ever closes the writer except to commit; errors terminate it.
    """

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        key: str,
        *,
        part_size: int,
        extra_args: Mapping[str, str],
        queue_chunks: int,
        stall_s: float = STALL_TIMEOUT_S,
        on_stall: Callable[[], None] = lambda: None,
    ) -> None:
        self.url = f"s3://{bucket}/{key}"
        self._stall_s = stall_s
        self._on_stall = on_stall
        self.max_bytes: int | None = min(part_size * MAX_PARTS, MAX_OBJECT_SIZE)
        args = dict(extra_args)
        try:
            # smart_open.s3.open rather than smart_open.open: no URL parsing of the key (a '?' or '%' in a
            # table name stays literal) and no compression layer (the objects are .zst, compressed by us;
            # smart_open.open would otherwise infer compression from the extension).
            self._writer = cast(
                "smart_open.s3.MultipartWriter",
                smart_open.s3.open(
                    bucket,
                    key,
                    "wb",
                    client=client,
                    min_part_size=part_size,
                    client_kwargs={
                        "S3.Client.create_multipart_upload": args,
                        "S3.Client.put_object": args,
                    },
                ),
            )
        except _OPEN_ERRORS as exc:
            cause = exc.__cause__ if isinstance(exc, ValueError) and exc.__cause__ else exc
            raise ArchiveError(
                f"cannot start an upload to {self.url}: {describe_error(cause)}; "
                + advice(cause, "check the bucket name, credentials and region")
            ) from exc
        # Bounded queue of `queue_chunks` writes: the caller blocks once that much waits for the upload.
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(2, queue_chunks))
        self._error: BaseException | None = None
        self._abort_error: str | None = None
        self._aborting = False
        self._committed = False
        self._thread = threading.Thread(target=self._run, name=f"wfuwp-upload:{key}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _ABORT:
                    return
                if item is _COMMIT:
                    if self._error is None:
                        self._writer.close()  # completes the multipart upload; durable when it returns
                        self._committed = True
                    return
                # After a failure keep draining until a sentinel, so a producer blocked on put() wakes up.
                if self._error is None and not self._aborting:
                    assert isinstance(item, bytes)
                    try:
                        self._writer.write(item)
                    except BaseException as exc:
                        self._error = exc
        except BaseException as exc:
            self._error = exc
        finally:
            if not self._committed:
                self._abort_error = self._terminate()

    def _terminate(self) -> str | None:
        try:
            self._writer.terminate()  # AbortMultipartUpload: the parts are discarded
        except Exception as exc:
            return describe_error(exc)
        finally:
            # smart_open keeps the upload "open" when the abort request fails, and would then complete it
            # from __del__; mark it closed so a partial object can never be published behind our back.
            self._writer._upload_id = None
        return None

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._upload_error(self._error)

    def _upload_error(self, exc: BaseException) -> ArchiveError:
        return ArchiveError(
            f"uploading {self.url} failed: {describe_error(exc)}; the upload was aborted and nothing was "
            "stored; " + advice(exc, "check the network and credentials and run again")
        )

    def _stalled(self, doing: str, stored: str = "nothing was stored") -> ArchiveError:
        self._on_stall()
        return ArchiveError(
            f"{doing} {self.url} made no progress for {self._stall_s:g} s: the S3 endpoint stopped "
            f"answering; {stored}; check the endpoint (and the network to it) and run again"
        )

    def write(self, data: bytes) -> None:
        self._raise_if_failed()
        waited_since = time.monotonic()
        while True:
            try:
                self._queue.put(data, timeout=1.0)
                return
            except queue.Full:
                self._raise_if_failed()
                if time.monotonic() - waited_since > self._stall_s:
                    self._error = self._error or TimeoutError("stalled")
                    raise self._stalled("the upload of") from None

    def commit(self) -> None:
        self._raise_if_failed()
        try:
            self._queue.put(_COMMIT, timeout=self._stall_s)
        except queue.Full:
            raise self._stalled("the upload of") from None
        self._thread.join(timeout=self._stall_s)
        if self._thread.is_alive():
            # The CompleteMultipartUpload request is out and cannot be called back; if S3 wakes up it may
            # still complete, as an object no manifest lists.
            raise self._stalled(
                "completing the upload of",
                "if it wakes up the object may still appear, listed by no manifest",
            )
        if self._error is not None:
            raise self._upload_error(self._error)

    def abort(self) -> str | None:
        self._aborting = True
        if self._thread.is_alive():
            # Make room for the sentinel; the thread discards what is left anyway.
            with contextlib.suppress(queue.Empty):
                while True:
                    self._queue.get_nowait()
            with contextlib.suppress(queue.Full):
                self._queue.put(_ABORT, timeout=1.0)
            self._thread.join(timeout=min(self._stall_s, ABORT_WAIT_S))
            if self._thread.is_alive():
                # Its request hangs on an endpoint that stopped answering; the upload stays pending and
                # invisible until the bucket's lifecycle rule for incomplete uploads removes it.
                return f"the upload of {self.url} could not be aborted: the S3 endpoint does not answer"
        return self._abort_error


class S3Backend:
    """Archive operations on a bucket prefix; keys are '/'-separated and relative to `prefix`."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str,
        *,
        part_size: int,
        queue_chunks: int,
        object_args: Mapping[str, str],
        manifest_args: Mapping[str, str],
        stall_s: float = STALL_TIMEOUT_S,
    ) -> None:
        self.client = client
        self.stall_s = stall_s
        # Set once an upload stalled: later requests of this run are refused at once instead of each
        # waiting out botocore's timeouts and retries against an endpoint that stopped answering.
        self.stalled = False
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._part_size = part_size
        self._queue_chunks = queue_chunks
        self._object_args = dict(object_args)
        self._manifest_args = dict(manifest_args)

    def _key(self, key: str) -> str:
        key = key.strip("/")
        return "/".join(p for p in (self.prefix, key) if p)

    def url_of(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def _fail(self, what: str, key: str, exc: BaseException) -> ArchiveError:
        return ArchiveError(
            f"{what} {self.url_of(key)} failed: {describe_error(exc)}; "
            + advice(exc, "check the network, credentials and bucket")
        )

    def _mark_stalled(self) -> None:
        self.stalled = True

    def _refuse_if_stalled(self, doing: str, key: str) -> None:
        if self.stalled:
            raise ArchiveError(
                f"not {doing} {self.url_of(key)}: the S3 endpoint stopped answering earlier in this run"
            )

    def open_sink(self, key: str) -> S3Sink:
        self._refuse_if_stalled("writing", key)
        return S3Sink(
            self.client,
            self.bucket,
            self._key(key),
            part_size=self._part_size,
            extra_args=self._object_args,
            queue_chunks=self._queue_chunks,
            stall_s=self.stall_s,
            on_stall=self._mark_stalled,
        )

    def open_raw(
        self,
        key: str,
        *,
        error: type[WfuwpError] = ArchiveError,
        hint: str = "check the migration id and name",
    ) -> BinaryIO:
        """Open an object for streaming reads; a missing one (message ending in `hint`) or a network failure
        raises `error`."""
        return open_object(self.client, self.bucket, self._key(key), error=error, hint=hint)

    def put_bytes(self, key: str, data: bytes) -> None:
        self._refuse_if_stalled("writing", key)
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **self._manifest_args)
        except ERRORS as exc:
            raise self._fail("writing", key, exc) from exc

    def get_bytes(self, key: str) -> bytes | None:
        self._refuse_if_stalled("reading", key)
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            return bytes(body.read())
        except ERRORS as exc:
            if is_not_found(exc):
                return None
            raise self._fail("reading", key, exc) from exc

    def exists_prefix(self, prefix: str) -> bool:
        try:
            resp = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._key(prefix) + "/", MaxKeys=1)
        except ERRORS as exc:
            raise self._fail("listing", prefix, exc) from exc
        return bool(resp.get("KeyCount"))

    def _paginate(self, prefix: str, **kwargs: Any) -> Iterable[dict[str, Any]]:
        full = self._key(prefix)
        full = f"{full}/" if full else ""
        try:
            yield from self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full, **kwargs
            )
        except ERRORS as exc:
            raise self._fail("listing", prefix, exc) from exc

    def list_dirs(self, prefix: str) -> list[str]:
        full = self._key(prefix)
        cut = len(full) + 1 if full else 0
        names = []
        for page in self._paginate(prefix, Delimiter="/"):
            for cp in page.get("CommonPrefixes", []):
                names.append(cp["Prefix"][cut:].rstrip("/"))
        return sorted(names)

    def list_files(self, prefix: str) -> list[tuple[str, int]]:
        full = self._key(prefix)
        cut = len(full) + 1 if full else 0
        out = []
        for page in self._paginate(prefix):
            for obj in page.get("Contents", []):
                out.append((obj["Key"][cut:], int(obj["Size"])))
        return sorted(out)

    def delete(self, key: str) -> None:
        """Remove one object (absent is fine). Raises ArchiveError, e.g. without s3:DeleteObject."""
        self._refuse_if_stalled("removing", key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except ERRORS as exc:
            raise self._fail("removing", key, exc) from exc

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ERRORS as exc:
            raise ArchiveError(
                f"cannot use the archive bucket {self.bucket}: {describe_error(exc)}; "
                + advice(exc, "check the bucket name, region and credentials")
            ) from exc


def open_object(
    client: S3Client, bucket: str, key: str, *, error: type[WfuwpError], hint: str = "check the name"
) -> BinaryIO:
    """Open s3://bucket/key for streaming reads (raw bytes, no decompression); its `name` is the URL.

    A missing object (message ends with `hint`), and network errors while opening or reading, raise
    `error` with a one-line message.
    """
    url = f"s3://{bucket}/{key}"
    try:
        # smart_open.s3.open: the key is taken literally and no decompression is inferred from it.
        raw = smart_open.s3.open(bucket, key, "rb", client=client)
    except Exception as exc:
        cause = exc.__cause__ or exc
        if is_not_found(exc) or is_not_found(cause) or "NoSuchKey" in str(exc):
            raise error(f"no object {url}; {hint}") from exc
        raise error(
            f"opening {url} failed: {describe_error(cause)}; "
            + advice(cause, "check the network and credentials")
        ) from exc
    return cast("BinaryIO", ReadErrors(cast("BinaryIO", raw), url, error))


class ReadErrors(io.RawIOBase):
    """Turn network errors while reading an S3 object into `error` (a WfuwpError subclass)."""

    def __init__(self, raw: BinaryIO, url: str, error: type[WfuwpError]) -> None:
        super().__init__()
        self._raw = raw
        self._url = url
        self._error = error
        self.name = url

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._raw.read(len(buffer))
        except _READ_ERRORS as exc:
            raise self._error(
                f"reading {self._url} failed: {describe_error(exc)}; "
                + advice(exc, "check the network and try again")
            ) from exc
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()
