"""run.pods.csv's rows (team contract 10): each pod measurement of a node source joined with the
pod's lifecycle from the cluster, plus a lifecycle-only row whenever a pod's lifecycle changed
and no measurement carried the change.

Why rows on change: a pod's lifecycle changes a handful of times in a run, while a file with one
row per pod per sample would repeat it at every sample. The file is equivalent: a pod's state at
any time is its last row at or before that time (``state_at``), and it is smaller (see
tests/test_pods_file.py). A measurement row carries the lifecycle as the cluster showed it at
the step that received the measurement, so at most one step later than the measurement itself.

Measurements of pods the cluster does not know as the run's (other deployments, system pods a
node's cgroups also show) are not written; they are counted (``other``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from collectors.pod_sample import PodMemory
from scaler.cluster import PodLifecycle
from scaler.pod_rows import PodRow, PodState


@dataclass
class PodJoinStats:
    measured: int = 0  # measurement rows written
    lifecycle: int = 0  # lifecycle-only rows written
    other: int = 0  # measurements of pods that are not the run's


class PodJoin:
    def __init__(self, runtime: str, t0: float) -> None:
        self.runtime = runtime
        self.t0 = t0
        self.known: dict[str, PodLifecycle] = {}  # every pod of the run seen, by uid
        self._written: dict[str, PodLifecycle] = {}  # the lifecycle last written, by uid
        self._states: dict[str, tuple[PodLifecycle, PodState]] = {}
        self.stats = PodJoinStats()

    def _since(self, t: float | None) -> float | None:
        return None if t is None else t - self.t0

    def _state(self, lc: PodLifecycle, memory: PodMemory | None) -> PodState:
        """The written state of ``lc`` (made once per lifecycle the cluster reported)."""
        found = self._states.get(lc.uid)
        if found is not None and found[0] is lc:
            return found[1]
        state = PodState(
            pod=lc.name or (memory.pod if memory else None), uid=lc.uid,
            node=lc.node or (memory.node if memory else None), runtime=self.runtime,
            pod_class=lc.pod_class, phase=lc.phase, restarts=lc.restarts,
            created_s=self._since(lc.created), scheduled_s=self._since(lc.scheduled),
            started_s=self._since(lc.started), ready_s=self._since(lc.ready),
            ended_s=self._since(lc.ended), end_reason=lc.end_reason)
        self._states[lc.uid] = (lc, state)
        return state

    def _row(self, lc: PodLifecycle, t: float, memory: PodMemory | None) -> PodRow:
        self._written[lc.uid] = lc
        return PodRow(time=t, elapsed_s=t - self.t0, state=self._state(lc, memory), memory=memory)

    def rows(self, changes: Iterable[PodLifecycle], measured: Iterable[PodMemory],
             now: float) -> list[PodRow]:
        """The rows of one step: the lifecycle ``changes`` the cluster reported at ``now`` and the
        measurements the node sources took since the previous step."""
        changed = list(changes)
        for lc in changed:
            self.known[lc.uid] = lc
        out = []
        for m in sorted(measured, key=lambda m: m.time):
            pod = self.known.get(m.uid)
            if pod is None:
                self.stats.other += 1
                continue
            out.append(self._row(pod, m.time, m))
        self.stats.measured += len(out)
        for lc in changed:
            if self._written.get(lc.uid) is not lc:
                out.append(self._row(lc, now, None))
                self.stats.lifecycle += 1
        return out


def state_at(rows: Iterable[dict[str, str]], t: float) -> dict[str, dict[str, str]]:
    """From run.pods.csv rows (as ``csv.DictReader`` gives them): each pod's last row at or before
    ``elapsed_s`` ``t``, for the pods that exist then (not ``gone``): what a file with one row per
    pod per sample would say at ``t``."""
    last: dict[str, dict[str, str]] = {}
    for row in rows:
        if float(row["elapsed_s"]) <= t:
            prev = last.get(row["uid"])
            if prev is None or float(prev["elapsed_s"]) <= float(row["elapsed_s"]):
                last[row["uid"]] = row
    return {uid: row for uid, row in last.items() if row["class"] != "gone"}
