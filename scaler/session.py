"""A ``scaler run`` session: every planned run checked first (configurations, outputs, the
cluster and every runtime), then each run assembled (cluster, node source, recorder) and handed
to the engine, one after another, under one signal handler; then the comparison.

The CLI gives a checked ``RunRequest``; nothing here parses options. Heavy modules (the engine's
numpy, the cluster drivers, SSH, viz) are imported here, never by ``scaler --help``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaler import report
from scaler.cluster import Cluster, ClusterError, ClusterInfo
from scaler.clusters import build_cluster, refuse_unknown_runtimes
from scaler.config import RunConfig
from scaler.engine import Engine, RunResult
from scaler.errors import CLUSTER_FAILURE_EXIT, UserError
from scaler.node_sources import NodeSources, node_sources
from scaler.plan import PlannedRun, plan
from scaler.recorder import Recorder
from scaler.request import RunRequest
from scaler.signals import stop_on_signals
from scaler.status import StatusLine
from scaler.stops import EndReason, StopFlag


@dataclass(frozen=True)
class Ready:
    """A run's cluster, built and described, and the id its objects are labelled with."""

    cluster: Cluster
    info: ClusterInfo
    run_id: str


def new_run_id(cfg: RunConfig) -> str:
    """The label value a run's cluster objects carry: when (to the millisecond, so runs one
    after another never share one) and which runtime."""
    now = time.time()
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now)) + f"{int(now * 1000) % 1000:03d}"
    return f"{stamp}-{cfg.workload.runtime}"


def say(quiet: bool, msg: str) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


class Session:
    """Runs the planned runs of one request, one after another."""

    def __init__(self, request: RunRequest) -> None:
        self.request = request
        self.quiet = request.quiet
        self.show_status = not request.quiet and sys.stdout.isatty()
        self.stop = StopFlag()

    def run(self) -> int:
        """Every planned run; the exit status: 0, 3 when the cluster ended a run
        (cluster-unresponsive, cluster-error), 130/143 on a signal."""
        runs = plan(self.request)
        with stop_on_signals(self.stop):
            first = self.preflight(runs)
            results: list[tuple[PlannedRun, RunResult]] = []
            for i, planned in enumerate(runs):
                if i and not self.request.cluster.simulated:
                    self.settle()
                if self.stop.reason:
                    break
                res = self.one(planned, first if i == 0 else None)
                results.append((planned, res))
                if not self.request.as_json:
                    say(self.quiet, report.run_summary(res, planned.path))
        return self.finish(runs, results)

    def finish(self, runs: list[PlannedRun],
               results: list[tuple[PlannedRun, RunResult]]) -> int:
        comparison = None
        if len(results) > 1 and not self.stop.reason:
            comparison = self.compare([p.path for p, _ in results],
                                      runs[0].path.parent / "compare")
        if self.request.as_json:  # one shape, one run or many
            print(json.dumps({"runs": [r.summary for _, r in results],
                              "comparison": comparison}, indent=2))
        if self.stop.reason:
            return 143 if self.stop.reason == EndReason.TERMINATED else 130
        failures = [line for p, r in results
                    if (line := report.cluster_failure(r, p.path, self.request.cluster.namespace))]
        for line in failures:  # an error: said even with --quiet
            print(f"scaler: error: {line}", file=sys.stderr, flush=True)
        if failures:
            return CLUSTER_FAILURE_EXIT
        if any(r.end_reason == EndReason.CRASHED for _, r in results):
            return 1
        return 0

    def preflight(self, runs: list[PlannedRun]) -> Ready:
        """The first run's cluster, reached and described, after checking that every run's
        runtime can run there: all before any file is written."""
        ready = self.ready(runs[0].config)
        refuse_unknown_runtimes(ready.cluster, ready.info, [r.config.workload for r in runs])
        return ready

    def ready(self, cfg: RunConfig) -> Ready:
        """A run's cluster, built and described (a real one that cannot be reached fails here,
        before anything is written)."""
        run_id = new_run_id(cfg)
        c = self.request.collectors
        try:
            cluster = build_cluster(
                self.request.cluster, cfg.seed, run_id, cfg.op_timeout_s, c.interval_s,
                c.options.reading.pod_interval_s if c.pod_interval_given else None)
            return Ready(cluster, cluster.describe(), run_id)
        except ClusterError as e:
            raise UserError(str(e)) from None

    def settle(self) -> None:
        """Between runs on a real cluster: let the previous run's pods go (--settle)."""
        wait = self.request.settle_s
        if wait > 0:
            say(self.quiet, f"scaler: letting the cluster settle for {wait:g} s")
        end = time.monotonic() + wait
        while not self.stop.reason and time.monotonic() < end:
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))

    def one(self, planned: PlannedRun, ready: Ready | None) -> RunResult:
        cfg = planned.config
        r = ready or self.ready(cfg)
        # Checked (an SSH probe, the kubelet's stats) before the run's first file; a probe of
        # a node that does not answer may be cut by Ctrl-C like any cluster call.
        with self.stop.interruptions_allowed():
            nodes = node_sources(r.cluster, r.info, self.request.cluster,
                                 self.request.collectors, quiet=self.quiet)
        try:
            result = self._engine_run(planned, r, nodes)
        finally:
            nodes.close()  # after the engine has stopped the source
        return result

    def _engine_run(self, planned: PlannedRun, r: Ready, nodes: NodeSources) -> RunResult:
        cfg = planned.config
        recorder = _open_recorder(planned.path)
        status = StatusLine(enabled=self.show_status, max_replicas=cfg.max_replicas)
        meta = {"run_id": r.run_id, **planned.meta(), "node_source": nodes.primary,
                "node_sources": {**nodes.columns(), "note": nodes.note}}
        engine = Engine(r.cluster, cfg, recorder, nodes.source, stop=self.stop,
                        on_step=lambda row: status.update(row, engine.status_notes()),
                        on_prepared=lambda i: say(self.quiet, report.announce(i, cfg)),
                        info=r.info, node_stale_s=nodes.stale_s, source_names=nodes.names,
                        agreement=nodes.agreement, meta=meta)
        try:
            result = engine.run()
        finally:
            status.clear()
        if result.end_reason == EndReason.CLUSTER_ERROR and not result.prepared:
            # Nothing was measured: the cluster refused the set-up (e.g. a forbidden
            # namespace). That is a bad request, not a run; leave no empty files behind.
            recorder.discard()
            raise UserError(result.error or "the cluster refused the run's set-up")
        return result

    def compare(self, paths: list[Path], out_dir: Path) -> dict[str, Any] | None:
        """viz's comparison of the runs: its table printed, its files written beside them."""
        from viz.compare import Comparison

        try:
            # skip_unusable: a run that died before its first row is named in the comparison
            # instead of sinking the comparison of the runs that worked.
            comparison = Comparison.build(paths, skip_unusable=True)
            written = comparison.write(out_dir, ("html", "png"))
        except (ValueError, OSError) as e:
            print(f"scaler: comparison failed: {e}", file=sys.stderr)
            return None
        if not self.quiet and not self.request.as_json:
            print(comparison.text())
        say(self.quiet, f"comparison: {out_dir}")
        return {"dir": str(out_dir), "files": [str(p) for p in written]}


def _open_recorder(path: Path) -> Recorder:
    try:
        return Recorder(path)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None


def run_session(request: RunRequest) -> int:
    # Library warnings (e.g. a node's SSH connection lost) as one line each, like ours.
    logging.basicConfig(level=logging.ERROR if request.quiet else logging.WARNING,
                        format="scaler: %(message)s")
    return Session(request).run()
