"""A ``scaler run`` session: the planned runs, each assembled (cluster, node source, SSH pool,
recorder, signal handling) and handed to the engine, then the summaries and the comparison.

The CLI gives a checked ``RunRequest``; nothing here parses options. Heavy modules (the engine's
numpy, the cluster drivers, SSH, viz) are imported here, never by ``scaler --help``.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from scaler.cluster import ClusterError, ClusterInfo
from scaler.clusters import build_cluster, ssh_node_source
from scaler.config import RunConfig
from scaler.engine import Engine, RunResult
from scaler.errors import UserError
from scaler.plan import PlannedRun, plan
from scaler.recorder import Recorder
from scaler.request import RunRequest
from scaler.status import StatusLine
from scaler.stops import EndReason, StopFlag


def say(quiet: bool, msg: str) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


@contextmanager
def signals_stop(stop: StopFlag) -> Iterator[None]:
    """First SIGINT/SIGTERM asks the engine to stop after the current operation (and clean up);
    a second one interrupts at once (cleanup still runs)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        reason = EndReason.INTERRUPTED if signum == signal.SIGINT else EndReason.TERMINATED
        if stop.reason is not None:
            raise KeyboardInterrupt
        stop.request(reason)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def human_summary(res: RunResult, path: Path) -> str:
    s = res.summary
    sat = s.get("saturation_step")
    lines = [
        f"end: {res.end_reason} after {res.steps} steps ({s['elapsed_s']:.0f} s "
        f"{'virtual' if s['cluster'] == 'simulated' else 'wall'}, {s['wall_s']:.1f} s real)",
        f"max running {s['max_running']} at step {s['max_running_step']}; "
        f"evicted {s['max_evicted']}; OOM kills {s['max_oom_killed']}; "
        f"saturation {'at step ' + str(sat) if sat else 'not detected'}",
        f"wrote {path}",
    ]
    if res.error:
        lines.insert(1, f"error: {res.error}")
    return "\n".join(lines)


class Session:
    """Runs the planned runs of one request, one after another."""

    def __init__(self, request: RunRequest) -> None:
        self.request = request
        self.quiet = request.quiet
        self.show_status = not request.quiet and sys.stdout.isatty()
        c = request.collectors
        self.ssh = ssh_node_source(c) if c.enabled else None

    def run(self) -> int:
        """Every planned run; the exit status (0, 1 for a failed run, 130/143 on a signal)."""
        runs = plan(self.request)
        results: list[tuple[Path, RunResult]] = []
        for planned in runs:
            res = self.one(planned)
            results.append((planned.path, res))
            if not self.request.as_json:
                say(self.quiet, human_summary(res, planned.path))
            if res.end_reason.by_signal:
                break
        comparison = None
        if len(results) > 1 and not any(r.end_reason.by_signal for _, r in results):
            comparison = self.compare([p for p, _ in results], runs[0].path.parent / "compare")
        if self.request.as_json:
            out = [r.summary for _, r in results]
            payload: Any = out[0] if len(out) == 1 else {"runs": out, "comparison": comparison}
            print(json.dumps(payload, indent=2))
        last = results[-1][1].end_reason
        if last.by_signal:
            return 130 if last == EndReason.INTERRUPTED else 143
        if any(r.end_reason in (EndReason.CLUSTER_ERROR, EndReason.CRASHED) for _, r in results):
            return 1
        return 0

    def one(self, planned: PlannedRun) -> RunResult:
        cfg, path = planned.config, planned.path
        choice = self.request.cluster
        interval = self.request.collectors.interval_s
        recorder = _open_recorder(path)
        run_id = f"{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{cfg.workload.runtime}"
        try:
            cluster = build_cluster(choice, cfg.seed, run_id, cfg.op_timeout_s, interval)
            info = cluster.describe()  # fails here, before anything is measured, if unreachable
            nodes = cluster.node_source()
            if nodes is None and self.ssh is not None:
                nodes = self.ssh(info)
        except ClusterError as e:
            recorder.discard()
            raise UserError(str(e)) from None
        except BaseException:
            recorder.discard()
            raise
        status = StatusLine(enabled=self.show_status)
        stop = StopFlag()
        engine = Engine(cluster, cfg, recorder, nodes, stop=stop, on_step=status.update,
                        on_prepared=lambda i: self.announce(i, cfg), info=info,
                        node_stale_s=max(10.0, 3 * interval), meta={"run_id": run_id})
        with signals_stop(stop):
            try:
                result = engine.run()
            finally:
                status.clear()
        if result.end_reason == EndReason.CLUSTER_ERROR and not result.prepared:
            # Nothing was measured: the cluster refused the set-up (e.g. an unknown
            # RuntimeClass). That is a bad request, not a run; leave no empty files behind.
            recorder.discard()
            raise UserError(result.error or "the cluster refused the run's set-up")
        return result

    def announce(self, info: ClusterInfo, cfg: RunConfig) -> None:
        front = " [the simulator's API front, not a real cluster]" if (
            info.kind != "simulated" and info.details.get("simulator")) else ""
        say(self.quiet, f"scaler: driving a {info.kind} cluster ({info.version}, "
                        f"{len(info.nodes)} nodes){front}, runtime {cfg.workload.runtime}, "
                        f"scenario {cfg.scenario}, mode {cfg.mode}")

    def compare(self, paths: list[Path], out_dir: Path) -> list[str] | None:
        from viz.compare import compare_runs

        try:
            # skip_unusable: a run that died before its first row is named in the comparison
            # instead of sinking the comparison of the runs that worked.
            written = compare_runs(paths, out_dir, formats=("html", "png"), skip_unusable=True)
        except ValueError as e:
            print(f"scaler: comparison failed: {e}", file=sys.stderr)
            return None
        say(self.quiet, f"comparison: {out_dir}")
        return [str(p) for p in written]


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
