"""The in-memory form of one recorded run, whatever file format it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

#: The runtime name of the cluster's default RuntimeClass in new files (contract 2); old files
#: and the published runs call it "runc". Either is the comparison baseline unless told otherwise.
DEFAULT_RUNTIMES = ("default", "runc")

#: End reasons that mean the run did not finish as planned, and how to say so on every chart.
#: "running" is what the metadata says until the run ends: still there, it crashed or is going on.
ABNORMAL_ENDS = {
    "interrupted": "interrupted",
    "terminated": "interrupted",
    "cluster-unresponsive": "failed",
    "cluster-error": "failed",
    "crashed": "failed",
    "running": "incomplete",
}


@dataclass(frozen=True)
class RunMeta:
    """What was run, for titles, labels and pairing. Every field may be unknown (None) in old
    files; the reader fills what it can from the CSV's own columns and the file name."""

    runtime: str | None = None
    scenario: str | None = None
    mode: str | None = None
    cluster_kind: str | None = None  # "simulated", "openshift", "original method", ...
    date: str | None = None  # ISO date (YYYY-MM-DD) of the start, when recorded
    end_reason: str | None = None
    source_format: str = "scaler"  # "scaler" or "original"
    notes: tuple[str, ...] = ()
    runtime_handler: str | None = None  # the handler the default runtime ran (contract 2)
    simulated_flag: bool | None = None  # metadata cluster.simulated (contract 5), the truth
    workload_label: str | None = None  # what differs from the scenario's workload (contract 5)
    workload: str | None = None  # the workload's settings in words, e.g. "CPU 5%, memory 500 MiB"
    group: str | None = None  # repeats of one configuration share it (contract 7)
    repeat_index: int | None = None
    repeat_count: int | None = None
    seed: int | None = None
    reference: str | None = None  # name of a published run (viz.reference), when it is one
    node_source: str | None = None  # "ssh", "kubelet", "sim", "none" (contract 10)
    declared_overhead_mib: float | None = None  # the RuntimeClass's overhead.podFixed memory
    vm_memory_mib: float | None = None  # the VM's configured memory (VM runtimes)

    @property
    def simulated(self) -> bool | None:
        """True for the embedded simulator and for `scaler sim serve` (which a driver sees as
        a real API: only the metadata's ``cluster.simulated`` says it is a model)."""
        if self.simulated_flag is not None:
            return self.simulated_flag
        if self.cluster_kind is None:
            return None
        return self.cluster_kind == "simulated"

    @property
    def is_default_runtime(self) -> bool:
        return self.runtime in DEFAULT_RUNTIMES

    @property
    def runtime_label(self) -> str:
        """'default (runc)' when the default runtime's handler is known, else the name."""
        if self.runtime == "default" and self.runtime_handler:
            return f"default ({self.runtime_handler})"
        return self.runtime or "unknown runtime"

    @property
    def runtime_key(self) -> str | None:
        """The runtime as it ran, so a new default run (handler runc) pairs with an old runc
        one: the handler of the default runtime when known, else the name."""
        if self.runtime == "default" and self.runtime_handler:
            return self.runtime_handler
        return self.runtime

    @property
    def scenario_label(self) -> str | None:
        """The scenario, or for a custom workload "custom (what differs)" so two different
        workloads are never given the same name; where the CPU percent names the run, the
        workload's own label ("cpu 50%", "capacity cpu 10%"), which starts with the scenario."""
        if self.scenario == "custom" and self.workload_label:
            return f"custom ({self.workload_label})"
        if self.scenario and self.workload_label and self.workload_label.startswith(self.scenario):
            return self.workload_label
        return self.scenario

    @property
    def workload_key(self) -> tuple[str | None, str | None]:
        """Runs with equal keys ran the same workload (the basis of runtime-vs-runtime ratios):
        the scenario and what differs from it, else the workload's settings in words (files
        older than the "custom" label called a changed workload by its scenario's name)."""
        return (self.scenario, self.workload_label or self.workload)

    @property
    def status(self) -> str | None:
        """"complete", "interrupted", "failed", "incomplete", or None when not recorded."""
        if self.end_reason is None:
            return None
        return ABNORMAL_ENDS.get(self.end_reason, "complete")

    @property
    def abnormal(self) -> str | None:
        """A short warning for titles and legends when the run did not end as planned."""
        status = self.status
        if status in (None, "complete"):
            return None
        if status == "incomplete":
            return "incomplete: metadata still says running (crashed, or still going)"
        return status if status == self.end_reason else f"{status}: {self.end_reason}"

    def describe(self) -> str:
        """One line naming the run: runtime, scenario (or custom workload), mode."""
        parts = [self.runtime_label]
        parts += [p for p in (self.scenario_label, self.mode) if p]
        return ", ".join(parts)

    def provenance(self) -> str:
        """Where the numbers come from: simulated or real cluster, and when."""
        if self.simulated:
            if self.cluster_kind not in (None, "simulated"):
                where = (
                    f"simulated cluster (scaler sim serve, driven as {self.cluster_kind}; "
                    "model, not a measurement)"
                )
            else:
                where = "simulated cluster (model, not a measurement)"
        elif self.reference:
            where = f"published measurement {self.reference} (real cluster, original method)"
        elif self.cluster_kind:
            where = f"real cluster ({self.cluster_kind})"
        else:
            where = "cluster kind not recorded"
        return f"{where} · {self.date or 'date not recorded'}"


@dataclass(frozen=True)
class Run:
    """One run: per-step rows in the data-contract columns, optional node samples, metadata.

    ``steps`` always has ``step``, ``elapsed_s``, ``requested``, ``running`` (Float64) and
    ``mem_used_mib`` (possibly all null); other contract columns are present when the file had
    them. ``nodes`` has ``elapsed_s``, ``node`` and the ``mem_*_mib`` columns, or is None.
    """

    path: Path
    steps: pl.DataFrame
    nodes: pl.DataFrame | None
    meta: RunMeta
    used_method: str = field(default="")
    work_method: str = field(default="")  # how the work_rate column was obtained, for methods
    node_count: int | None = None  # nodes a complete memory total sums (original format: workers)

    @property
    def name(self) -> str:
        return self.path.stem
