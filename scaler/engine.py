"""The engine: raise replicas step by step, observe, record, and stop for a stated reason.

It knows only the ``Cluster`` protocol and a ``NodeSource``; simulated or real is the caller's
business. All time goes through ``cluster.clock``, so in simulation every wait is virtual.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass

import numpy as np

from collectors.sample import NodeSample, NodeSource
from scaler import __version__
from scaler.cluster import Cluster, ClusterError, ClusterInfo, ClusterUnresponsive, PodCounts
from scaler.config import RunConfig
from scaler.recorder import Recorder, StepRow, iso_utc

# End reasons written to the metadata (and the --json summary).
MAX_REPLICAS = "max-replicas"
DURATION = "duration"
SATURATED = "saturated"
UNRESPONSIVE = "cluster-unresponsive"
CLUSTER_ERROR = "cluster-error"
INTERRUPTED = "interrupted"
TERMINATED = "terminated"


@dataclass
class StopFlag:
    """Set from a signal handler; the engine polls it between operations, so a signal never
    interrupts a half-written row or a half-made API call."""

    reason: str | None = None

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason


@dataclass
class Saturation:
    """Saturation detector: running pods have not grown for ``steps`` consecutive steps while
    requested did, over at least ``window_s`` seconds.

    "Grown" means risen at least max(2 pods, 1 %) above the level where the streak began, so a
    saturated cluster whose running count creeps up by a pod now and then (evicted pods replaced
    one at a time) is still called saturated. Real growth clears a detection. The saturation
    step reported is the step after the streak's last new high, where running stopped tracking.
    """

    steps: int
    window_s: float
    level: int = -1  # running when the current streak began
    high: int = -1  # highest running seen within the streak
    high_step: int = 0
    flat: int = 0
    flat_since: float | None = None
    detected_step: int | None = None  # step at which the current detection was made
    first_saturation_step: int | None = None  # saturation step of the first detection

    @staticmethod
    def tolerance(level: int) -> float:
        return max(2.0, 0.01 * level)

    def update(self, step: int, t: float, running: int, requested_grew: bool) -> bool:
        if self.level < 0 or running >= self.level + self.tolerance(self.level):
            self.level = self.high = running
            self.high_step, self.flat, self.flat_since, self.detected_step = step, 0, None, None
            return False
        if running > self.high:
            self.high, self.high_step = running, step
        if not requested_grew:
            return self.detected_step is not None
        self.flat += 1
        if self.flat_since is None:
            self.flat_since = t
        if (self.detected_step is None and self.flat >= self.steps
                and t - self.flat_since >= self.window_s):
            self.detected_step = step
            if self.first_saturation_step is None:
                self.first_saturation_step = self.high_step + 1
        return self.detected_step is not None


@dataclass
class RunResult:
    end_reason: str
    steps: int
    summary: dict
    error: str | None = None
    rows: list[StepRow] = field(default_factory=list)
    prepared: bool = False  # False: the cluster refused the set-up, nothing was measured


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values), q)) if values else None


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
        meta: dict | None = None,
        info: ClusterInfo | None = None,
        node_stale_s: float = 10.0,
        keep_rows: bool = False,
    ):
        self.cluster = cluster
        self.clock = cluster.clock
        self.config = config
        self.recorder = recorder
        self.nodes = nodes
        self.stop = stop or StopFlag()
        self.on_step = on_step
        self.on_prepared = on_prepared
        self.info = info
        self.meta_base = dict(meta or {})
        self.node_stale_s = node_stale_s
        self.keep_rows = keep_rows
        self._latest: dict[str, NodeSample] = {}
        self._startups: list[float] = []

    # -- helpers ---------------------------------------------------------------------------

    def _drain_nodes(self) -> None:
        if self.nodes is None:
            return
        samples = self.nodes.drain()
        self.recorder.write_nodes(samples)
        for s in samples:
            prev = self._latest.get(s.node)
            if prev is None or s.time >= prev.time:
                self._latest[s.node] = s

    def _node_sums(self, now: float) -> tuple[list[float | None], int]:
        fresh = [s for s in self._latest.values()
                 if s.ok and now - s.time <= self.node_stale_s]
        if not fresh:
            return [None, None, None, None], 0

        def total(attr: str) -> float | None:
            vals = [getattr(s, attr) for s in fresh]
            return None if any(v is None for v in vals) else float(sum(vals))

        sums = [total(a) for a in ("mem_total_mib", "mem_free_mib", "mem_available_mib",
                                   "mem_active_mib")]
        return sums, len(fresh)

    def _wait(self, seconds: float) -> None:
        """Let time pass in slices, so signals are honoured and node samples keep flowing."""
        end = self.clock.monotonic() + seconds
        while self.stop.reason is None:
            left = end - self.clock.monotonic()
            if left <= 0:
                break
            self.clock.sleep(min(left, 1.0))
            self._drain_nodes()

    def _timed(self, fn, *args):
        t = self.clock.monotonic()
        out = fn(*args)
        took = self.clock.monotonic() - t
        if took > self.config.op_timeout_s:
            raise ClusterUnresponsive(
                f"{fn.__name__} took {took:.1f} s, over --op-timeout {self.config.op_timeout_s:g} s"
            )
        return out, took

    def _observe(self) -> tuple[PodCounts, float]:
        counts, took = self._timed(self.cluster.observe)
        self._startups.extend(counts.startup_s)
        return counts, took

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> RunResult:
        cfg = self.config
        info = self.info or self.cluster.describe()
        wall0 = time.monotonic()
        start = self.clock.now()
        self.recorder.t0 = start
        meta = {
            "tool": "scaler",
            "version": __version__,
            "command": list(sys.argv),
            "runtime": cfg.workload.runtime,
            "scenario": cfg.scenario,
            "mode": cfg.mode,
            "config": cfg.to_dict(),
            "workload": cfg.workload.to_dict(),
            "cluster": {
                "kind": info.kind,
                "version": info.version,
                # A real driver may be talking to the simulator's API front: it says so.
                "simulated": info.kind == "simulated" or bool(info.details.get("simulator")),
                "nodes": [asdict(n) for n in info.nodes],
                "runtime_class": info.runtime_class,
                "details": info.details,
            },
            "files": {
                "run": self.recorder.csv_path.name,
                "nodes": self.recorder.nodes_path.name,
            },
            **self.meta_base,
            # The cluster's clock is virtual in simulation; this is when the run really began.
            "recorded_at": iso_utc(time.time()),
            "started": iso_utc(start),
            "ended": None,
            "end_reason": "running",
        }
        self.recorder.write_meta(meta)

        rows: list[StepRow] = []
        sat = Saturation(cfg.saturation_steps, cfg.saturation_window_s)
        end_reason, error = None, None
        max_running, max_running_step, step, requested = 0, 0, 0, 0
        last = PodCounts()
        prepared = False
        try:
            if self.nodes is not None:
                self.nodes.start()
            self.cluster.prepare(cfg.workload)
            prepared = True
            # What prepare created (a RuntimeClass, the namespace) is only visible now.
            info = self.cluster.describe()
            meta["cluster"]["runtime_class"] = info.runtime_class
            meta["cluster"]["nodes"] = [asdict(n) for n in info.nodes]
            if self.on_prepared:
                self.on_prepared(info)
            m0 = self.clock.monotonic()
            while True:
                if self.stop.reason:
                    end_reason = self.stop.reason
                    break
                step += 1
                prev_requested = requested
                requested = min(requested + cfg.step, cfg.max_replicas)
                self._startups = []
                t_step = self.clock.monotonic()
                _, scale_s = self._timed(self.cluster.scale, requested)
                if cfg.mode == "fixed-interval":
                    self._wait(cfg.interval_s - (self.clock.monotonic() - t_step))
                    last, observe_s = self._observe()
                elif cfg.mode == "wait":
                    while True:
                        last, observe_s = self._observe()
                        waited = self.clock.monotonic() - t_step
                        if (last.running >= requested or waited >= cfg.wait_timeout_s
                                or self.stop.reason):
                            break
                        self._wait(min(cfg.poll_s, cfg.wait_timeout_s - waited))
                else:
                    last, observe_s = self._observe()
                self._drain_nodes()
                now = self.clock.now()
                sums, sampled = self._node_sums(now)
                row = StepRow(
                    time=now, elapsed_s=now - start, step=step,
                    runtime=cfg.workload.runtime, scenario=cfg.scenario, mode=cfg.mode,
                    requested=requested, running=last.running, pending=last.pending,
                    creating=last.creating, terminating=last.terminating, evicted=last.evicted,
                    oom_killed=last.oom_killed, failed=last.failed, restarts=last.restarts,
                    scale_s=scale_s, observe_s=observe_s,
                    step_s=self.clock.monotonic() - t_step,
                    mem_total_mib=sums[0], mem_free_mib=sums[1], mem_available_mib=sums[2],
                    mem_active_mib=sums[3], nodes_sampled=sampled,
                    startup_p50_s=_percentile(self._startups, 50),
                    startup_p99_s=_percentile(self._startups, 99),
                    api_errors=last.api_errors,
                )
                self.recorder.write_step(row)
                if self.keep_rows:
                    rows.append(row)
                if self.on_step:
                    self.on_step(row)
                if last.running > max_running:
                    max_running, max_running_step = last.running, step
                saturated = sat.update(step, self.clock.monotonic(), last.running,
                                       requested > prev_requested)
                if requested >= cfg.max_replicas:
                    end_reason = MAX_REPLICAS
                    break
                if cfg.duration_s is not None and self.clock.monotonic() - m0 >= cfg.duration_s:
                    end_reason = DURATION
                    break
                if saturated and step - sat.detected_step >= cfg.beyond:
                    end_reason = SATURATED
                    break
        except ClusterUnresponsive as e:
            end_reason, error = UNRESPONSIVE, str(e)
        except ClusterError as e:
            end_reason, error = CLUSTER_ERROR, str(e)
        except KeyboardInterrupt:
            end_reason = self.stop.reason or INTERRUPTED
        finally:
            if end_reason is None:  # an unexpected exception is propagating
                end_reason = "crashed"
            cleanup = self._cleanup()
            if self.nodes is not None:
                try:
                    self._drain_nodes()
                finally:
                    self.nodes.stop()
            summary = {
                "end_reason": end_reason,
                "steps": step,
                "final_requested": requested,
                "max_running": max_running,
                "max_running_step": max_running_step,
                "max_evicted": last.evicted,
                "max_oom_killed": last.oom_killed,
                "api_errors": last.api_errors,
                "saturation_step": sat.first_saturation_step,
                "saturation_detected_step": sat.detected_step,
                "elapsed_s": round(self.clock.now() - start, 3),
                "wall_s": round(time.monotonic() - wall0, 3),
                "cluster": info.kind,
                "output": str(self.recorder.csv_path),
            }
            meta.update({
                "ended": iso_utc(self.clock.now()),
                "end_reason": end_reason,
                "error": error,
                "cleanup": cleanup,
                "steps": step,
                "rows": self.recorder.rows,
                "node_rows": self.recorder.node_rows,
                "summary": summary,
                "cluster_stats": self._stats(self.cluster),
                "collector_stats": self._stats(self.nodes),
            })
            self.recorder.write_meta(meta)
            self.recorder.close()
        return RunResult(end_reason, step, summary, error, rows, prepared)

    def _cleanup(self) -> str:
        try:
            self.cluster.cleanup(keep=self.config.keep)
            return "kept" if self.config.keep else "done"
        except (ClusterError, OSError) as e:
            return f"failed: {e}"
        except KeyboardInterrupt:
            return "failed: interrupted during cleanup"

    @staticmethod
    def _stats(source) -> dict:
        stats = getattr(source, "stats", None)
        if stats is None:
            return {}
        try:
            raw = stats()
        except Exception as e:  # noqa: BLE001 - counters must never lose the run's metadata
            return {"error": str(e)}
        return {k: asdict(v) if is_dataclass(v) else v for k, v in raw.items()}
