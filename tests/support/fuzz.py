"""Run schemathesis (its CLI, as an operator would) against a live web tier; read its reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")

# DELETE /api/jobs/<id> cancels a job; the canceled record stays readable (its state says so)
# until retention removes it, so schemathesis's "deleted resource still available" does not
# apply. Every other check, ours included (tests/support/fuzz_checks.py), runs.
EXCLUDED_CHECKS = ("use_after_free",)


@dataclass(frozen=True)
class FuzzRun:
    exit_code: int
    requests: int
    test_cases: int
    failures: list[dict[str, object]]
    statuses: dict[int, int]
    accepted_uploads: int
    output: str

    def figures(self) -> str:
        return (f"exit {self.exit_code}, {self.requests} requests, {self.test_cases} test cases, "
                f"{self.accepted_uploads} uploads accepted, statuses "
                f"{dict(sorted(self.statuses.items()))}, failures {self.failures}")

    def summary(self) -> str:
        return f"{self.figures()}\n{self.output[-6000:]}"


def save_schema(base_url: str, token: str | None, path: Path) -> Path:
    """Fetch the live ``/api/openapi.json`` (with the token: the document is guarded)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = requests.get(f"{base_url}/api/openapi.json", headers=headers, timeout=10)
    answer.raise_for_status()
    path.write_text(answer.text)
    return path


def run_schemathesis(schema: Path, base_url: str, token: str | None, report_dir: Path, *,
                     max_examples: int, seed: int, timeout: float = 600) -> FuzzRun:
    """``schemathesis run`` with every check; count the requests it sent from its HAR."""
    report_dir.mkdir(parents=True, exist_ok=True)
    har, report = report_dir / "requests.har", report_dir / "run.json"
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
        str(schema), "--url", base_url,
        "--exclude-checks", ",".join(EXCLUDED_CHECKS),  # every other check runs by default
        "--max-examples", str(max_examples), "--seed", str(seed), "--workers", "2",
        "--generation-database", "none", "--no-color", "--request-timeout", "30",
        "--report", "har,json", "--report-har-path", str(har), "--report-json-path", str(report),
    ]
    if token:
        command += ["--header", f"Authorization: Bearer {token}"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.support.fuzz_checks"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    entries = json.loads(har.read_text())["log"]["entries"] if har.exists() else []
    statuses: dict[int, int] = {}
    accepted_uploads = 0
    for entry in entries:
        status = int(entry["response"]["status"])
        statuses[status] = statuses.get(status, 0) + 1
        request = entry["request"]
        if (request["method"], urlsplit(request["url"]).path, status) == \
                ("POST", "/api/jobs", 202):
            accepted_uploads += 1
    results = json.loads(report.read_text()) if report.exists() else {}
    return FuzzRun(done.returncode, len(entries),
                   int(results.get("test_cases", {}).get("generated", 0)),
                   list(results.get("failures", [])), statuses, accepted_uploads,
                   done.stdout + done.stderr)
