"""Targets, the JSON file and the Markdown table of one run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Row = tuple[str, float | None, str, bool | None]
NICE_ROWS = (("nice_10", "10 (default: FFmpeg's process and session autogroup)"),
             ("nice_10_autogroup", "10, autogroup re-applied from outside by the bench"),
             ("nice_0", "0"))


def _get(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _below(value: float | None, limit: float, inclusive: bool = False) -> bool | None:
    if value is None:
        return None
    return value <= limit if inclusive else value < limit


def targets(report: dict[str, Any]) -> list[Row]:
    """Return (what, measured, target, met) for every target of the issue."""
    rows: list[Row] = []
    for mode in ("threading", "eventlet"):
        health = _get(report, "responsiveness", mode, "loaded", "health", "p99")
        sio = _get(report, "responsiveness", mode, "loaded", "socketio", "p99")
        rows.append((f"health p99 under load, {mode} (ms)", health, "< 20", _below(health, 20)))
        rows.append((f"Socket.IO round trip p99 under load, {mode} (ms)", sio, "< 50",
                     _below(sio, 50)))
    for mode in ("eventlet", "threading"):
        crowd = _get(report, "many_clients", mode) or {}
        health = _get(crowd, "health", "p99")
        rows.append((f"health p99, {crowd.get('clients')} clients while {crowd.get('jobs')} "
                     f"jobs run, {mode} (ms)", health, "< 50", _below(health, 50)))
        lost = None if not crowd else (crowd["clients_dropped"] + crowd[
            "clients_without_final_state"] + crowd.get("clients_without_every_final_state", 0))
        rows.append((f"{mode}: clients dropped or missing a job's final state", lost, "0",
                     None if lost is None else lost == 0))
    missed = _get(report, "heartbeats", "missed")
    rows.append(("missed heartbeats (client disconnects)", missed, "0", missed == 0))
    ladder = _get(report, "ladder", "ratio", "median_ratio")
    rows.append(("default job (MP4s + HLS + DASH) / single FFmpeg making the MP4s (median)",
                 ladder, "<= 1.03", _below(ladder, 1.03, inclusive=True)))
    mp4_only = _get(report, "ladder", "mp4_only_pair", "ratio")
    rows.append(("MP4-only job / single FFmpeg making the same MP4s", mp4_only, "<= 1.05",
                 _below(mp4_only, 1.05, inclusive=True)))
    progress = _get(report, "progress_latency", "p99")
    rows.append(("progress event latency p99 (ms)", progress, "< 250", _below(progress, 250)))
    conflicts = _get(report, "progress_writes", "after_script", "watch_conflicts_two_writers")
    rows.append(("progress writes: WATCH conflicts, two writers", conflicts, "0",
                 None if conflicts is None else conflicts == 0))
    chunk_conflicts = _get(report, "split_and_stitch", "watch_conflicts_chunked_two_workers")
    rows.append(("chunked job on two workers: WATCH conflicts", chunk_conflicts, "0",
                 None if chunk_conflicts is None else chunk_conflicts == 0))
    speedup = _get(report, "split_and_stitch", "speedup_two_over_one")
    rows.append(("split-and-stitch: 2 single-core workers / 1 (speed-up)", speedup, ">= 1.9",
                 speedup is not None and speedup >= 1.9))
    overhead = _get(report, "split_and_stitch", "chunking_overhead_one_worker")
    rows.append(("split-and-stitch: chunked / unchunked on one worker", overhead, "<= 1.03",
                 _below(overhead, 1.03, inclusive=True)))
    for way in ("upload", "download"):
        rate = _get(report, "object_storage", "transfers", f"{way}_median_mb_s")
        rows.append((f"object storage: {way} throughput, loopback (MB/s)", rate, ">= 200",
                     None if rate is None else rate >= 200))
    s3_ratio = _get(report, "object_storage", "ladder", "ratio_s3_over_local")
    rows.append(("ladder job: s3 storage / local (median)", s3_ratio, "<= 1.10",
                 _below(s3_ratio, 1.10, inclusive=True)))
    for source in ("moving", "easy"):
        share = _get(report, "per_title", source, "per_title", "analysis_over_fixed_encode")
        rows.append((f"per-title analysis / fixed encode, {source} 20 s 1080p", share, "<= 0.15",
                     _below(share, 0.15, inclusive=True)))
    bits = _get(report, "per_title", "easy", "per_title_equal_ssim", "bits_vs_fixed")
    rows.append(("per-title bits / fixed, easy source, at the fixed ladder's SSIM", bits,
                 "<= 0.70", _below(bits, 0.70, inclusive=True)))
    for name in ("web", "worker_total"):
        growth = _get(report, "memory", name, "growth_pct")
        jobs = _get(report, "memory", "jobs")
        rows.append((f"{name} RSS growth over {jobs} jobs (%)", growth, "< 10",
                     _below(growth, 10)))
    return rows


def write_json(report: dict[str, Any], path: Path) -> None:
    report["targets"] = [{"what": w, "measured": m, "target": t, "met": ok}
                         for w, m, t, ok in targets(report)]
    path.write_text(json.dumps(report, indent=1, sort_keys=False) + "\n")


def _walls(run: dict[str, Any]) -> str:
    return ", ".join(_fmt(w) for w in run.get("walls_s", [run.get("wall_s")]))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _lat(summary: dict[str, Any] | None) -> list[Any]:
    summary = summary or {}
    return [summary.get("p50"), summary.get("p99"), summary.get("max")]


def markdown(report: dict[str, Any]) -> str:
    """Return the Markdown report: targets first, then each benchmark's table."""
    meta, machine = report["meta"], report["meta"]["machine"]
    lines = ["# ffcluster benchmark" + (" (quick)" if meta["quick"] else ""), "",
             f"Machine: {machine['nproc']} cores ({machine['cpu_model']}), "
             f"{machine['memory_mb']} MiB, FFmpeg {machine['ffmpeg']}, Python {machine['python']}; "
             f"load average {machine['loadavg_start']} at start, {meta['loadavg_end']} at end; "
             f"worker concurrency {meta['worker_concurrency']}; run took {meta['duration_s']} s.",
             ""]
    lines += ["## Targets", "", *_table(["What", "Measured", "Target", "Met"],
                                         [list(row) for row in targets(report)])]
    rows = []
    for mode, states in report["responsiveness"].items():
        for state, run in states.items():
            rows.append([mode, state, *_lat(run["health"]), *_lat(run["socketio"]),
                         *_lat(run.get("page")), run["cpu_busy_pct"], run["disconnects"]])
    lines += ["## Responsiveness (ms; health n per run "
              f"{report['responsiveness']['threading']['idle']['health']['n']})", ""]
    lines += _table(["Mode", "Cluster", "Health p50", "p99", "max", "Socket.IO p50", "p99",
                     "max", "Page p50", "p99", "max", "CPU busy %", "Disconnects"], rows)
    lines += _crowd_lines(report.get("many_clients"))
    nice = report["niceness"]
    lines += ["## FFmpeg niceness (threading, loaded, ms; kernel autogroup "
              f"{'on' if nice.get('autogroup_enabled') else 'off'})", ""]
    lines += _table(["FFmpeg niceness", "Health p50", "p99", "max", "Socket.IO p50", "p99",
                     "max", "CPU busy %"],
                    [[label, *_lat(nice[key]["health"]), *_lat(nice[key]["socketio"]),
                      nice[key]["cpu_busy_pct"]] for key, label in NICE_ROWS])
    ladder = report["ladder"]
    labels = [*(str(i + 1) for i in range(len(ladder["pairs"]))), "MP4 only", "unfused"]
    pairs = [*ladder["pairs"], ladder["mp4_only_pair"], ladder["unfused_pair"]]
    rows = [[label, p["order"], p["cluster_s"], p["cluster"].get("encode_s"),
             p["cluster"].get("outside_encode_s"), p["direct_s"], p["ratio"],
             p.get("encode_ratio"), p["cluster"].get("ffmpeg_s"), p.get("ffmpeg_ratio"),
             f"{_fmt(p.get('cluster_foreign_cpu_pct'))} / {_fmt(p.get('direct_foreign_cpu_pct'))}"]
            for label, p in zip(labels, pairs, strict=True)]
    split = ladder["ratio"]
    lines += [f"## Ladder cost (median ratio {_fmt(ladder['ratio']['median_ratio'])}; "
              f"unfused / fused {_fmt(ladder['unfused_over_fused_ratio'])})", "",
              f"Median over the {ladder['ratio']['quiet_pairs']} pairs with < 10 % foreign "
              f"CPU on both sides: {_fmt(ladder['ratio']['median_ratio_quiet'])}. "
              "Numbered pairs and the unfused one: the default job (three MP4s, their CMAF "
              "segments written by the encoding FFmpeg, the HLS and DASH manifests, poster) "
              "against the single FFmpeg making the three MP4s; the MP4-only pair posts "
              "hls=false, so both sides write the same three files. Split of each job: its "
              "encode phase (first rendition start to last rendition done: the encoding "
              "FFmpeg and the check of its outputs) and the cluster's steps outside it "
              f"(upload, probe, hand-offs, poster, audio, manifests): median "
              f"{_fmt(split.get('median_outside_encode_s'))} s outside, "
              f"{_fmt(split.get('outside_over_direct'))} of the single FFmpeg; encode phase "
              f"/ single FFmpeg median {_fmt(split.get('median_encode_ratio'))}; the "
              "cluster's encoding FFmpeg alone (its run as the worker timed it, "
              "`ffmpeg_s` in the job JSON) / single FFmpeg median "
              f"{_fmt(split.get('median_ffmpeg_ratio'))}.", ""]
    lines += _table(["Pair", "Order", "Cluster POST→done (s)", "Encode phase (s)",
                     "Outside it (s)", "Single FFmpeg (s)", "Ratio", "Encode phase / single",
                     "Cluster's FFmpeg (s)", "Its FFmpeg / single",
                     "Foreign CPU % (cluster / direct)"], rows)
    sched, progress = report["scheduling"], report["progress_latency"]
    lines += ["## Latency and throughput (ms)", ""]
    lines += _table(["What", "n", "p50", "p99", "max"], [
        ["progress: worker ts → Socket.IO client", progress["n"], *_lat(progress)],
        ["POST → first FFmpeg start (idle, one at a time)", sched["start_delay"]["n"],
         *_lat(sched["start_delay"])],
        ["POST → done, 1 s job (idle, one at a time)", sched["turnaround"]["n"],
         *_lat(sched["turnaround"])],
    ])
    tp = sched["throughput"]
    lines += [f"Throughput: {tp['jobs']} one-second jobs in {tp['wall_s']} s = "
              f"**{tp['jobs_per_min']} jobs/min** ({tp['failed']} failed).", ""]
    memory = report["memory"]
    lines += [f"## Memory (RSS, MiB; idle vs after {memory['jobs']} jobs)", ""]
    lines += _table(["Process", "Idle", "After", "Growth %", "p99 during"], [
        [name, memory[name]["idle_mb"], memory[name]["after_mb"], memory[name]["growth_pct"],
         memory[name]["during"]["p99"]] for name in ("web", "worker_total")])
    sas = report.get("split_and_stitch")
    if sas:
        src, two_chunked = sas["source"], sas["two_workers"]["chunked"]
        lines += [f"## Split-and-stitch ({src['seconds']:g} s {src['size']} → {src['rung']}, "
                  f"{src['chunks']} slices of {src['chunk_seconds']} s; POST→done, s, median "
                  f"of {sas.get('rounds', 1)} runs)", ""]
        lines += _table(["Workers (1 core each)", "Unchunked", "Chunked"], [
            ["1", sas["one_worker"]["whole"]["wall_s"], sas["one_worker"]["chunked"]["wall_s"]],
            ["2", sas["two_workers"]["whole"]["wall_s"],
             sas["two_workers"]["chunked"]["wall_s"]]])
        lines += [f"Speed-up of two workers over one: **{_fmt(sas['speedup_two_over_one'])}x**; "
                  f"chunking overhead on one worker: {_fmt(sas['chunking_overhead_one_worker'])}x;"
                  f" chunked / unchunked on two workers: "
                  f"{_fmt(sas['chunked_over_whole_two_workers'])}. Slices cut on a source "
                  f"keyframe / by seeking (two workers): "
                  f"{two_chunked.get('keyframe_cuts')} / {two_chunked.get('seek_cuts')}; "
                  "POST→first rendition done, two workers chunked: "
                  f"{_fmt(two_chunked.get('first_rendition_s'))} s. Every run (s): one worker "
                  f"unchunked {_walls(sas['one_worker']['whole'])}, chunked "
                  f"{_walls(sas['one_worker']['chunked'])}; two workers chunked "
                  f"{_walls(two_chunked)}.", ""]
    storage = report.get("object_storage")
    if storage:
        tr, lad = storage["transfers"], storage["ladder"]
        lines += [f"## Object storage (moto on loopback; {tr['size_mb']} MB file, "
                  f"{tr['runs']} runs; ladder POST→done, s)", ""]
        lines += _table(["What", "Runs", "Median"], [
            ["upload through the web tier into the bucket (MB/s)",
             tr["upload_via_web_mb_s"], tr["upload_median_mb_s"]],
            ["bucket to worker scratch (MB/s)", tr["download_to_scratch_mb_s"],
             tr["download_median_mb_s"]],
            ["worker scratch to bucket, an output published (MB/s)",
             tr["publish_from_scratch_mb_s"], tr["publish_median_mb_s"]],
            ["the S3 server's own ceiling: one put_object from memory (MB/s)",
             tr["peer_put_object_mb_s"], tr["peer_median_mb_s"]],
            ["ladder job, local storage (s)", lad["local_s"], None],
            ["ladder job, s3 storage (s)", lad["s3_s"], None]])
        lines += [f"Ladder job s3 / local: **{_fmt(lad['ratio_s3_over_local'])}**; upload "
                  f"through the web tier / the server's ceiling: {_fmt(tr['upload_over_peer'])}.",
                  ""]
    lines += _per_title_lines(report.get("per_title"))
    codecs = report.get("codecs")
    if codecs:
        lines += [f"## One 1080p rung per codec ({codecs['source_s']:g} s, {codecs['frames']} "
                  f"frames, {codecs['bitrate_kbps']} kb/s target, default presets, alone)", ""]
        lines += _table(["Codec", "Encoder", "Preset", "Wall (s)", "fps", "x real time",
                         "kb/s", "SSIM", "PSNR (dB)"], [
            [name, row.get("encoder"), row.get("preset"), row.get("wall_s"), row.get("fps"),
             row.get("x_realtime"), row.get("kbps"), row.get("ssim"), row.get("psnr_db")]
            for name, row in codecs["codecs"].items()])
    writes = report.get("progress_writes")
    if writes:
        lines += [f"## One progress event in Redis ({writes['events']} events each; commands "
                  "include a script's own)", ""]
        rows = []
        for way in ("before_transaction", "after_script"):
            for case, cost in writes[way].items():
                if isinstance(cost, dict):
                    rows.append([way, case, cost["commands_per_event"],
                                 cost["bytes_written_per_event"], cost["bytes_read_per_event"]])
        lines += _table(["Way", "Job", "Commands", "Bytes written", "Bytes read"], rows)
        lines += ["WATCH conflicts, two writers on different renditions and slices of one job: "
                  f"before {writes['before_transaction']['watch_conflicts_two_writers']}, "
                  f"after {writes['after_script']['watch_conflicts_two_writers']}"
                  + (f"; during the chunked job on two workers (state changes only): "
                     f"{sas['watch_conflicts_chunked_two_workers']}."
                     if sas and "watch_conflicts_chunked_two_workers" in sas else "."), ""]
    lines += ["## Run phases (foreign CPU: other processes on the machine, % of all cores)", ""]
    lines += _table(["Phase", "Seconds", "Load avg before", "Foreign CPU %"],
                    [[name, p["s"], p["loadavg_1m_before"], p["foreign_cpu_pct"]]
                     for name, p in meta["phases_s"].items()])
    lines += ["## Notes", "", *[f"- {note}" for note in meta.get("notes", [])], ""]
    return "\n".join(lines)


