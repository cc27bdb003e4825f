"""Per-title against fixed: the bits each ladder spends per rung and the SSIM it gets, on a
moving source and an easy one; the analysis time against the encode; and the capped-CRF
ladder MediaCMS uses (CRF 23, peak 1.5 times the table rate), encoded by hand for scale."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.client import TIMED_POLL_S, ApiClient
from bench.encoding import encode_phase
from bench.stats import ratio
from common.ladder import load_ladder, plan_renditions
from workers.ffmpeg.commands import SOFTWARE_H264, EncodeOptions, build_ladder_command
from workers.ffmpeg.probe import probe_source
from workers.ffmpeg.quality import measure_quality

MAX_PIXELS = 8192 * 4352
MEDIACMS_CRF = 23
MEDIACMS_PEAK = 1.5


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 2)


def _rungs(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["profile"]: {"kbps": round((r.get("average_bandwidth") or 0) / 1000, 1),
                           "ssim": r.get("ssim"),
                           "encoded_at_kbps": (r.get("target") or {}).get("video_bitrate_kbps")}
            for r in job["renditions"]}


def cluster_job(client: ApiClient, source: Path, fields: dict[str, str],
                timeout_s: float) -> dict[str, Any]:
    """One job through the cluster: its wall time, encode phase, rungs and analysis."""
    job_id, posted_at = client.submit(source, fields)
    job = client.wait(job_id, timeout_s, poll_s=TIMED_POLL_S)
    if job["state"] != "done":
        raise RuntimeError(f"per-title bench job {job_id} ended {job['state']}: {job['error']}")
    rungs = _rungs(job)
    result: dict[str, Any] = {"job_id": job_id, "wall_s": round(job["finished_at"] - posted_at, 2),
                              "encode_s": _rounded(encode_phase(job)), "rungs": rungs,
                              "total_kbps": round(sum(r["kbps"] for r in rungs.values()), 1)}
    analysis = job.get("per_title")
    if analysis:
        result["analysis_s"] = analysis["seconds"]
        result["target_ssim"] = analysis["target_ssim"]
        result["dropped"] = {r["profile"]: r["dropped"] for r in analysis["rungs"] if r["dropped"]}
        result["predicted_vs_measured"] = {
            r["profile"]: [r["predicted_ssim"], r.get("measured_ssim")]
            for r in analysis["rungs"] if not r["dropped"]}
        result["reencoded"] = [r["profile"] for r in analysis["rungs"] if r.get("reencoded")]
    return result


def _video_kbps(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=bit_rate", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return round(int(json.loads(out)["streams"][0]["bit_rate"]) / 1000, 1)


def capped_crf(source: Path, timeout_s: float) -> dict[str, Any]:
    """The default ladder as capped CRF, one FFmpeg by hand: bits and SSIM per rung."""
    info = probe_source(source, ffprobe_bin="ffprobe", timeout_s=30, max_pixels=MAX_PIXELS)
    plans = [replace(p, profile=replace(
        p.profile, crf=MEDIACMS_CRF,
        maxrate_kbps=round(p.profile.video_bitrate_kbps * MEDIACMS_PEAK),
        bufsize_kbps=p.profile.video_bitrate_kbps * 2)) for p in plan_renditions(
            info, load_ladder(None))]
    with tempfile.TemporaryDirectory(prefix="bench-crf-") as folder:
        outputs = [Path(folder) / f"{p.profile.name}.mp4" for p in plans]
        argv = build_ladder_command(source, info, plans, SOFTWARE_H264, outputs, EncodeOptions())
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, timeout=timeout_s)
        wall = time.perf_counter() - started
        rungs = {}
        for plan, output in zip(plans, outputs, strict=True):
            score = measure_quality(output, source, plan.width, plan.height,
                                    max_pixels=MAX_PIXELS)
            rungs[plan.profile.name] = {"kbps": _video_kbps(output),
                                        "ssim": score[0] if score else None}
    return {"wall_s": round(wall, 2), "rungs": rungs,
            "total_kbps": round(sum(r["kbps"] for r in rungs.values()), 1)}


def compare(client: ApiClient, sources: dict[str, Path], timeout_s: float) -> dict[str, Any]:
    """Per source: the fixed ladder (measured), per-title at the default target, per-title
    at the fixed ladder's own lowest SSIM (equal quality), and capped CRF by hand."""
    report: dict[str, Any] = {}
    for name, source in sources.items():
        fixed = cluster_job(client, source, {"quality": "true"}, timeout_s)
        titled = cluster_job(client, source, {"ladder": "per-title"}, timeout_s)
        floor = min(r["ssim"] for r in fixed["rungs"].values() if r["ssim"] is not None)
        equal = cluster_job(client, source, {"ladder": "per-title",
                                             "target_ssim": f"{min(floor, 0.999):.4f}"},
                            timeout_s)
        row = {"fixed": fixed, "per_title": titled, "per_title_equal_ssim": equal,
               "capped_crf": capped_crf(source, timeout_s)}
        for key in ("per_title", "per_title_equal_ssim", "capped_crf"):
            row[key]["bits_vs_fixed"] = ratio(row[key]["total_kbps"], fixed["total_kbps"])
        for key in ("per_title", "per_title_equal_ssim"):
            row[key]["analysis_over_fixed_encode"] = ratio(row[key]["analysis_s"],
                                                           fixed["encode_s"])
        report[name] = row
    return report
