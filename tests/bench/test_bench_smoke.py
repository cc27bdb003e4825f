"""Smoke-run ``python -m bench --quick`` and check the JSON has every section with numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(330)]

REPO_ROOT = Path(__file__).resolve().parents[2]


def _numeric(data: dict[str, Any], *path: str) -> float:
    for key in path:
        assert isinstance(data, dict) and key in data, f"missing {'.'.join(path)}"
        data = data[key]
    assert isinstance(data, int | float) and not isinstance(data, bool), (path, data)
    return float(data)


def _percentiles(data: dict[str, Any], *path: str) -> None:
    p50, p99 = _numeric(data, *path, "p50"), _numeric(data, *path, "p99")
    assert 0 <= p50 <= p99, (path, p50, p99)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench")
    run = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=280)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads((out / "latest.json").read_text()), out


def test_every_section_has_numeric_percentiles(quick_run: tuple[dict[str, Any], Path]) -> None:
    report, _out = quick_run
    for mode in ("threading", "eventlet"):
        for state in ("idle", "loaded"):
            for kind in ("health", "socketio", "page"):
                _percentiles(report, "responsiveness", mode, state, kind)
            _numeric(report, "responsiveness", mode, state, "disconnects")
    for level in ("nice_10", "nice_10_autogroup", "nice_0"):
        _percentiles(report, "niceness", level, "health")
    _percentiles(report, "ladder", "ratio")
    _numeric(report, "ladder", "ratio", "median_ratio")
    _numeric(report, "ladder", "ratio", "median_ffmpeg_ratio")  # the record's ffmpeg_s
    _numeric(report, "ladder", "unfused_pair", "ratio")
    _numeric(report, "ladder", "mp4_only_pair", "ratio")
    _percentiles(report, "progress_latency")
    _percentiles(report, "scheduling", "start_delay")
    _numeric(report, "scheduling", "throughput", "jobs_per_min")
    for name in ("web", "worker_total"):
        _percentiles(report, "memory", name, "during")
        _numeric(report, "memory", name, "growth_pct")
    _numeric(report, "heartbeats", "missed")
    for mode in ("threading", "eventlet"):
        crowd = report["many_clients"][mode]
        _percentiles(report, "many_clients", mode, "health")
        assert crowd["clients"] == 8 and crowd["jobs_done"] == crowd["jobs"] == 2, crowd
        assert crowd["clients_dropped"] == crowd["clients_without_final_state"] == 0, crowd
        assert crowd["clients_without_every_final_state"] == 0, crowd
    _numeric(report, "split_and_stitch", "speedup_two_over_one")
    assert report["split_and_stitch"]["two_workers"]["chunked"]["chunks"] >= 2
    for way in ("upload", "download"):
        assert _numeric(report, "object_storage", "transfers", f"{way}_median_mb_s") > 0
    assert _numeric(report, "object_storage", "ladder", "ratio_s3_over_local") > 0
    for source in ("moving", "easy"):
        for ladder in ("per_title", "per_title_equal_ssim", "capped_crf"):
            assert _numeric(report, "per_title", source, ladder, "bits_vs_fixed") > 0
        assert _numeric(report, "per_title", source, "per_title", "analysis_s") > 0
    for codec in ("h264", "hevc", "av1"):
        assert _numeric(report, "codecs", "codecs", codec, "fps") > 0
        assert 0 < _numeric(report, "codecs", "codecs", codec, "ssim") <= 1


def test_records_the_machine_and_targets(quick_run: tuple[dict[str, Any], Path]) -> None:
    report, out = quick_run
    machine = report["meta"]["machine"]
    assert machine["nproc"] >= 1 and machine["memory_mb"] > 0
    assert machine["ffmpeg"] != "unknown" and machine["python"].startswith("3.")
    assert {t["target"] for t in report["targets"]} >= {"< 20", "< 50", "<= 1.05", "< 250",
                                                        ">= 1.9", ">= 200", "<= 1.10",
                                                        "<= 1.03",
                                                        "<= 0.15", "<= 0.70"}
    table = (out / "latest.md").read_text()
    assert "| What | Measured | Target | Met |" in table
    assert report["ladder"]["pairs"][0]["cluster"]["renditions"] == ["1080p", "720p", "480p"]
    pair = report["ladder"]["pairs"][0]
    encode, outside = pair["cluster"]["encode_s"], pair["cluster"]["outside_encode_s"]
    assert 0 < encode < pair["cluster_s"] and outside > 0
    assert _numeric(report, "ladder", "ratio", "median_outside_encode_s") == outside
