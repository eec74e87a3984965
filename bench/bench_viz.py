"""Benchmark: `viz plot` on a 1,000,000-row node-sample file vs polars alone reading it.

Writes a synthetic run in the data contract (a run.csv of --steps steps and a run.nodes.csv of
--rows node samples from --nodes nodes at 1 Hz, with occasional reconnect gaps) to a temporary
directory, then measures, each the best of --repeat runs (the machine may be shared: the minimum
is the least disturbed estimate of what the work itself costs):

1. ``polars read``: ``polars.read_csv`` of the node file alone (the floor: viz must read it);
2. ``viz plot (in-process)``: ``viz.plot.plot_run`` end to end (read, analyse, aggregate,
   render every chart to PNG and the offline HTML report), with a per-phase breakdown;
3. ``viz plot (command)``: ``python -m viz plot`` as a user runs it, interpreter start included.

The closing lines give the viz times as ratios to the polars read time. Rendering PNGs costs the
same whatever the row count (charts are aggregated first), so the "data path" ratio (read,
analyse, aggregate) is the one that grows with the file.

    python bench/bench_viz.py [--rows 1000000] [--nodes 5] [--steps 2000] [--repeat 3]
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
from viz.export import html_page, save_image  # noqa: E402
from viz.plot import plot_run  # noqa: E402
from viz.read import load_run  # noqa: E402
from viz.report import analyse_run  # noqa: E402


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
    charts, _ = run_charts(report)
    t["build charts"] = time.perf_counter() - start
    start = time.perf_counter()
    for name, chart in charts.items():
        save_image(chart, out / f"phase.{name}.png", "png")
    t["png export"] = time.perf_counter() - start
    start = time.perf_counter()
    html_page("bench", "", "", charts, [])
    t["html page"] = time.perf_counter() - start
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        run_csv = write_inputs(tmp_dir, args.rows, args.nodes, args.steps)
        nodes_csv = tmp_dir / "bench.nodes.csv"
        size_mb = nodes_csv.stat().st_size / 1e6
        out = tmp_dir / "out"
        out.mkdir()
        read = min(timed(lambda: pl.read_csv(nodes_csv)) for _ in range(args.repeat))
        plot_run(run_csv, out, ("html", "png"))  # warm-up: builds the cached JS bundle once
        inproc = min(
            timed(lambda: plot_run(run_csv, out, ("html", "png"))) for _ in range(args.repeat)
        )
        html_only = min(
            timed(lambda: plot_run(run_csv, out, ("html",))) for _ in range(args.repeat)
        )
        cmd = [sys.executable, "-m", "viz", "plot", str(run_csv), "-o", str(out)]
        cmd += ["--format", "html,png"]
        command = min(
            timed(lambda: subprocess.run(cmd, cwd=REPO, check=True, capture_output=True))
            for _ in range(args.repeat)
        )
        runs = [phases(run_csv, out) for _ in range(args.repeat)]
        breakdown = {k: min(r[k] for r in runs) for k in runs[0]}
    data_path = breakdown["read"] + breakdown["analyse"] + breakdown["aggregate nodes"]
    print(
        f"node file: {args.rows:,} rows, {args.nodes} nodes, {size_mb:.0f} MB; {args.steps} steps"
    )
    print(f"polars read_csv (node file)     {read:7.2f} s")
    print(f"viz plot, in-process            {inproc:7.2f} s   (html + 5 png)")
    for name, sec in breakdown.items():
        print(f"    {name:<26}  {sec:7.2f} s")
    print(f"viz plot, in-process, html only {html_only:7.2f} s")
    print(f"viz plot, command               {command:7.2f} s   (interpreter, imports, bundle)")
    print(
        f"ratio to polars read: viz plot in-process {inproc / read:.1f}x, html only "
        f"{html_only / read:.1f}x, command {command / read:.1f}x; data path (read + analyse + "
        f"aggregate) {data_path / read:.1f}x"
    )
    figures = {
        "rows": args.rows,
        "polars_read_s": read,
        "viz_plot_inprocess_s": inproc,
        "viz_plot_html_only_s": html_only,
        "viz_plot_command_s": command,
        "data_path_s": data_path,
        "ratio_inprocess": inproc / read,
        "ratio_html_only": html_only / read,
        "ratio_command": command / read,
        "ratio_data_path": data_path / read,
    }
    print(json.dumps({k: round(v, 3) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
