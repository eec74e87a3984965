"""What `scaler run` tells the user in words: which cluster it drives, and how each run ended
(the figures of the run's summary, each named for what it is)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scaler.cluster import ClusterInfo
from scaler.config import RunConfig
from scaler.engine import RunResult
from scaler.stops import EndReason


def _a(word: str) -> str:
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _version(info: ClusterInfo) -> str:
    """The cluster's version without repeating its kind: the simulator's version string is
    "simulated (scaler 0.1.0, Kubernetes model 1.29)", already after "a simulated cluster"."""
    v = info.version
    lead = f"{info.kind} ("
    if v.startswith(lead) and v.endswith(")"):
        return v[len(lead):-1]
    return v


def announce(info: ClusterInfo, cfg: RunConfig) -> str:
    front = " [the simulator's API front, not a real cluster]" if (
        info.kind != "simulated" and info.details.get("simulator")) else ""
    runtime = cfg.workload.runtime
    handler = info.runtime_handler()
    if handler and handler != runtime:
        runtime += f" ({handler})"
    return (f"scaler: driving {_a(info.kind)} cluster ({_version(info)}, {len(info.nodes)} "
            f"nodes){front}, runtime {runtime}, workload {cfg.workload_label}, mode {cfg.mode}")


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _step(figure: dict[str, Any] | None) -> int | None:
    return None if not figure else figure.get("step")


def overhead_lines(o: dict[str, Any] | None) -> list[str]:
    """The measured pod overhead (viz.overhead) beside the declared one, and one line when the
    declared one under-states it."""
    if not o:
        return []
    declared = o.get("declared_mib")
    beside = [f"declared podFixed {'none' if declared is None else f'{declared:g} MiB'}"]
    if o.get("vm_memory_mib") is not None:
        beside.append(f"VM memory {o['vm_memory_mib']:g} MiB")
    lines = [f"overhead per pod (host memory minus the workload's, {_count(o['pods'], 'pod')} "
             f"running): median {o['median_mib']:.0f} MiB, p90 {o['p90_mib']:.0f}, max "
             f"{o['max_mib']:.0f}; {'; '.join(beside)}"]
    if o.get("exceeds_declared"):
        lines.append(f"the measured overhead exceeds the declared podFixed by "
                     f"{o['median_mib'] - declared:.0f} MiB at the median: the scheduler reserves "
                     f"{declared:g} MiB per pod for it, the node pays {o['median_mib']:.0f} MiB")
    return lines


def _apart(figure: dict[str, Any]) -> str:
    if not figure.get("pairs"):
        return "no measurements to pair"
    lean = figure["median_signed_rel_diff"]
    return (f"{100 * figure['median_rel_diff']:.1f}% apart at the median, at most "
            f"{100 * figure['max_rel_diff']:.1f}% (leaning {'+' if lean >= 0 else ''}"
            f"{100 * lean:.1f}%), {figure['pairs']} pairs")


def agreement_lines(a: dict[str, Any] | None) -> list[str]:
    """--node-source both: how far the second source's figures are from the first's."""
    if not a:
        return []
    return [f"{a['secondary']} vs {a['primary']}: node available memory "
            f"{_apart(a['node_available_mib'])}; pod memory {_apart(a['pod_memory_mib'])}"]


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
        f"end: {res.end_reason} after {_count(res.steps, 'step')} ({s['elapsed_s']:.0f} s {clock}, "
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
        *overhead_lines(s.get("overhead")),
        *agreement_lines(s.get("source_agreement")),
        f"wrote {path}",
    ]
    if res.error:
        lines.insert(1, f"error: {res.error}")
    return "\n".join(lines)


# What to check when the cluster ended a run, by end reason: the one line a failed run exits with.
_CHECK = {
    EndReason.UNRESPONSIVE: ("the cluster stopped answering",
                             "check that the API server is up and not overloaded "
                             "(kubectl get --raw /readyz) and your connection to it, or raise "
                             "--op-timeout"),
    EndReason.CLUSTER_ERROR: ("the cluster failed the run",
                              "check the error above, the namespace's events (kubectl get events "
                              "-n {namespace}) and your permissions there"),
}


def cluster_failure(res: RunResult, path: Path, namespace: str) -> str | None:
    """One line for a run the cluster ended (``cluster-unresponsive``, ``cluster-error``): what
    happened, after how many steps, and what to check; None for any other end."""
    found = _CHECK.get(EndReason(res.end_reason))
    if found is None:
        return None
    what, check = found
    why = f"; {res.error}" if res.error else ""
    return (f"{what}: {res.end_reason} after {_count(res.steps, 'step')} ({path.name}{why}); "
            f"{check.format(namespace=namespace)}")
