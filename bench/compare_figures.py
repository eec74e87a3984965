"""Old saturation figures vs viz.figures, on every published memory run and on simulated runs.

    python bench/compare_figures.py [--no-sim]

For each run: its maximum running count and the first step reaching it, the first step reaching
95% of it, viz's old tracking saturation, the knee, the step where the engine's old detector
would have ended the run (default --saturation-steps 10, --saturation-window 60s, --beyond 30),
the step where the new stop rule is met (with the running maximum up to it), and the first step
with total free memory under 1 GiB. Simulated runs are made with ``python -m scaler run``
(fixed-interval and no-wait, runc and kata, the whole 1000 steps) in a temporary directory.
Figures only, no timing: nothing here depends on the machine's load.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from viz import figures as fg
from viz.read import load_run
from viz.reference import RUNS


def tracking_saturation(step, requested, running):
    """viz's old saturation figure, if it is still there (it was replaced by the knee)."""
    try:
        from viz.analysis import tracking_saturation as old
    except ImportError:
        return fg.Figure(None, None, "gone")
    return old(step, requested, running)


def old_engine_stop(step, t, requested, running) -> float | None:
    """Replay of the engine's previous detector (scaler.engine.Saturation), if it is still
    there: the step at which it would have ended the run."""
    try:
        from scaler.engine import Saturation
    except ImportError:
        return None
    sat = Saturation(10, 60.0)
    for i in range(len(step)):
        grew = i == 0 or requested[i] > requested[i - 1]
        if sat.update(int(step[i]), float(t[i]), int(running[i]), grew) and \
                step[i] - sat.detected_step >= 30:
            return float(step[i])
    return None


def row(name: str, path: Path) -> str:
    df = load_run(path).steps
    get = {c: df[c].to_numpy().astype(float) for c in
           ("step", "elapsed_s", "requested", "running", "mem_free_mib", "nodes_sampled")}
    s, t, req, run = get["step"], get["elapsed_s"], get["requested"], get["running"]
    top = int(np.nanargmax(run))
    r95 = int(np.argmax(run >= 0.95 * run[top]))
    nodes = 5 if load_run(path).meta.source_format == "original" else None
    figs = fg.figures_of(s, t, req, run, get["mem_free_mib"], sampled=get["nodes_sampled"],
                         nodes=nodes)
    stop = figs["stop"]
    at_stop = f"{run[: stop.index + 1].max():.0f}" if stop.index is not None else "-"

    def show(x: float | None) -> str:
        return "-" if x is None else f"{x:.0f}"

    return (f"| {name} | {len(s)} | {run[top]:.0f} @ {s[top]:.0f} | {s[r95]:.0f} | "
            f"{show(tracking_saturation(s, req, run).step)} | {show(figs['knee'].step)} | "
            f"{show(old_engine_stop(s, t, req, run))} | {show(stop.step)} ({at_stop}) | "
            f"{show(figs['free_below'].step)} |")


def simulate(directory: Path) -> list[tuple[str, Path]]:
    out = []
    for mode in ("fixed-interval", "no-wait"):
        for runtime in ("runc", "kata"):
            path = directory / f"{runtime}-{mode}.csv"
            subprocess.run([sys.executable, "-m", "scaler", "run", "--runtime", runtime,
                            "--mode", mode, "-q", "--max-replicas", "1000", "--beyond", "999",
                            "-o", str(path)], check=True)
            out.append((f"simulated {runtime} {mode}", path))
    return out


def main() -> None:
    print("| run | steps | max running @ step | 95% of max at | old viz saturation | knee | "
          "old engine stop | new stop (max running by then) | free < 1 GiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, ref in sorted(RUNS.items()):
        if ref.kind == "memory":
            print(row(name, ref.path))
    if "--no-sim" in sys.argv:
        return
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in simulate(Path(tmp)):
            print(row(name, path))
    print(f"\nknee: {fg.knee_method()}\nstop: {fg.StopRule().method}\n"
          f"free: {fg.free_method(fg.DEFAULT_FREE_THRESHOLD_MIB)}")


if __name__ == "__main__":
    main()
