"""The engine: raise replicas step by step, observe, record, and stop for a stated reason.

It runs one run. It knows only the ``Cluster`` protocol and a ``NodeSource``; simulated or real
is the caller's business. All time goes through ``cluster.clock``, so in simulation every wait is
virtual. What a step does between the raise and the observation is the mode's (``scaler.modes``);
when to end is the stop rules' (``scaler.stops``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

import numpy as np

from collectors.sample import NodeSource, drain_pods
from scaler import metadata
from scaler.clock import Clock
from scaler.cluster import Cluster, ClusterError, ClusterInfo, ClusterUnresponsive, PodCounts
from scaler.config import RunConfig
from scaler.modes import Mode, mode_for
from scaler.node_sums import NodeSums, fresh_samples, node_sums
from scaler.pod_join import PodJoin
from scaler.recorder import Recorder, StepRow, iso_utc
from scaler.source_agreement import SourceAgreement
from scaler.stops import (
    Duration,
    EndReason,
    MaxReplicas,
    StepState,
    StopFlag,
    StoppedGaining,
    StopRule,
)
from viz.figures import Figure, RunFigures
from viz.figures import StopRule as GainRule
from viz.overhead import PodOverheads

T = TypeVar("T")
# The pod counts that are also run.csv columns, by name (a PodCounts field with a StepRow
# column of the same name is written without listing it here).
COUNT_COLUMNS = tuple(f.name for f in fields(PodCounts)
                      if f.name in {g.name for g in fields(StepRow)})


@dataclass
class RunResult:
    end_reason: EndReason
    steps: int
    summary: dict[str, Any]
    error: str | None = None
    prepared: bool = False  # False: the cluster refused the set-up, nothing was measured


def run_figures(cfg: RunConfig) -> RunFigures:
    """The figures of a run (knee, free-memory crossing, stop), fed one step at a time."""
    return RunFigures(GainRule(min_steps=cfg.stop_steps, min_seconds=cfg.stop_window_s,
                               fraction=cfg.stop_fraction))


def stop_rules(cfg: RunConfig, figures: RunFigures) -> list[StopRule]:
    """The rules a run is stopped by, in the order their reasons win when several agree."""
    rules: list[StopRule] = [MaxReplicas(cfg.max_replicas)]
    if cfg.duration_s is not None:
        rules.append(Duration(cfg.duration_s))
    rules.append(StoppedGaining(figures, cfg.beyond))
    return rules


def figure_summary(f: Figure) -> dict[str, Any]:
    return {"step": None if f.step is None else int(f.step), "method": f.method}


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values), q)) if values else None


@dataclass
class _Progress:
    """Where the run is: what the summary is made of."""

    step: int = 0
    requested: int = 0
    max_running: int = 0
    max_running_step: int = 0
    most: dict[str, int] = field(default_factory=dict)  # highest pending, creating, ...
    last: PodCounts = field(default_factory=PodCounts)

    def observed(self, row: StepRow) -> None:
        if row.running > self.max_running:
            self.max_running, self.max_running_step = row.running, row.step
        for name in ("pending", "creating", "terminating", "evicted_listed"):
            self.most[name] = max(self.most.get(name, 0), getattr(row, name))


class Engine:
    def __init__(
        self,
        cluster: Cluster,
        config: RunConfig,
        recorder: Recorder,
        nodes: NodeSource | None = None,
        *,
        stop: StopFlag | None = None,
        on_step: Callable[[StepRow], None] | None = None,
        on_prepared: Callable[[ClusterInfo], None] | None = None,
        meta: dict[str, Any] | None = None,
        info: ClusterInfo | None = None,
        node_stale_s: float = 10.0,
        source_names: tuple[str, ...] = (),
        agreement: SourceAgreement | None = None,
    ):
        self.cluster = cluster
        self.clock: Clock = cluster.clock
        self.config = config
        self.recorder = recorder
        self.nodes = nodes
        self.stop = stop or StopFlag()
        self.on_step = on_step
        self.on_prepared = on_prepared
        self.info = info
        self.meta_base = dict(meta or {})
        self.node_stale_s = node_stale_s
        self.mode: Mode = mode_for(config)
        self.figures = run_figures(config)
        self.rules = stop_rules(config, self.figures)
        self._startups: list[float] = []
        self._pods = PodJoin(config.workload.runtime, 0.0)
        # The node source's name (run.nodes.csv's ``source``), or each one's when a source
        # drains them apart (``drain_labelled``, scaler.node_sources.TwoSources): the first
        # one's figures make run.csv's and the measured overhead.
        self.source_names = source_names
        self.agreement = agreement  # two sources: how far they disagree
        # The measured pod overhead (viz.overhead), from the first source's pod figures,
        # against the RuntimeClass's declared one.
        self._overheads = PodOverheads()
        self._declared_mib: float | None = None

    # -- what a mode may use (scaler.modes.StepIO) -------------------------------------------

    def wait(self, seconds: float) -> None:
        """Let time pass in slices, so signals are honoured and node samples keep flowing."""
        end = self.clock.monotonic() + seconds
        while self.stop.reason is None:
            left = end - self.clock.monotonic()
            if left <= 0:
                break
            self.clock.sleep(min(left, 1.0))
            self._drain_nodes()

    def observe(self) -> tuple[PodCounts, float]:
        counts, took = self._timed(self.cluster.observe)
        self._startups.extend(counts.startup_s)
        return counts, took

    # -- helpers ---------------------------------------------------------------------------

    def _drain_nodes(self) -> None:
        if self.nodes is None:
            return
        labelled = getattr(self.nodes, "drain_labelled", None)
        batches = labelled() if labelled is not None else [
            (self.source_names[0] if self.source_names else "", self.nodes.drain())]
        for name, samples in batches:
            self.recorder.write_nodes(samples, name)
            if self.agreement is not None:
                self.agreement.add_nodes(name, samples)

    def _record_pods(self, now: float) -> None:
        """run.pods.csv: the pods' lifecycle changes from the cluster, joined with the pod
        measurements the node source took since the previous step (sources that cannot see
        pods give none)."""
        measured = drain_pods(self.nodes) if self.nodes is not None else []
        rows = self._pods.rows(self.cluster.pod_lifecycles(), measured, now)
        self.recorder.write_pods(rows)
        primary = self.source_names[0] if len(self.source_names) > 1 else None
        if self.agreement is not None:
            self.agreement.add_pods(row.memory for row in rows if row.memory is not None)
        for row in rows:
            m = row.memory
            if m is not None and primary in (None, m.source):
                self._overheads.add(m.uid, row.state.pod_class, m.cgroup_mib,
                                    m.overhead_cgroup_mib, m.workload_mib)

    def status_notes(self) -> list[str]:
        """What the status line adds to the step's counts: the measured overhead, when its
        median is over the declared one."""
        stats = self._overheads.stats()
        if stats is None or not stats.exceeds(self._declared_mib):
            return []
        return [f"overhead {stats.median_mib:.0f} MiB > declared {self._declared_mib:.0f} MiB"]

    def _node_sums(self, now: float) -> NodeSums:
        """Memory, work and CPU over the nodes whose newest sample is fresh and ok."""
        latest = self.nodes.latest().values() if self.nodes is not None else ()
        return node_sums(fresh_samples(latest, now, self.node_stale_s))

    def _timed(self, fn: Callable[..., T], *args: Any) -> tuple[T, float]:
        t = self.clock.monotonic()
        out = fn(*args)
        took = self.clock.monotonic() - t
        if took > self.config.op_timeout_s:
            raise ClusterUnresponsive(
                f"{fn.__name__} took {took:.1f} s, over --op-timeout {self.config.op_timeout_s:g} s"
            )
        return out, took

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> RunResult:
        cfg = self.config
        info = self.info or self.cluster.describe()
        wall0 = time.monotonic()
        start = self.clock.now()
        self.recorder.t0 = start
        self._pods.t0 = start
        meta = metadata.initial(cfg, info, self.recorder, self.meta_base, start)
        self.recorder.write_meta(meta)

        progress = _Progress()
        end_reason: EndReason | None = None
        error: str | None = None
        prepared = False
        try:
            if self.nodes is not None:
                self.nodes.start()
            with self.stop.interruptions_allowed():
                self.cluster.prepare(cfg.workload)
                prepared = True
                # What prepare created (a RuntimeClass, the namespace) is only visible now.
                info = self.cluster.describe()
            meta["cluster"]["runtime_class"] = info.runtime_class
            meta["runtime_handler"] = info.runtime_handler()
            self._declared_mib = metadata.declared_overhead_mib(info.runtime_class)
            meta["vm_memory_mib"] = info.vm_memory_mib
            meta["cluster"]["nodes"] = metadata.cluster_section(info)["nodes"]
            if self.on_prepared:
                self.on_prepared(info)
            end_reason = self._steps(progress, start)
        except ClusterUnresponsive as e:
            end_reason, error = EndReason.UNRESPONSIVE, str(e)
        except ClusterError as e:
            # A call cut short by the stop (its client killed by the same Ctrl-C) is the stop.
            end_reason, error = self.stop.reason or EndReason.CLUSTER_ERROR, str(e)
        except KeyboardInterrupt:
            end_reason = self.stop.reason or EndReason.INTERRUPTED
        finally:
            if end_reason is None:  # an unexpected exception is propagating
                end_reason = EndReason.CRASHED
            if prepared:
                self._last_pods()
            cleanup = self._cleanup()
            if self.nodes is not None:
                try:
                    self._drain_nodes()
                finally:
                    self.nodes.stop()
            summary = self._summary(end_reason, progress, info, start, wall0)
            meta.update({
                "ended": iso_utc(self.clock.now()),
                "end_reason": end_reason,
                "error": error,
                "cleanup": cleanup,
                "steps": progress.step,
                "rows": self.recorder.rows,
                "node_rows": self.recorder.node_rows,
                "pod_rows": self.recorder.pod_rows,
                "pod_records": asdict(self._pods.stats),
                "summary": summary,
                "cluster_stats": metadata.stats_of(self.cluster),
                "collector_stats": metadata.stats_of(self.nodes),
            })
            self.recorder.write_meta(meta)
            self.recorder.close()
        return RunResult(end_reason, progress.step, summary, error, prepared)

    def _steps(self, p: _Progress, start: float) -> EndReason:
        """Step until a stop rule or the stop flag says why not to go on."""
        cfg = self.config
        m0 = self.clock.monotonic()
        while True:
            if self.stop.reason:
                return self.stop.reason
            p.step += 1
            p.requested = min(p.requested + cfg.step, cfg.max_replicas)
            self._startups = []
            t_step = self.clock.monotonic()
            with self.stop.interruptions_allowed():
                _, scale_s = self._timed(self.cluster.scale, p.requested)
                p.last, observe_s = self.mode.settle(self, p.requested, t_step)
            row = self._record(p, start, scale_s, observe_s, t_step)
            p.observed(row)
            self.figures.update(row.step, row.elapsed_s, row.requested, row.running,
                                row.mem_free_mib, row.nodes_sampled)
            state = StepState(step=p.step, requested=p.requested, running=row.running,
                              elapsed_s=self.clock.monotonic() - m0)
            reasons = [rule.check(state) for rule in self.rules]  # every rule sees every step
            reason = next((r for r in reasons if r is not None), None)
            if reason is not None:
                return reason

    def _last_pods(self) -> None:
        """The pod measurements and changes since the last step, before the clean-up."""
        try:
            self._record_pods(self.clock.now())
        except (ClusterError, OSError, KeyboardInterrupt):
            pass  # the run's end is decided and its rows stay; the clean-up must still run

    def _record(self, p: _Progress, start: float, scale_s: float, observe_s: float,
                t_step: float) -> StepRow:
        self._drain_nodes()
        now = self.clock.now()
        self._record_pods(now)
        sums = self._node_sums(now)
        row = StepRow(
            time=now, elapsed_s=now - start, step=p.step,
            runtime=self.config.workload.runtime, scenario=self.config.recorded_scenario,
            mode=self.config.mode, requested=p.requested,
            scale_s=scale_s, observe_s=observe_s, step_s=self.clock.monotonic() - t_step,
            startup_p50_s=_percentile(self._startups, 50),
            startup_p99_s=_percentile(self._startups, 99),
            **{f.name: getattr(sums, f.name) for f in fields(NodeSums)},
            **{name: getattr(p.last, name) for name in COUNT_COLUMNS},
        )
        self.recorder.write_step(row)
        if self.on_step:
            self.on_step(row)
        return row

    def _summary(self, end_reason: EndReason, p: _Progress, info: ClusterInfo, start: float,
                 wall0: float) -> dict[str, Any]:
        last = p.last
        return {
            "end_reason": end_reason,
            "steps": p.step,
            "final_requested": p.requested,
            "max_running": p.max_running,
            "max_running_step": p.max_running_step,
            # What the cluster did (viz.figures; viz finds the same on the file).
            "figures": {name: figure_summary(f) for name, f in self.figures.figures().items()},
            "free_threshold_mib": self.figures.free.threshold_mib,
            # Where the pods were at the end, and the most ever stuck in each state.
            "final": {"running": last.running, "pending": last.pending,
                      "creating": last.creating, "terminating": last.terminating,
                      "failed": last.failed},
            "max_pending": p.most.get("pending", 0),
            "max_creating": p.most.get("creating", 0),
            "max_terminating": p.most.get("terminating", 0),
            # Failure modes, cumulative over the run except the listed evictions.
            "max_evicted": last.evicted,
            "max_evicted_listed": p.most.get("evicted_listed", 0),
            "max_oom_killed": last.oom_killed,
            "restarts": last.restarts,
            "sandbox_deaths": last.sandbox_deaths,
            "sandbox_failures": last.sandbox_failures,
            "failed_create": last.failed_create,
            "failed_scheduling": last.failed_scheduling,
            "api_errors": last.api_errors,
            # What a pod cost its node beyond its workload, against the declared podFixed.
            "overhead": self._overhead_summary(info),
            # --node-source both: how far the two sources disagree.
            "source_agreement": None if self.agreement is None else self.agreement.summary(),
            "elapsed_s": round(self.clock.now() - start, 3),
            "wall_s": round(time.monotonic() - wall0, 3),
            "cluster": info.kind,
            "output": str(self.recorder.csv_path),
        }

    def _overhead_summary(self, info: ClusterInfo) -> dict[str, Any] | None:
        stats = self._overheads.stats()
        if stats is None:
            return None
        return {"runtime": self.config.workload.runtime, "pods": stats.pods,
                "median_mib": round(stats.median_mib, 1), "p90_mib": round(stats.p90_mib, 1),
                "max_mib": round(stats.max_mib, 1), "declared_mib": self._declared_mib,
                "vm_memory_mib": info.vm_memory_mib,
                "exceeds_declared": stats.exceeds(self._declared_mib)}

    def _cleanup(self) -> str:
        try:
            self.cluster.cleanup(keep=self.config.keep)
            return "kept" if self.config.keep else "done"
        except (ClusterError, OSError) as e:
            return f"failed: {e}"
        except KeyboardInterrupt:
            return "failed: interrupted during cleanup"