def _crowd_lines(crowd: dict[str, Any] | None) -> list[str]:
    if not crowd:
        return []
    first = next(iter(crowd.values()))
    rows = [[mode, run["clients"], f"{run['jobs_done']} / {run['jobs']}", *_lat(run["health"]),
             run["health"]["n"], run["clients_dropped"], run["clients_without_final_state"],
             run.get("clients_without_every_final_state"),
             run["events_per_client"]["p50"], run["wall_s"]] for mode, run in crowd.items()]
    return [f"## {first['clients']} live dashboards while {first['jobs']} one-second jobs run "
            "(health in ms)", "",
            *_table(["Mode", "Clients", "Jobs done", "Health p50", "p99", "max", "n",
                     "Dropped", "Own job not final", "Some job not final", "Events per client",
                     "Wall (s)"], rows),
            "Clients: python-socketio asyncio clients in 4 processes at the lowest CPU priority "
            "(they stand in for browsers on other machines), each subscribed to one job and in "
            "the dashboard room; health: `GET /api/health` every 50 ms on one keep-alive "
            "connection from the bench process.", ""]


def _per_title_lines(per_title: dict[str, Any] | None) -> list[str]:
    """Bits and SSIM per rung for each ladder, per source; analysis against the encode."""
    if not per_title:
        return []
    lines = ["## Per-title against fixed (video kb/s from the HLS segments; SSIM against the "
             "source at the rung's size)", ""]
    ladders = (("fixed", "fixed"), ("per_title", "per-title, default target"),
               ("per_title_equal_ssim", "per-title, target = fixed's lowest SSIM"),
               ("capped_crf", f"capped CRF {23} by hand (MediaCMS)"))
    for source, row in per_title.items():
        rows = []
        for key, label in ladders:
            run = row[key]
            rungs = " · ".join(f"{name} {r['kbps']:g} @ {_fmt(r['ssim'])}"
                               for name, r in run["rungs"].items())
            dropped = ", ".join(run.get("dropped") or {}) or ""
            rows.append([label, run.get("target_ssim"), run["total_kbps"],
                         run.get("bits_vs_fixed"), rungs, dropped or None,
                         run.get("analysis_s"), run.get("analysis_over_fixed_encode"),
                         run.get("wall_s")])
        lines += [f"### {source} source (fixed ladder's encode phase "
                  f"{_fmt(row['fixed']['encode_s'])} s)", ""]
        lines += _table(["Ladder", "Target", "Total kb/s", "Bits / fixed", "Rungs (kb/s @ SSIM)",
                         "Dropped", "Analysis (s)", "Analysis / encode", "Wall (s)"], rows)
    return lines
