"""Small PNG plots of one run (skipped with a note when matplotlib is not installed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.responsiveness import Series

DPI = 80


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def latency_over_time(series: list[Series], path: Path) -> None:
    """Health and Socket.IO latency of each loaded run against time, with CPU busy %."""
    plt = _pyplot()
    from matplotlib import ticker

    fig, axes = plt.subplots(len(series), 1, figsize=(8, 2.6 * len(series)), squeeze=False)
    for ax, serie in zip(axes[:, 0], series, strict=True):
        t0 = serie.started_at
        for samples, label, marker in ((serie.health, "GET /api/health", "."),
                                       (serie.socketio, "Socket.IO round trip", "x")):
            ax.plot([s - t0 for s, _lat, _ok in samples], [lat * 1000 for _s, lat, _ok in samples],
                    marker, markersize=2, label=label, alpha=0.6)
        ax.axhline(20, color="C0", linestyle="--", linewidth=0.8)
        ax.axhline(50, color="C1", linestyle="--", linewidth=0.8)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda y, _pos: f"{y:g}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_ylabel("latency (ms)")
        ax.set_title(f"{serie.label}: web latency while every core encodes", fontsize=9)
        cpu = ax.twinx()
        cpu.plot([t - t0 for t, _p in serie.cpu], [p for _t, p in serie.cpu], color="grey",
                 linewidth=0.8, label="CPU busy %")
        cpu.set_ylim(0, 105)
        cpu.set_ylabel("CPU busy %", fontsize=8)
        ax.legend(loc="upper left", fontsize=7)
    axes[-1, 0].set_xlabel("seconds into the run")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def _bars(ax: Any, labels: list[str], groups: dict[str, list[float]], title: str,
          target: float | None = None) -> None:
    width = 0.8 / max(1, len(groups))
    for index, (name, values) in enumerate(groups.items()):
        xs = [i + index * width for i in range(len(labels))]
        ax.bar(xs, [v or 0 for v in values], width, label=name)
    ax.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(labels))])
    ax.set_xticklabels(labels, fontsize=7)
    if target is not None:
        ax.axhline(target, color="red", linestyle="--", linewidth=0.8, label="target")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def responsiveness_bars(report: dict[str, Any], path: Path) -> None:
    """p99 of health and Socket.IO per mode, idle and loaded, against the targets."""
    plt = _pyplot()
    runs = [(m, s) for m in report["responsiveness"] for s in ("idle", "loaded")]
    labels = [f"{m}\n{s}" for m, s in runs]
    fig, (left, right, nice_ax) = plt.subplots(1, 3, figsize=(10, 3))
    for ax, kind, target in ((left, "health", 20.0), (right, "socketio", 50.0)):
        groups = {p: [report["responsiveness"][m][s][kind][p] for m, s in runs]
                  for p in ("p50", "p99")}
        _bars(ax, labels, groups, f"{kind} latency (ms)", target)
    levels = ("nice_10", "nice_10_autogroup", "nice_0")
    _bars(nice_ax, ["nice 10", "nice 10\n+autogroup", "nice 0"],
          {p: [report["niceness"][n]["health"][p] for n in levels] for p in ("p50", "p99")},
          "health under load, threading (ms)", 20.0)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def benchmark_bars(report: dict[str, Any], path: Path) -> None:
    """Ladder pairs (cluster vs single FFmpeg), progress/scheduling p50/p99, memory."""
    plt = _pyplot()
    fig, (ladder_ax, lat_ax, mem_ax) = plt.subplots(1, 3, figsize=(10, 3))
    ladder = report["ladder"]
    pairs = [*ladder["pairs"], ladder["mp4_only_pair"], ladder["unfused_pair"]]
    labels = [*(f"pair {i + 1}" for i in range(len(ladder["pairs"]))), "MP4 only", "unfused"]
    _bars(ladder_ax, labels, {"cluster": [p["cluster_s"] for p in pairs],
                              "single FFmpeg": [p["direct_s"] for p in pairs]},
          "ladder wall time (s)")
    kinds = {"progress": report["progress_latency"],
             "start delay": report["scheduling"]["start_delay"]}
    _bars(lat_ax, list(kinds), {p: [k[p] for k in kinds.values()] for p in ("p50", "p99")},
          "latency (ms)", 250.0)
    memory = report["memory"]
    _bars(mem_ax, ["web", "worker total"],
          {state: [memory[n][f"{state}_mb"] for n in ("web", "worker_total")]
           for state in ("idle", "after")}, f"RSS (MiB), idle vs after {memory['jobs']} jobs")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def write_plots(report: dict[str, Any], series: list[Series], out_dir: Path) -> list[str]:
    """Write every PNG into ``out_dir``; return their names (empty without matplotlib)."""
    try:
        _pyplot()
    except ImportError:
        return []
    latency_over_time(series, out_dir / "latency_over_time.png")
    responsiveness_bars(report, out_dir / "responsiveness.png")
    benchmark_bars(report, out_dir / "benchmarks.png")
    return ["latency_over_time.png", "responsiveness.png", "benchmarks.png"]
