"""The engine: raise replicas step by step, observe, record, and stop for a stated reason.

It runs one run. It knows only the ``Cluster`` protocol and a ``NodeSource``; simulated or real
is the caller's business. All time goes through ``cluster.clock``, so in simulation every wait is
virtual. What a step does between the raise and the observation is the mode's (``scaler.modes``);
when to end is the stop rules' (``scaler.stops``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import numpy as np

from collectors.sample import NodeSource
from scaler import metadata
from scaler.clock import Clock
from scaler.cluster import Cluster, ClusterError, ClusterInfo, ClusterUnresponsive, PodCounts
from scaler.config import RunConfig
from scaler.modes import Mode, mode_for
from scaler.recorder import Recorder, StepRow, iso_utc
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

T = TypeVar("T")
MEMORY_SUMS = ("mem_total_mib", "mem_free_mib", "mem_available_mib", "mem_active_mib")
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
        if self.nodes is not None:
            self.recorder.write_nodes(self.nodes.drain())

    def _node_sums(self, now: float) -> tuple[dict[str, float | None], int]:
        """Memory summed over the nodes whose newest sample is fresh and ok, and their number."""
        latest = self.nodes.latest().values() if self.nodes is not None else ()
        fresh = [s for s in latest if s.ok and now - s.time <= self.node_stale_s]
        if not fresh:
            return dict.fromkeys(MEMORY_SUMS), 0

        def total(attr: str) -> float | None:
            vals = [getattr(s, attr) for s in fresh]
            return None if any(v is None for v in vals) else float(sum(vals))

        return {a: total(a) for a in MEMORY_SUMS}, len(fresh)

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

    def _record(self, p: _Progress, start: float, scale_s: float, observe_s: float,
                t_step: float) -> StepRow:
        self._drain_nodes()
        now = self.clock.now()
        sums, sampled = self._node_sums(now)
        row = StepRow(
            time=now, elapsed_s=now - start, step=p.step,
            runtime=self.config.workload.runtime, scenario=self.config.recorded_scenario,
            mode=self.config.mode, requested=p.requested,
            scale_s=scale_s, observe_s=observe_s, step_s=self.clock.monotonic() - t_step,
            nodes_sampled=sampled,
            startup_p50_s=_percentile(self._startups, 50),
            startup_p99_s=_percentile(self._startups, 99),
            mem_total_mib=sums["mem_total_mib"], mem_free_mib=sums["mem_free_mib"],
            mem_available_mib=sums["mem_available_mib"], mem_active_mib=sums["mem_active_mib"],
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
            "elapsed_s": round(self.clock.now() - start, 3),
            "wall_s": round(time.monotonic() - wall0, 3),
            "cluster": info.kind,
            "output": str(self.recorder.csv_path),
        }

    def _cleanup(self) -> str:
        try:
            self.cluster.cleanup(keep=self.config.keep)
            return "kept" if self.config.keep else "done"
        except (ClusterError, OSError) as e:
            return f"failed: {e}"
        except KeyboardInterrupt:
            return "failed: interrupted during cleanup"
