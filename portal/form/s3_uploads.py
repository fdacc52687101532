"""Uploads in an S3-compatible bucket, so every web node reads what any node stored."""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from portal.form.fields import check_pdf
from portal.form.uploads import (
    MissingUpload,
    StoredFile,
    UploadStoreUnavailable,
    checked_file_id,
    checked_working_name,
    new_file_id,
    stored_file,
)
from portal.settings import UploadSettings

log = logging.getLogger("antrean.portal")

# Probes come every few seconds from every load balancer; the bucket is asked at most
# this often per process.
HEALTH_SECONDS = 5.0
# A visitor waits for an upload: a few seconds, a retry, then a 503 to try again.
_REQUESTS = Config(connect_timeout=2, read_timeout=5,
                   retries={"total_max_attempts": 3, "mode": "standard"},
                   # The checksums are ours (below); botocore's own CRC trailers are
                   # refused by several S3-compatible servers.
                   request_checksum_calculation="when_required",
                   response_checksum_validation="when_required")
_PROBE = _REQUESTS.merge(Config(connect_timeout=1, read_timeout=2,
                                retries={"total_max_attempts": 1, "mode": "standard"}))


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


class S3UploadStore:
    """PDFs as private objects ``<prefix><id[:2]>/<id>.pdf`` in one bucket."""

    def __init__(self, client: Any, probe: Any, bucket: str, prefix: str = "",
                 acl: str = "private") -> None:
        self.client = client
        self.probe = probe
        self.bucket = bucket
        self.prefix = prefix
        self.acl = acl
        self._health_lock = threading.Lock()
        self._health: tuple[float, str] | None = None

    @classmethod
    def from_settings(cls, settings: UploadSettings) -> S3UploadStore:
        """A store with its clients; credentials unset here come from the AWS chain."""
        key_id, secret = settings.s3_access_key_id, settings.s3_secret_access_key
        session = boto3.session.Session(
            aws_access_key_id=str(key_id) if key_id is not None else None,
            aws_secret_access_key=str(secret) if secret is not None else None,
            region_name=settings.s3_region)

        def client(config: Config) -> Any:
            return session.client("s3", endpoint_url=settings.s3_endpoint_url, config=config)

        return cls(client(_REQUESTS), client(_PROBE), settings.s3_bucket,
                   settings.s3_prefix, settings.s3_acl)

    def key_of(self, file_id: str) -> str:
        """The object key of a stored file (the id only, never the visitor's file name)."""
        checked_file_id(file_id)
        return f"{self.prefix}{file_id[:2]}/{file_id}.pdf"

    def save_pdf(self, data: bytes, name: str) -> StoredFile:
        """Check that ``data`` is a PDF of at most 1 MB and store it; raise UploadError if not."""
        check_pdf(data)
        file_id = new_file_id()
        stored = stored_file(file_id, name, data)
        sha256 = hashlib.sha256(data).digest()
        options: dict[str, Any] = {} if self.acl == "none" else {"ACL": self.acl}
        try:
            # The store refuses the object unless both digests match what arrived, and
            # answers only once it is durably written.
            self.client.put_object(
                Bucket=self.bucket, Key=self.key_of(file_id), Body=data,
                ContentType="application/pdf",
                ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode(),
                ChecksumAlgorithm="SHA256", ChecksumSHA256=base64.b64encode(sha256).decode(),
                Metadata={"sha256": stored.sha256}, **options)
        except (ClientError, BotoCoreError) as exc:
            raise self._unavailable("store", exc) from exc
        return stored

    def read(self, file_id: str) -> bytes:
        """The bytes of a stored file; raise MissingUpload when there is none."""
        return self._get(self.key_of(file_id), f"no stored file {file_id}")

    def _get(self, key: str, missing: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
            return bytes(answer["Body"].read())
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404") or _status(exc) == 404:
                raise MissingUpload(missing) from None
            raise self._unavailable("read", exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable("read", exc) from exc

    def exists(self, file_id: str) -> bool:
        """Whether a file with this id is stored."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key_of(file_id))
        except ClientError as exc:
            if _status(exc) == 404:
                return False
            raise self._unavailable("look up", exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable("look up", exc) from exc
        return True

    def keep(self, name: str, data: bytes) -> None:
        """Keep a working file (a roster waiting for its import) under the prefix."""
        key = self.prefix + checked_working_name(name)
        options: dict[str, Any] = {} if self.acl == "none" else {"ACL": self.acl}
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data,
                ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode(), **options)
        except (ClientError, BotoCoreError) as exc:
            raise self._unavailable("store", exc) from exc

    def fetch(self, name: str) -> bytes:
        return self._get(self.prefix + checked_working_name(name), f"no working file {name}")

    def discard(self, name: str) -> None:
        key = self.prefix + checked_working_name(name)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise self._unavailable("remove", exc) from exc

    def health(self, now: float | None = None) -> str:
        """``"ok"`` when the bucket answers (asked at most every HEALTH_SECONDS)."""
        moment = time.monotonic() if now is None else now
        with self._health_lock:
            if self._health is not None and moment - self._health[0] < HEALTH_SECONDS:
                return self._health[1]
            result = self._ask_bucket()
            self._health = (moment, result)
            return result

    def _ask_bucket(self) -> str:
        try:
            self.probe.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            status = _status(exc)
            return {404: "bucket not found", 403: "access denied"}.get(
                status, f"error {_error_code(exc) or status}")
        except BotoCoreError as exc:
            return type(exc).__name__
        return "ok"

    def _unavailable(self, verb: str, exc: Exception) -> UploadStoreUnavailable:
        # The type and code say what went wrong; keys, ids and credentials stay out.
        reason = _error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
        log.warning("upload store: could not %s in bucket %s: %s", verb, self.bucket, reason)
        return UploadStoreUnavailable(f"could not {verb} the file: {reason}")
