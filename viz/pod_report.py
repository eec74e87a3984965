"""The per-pod cost figures of one run (issue 14.4, 14.6) from its run.pods.csv, and the verdict
on the declared overhead. A run without the file says "not recorded" for each, never 0."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from viz import podcost
from viz.analysis import Finding
from viz.pods import PodTable, pods_path, sources_without_workload
from viz.run import Run

if TYPE_CHECKING:
    from viz.report import Report

LABELS: dict[str, str] = {
    "pods_measured": "pods measured (running, with memory samples)",
    "pod_host": "host memory per pod, median",
    "pod_workload": "workload's own resident set per pod, median",
    "overhead_median": "measured overhead per pod, median",
    "overhead_p90": "measured overhead per pod, p90",
    "overhead_max": "measured overhead per pod, max",
    "declared_overhead": "declared overhead (RuntimeClass podFixed)",
    "suggested_pod_fixed": "suggested podFixed",
    "vm_memory": "VM configured memory",
}
PER_POD = "each pod: its last measurement while running (viz.overhead)"
OVERHEAD = "host memory (pod cgroup + kata overhead cgroup) - the workload's own resident set"


def own_pods(run: Run, pods: PodTable) -> pl.DataFrame:
    """The pods of the run's own runtime (all of them when the file names none or another)."""
    frame = pods.frame
    name = run.meta.runtime
    mine = frame.filter(pl.col("runtime") == name) if name else frame
    return mine if mine.height else frame


def _values(frame: pl.DataFrame, column: str) -> np.ndarray:
    return frame[column].cast(pl.Float64).drop_nulls().to_numpy()


def pod_figures(run: Run, pods: PodTable | None) -> dict[str, Finding]:
    meta = run.meta
    declared = Finding(
        meta.declared_overhead_mib, "MiB",
        "memory of the run's RuntimeClass overhead.podFixed (metadata cluster.runtime_class)"
        + ("" if meta.declared_overhead_mib is not None else
           " (none: the default runtime has no RuntimeClass, or it declares no memory)"),
    )  # fmt: skip
    vm = Finding(meta.vm_memory_mib, "MiB", "the VM's configured memory (metadata vm_memory_mib)"
                 + ("" if meta.vm_memory_mib is not None else " (not a VM runtime, or not learnt)"))  # fmt: skip
    if pods is None:
        why = _why_no_pods(run)
        out = {k: Finding(None, "pods" if k == "pods_measured" else "MiB", f"{LABELS[k]} ({why})",
                          recorded=False) for k in LABELS}  # fmt: skip
        out["declared_overhead"], out["vm_memory"] = declared, vm
        return out
    frame = own_pods(run, pods)
    overhead = _values(frame, "overhead")
    stats = podcost.stats(overhead)
    assert stats is not None  # read_pods returns None for a file without running pods
    where = f"{PER_POD}; percentiles {podcost.PERCENTILE_METHOD}"
    suggestion = podcost.suggest_pod_fixed(overhead)
    assert suggestion is not None
    return {
        "pods_measured": Finding(float(frame.height), "pods",
                                 f"pods with memory samples while running (sources: {', '.join(pods.sources)})"),
        "pod_host": Finding(float(np.median(_values(frame, "host"))), "MiB",
                            f"median over pods of the pod cgroup's memory + kata's overhead cgroup; {PER_POD}"),
        "pod_workload": Finding(float(np.median(_values(frame, "workload"))), "MiB",
                                f"median over pods of the workload's resident set; {PER_POD}"),
        "overhead_median": Finding(stats.median_mib, "MiB", f"median of {OVERHEAD}; {where}"),
        "overhead_p90": Finding(stats.p90_mib, "MiB", f"90th percentile of {OVERHEAD}; {where}"),
        "overhead_max": Finding(stats.max_mib, "MiB", f"largest {OVERHEAD}; {PER_POD}"),
        "declared_overhead": declared,
        "suggested_pod_fixed": Finding(
            suggestion[0], "MiB",
            f"the {podcost.SUGGEST_PERCENTILE:.0f}th percentile of the measured overhead rounded up "
            f"to {podcost.SUGGEST_STEP_MIB:.0f} MiB: covers {100 * suggestion[1]:.0f}% of the pods",
        ),
        "vm_memory": vm,
    }  # fmt: skip


def _why_no_pods(run: Run) -> str:
    if run.meta.node_source == "none":
        return "the run had no node source (--node-source none): no pod was measured"
    if not pods_path(run.path).exists():
        return "no run.pods.csv beside the run"
    blind = sources_without_workload(run.path)
    if blind == ["kubelet"]:
        return ("the kubelet source measured the pods' host memory but not their workload's own "
                "resident set: cAdvisor sees no container cgroup of a VM's pod on the host (kata's "
                "known blind spot), so host memory cannot be split into workload and overhead; "
                "measure with --node-source ssh (or both)")
    if blind:
        return (f"source(s) {', '.join(blind)} measured the pods' host memory but not their "
                "workload's own resident set: no overhead to compute")
    return "no running pod with memory samples in run.pods.csv"


def pod_verdict(run: Run, pods: PodTable | None) -> str:
    """The report's sentence on measured vs declared overhead."""
    if pods is None:
        return f"measured overhead: not recorded ({_why_no_pods(run)})"
    frame = own_pods(run, pods)
    host = _values(frame, "host")
    return podcost.verdict(
        _values(frame, "overhead"), run.meta.declared_overhead_mib,
        default_runtime=run.meta.is_default_runtime, vm_memory_mib=run.meta.vm_memory_mib,
        host_max_mib=float(host.max()) if host.size else None,
    )  # fmt: skip


def pooled_pods(reports: Sequence[Report]) -> pl.DataFrame | None:
    """Every pod of the runs (repeats of one configuration), each of its run's own runtime."""
    frames = [own_pods(r.run, r.pods) for r in reports if r.pods is not None]
    return pl.concat(frames, how="vertical_relaxed") if frames else None


def pooled_verdict(reports: Sequence[Report]) -> str | None:
    """The verdict over every pod of the runs; None when none recorded pods."""
    frame = pooled_pods(reports)
    if frame is None:
        return None
    meta = reports[0].run.meta
    host = _values(frame, "host")
    return podcost.verdict(
        _values(frame, "overhead"), meta.declared_overhead_mib,
        default_runtime=meta.is_default_runtime, vm_memory_mib=meta.vm_memory_mib,
        host_max_mib=float(host.max()) if host.size else None,
    )  # fmt: skip
