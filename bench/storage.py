"""Object storage: transfer throughput, and the ladder job in `s3` mode against `local`.

The S3 peer is moto's standalone server on loopback (no MinIO or Ceph here). Uploads go
through the web tier exactly as a user sends them; downloads use the worker's own code path
(:meth:`common.s3.S3Storage.download`, what a worker runs to fetch a source into scratch).
The two clusters run side by side on the same source and alternate (ABBA), one job at a time.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3

from bench.client import ApiClient
from bench.cluster import LocalCluster, _spawn
from bench.encoding import cluster_ladder
from bench.stats import ratio
from cli.up import free_port
from common.s3 import S3Storage
from common.settings import Settings

BUCKET = "bench"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_DEFAULT_REGION": "us-east-1"}
MIB = 1024 * 1024


def _start_moto(log_dir: Path) -> tuple[Any, str]:
    port = free_port()
    child = _spawn("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                            str(port)], {**os.environ, **CREDENTIALS}, log_dir)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or not child.alive():
                raise RuntimeError(f"moto did not start:\n{child.log_tail()}") from None
            time.sleep(0.2)
    boto3.client("s3", endpoint_url=url, **_boto_credentials()).create_bucket(Bucket=BUCKET)
    return child, url


def _boto_credentials() -> dict[str, str]:
    return {"aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "region_name": CREDENTIALS["AWS_DEFAULT_REGION"]}


def _s3_overrides(url: str, scratch: Path) -> dict[str, Any]:
    return {"storage": "s3", "s3_bucket": BUCKET, "s3_endpoint_url": url,
            "s3_region": "us-east-1", "scratch_dir": scratch}


def _transfers(client: ApiClient, storage: S3Storage, work: Path, size_mb: int,
               runs: int) -> dict[str, Any]:
    """MB/s of uploads through the web tier and of bucket-to-scratch downloads."""
    blob = work / "random.bin"
    with blob.open("wb") as handle:
        for _ in range(size_mb):
            handle.write(os.urandom(MIB))
    rates: dict[str, list[float]] = {"upload": [], "download": [], "publish": [], "peer": []}

    def timed(way: str, action: Any) -> Any:
        began = time.perf_counter()
        result = action()
        rates[way].append(round(size_mb / (time.perf_counter() - began), 1))
        return result

    body = blob.read_bytes()
    raw = boto3.client("s3", endpoint_url=storage.endpoint, **_boto_credentials())
    target = work / "scratch-copy.bin"
    for run in range(runs):
        job_id, _posted = timed("upload", lambda: client.submit(blob, {"profiles": "480p"}))
        key = f"uploads/{client.job(job_id)['source_file']}"
        timed("download", lambda k=key: storage.download(k, target))
        target.unlink()
        timed("publish", lambda r=run: storage.upload(blob, f"outputs/bench/{r}.mp4"))
        timed("peer", lambda r=run: raw.put_object(Bucket=BUCKET, Key=f"peer/{r}", Body=body))
    blob.unlink()
    medians = {way: statistics.median(values) for way, values in rates.items()}
    return {"size_mb": size_mb, "runs": runs,
            "upload_via_web_mb_s": rates["upload"],
            "download_to_scratch_mb_s": rates["download"],
            "publish_from_scratch_mb_s": rates["publish"],
            "peer_put_object_mb_s": rates["peer"],
            "upload_median_mb_s": medians["upload"], "download_median_mb_s": medians["download"],
            "publish_median_mb_s": medians["publish"], "peer_median_mb_s": medians["peer"],
            "upload_over_peer": ratio(medians["upload"], medians["peer"])}


def object_storage(source: Path, pairs: int, size_mb: int, timeout_s: float) -> dict[str, Any]:
    """Transfers, then ladder jobs alternating between a `local` and an `s3` cluster."""
    os.environ.update(CREDENTIALS)  # this process (the download timing) and its children
    with tempfile.TemporaryDirectory(prefix="ffcluster-bench-s3-") as tmp:
        root = Path(tmp)
        (root / "logs").mkdir()
        moto, url = _start_moto(root / "logs")
        local = LocalCluster(root / "local", concurrency=os.cpu_count() or 1,
                             async_modes=("threading",))
        remote = LocalCluster(root / "s3", concurrency=os.cpu_count() or 1,
                              async_modes=("threading",),
                              overrides=_s3_overrides(url, root / "s3" / "scratch"))
        try:
            local.start()
            remote.start()
            storage = S3Storage(Settings(**_s3_overrides(url, root / "bench-scratch")))
            transfers = _transfers(ApiClient(remote.url()), storage, root, size_mb, 3)
            ladder = _alternate(local, remote, source, pairs, timeout_s)
        finally:
            for cluster in (local, remote):
                cluster.stop()
            moto.stop(grace_s=5)
    return {"transfers": transfers, "ladder": ladder}


def _alternate(local: LocalCluster, remote: LocalCluster, source: Path, pairs: int,
               timeout_s: float) -> dict[str, Any]:
    clients = {"local": ApiClient(local.url()), "s3": ApiClient(remote.url())}
    runs: dict[str, list[float]] = {"local": [], "s3": []}
    for index in range(pairs):
        order = ("local", "s3") if index % 2 == 0 else ("s3", "local")
        for side in order:
            time.sleep(1.0)
            result = cluster_ladder(clients[side], source, timeout_s, {"hls": "true"})
            runs[side].append(result["wall_s"])
            print(f"  ladder in {side} storage: {result['wall_s']} s", file=sys.stderr,
                  flush=True)
    return {"local_s": runs["local"], "s3_s": runs["s3"],
            "ratio_s3_over_local": ratio(statistics.median(runs["s3"]),
                                         statistics.median(runs["local"]))}
