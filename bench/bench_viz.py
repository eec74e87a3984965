"""Benchmark: `viz plot` on a 1,000,000-row node-sample file vs polars alone reading it, and
`viz --help` vs a bare interpreter (issue 15, items 5 and 6).

Writes a synthetic run in the data contract (a run.csv of --steps steps and a run.nodes.csv of
--rows node samples from --nodes nodes at 1 Hz, with occasional reconnect gaps) to a temporary
directory, then measures, each the best of --repeat runs (the machine may be shared: the minimum
is the least disturbed estimate of what the work itself costs), all in this one run:

1. ``polars read``: ``polars.read_csv`` of the node file alone (the floor: viz must read it);
2. ``viz plot --format html`` in-process (target: <= 2x the polars read), with a per-phase
   breakdown, and as a command (interpreter start and imports included);
3. ``viz plot --format html,png`` in-process: every chart also rendered to PNG (no target; the
   PNGs render on two processes when the machine has two cores);
4. ``viz --help`` against ``python -c pass`` (target: < 3x);
5. per-pod cost (issue 14): a run.pods.csv of --pods pods x --pod-samples samples (1,000 x 1,000:
   a million rows, what a 1,000-pod, 1,000-step run writes), ``polars.read_csv`` of it alone
   (the floor) against ``viz.pods.read_pods`` (reduced to one row per pod with polars) and
   against ``viz plot --format html`` of that run (target: <= 2x the polars read).

    python bench/bench_viz.py [--rows 1000000] [--nodes 5] [--steps 2000] [--repeat 3]
                              [--pods 1000] [--pod-samples 1000]

Before this work (same machine, same command; shared and noisy): html only 3.0-3.4x the polars
read, html + 5 PNG 7.6-13x, `viz --help` 12-18x a bare interpreter.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from viz import series  # noqa: E402
from viz.charts import run_charts  # noqa: E402
from viz.export import Page, html_page, write_images  # noqa: E402
from viz.plot import plot_run  # noqa: E402
from viz.pods import read_pods  # noqa: E402
from viz.read import load_run  # noqa: E402
from viz.report import analyse_run  # noqa: E402

TARGET_HTML = 2.0  # viz plot (HTML) / polars read
TARGET_HELP = 3.0  # viz --help / bare interpreter
TARGET_PODS = 2.0  # viz plot (HTML) of a run with a million pod rows / polars read of them


def write_inputs(directory: Path, rows: int, nodes: int, steps: int) -> Path:
    """A capacity-shaped run: running tracks requested then saturates, memory follows."""
    per = rows // nodes
    duration = float(per)  # 1 Hz samples
    step = np.arange(1, steps + 1)
    running = np.minimum(step, int(steps * 0.6))
    elapsed = np.linspace(duration / steps, duration, steps)
    total = nodes * 16384.0
    used = 2000.0 * nodes + 480.0 * running
    pl.DataFrame(
        {
            "time": "2026-11-23T00:00:00Z",
            "elapsed_s": elapsed,
            "step": step,
            "runtime": "runc",
            "scenario": "capacity",
            "mode": "fixed-interval",
            "requested": step,
            "running": running,
            "pending": step - running,
            "evicted": np.maximum(0, step - int(steps * 0.7)),
            "oom_killed": 0,
            "scale_s": 0.2 + step * 1e-4,
            "observe_s": 0.3 + step * 2e-4,
            "step_s": 5.5 + step * 3e-4,
            "mem_total_mib": total,
            "mem_free_mib": np.maximum(total - used, 300.0),
            "mem_active_mib": used * 0.9,
            "nodes_sampled": nodes,
        }
    ).write_csv(directory / "bench.csv")
    rng = np.random.default_rng(0)
    t = np.arange(per, dtype=float)
    share = np.interp(t, elapsed, np.minimum(used, total - 300.0) / nodes)
    frames = []
    for i in range(nodes):
        gap = (np.arange(per) + 97 * i) % 5000 == 0  # a reconnect now and then
        free = 16384.0 - share + rng.normal(0, 40, per)
        frames.append(
            pl.DataFrame(
                {
                    "time": "2026-11-23T00:00:00Z",
                    "elapsed_s": t + 0.01 * i,
                    "node": f"worker-{i}",
                    "mem_total_mib": np.where(gap, np.nan, 16384.0),
                    "mem_free_mib": np.where(gap, np.nan, free),
                    "mem_available_mib": np.where(gap, np.nan, free + 300.0),
                    "mem_active_mib": np.where(gap, np.nan, share * 0.9),
                    "load1": np.where(gap, np.nan, 2.0),
                    "status": np.where(gap, "reconnecting", "ok"),
                }
            ).with_columns(pl.col(pl.Float64).fill_nan(None).round(1))
        )
    pl.concat(frames).write_csv(directory / "bench.nodes.csv")
    return directory / "bench.csv"


def write_pod_inputs(directory: Path, pods: int, samples: int) -> tuple[Path, Path]:
    """A small kata run with a run.pods.csv of pods x samples rows (tests.viz_support makes it:
    one source of synthetic files)."""
    from tests.viz_support import Synthetic, write_big_pods, write_run

    run = write_run(directory, Synthetic(runtime="kata"), name="kata")
    pods_csv = directory / "kata.pods.csv"
    write_big_pods(pods_csv, pods, samples)
    return run, pods_csv


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def phases(run_csv: Path, out: Path) -> dict[str, float]:
    """One in-process plot, split into its phases (the HTML bundle is cached after the first)."""
    t: dict[str, float] = {}
    start = time.perf_counter()
    run = load_run(run_csv)
    t["read"] = time.perf_counter() - start
    start = time.perf_counter()
    report = analyse_run(run)
    t["analyse"] = time.perf_counter() - start
    start = time.perf_counter()
    series.memory_table(run)
    t["aggregate nodes"] = time.perf_counter() - start
    start = time.perf_counter()
    charts, datasets, _ = run_charts(report)
    page = Page.build(charts, datasets)
    t["build charts (incl. aggregation)"] = time.perf_counter() - start
    start = time.perf_counter()
    html_page("bench", "", "", page, [])
    t["html page"] = time.perf_counter() - start
    start = time.perf_counter()
    write_images(page, out, "phase", ["png"])
    t["png export (2 processes)"] = time.perf_counter() - start
    return t


def best(fn, repeat: int) -> float:
    return min(timed(fn) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--pod-samples", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        run_csv = write_inputs(tmp_dir, args.rows, args.nodes, args.steps)
        nodes_csv = tmp_dir / "bench.nodes.csv"
        size_mb = nodes_csv.stat().st_size / 1e6
        out = tmp_dir / "out"
        out.mkdir()
        read = best(lambda: pl.read_csv(nodes_csv), args.repeat)
        plot_run(run_csv, out, ("html", "png"))  # warm-up: builds the cached JS bundle once
        html_only = best(lambda: plot_run(run_csv, out, ("html",)), args.repeat)
        with_png = best(lambda: plot_run(run_csv, out, ("html", "png")), args.repeat)
        cmd = [sys.executable, "-m", "viz", "plot", str(run_csv), "-o", str(out)]
        command = best(lambda: subprocess.run(cmd, cwd=REPO, check=True, capture_output=True),
                       args.repeat)  # fmt: skip
        bare = best(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
                    max(5, args.repeat))  # fmt: skip
        help_cmd = [sys.executable, "-m", "viz", "--help"]
        help_s = best(lambda: subprocess.run(help_cmd, cwd=REPO, check=True, capture_output=True),
                      max(5, args.repeat))  # fmt: skip
        runs = [phases(run_csv, out) for _ in range(args.repeat)]
        breakdown = {k: min(r[k] for r in runs) for k in runs[0]}
        pngs = len(list(out.glob("phase.*.png")))
        pods_run, pods_csv = write_pod_inputs(tmp_dir / "pods", args.pods, args.pod_samples)
        pods_mb = pods_csv.stat().st_size / 1e6
        pods_read = best(lambda: pl.read_csv(pods_csv), args.repeat)
        pods_reduce = best(lambda: read_pods(pods_run), args.repeat)
        pods_plot = best(lambda: plot_run(pods_run, out, ("html",)), args.repeat)
    print(
        f"node file: {args.rows:,} rows, {args.nodes} nodes, {size_mb:.0f} MB; {args.steps} steps"
    )
    print(f"polars read_csv (node file)        {read:7.2f} s")
    print(f"viz plot, html only, in-process    {html_only:7.2f} s")
    print(f"viz plot, html + {pngs} png, in-process {with_png:7.2f} s")
    for name, sec in breakdown.items():
        print(f"    {name:<32}  {sec:7.2f} s")
    print(f"viz plot, html only, command       {command:7.2f} s   (interpreter and imports too)")
    print(f"python -c pass                     {bare:7.3f} s")
    print(f"viz --help                         {help_s:7.3f} s")
    print(f"pod file: {args.pods:,} pods x {args.pod_samples:,} samples, {pods_mb:.0f} MB")
    print(f"polars read_csv (pod file)         {pods_read:7.2f} s")
    print(f"viz.pods.read_pods (one row a pod) {pods_reduce:7.2f} s")
    print(f"viz plot html, run with pod file   {pods_plot:7.2f} s")
    ratios = {
        "html_only": html_only / read,
        "html_png": with_png / read,
        "command": command / read,
        "help": help_s / bare,
        "pods_reduce": pods_reduce / pods_read,
        "pods_plot": pods_plot / pods_read,
    }
    print("targets, each a ratio measured in this run:")
    print(f"  viz plot html only / polars read   {ratios['html_only']:5.2f}x  (target <= {TARGET_HTML:g}x: "
          f"{'met' if ratios['html_only'] <= TARGET_HTML else 'NOT met'})")  # fmt: skip
    print(f"  viz --help / bare interpreter      {ratios['help']:5.2f}x  (target < {TARGET_HELP:g}x: "
          f"{'met' if ratios['help'] < TARGET_HELP else 'NOT met'})")  # fmt: skip
    print(f"  viz plot html + png / polars read  {ratios['html_png']:5.2f}x  (no target)")
    print(f"  viz plot command / polars read     {ratios['command']:5.2f}x  (no target)")
    print(f"  pods: read_pods / polars read      {ratios['pods_reduce']:5.2f}x  (no target)")
    print(f"  pods: viz plot html / polars read  {ratios['pods_plot']:5.2f}x  (target <= {TARGET_PODS:g}x: "
          f"{'met' if ratios['pods_plot'] <= TARGET_PODS else 'NOT met'})")  # fmt: skip
    figures = {
        "rows": args.rows,
        "polars_read_s": read,
        "viz_plot_html_only_s": html_only,
        "viz_plot_html_png_s": with_png,
        "viz_plot_command_s": command,
        "bare_python_s": bare,
        "viz_help_s": help_s,
        "pod_rows": args.pods * args.pod_samples,
        "pods_polars_read_s": pods_read,
        "pods_read_pods_s": pods_reduce,
        "pods_viz_plot_html_s": pods_plot,
        **{f"ratio_{k}": v for k, v in ratios.items()},
    }
    print(json.dumps({k: round(v, 3) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
