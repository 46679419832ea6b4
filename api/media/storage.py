"""Where clips' bytes live: a directory under the data directory, or an S3-compatible bucket.

Both backends take a finished, fsynced local file and make it appear under a key all at once (a reader
never sees half an object), read byte ranges back as a stream, and delete idempotently. A backend that
cannot be reached raises StorageUnavailable, so callers can queue the work instead of failing a request.
"""

import os
import shutil
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from api.config import Settings, get_settings

READ_CHUNK = 256 * 1024


class StorageUnavailable(Exception):
    """The media store could not be reached or refused the operation."""


class Storage(Protocol):
    def put(self, key: str, path: Path) -> None:
        """Move the local file `path` under `key`, atomically; `path` is gone afterwards."""

    def read(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """The bytes start..end (inclusive) of the object."""

    def delete(self, key: str) -> None:
        """Remove the object; nothing to remove is fine."""

    def exists(self, key: str) -> bool:
        """Whether the object is there."""


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileStorage:
    def __init__(self, root: Path):
        self.root = root

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"storage key outside the store: {key!r}")
        return path

    def put(self, key: str, path: Path) -> None:
        target = self.path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(path, target)  # same filesystem: the fsynced file itself, renamed
            except OSError:
                tmp = target.with_name(target.name + ".tmp")
                with open(path, "rb") as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, READ_CHUNK)
                    dst.flush()
                    os.fsync(dst.fileno())
                os.replace(tmp, target)
                path.unlink()
            fsync_dir(target.parent)
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def read(self, key: str, start: int, end: int) -> Iterator[bytes]:
        with open(self.path(key), "rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = f.read(min(READ_CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    def delete(self, key: str) -> None:
        path = self.path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc
        # An empty folder named after a fragment is a trace that it had a clip: remove emptied folders up to the root.
        root = self.root.resolve()
        for parent in path.parents:
            if parent == root or root not in parent.parents:
                break
            try:
                parent.rmdir()
            except OSError:  # not empty (another clip, a concurrent put) or already gone
                break

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()


class S3Storage:
    def __init__(self, settings: Settings):
        import boto3
        from botocore.config import Config

        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.client: Any = boto3.client(
            "s3", endpoint_url=settings.s3_endpoint_url or None, region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id, aws_secret_access_key=settings.s3_secret_access_key,
            config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}))

    def _call(self, name: str, **kw: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, name)(Bucket=self.bucket, **kw)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(str(exc)) from exc

    def put(self, key: str, path: Path) -> None:
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            # An S3 object appears whole or not at all, multipart or not.
            self.client.upload_file(str(path), self.bucket, self.prefix + key,
                                    Config=TransferConfig(multipart_chunksize=8 * 1024 * 1024, max_concurrency=2))
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(str(exc)) from exc
        path.unlink()

    def read(self, key: str, start: int, end: int) -> Iterator[bytes]:
        body = self._call("get_object", Key=self.prefix + key, Range=f"bytes={start}-{end}")["Body"]
        try:
            yield from body.iter_chunks(READ_CHUNK)
        finally:
            body.close()

    def delete(self, key: str) -> None:
        full = self.prefix + key
        self._call("delete_object", Key=full)
        # Erasure leaves nothing readable: a versioned bucket keeps a deleted object as an old version (and the
        # delete above as a marker), and a multipart put that failed midway left parts that hold audio until
        # aborted. The listings go by prefix: only this exact key's entries are taken.
        found = self._listing("list_object_versions", Prefix=full)
        for version in found.get("Versions", []) + found.get("DeleteMarkers", []):
            if version["Key"] == full:
                self._call("delete_object", Key=full, VersionId=version["VersionId"])
        for upload in self._listing("list_multipart_uploads", Prefix=full).get("Uploads", []):
            if upload["Key"] == full:
                self._call("abort_multipart_upload", Key=full, UploadId=upload["UploadId"])

    def _listing(self, name: str, **kw: Any) -> Any:
        """A listing, or nothing where the store does not offer it (an S3-compatible store without versions)."""
        try:
            return self._call(name, **kw)
        except StorageUnavailable as exc:
            if getattr(exc.__cause__, "response", {}).get("Error", {}).get("Code") == "NotImplemented":
                return {}
            raise

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StorageUnavailable(str(exc)) from exc


@lru_cache
def _storage_for(backend: str, data_dir: Path, bucket: str, endpoint: str | None, prefix: str) -> Storage:
    settings = get_settings()
    if backend == "s3":
        return S3Storage(settings)
    return FileStorage(data_dir / "media" / "clips")


def get_storage() -> Storage:
    """The media store the settings name (one instance per distinct configuration)."""
    s = get_settings()
    return _storage_for(s.media_backend, s.data_dir.resolve(), s.s3_bucket, s.s3_endpoint_url, s.s3_prefix)


def partial_dir() -> Path:
    """Where unfinished uploads collect their bytes: always this server's own disk."""
    path = get_settings().data_dir.resolve() / "media" / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path
