"""A real S3 API for tests: moto's standalone server as its own process, and its bucket."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests

from tests.support.ports import free_port, wait_for
from tests.support.processes import stop_process

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "ffcluster-test", "AWS_SECRET_ACCESS_KEY": "ffcluster-test",
               "AWS_DEFAULT_REGION": "us-east-1"}
"""moto accepts any credentials; these keep boto3 from looking for real ones."""


@dataclass
class S3Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="ffcluster-test",
                            aws_secret_access_key="ffcluster-test")

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                         Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def unfinished_uploads(self, bucket: str) -> list[str]:
        """Keys of multipart uploads started and neither completed nor aborted."""
        reply = self.client().list_multipart_uploads(Bucket=bucket)
        return [upload["Key"] for upload in reply.get("Uploads", [])]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        stop_process(self.process)


def start_s3(log_dir: Path, host: str = "127.0.0.1", port: int | None = None,
             argv_prefix: list[str] | None = None, reach: str | None = None) -> S3Server:
    """Start ``python -m moto.server`` on ``host:port`` (inside ``argv_prefix``, a netns say);
    ``reach`` is the address the test reaches it at (default: ``host``)."""
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"moto-{port}.log"
    env = {**os.environ, **CREDENTIALS, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [*(argv_prefix or []), sys.executable, "-m", "moto.server", "-H", host,
             "-p", str(port)],
            env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    server = S3Server(f"http://{reach or host}:{port}", process, log_path)

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"moto exited:\n{server.log()[-2000:]}")
        return requests.get(f"{server.url}/", timeout=2).status_code < 500

    try:
        wait_for(up, timeout=60, interval=0.2, message="moto S3 server")
    except BaseException:
        server.stop()
        raise
    return server
