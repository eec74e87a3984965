"""The simulated pods as run.pods.csv records them (team contracts 9, 10): each pod's lifecycle
(what ``Cluster.pod_lifecycles`` reports) and its memory as a node source would read it
(``PodMemory``, source ``sim``), both read from the model's pod table in a few array passes,
never one view object per pod (``SimModel.pods`` builds those for the API front: ~40 ms at 1,000
pods, too slow for every step).

What the memory records carry is the model's own truth per pod: ``cgroup_mib`` the host memory
charged to the pod (``SimModel.pod_usage_mib``: the sandbox's processes plus the workload, or
plus the VM's guest backing), ``workload_mib`` the workload's resident set (inside the guest for
a VM), ``runtime_mib`` the sandbox's host processes (QEMU, virtiofsd, shim; conmon and pause for
runc), ``guest_backing_mib`` a VM's guest memory on the host, ``cpu_cores`` and ``work_rate`` the
CPU the pod gets and its workload's pages/s (``scaler.sim.cpu``). The rest of contract 9's
breakdown (anon/file/shmem/kernel, working set) is not modelled yet: None.
"""

from __future__ import annotations

import numpy as np

from collectors.pod_sample import PodMemory
from scaler.cluster import PodLifecycle
from scaler.pod_lifecycle import LifecycleLog, PodEnd
from scaler.pod_state import classify
from scaler.sim.model import SimModel
from scaler.sim.pods import (
    CS_BACKOFF,
    CS_RUNNING,
    CS_TERMINATED,
    PH_FAILED,
    PHASES,
    R_EVICTED,
    T_ERROR,
    T_OOM,
    status_codes,
    status_of_code,
)

SOURCE_SIM = "sim"

# End codes of the table's state (0: no end yet), in PodEnd terms.
_ENDS: tuple[str | None, ...] = (None, PodEnd.DELETED, PodEnd.EVICTED, PodEnd.FAILED,
                                 PodEnd.OOM_KILLED, PodEnd.VM_DIED)


def _opt(values: np.ndarray) -> list[float | None]:
    """Floats with NaN ("not yet") as None, so equal states compare equal."""
    out = values.astype(object)
    out[np.isnan(values)] = None
    return list(out)


def _end_codes(model: SimModel, idx: np.ndarray) -> np.ndarray:
    """Each pod's latest end, as an index into ``_ENDS``: deletion first, then the pod's phase,
    then its container's latest termination (current, or the last before a restart)."""
    p = model.table
    cstate = p.cstate[idx]
    term = np.where(cstate == CS_TERMINATED, p.term_reason[idx], p.last_reason[idx])
    ended = (cstate == CS_TERMINATED) | (cstate == CS_BACKOFF) | (p.restarts[idx] > 0)
    container = np.select(
        [ended & (term == T_OOM), ended & (term == T_ERROR) & p.vm[idx], ended & (term == T_ERROR)],
        [4, 5, 3], default=0)
    failed = p.phase[idx] == PH_FAILED
    return np.select([~np.isnan(p.deleted[idx]), failed & (p.reason[idx] == R_EVICTED), failed],
                     [1, 2, 3], default=container)


_STATE = 10  # numbers per pod compared from one step to the next (see ``changes``)


