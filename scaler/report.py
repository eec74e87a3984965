"""What `scaler run` tells the user in words: which cluster it drives, and how each run ended
(the figures of the run's summary, each named for what it is)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scaler.cluster import ClusterInfo
from scaler.config import RunConfig
from scaler.engine import RunResult


def _a(word: str) -> str:
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def announce(info: ClusterInfo, cfg: RunConfig) -> str:
    front = " [the simulator's API front, not a real cluster]" if (
        info.kind != "simulated" and info.details.get("simulator")) else ""
    runtime = cfg.workload.runtime
    handler = info.runtime_handler()
    if handler and handler != runtime:
        runtime += f" ({handler})"
    return (f"scaler: driving {_a(info.kind)} cluster ({info.version}, {len(info.nodes)} "
            f"nodes){front}, runtime {runtime}, workload {cfg.workload_label}, mode {cfg.mode}")


def _step(figure: dict[str, Any] | None) -> int | None:
    return None if not figure else figure.get("step")


def run_summary(res: RunResult, path: Path) -> str:
    """The end-of-run lines: why and when it ended, the figures, where the pods were, what
    failed, and the file."""
    s = res.summary
    figs = s.get("figures", {})
    knee, free, stop = (_step(figs.get(k)) for k in ("knee", "free_below", "stop"))
    threshold = s.get("free_threshold_mib", 1024)
    final = s.get("final", {})
    clock = "virtual" if s["cluster"] == "simulated" else "wall"
    most_listed = s.get("max_evicted_listed", 0)
    listed = f" (at most {most_listed} listed at once)" if most_listed else ""
    lines = [
        f"end: {res.end_reason} after {res.steps} steps ({s['elapsed_s']:.0f} s {clock}, "
        f"{s['wall_s']:.1f} s real)",
        f"max running {s['max_running']} at step {s['max_running_step']}; "
        f"knee {'at step ' + str(knee) if knee else 'not found'}; "
        f"free memory under {threshold:g} MiB {'at step ' + str(free) if free else 'never'}; "
        f"stopped gaining {'at step ' + str(stop) if stop else 'not seen'}",
        f"pods at the end: {final.get('running', 0)} running, {final.get('pending', 0)} pending, "
        f"{final.get('creating', 0)} creating, {final.get('terminating', 0)} terminating "
        f"(at most {s['max_pending']} pending, {s['max_creating']} creating, "
        f"{s['max_terminating']} terminating)",
        f"failures: evicted {s['max_evicted']}{listed}; OOM kills {s['max_oom_killed']}; "
        f"restarts {s['restarts']}; sandbox/VM deaths "
        f"{s['sandbox_deaths']}; sandbox failures {s['sandbox_failures']}; failed creations "
        f"{s['failed_create']}; failed scheduling {s['failed_scheduling']}",
        f"wrote {path}",
    ]
    if res.error:
        lines.insert(1, f"error: {res.error}")
    return "\n".join(lines)
