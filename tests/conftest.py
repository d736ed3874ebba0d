"""Fixtures shared across the test packages."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.request import Request, urlopen

import pytest

from tests.support.http_server import ServedBytes
from tests.support.s3_server import serve_s3


@dataclass
class S3Bucket:
    """A fresh bucket on a loopback S3 server; ``env`` is what a child process needs to reach it."""

    endpoint: str
    bucket: str
    served: ServedBytes
    env: dict

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}" if key else f"s3://{self.bucket}"


@pytest.fixture
def s3(monkeypatch) -> S3Bucket:
    """A loopback S3 (moto server) with one empty bucket, reachable through ``AWS_ENDPOINT_URL``."""
    pytest.importorskip("s3fs")
    import boto3
    import s3fs

    with serve_s3() as (endpoint, served):
        env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        s3fs.S3FileSystem.clear_instance_cache()  # a cached client would keep an old endpoint
        urlopen(Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30).close()  # moto's state is per process
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="corpus")
        served.reset()
        yield S3Bucket(endpoint, "corpus", served, env)
        s3fs.S3FileSystem.clear_instance_cache()
