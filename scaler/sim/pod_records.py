"""The simulated pods as run.pods.csv records them (team contracts 9, 10): each pod's lifecycle
(what ``Cluster.pod_lifecycles`` reports) and its memory as a node source would read it
(``PodMemory``, source ``sim``), both read from the model's pod table in a few array passes,
never one view object per pod (``SimModel.pods`` builds those for the API front: ~40 ms at 1,000
pods, too slow for every step).

What the memory records carry is the model's own truth per pod: ``cgroup_mib`` the host memory
charged to the pod (``SimModel.pod_usage_mib``: the sandbox's processes plus the workload, or
plus the VM's guest backing), ``workload_mib`` the workload's resident set (inside the guest for
a VM), ``runtime_mib`` the sandbox's host processes (QEMU, virtiofsd, shim; conmon and pause for
runc), ``guest_backing_mib`` a VM's guest memory on the host. The rest of contract 9's breakdown
(anon/file/shmem/kernel, working set, CPU) is not modelled yet: None.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np

from collectors.pod_sample import PodMemory
from scaler.cluster import PodLifecycle
from scaler.pod_lifecycle import LifecycleLog, PodEnd
from scaler.pod_state import classify
from scaler.sim.model import SimModel
from scaler.sim.pods import (
    CS_BACKOFF,
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


class SimLifecycles:
    """``Cluster.pod_lifecycles`` for the simulator: the changes of deployment ``key``'s pods."""

    def __init__(self, model: SimModel, key: str) -> None:
        self.model = model
        self.key = key
        self.log = LifecycleLog()
        self._classes: dict[int, str] = {}

    def _class(self, code: int) -> str:
        found = self._classes.get(code)
        if found is None:
            found = self._classes[code] = str(classify(status_of_code(code)))
        return found

    def changes(self) -> list[PodLifecycle]:
        m = self.model
        p = m.table
        idx = m.pod_slots(self.key)
        names = m.node_names
        uids: list[str] = list(p.uid[idx])
        pods: list[str] = list(p.name[idx])
        nodes = [names[n] if n >= 0 else None for n in p.node[idx].tolist()]
        phases = [PHASES[ph] for ph in p.phase[idx].tolist()]
        classes = [self._class(c) for c in status_codes(p, idx).tolist()]
        restarts: list[int] = p.restarts[idx].tolist()
        created, scheduled, started = (_opt(p.created[idx]), _opt(p.scheduled[idx]),
                                       _opt(p.started[idx]))
        ready, deleted = _opt(p.ready_at[idx]), _opt(p.deleted[idx])
        ends = [_ENDS[e] for e in _end_codes(m, idx).tolist()]
        rows = zip(pods, nodes, phases, classes, restarts, created, scheduled, started, ready,
                   deleted, ends, strict=True)
        keys: dict[str, Hashable] = dict(zip(uids, rows, strict=True))
        at = {uid: i for i, uid in enumerate(uids)}

        def make(uid: str) -> PodLifecycle:
            i = at[uid]
            return PodLifecycle(
                uid=uid, name=pods[i], node=nodes[i], phase=phases[i], pod_class=classes[i],
                restarts=restarts[i], created=created[i], scheduled=scheduled[i],
                started=started[i], ready=ready[i],
                ended=deleted[i] if ends[i] == PodEnd.DELETED else None, end_reason=ends[i])

        return self.log.changes_by_key(keys, make, m.now)


def pod_memory(model: SimModel) -> list[PodMemory]:
    """Every pod with a sandbox on a node now (as a node's cgroups would show them, whatever
    their deployment), with the model's figures."""
    p = model.table
    idx = np.flatnonzero(p.alive[: p.n] & p.sandbox_up[: p.n])
    if not len(idx):
        return []
    usage = model.pod_usage_mib(idx)
    runtime = p.host_held[idx]
    vm = p.vm[idx]
    guest = _opt(np.where(vm, usage - runtime, np.nan))
    names = model.node_names
    t = model.now
    return [
        PodMemory(node=names[node], time=t, source=SOURCE_SIM, uid=uid, pod=name,
                  cgroup_mib=cg, workload_mib=wl, runtime_mib=rt, guest_backing_mib=gb)
        for node, uid, name, cg, wl, rt, gb in zip(
            p.node[idx].tolist(), list(p.uid[idx]), list(p.name[idx]), usage.tolist(),
            p.rss[idx].tolist(), runtime.tolist(), guest, strict=True)
    ]
