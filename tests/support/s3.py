"""A real S3-compatible server for the tests: moto's standalone server on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from portal.environment import Environment
from portal.settings import UploadSettings
from tests.support.servers import free_port, stop_process

ACCESS_KEY_ID = "antrean-test-key"
SECRET_ACCESS_KEY = "antrean-test-secret"
REGION = "ap-southeast-3"


class S3Server:
    """``python -m moto.server`` in its own process, stopped like a real outage."""

    def __init__(self) -> None:
        try:
            import moto.server  # noqa: F401
        except ImportError as exc:  # the test extra is not installed
            pytest.skip(f"moto[server] is not installed ({exc}); pip install -e '.[test]'")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env={**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
                 "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.process.returncode}")
            try:
                httpx.get(f"{self.url}/moto-api/", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto server did not answer in 30 s")

    def env(self, bucket: str, **extra: str) -> dict[str, str]:
        """The ANTREAN_* variables of an s3 upload store on this server."""
        return {"ANTREAN_UPLOAD_STORE": "s3", "ANTREAN_S3_ENDPOINT_URL": self.url,
                "ANTREAN_S3_BUCKET": bucket, "ANTREAN_S3_REGION": REGION,
                "ANTREAN_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "ANTREAN_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY, **extra}

    def upload_settings(self, bucket: str, **extra: str) -> UploadSettings:
        """Upload settings as the process reads them from ``env``."""
        return UploadSettings.read(Environment(self.env(bucket, **extra)))

    def client(self):
        """A plain boto3 client, to look at the bucket from outside the portal."""
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=ACCESS_KEY_ID,
                            aws_secret_access_key=SECRET_ACCESS_KEY)

    def new_bucket(self) -> str:
        """A fresh, empty bucket."""
        name = f"antrean-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        return name

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One S3 server for the session; each test takes its own bucket."""
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def own_s3_server() -> Iterator[S3Server]:
    """An S3 server of this test alone, for tests that stop it."""
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    return s3_server.new_bucket()
