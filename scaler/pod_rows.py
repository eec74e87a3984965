"""The rows of run.pods.csv (team contract 10) and their cells; columns derived from the record
types: ``PodRow``'s time, ``PodState``'s fields (``pod_class`` written as ``class``), the
measurement's ``source`` and ``collectors.pod_sample.PodMemory``'s figures in their order (from
``cgroup_mib`` to ``cpu_cores``, then ``work_rate``). Add a field, get a column."""

from __future__ import annotations

from dataclasses import dataclass, fields

from collectors.pod_sample import PodMemory
from scaler.cells import cell, float_spec


@dataclass(frozen=True, slots=True)
class PodState:
    """A pod's lifecycle as written (``scaler.cluster.PodLifecycle``, times in seconds since the
    run began, cluster clock), and the run's runtime. Made once per change of a pod's lifecycle
    and shared by every row that carries it."""

    pod: str | None
    uid: str
    node: str | None
    runtime: str
    pod_class: str  # column "class"
    phase: str
    restarts: int
    created_s: float | None
    scheduled_s: float | None
    started_s: float | None
    ready_s: float | None
    ended_s: float | None
    end_reason: str | None


@dataclass(frozen=True, slots=True)
class PodRow:
    """One line of run.pods.csv: a pod's ``state`` and, when a node source measured it then, its
    ``memory``; a lifecycle-only row has none. ``time`` is the measurement's (node clock) or,
    for a lifecycle-only row, the observation's; ``elapsed_s`` since the run began."""

    time: float
    elapsed_s: float
    state: PodState
    memory: PodMemory | None = None  # its work_rate: pages/s of the pod's fresh work report


_RENAMED = {"pod_class": "class"}
_STATE = tuple(f.name for f in fields(PodState))
_MEMORY_FIELDS = [f.name for f in fields(PodMemory)]
POD_MEMORY_COLUMNS = tuple(_MEMORY_FIELDS[_MEMORY_FIELDS.index("cgroup_mib"):])
POD_COLUMNS = ("time", "elapsed_s", *(_RENAMED.get(n, n) for n in _STATE), "source",
               *POD_MEMORY_COLUMNS)
_NO_MEMORY = ("",) * (1 + len(POD_MEMORY_COLUMNS))
_MEMORY_SPECS = tuple((n, float_spec(n)) for n in POD_MEMORY_COLUMNS)


class PodCells:
    """Rows as cells. A pod's state repeats at each of its measurements, so its cells are made
    once per state (at hundreds of pods a sample, formatting them again for every row was most
    of a simulated run's time)."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[PodState, list[str]]] = {}  # each pod's latest, by uid

    def _state_cells(self, state: PodState) -> list[str]:
        found = self._state.get(state.uid)
        if found is not None and found[0] is state:
            return found[1]
        cells = [cell(n, getattr(state, n)) for n in _STATE]
        self._state[state.uid] = (state, cells)
        return cells

    def __call__(self, row: PodRow) -> list[str]:
        m = row.memory
        memory = _NO_MEMORY if m is None else (m.source, *(
            "" if (v := getattr(m, n)) is None
            else format(v, spec) if spec and isinstance(v, float) else cell(n, v)
            for n, spec in _MEMORY_SPECS))
        return [cell("time", row.time), cell("elapsed_s", row.elapsed_s),
                *self._state_cells(row.state), *memory]
