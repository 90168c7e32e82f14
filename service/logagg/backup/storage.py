"""The backup bucket: streamed multipart uploads, listing, downloads and deletes (boto3)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config as BotoConfig  # type: ignore[import-untyped]

from .manifest import Manifest

log = logging.getLogger(__name__)

DUMP_SUFFIX = ".dump"
MANIFEST_SUFFIX = ".manifest.json"
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's minimum for every part but the last


@dataclass(frozen=True, kw_only=True)
class BucketLocation:
    """Where backups live and how to reach the S3-compatible endpoint."""

    bucket: str
    """Bucket name."""
    prefix: str = "logagg"
    """Key prefix (no leading/trailing slash needed)."""
    endpoint_url: str | None = None
    """S3-compatible endpoint (None = AWS)."""
    region: str | None = None
    """Region name."""
    access_key_id: str | None = None
    """Access key id (None = boto3's default credential chain)."""
    secret_access_key: str | None = None
    """Secret access key."""


@dataclass(frozen=True)
class UploadResult:
    """What was stored: exact size and SHA-256 of the streamed bytes."""

    size_bytes: int
    sha256: str


class BackupBucket:
    """Backup objects under one prefix of one bucket."""

    def __init__(self, location: BucketLocation, client: Any | None = None) -> None:
        self.location = location
        self.prefix = location.prefix.strip("/")
        self.client = client or boto3.client(
            "s3",
            endpoint_url=location.endpoint_url,
            region_name=location.region,
            aws_access_key_id=location.access_key_id,
            aws_secret_access_key=location.secret_access_key,
            config=BotoConfig(retries={"max_attempts": 5, "mode": "standard"}),
        )

    # ---- keys ---------------------------------------------------------------
    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def dump_key(self, backup_id: str) -> str:
        """Object key of a backup's dump."""
        return self._key(backup_id + DUMP_SUFFIX)

    def manifest_key(self, backup_id: str) -> str:
        """Object key of a backup's manifest."""
        return self._key(backup_id + MANIFEST_SUFFIX)

    # ---- writing ------------------------------------------------------------
    def upload_stream(
        self,
        key: str,
        stream: IO[bytes],
        part_size: int,
        before_complete: Callable[[], None] | None = None,
    ) -> UploadResult:
        """Multipart-upload everything `stream` yields, holding at most one part in memory.

        The SHA-256 is computed over the same bytes as they pass. `before_complete` runs once the
        stream is exhausted and may raise (e.g. the producer exited non-zero); on any error the
        multipart upload is aborted, so no partial object (nor billed orphan parts) remains.
        """
        part_size = max(part_size, MIN_PART_SIZE)
        digest = hashlib.sha256()
        size = 0
        upload_id = self.client.create_multipart_upload(
            Bucket=self.location.bucket, Key=key, ContentType="application/octet-stream"
        )["UploadId"]
        parts: list[dict[str, Any]] = []
        try:
            while True:
                chunk = _read_exactly(stream, part_size)
                if not chunk and parts:
                    break
                digest.update(chunk)
                size += len(chunk)
                number = len(parts) + 1
                etag = self.client.upload_part(
                    Bucket=self.location.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=chunk,
                )["ETag"]
                parts.append({"PartNumber": number, "ETag": etag})
                if len(chunk) < part_size:
                    break
            if before_complete is not None:
                before_complete()
            self.client.complete_multipart_upload(
                Bucket=self.location.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            self.client.abort_multipart_upload(
                Bucket=self.location.bucket, Key=key, UploadId=upload_id
            )
            raise
        return UploadResult(size, digest.hexdigest())

    def put_manifest(self, manifest: Manifest) -> None:
        """Store a manifest; written after its dump, it marks the backup complete."""
        self.client.put_object(
            Bucket=self.location.bucket,
            Key=self.manifest_key(manifest.backup_id),
            Body=manifest.to_json().encode(),
            ContentType="application/json",
        )

    def delete(self, keys: list[str]) -> None:
        """Delete objects (batched; errors are raised, never ignored)."""
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            response = self.client.delete_objects(
                Bucket=self.location.bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )
            if response.get("Errors"):
                raise RuntimeError(f"could not delete backup objects: {response['Errors']}")

    # ---- reading ------------------------------------------------------------
    def list_keys(self) -> list[str]:
        """Every object key under the prefix."""
        paginator = self.client.get_paginator("list_objects_v2")
        keys: list[str] = []
        prefix = self._key("")
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def backup_ids(self) -> list[str]:
        """Ids of complete backups (those with a manifest), oldest first."""
        prefix = self._key("")
        ids = [
            key[len(prefix) : -len(MANIFEST_SUFFIX)]
            for key in self.list_keys()
            if key.endswith(MANIFEST_SUFFIX) and "/" not in key[len(prefix) :]
        ]
        return sorted(ids)

    def get_manifest(self, backup_id: str) -> Manifest:
        """Load a backup's manifest; LookupError when that backup does not exist."""
        try:
            body = self.client.get_object(
                Bucket=self.location.bucket, Key=self.manifest_key(backup_id)
            )["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise LookupError(
                f"no backup {backup_id!r} in s3://{self.location.bucket}/{self.prefix}"
            ) from None
        return Manifest.from_json(body)

    def object_size(self, key: str) -> int:
        """Stored size of an object in bytes."""
        return int(self.client.head_object(Bucket=self.location.bucket, Key=key)["ContentLength"])

    def iter_object(self, key: str, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        """Stream an object's bytes in chunks."""
        body = self.client.get_object(Bucket=self.location.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    """Read `size` bytes unless the stream ends first (pipes return short reads)."""
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