class SimLifecycles:
    """``Cluster.pod_lifecycles`` for the simulator: the changes of deployment ``key``'s pods.

    Each step compares every pod's state with the previous step's in a few array operations
    (by table slot; a slot that now holds another pod counts as changed) and builds records only
    for the pods that changed; ``LifecycleLog`` keeps the rule (what is a change, what is gone)."""

    def __init__(self, model: SimModel, key: str) -> None:
        self.model = model
        self.key = key
        self.log = LifecycleLog()
        self._classes: dict[int, str] = {}
        self._uid_at = np.empty(0, dtype=object)  # by table slot: the pod seen there last
        self._state_at = np.empty((0, _STATE))  # by table slot: its state as numbers

    def _class(self, code: int) -> str:
        found = self._classes.get(code)
        if found is None:
            found = self._classes[code] = str(classify(status_of_code(code)))
        return found

    def _changed(self, idx: np.ndarray, uids: np.ndarray, state: np.ndarray) -> np.ndarray:
        """Which of the pods at slots ``idx`` differ from what was last seen at their slot."""
        size = int(idx.max()) + 1 if len(idx) else 0
        if size > len(self._uid_at):
            grown = max(size, 2 * len(self._uid_at))
            uid_at = np.full(grown, None, dtype=object)
            uid_at[: len(self._uid_at)] = self._uid_at
            state_at = np.full((grown, state.shape[1]), np.nan)
            state_at[: len(self._state_at)] = self._state_at
            self._uid_at, self._state_at = uid_at, state_at
        before = self._state_at[idx]
        changed = (self._uid_at[idx] != uids) | np.any(
            (before != state) & ~(np.isnan(before) & np.isnan(state)), axis=1)
        self._uid_at[idx] = uids
        self._state_at[idx] = state
        return np.asarray(changed, dtype=bool)

    def changes(self) -> list[PodLifecycle]:
        m = self.model
        p = m.table
        idx = m.pod_slots(self.key)
        uids = p.uid[idx]
        codes = status_codes(p, idx)
        ends = _end_codes(m, idx)
        state = np.column_stack([
            p.node[idx], p.phase[idx], codes, p.restarts[idx], p.created[idx],
            p.scheduled[idx], p.started[idx], p.ready_at[idx], p.deleted[idx], ends,
        ]).astype(float) if len(idx) else np.empty((0, _STATE))
        at = idx[self._changed(idx, uids, state)] if len(idx) else idx
        names = m.node_names
        changed = {
            uid: PodLifecycle(
                uid=uid, name=str(name), node=names[node] if node >= 0 else None,
                phase=PHASES[phase], pod_class=self._class(code), restarts=restarts,
                created=created, scheduled=scheduled, started=started, ready=ready,
                ended=deleted if _ENDS[end] == PodEnd.DELETED else None, end_reason=_ENDS[end])
            for uid, name, node, phase, code, restarts, created, scheduled, started, ready,
            deleted, end in zip(
                list(p.uid[at]), list(p.name[at]), p.node[at].tolist(), p.phase[at].tolist(),
                status_codes(p, at).tolist(), p.restarts[at].tolist(), _opt(p.created[at]),
                _opt(p.scheduled[at]), _opt(p.started[at]), _opt(p.ready_at[at]),
                _opt(p.deleted[at]), _end_codes(m, at).tolist(), strict=True)
        }
        return self.log.changes_by_key(changed, changed.__getitem__, m.now,
                                       present=set(uids.tolist()))


def pod_memory(model: SimModel, node: int | None = None) -> list[PodMemory]:
    """Every pod with a sandbox on a node now (on ``node`` only, when given), as a node's cgroups
    would show them (whatever their deployment), with the model's figures: memory, the CPU the
    pod's cgroup uses (``cpu_cores``) and its workload's work rate (pages/s, None when its
    container is not running: no fresh report), from ``scaler.sim.cpu``."""
    p = model.table
    mask = p.alive[: p.n] & p.sandbox_up[: p.n]
    if node is not None:
        mask &= p.node[: p.n] == node
    idx = np.flatnonzero(mask)
    if not len(idx):
        return []
    usage = model.pod_usage_mib(idx)
    runtime = p.host_held[idx]
    vm = p.vm[idx]
    guest = _opt(np.where(vm, usage - runtime, np.nan))
    cores, work = model.cpu.pods(model.state, idx)
    reporting = (p.cstate[idx] == CS_RUNNING) & np.isnan(p.deleted[idx])
    work_rate = _opt(np.where(reporting, work, np.nan))
    names = model.node_names
    t = model.now
    return [
        PodMemory(node=names[node], time=t, source=SOURCE_SIM, uid=uid, pod=name,
                  cgroup_mib=cg, workload_mib=wl, runtime_mib=rt, guest_backing_mib=gb,
                  cpu_cores=cc, work_rate=wr)
        for node, uid, name, cg, wl, rt, gb, cc, wr in zip(
            p.node[idx].tolist(), list(p.uid[idx]), list(p.name[idx]), usage.tolist(),
            p.rss[idx].tolist(), runtime.tolist(), guest, cores.tolist(), work_rate,
            strict=True)
    ]
