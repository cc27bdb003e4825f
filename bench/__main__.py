"""``python -m bench``: run every benchmark on a local cluster and write the results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.config import FULL, QUICK
from bench.plots import write_plots
from bench.report import markdown, write_json
from bench.run import run_bench

RESULTS = Path(__file__).resolve().parent / "results"
QUICK_RESULTS = Path("/tmp/ffcluster-bench-quick")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="tiny inputs and counts (a smoke run); results go to "
                        f"{QUICK_RESULTS} unless --out is given")
    parser.add_argument("--out", type=Path, help=f"results folder (default {RESULTS})")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    out_dir = args.out or (QUICK_RESULTS if args.quick else RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    report, series = run_bench(config)
    report["meta"]["plots"] = write_plots(report, series, out_dir)
    if not report["meta"]["plots"]:
        print("matplotlib is not installed: plots skipped.", file=sys.stderr)
    write_json(report, out_dir / "latest.json")
    table = markdown(report)
    if report["meta"]["plots"]:
        table += "\n" + "\n".join(f"![{name}]({name})" for name in report["meta"]["plots"]) + "\n"
    (out_dir / "latest.md").write_text(table)
    print(table)
    print(f"results in {out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
