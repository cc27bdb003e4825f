"""The REST API under schemathesis: generated requests against a real cluster, with and
without the token; no 5xx, every answer as documented, nothing accepted is lost.

``make test`` runs a bounded number of examples per operation; ``make fuzz`` the full run
(``FUZZ_MAX_EXAMPLES`` per operation, default 25, and at least ``FUZZ_MIN_REQUESTS`` requests
in each run, default 250; operations without inputs get one case whatever the count)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from common.settings import Settings
from tests.conftest import cluster_settings
from tests.support.fuzz import FuzzRun, run_schemathesis, save_schema
from tests.support.redis_server import RedisServer
from tests.support.web import WebProcess, start_web_with
from tests.support.workers import WorkerProcess, start_worker

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

TOKEN = "fuzz-token-0123456789abcdef"
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
MIN_REQUESTS = int(os.environ.get("FUZZ_MIN_REQUESTS", "250"))


@dataclass
class FuzzedCluster:
    settings: Settings
    web: WebProcess
    worker: WorkerProcess
    schema: Path


@pytest.fixture(scope="module")
def fuzzed(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory,
           ladder_file: Path) -> Iterator[FuzzedCluster]:
    root = tmp_path_factory.mktemp("fuzz")
    settings = cluster_settings(redis_server.url, root / "data", ladder_file, concurrency=1,
                                api_token=TOKEN)
    worker = start_worker(settings, root, "fuzz")
    try:
        web = start_web_with(settings, "threading")
    except BaseException:
        worker.stop()
        raise
    try:
        yield FuzzedCluster(settings, web, worker, save_schema(web.url, TOKEN,
                                                               root / "openapi.json"))
    finally:
        web.stop()
        worker.stop()


def _jobs_total(cluster: FuzzedCluster) -> int:
    answer = requests.get(f"{cluster.web.url}/api/jobs?limit=1", timeout=10,
                          headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    return int(answer.json()["total"])


def _fuzz(cluster: FuzzedCluster, report_dir: Path, token: str | None, seed: int
          ) -> tuple[FuzzRun, int]:
    """One schemathesis run that must come out clean; return it and the jobs it created."""
    before = _jobs_total(cluster)
    run = run_schemathesis(cluster.schema, cluster.web.url, token, report_dir,
                           max_examples=MAX_EXAMPLES, seed=seed)
    print(run.figures())  # shown with -s or -rP: the figures of the run
    assert run.exit_code == 0 and not run.failures, run.summary()  # our 401 check included
    assert not [s for s in run.statuses if s >= 500], run.summary()
    assert run.requests >= MIN_REQUESTS, run.summary()
    return run, _jobs_total(cluster) - before


def test_with_the_token_every_answer_is_documented_and_nothing_accepted_is_lost(
    fuzzed: FuzzedCluster, tmp_path: Path
) -> None:
    run, created = _fuzz(fuzzed, tmp_path, TOKEN, seed=20261201)
    # It reached the core logic: uploads accepted, bad input refused with 4xx sentences.
    assert run.accepted_uploads > 0 and any(400 <= s < 500 for s in run.statuses), run.summary()
    assert created == run.accepted_uploads  # every 202 has its record
    assert fuzzed.worker.alive()


def test_without_the_token_every_guarded_operation_answers_401(
    fuzzed: FuzzedCluster, tmp_path: Path
) -> None:
    run, created = _fuzz(fuzzed, tmp_path, None, seed=20261202)
    assert run.statuses.get(401, 0) > run.requests // 2, run.summary()
    assert run.accepted_uploads == 0 and created == 0
