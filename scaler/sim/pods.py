"""The pod table: one numpy array per pod attribute, grown by doubling and compacted when most
slots hold pods that are gone, so a step costs a few vectorised passes whatever the pod count."""

from __future__ import annotations

import numpy as np

from scaler.pod_state import PodStatus

# Pod phase.
PH_PENDING, PH_RUNNING, PH_SUCCEEDED, PH_FAILED = 0, 1, 2, 3
PHASES = ("Pending", "Running", "Succeeded", "Failed")

# Container state. CS_NONE: no container status yet (unscheduled, or rejected at admission).
CS_CREATING, CS_RUNNING, CS_BACKOFF, CS_TERMINATED, CS_NONE = 0, 1, 2, 3, 4

# Pod-level reason.
R_NONE, R_EVICTED = 0, 1

# Container termination reason (last or current).
T_NONE, T_OOM, T_ERROR = 0, 1, 2
TERM_REASONS = (None, "OOMKilled", "Error")

# What the API shows of each container state (scaler.pod_state.PodStatus.container, reason).
_CONTAINER = {CS_CREATING: ("waiting", "ContainerCreating"), CS_BACKOFF: ("waiting", "CrashLoopBackOff"),
              CS_RUNNING: ("running", None), CS_TERMINATED: ("terminated", None), CS_NONE: (None, None)}


def pod_status(phase: int, reason: int, bound: bool, deleting: bool, cstate: int) -> PodStatus:
    """The API's view of a pod from the table's codes, for ``scaler.pod_state.classify``."""
    container, creason = _CONTAINER[cstate]
    return PodStatus(phase=PHASES[phase], reason="Evicted" if reason == R_EVICTED else None,
                     scheduled=bound, deleting=deleting,
                     ready=cstate == CS_RUNNING and not deleting,
                     container=container, container_reason=creason)


def status_codes(table: PodTable, idx: np.ndarray) -> np.ndarray:
    """One integer per pod in ``idx`` that determines its ``pod_status`` (and so its class):
    classifying the distinct codes once classifies every pod."""
    deleting = ~np.isnan(table.deleted[idx])
    return np.asarray((((table.phase[idx].astype(np.int64) * 2 + table.reason[idx]) * 2
                      + (table.node[idx] >= 0)) * 2 + deleting) * 8 + table.cstate[idx])


def status_of_code(code: int) -> PodStatus:
    rest, cstate = divmod(int(code), 8)
    rest, deleting = divmod(rest, 2)
    rest, bound = divmod(rest, 2)
    phase, reason = divmod(rest, 2)
    return pod_status(phase, reason, bool(bound), bool(deleting), cstate)


_FLOAT = (
    "created", "scheduled", "started", "ready_at", "deleted", "gone_at", "next_at", "loop_next",
    "held", "rss", "inc", "target", "limit", "guest_peak", "host_mib", "guest_base", "per_mib",
    "vm_size", "cpu_frac", "req_mem", "req_cpu", "nz_mem", "nz_cpu", "adj", "backoff",
    "teardown", "host_held", "boot", "deadline",
)
_INT = ("dep", "node", "restarts", "term_exit", "last_exit")
_SMALL = ("phase", "cstate", "reason", "term_reason", "last_reason")
_BOOL = ("alive", "vm", "shared", "besteffort", "sandbox_up", "ever_ready", "starting",
         "paused")
_OBJ = ("name", "uid", "message")


class PodTable:
    """Column arrays indexed by slot; ``n`` slots in use (alive or not)."""

    # Times (virtual epoch seconds; NaN: not yet): created, bound, container started, first
    # Ready, deletion asked, object gone, next kubelet action (set-up done, restart), next
    # workload loop.
    created: np.ndarray
    scheduled: np.ndarray
    started: np.ndarray
    ready_at: np.ndarray
    deleted: np.ndarray
    gone_at: np.ndarray
    next_at: np.ndarray
    loop_next: np.ndarray
    deadline: np.ndarray  # when the kubelet gives up on the sandbox being set up
    # Memory (MiB): the workload's allocation, what of it is touched, its increment, target and
    # limit; a VM's guest high-water mark, host process size and held part, guest base, host
    # overhead per guest MiB, VM size; start memory needed.
    held: np.ndarray
    rss: np.ndarray
    inc: np.ndarray
    target: np.ndarray
    limit: np.ndarray
    guest_peak: np.ndarray
    host_mib: np.ndarray
    host_held: np.ndarray
    guest_base: np.ndarray
    per_mib: np.ndarray
    vm_size: np.ndarray
    boot: np.ndarray
    # Scheduling and kubelet: CPU fraction used, requests (with overhead), non-zero requests
    # for scoring, oom_score_adj, current back-off, teardown seconds.
    cpu_frac: np.ndarray
    req_mem: np.ndarray
    req_cpu: np.ndarray
    nz_mem: np.ndarray
    nz_cpu: np.ndarray
    adj: np.ndarray
    backoff: np.ndarray
    teardown: np.ndarray
    # Integers: deployment index, node (-1: unbound), restarts, exit codes.
    dep: np.ndarray
    node: np.ndarray
    restarts: np.ndarray
    term_exit: np.ndarray
    last_exit: np.ndarray
    # Codes (see the constants above).
    phase: np.ndarray
    cstate: np.ndarray
    reason: np.ndarray
    term_reason: np.ndarray
    last_reason: np.ndarray
    # Flags.
    alive: np.ndarray
    vm: np.ndarray
    shared: np.ndarray  # a VM whose guest RAM is in /dev/shm
    besteffort: np.ndarray
    sandbox_up: np.ndarray
    ever_ready: np.ndarray
    starting: np.ndarray
    paused: np.ndarray  # a VM stopped by its hypervisor (guest RAM not backed): frozen as it is
    # Objects.
    name: np.ndarray
    uid: np.ndarray
    message: np.ndarray

    def __init__(self, capacity: int = 256) -> None:
        self.n = 0
        self._cap = 0
        self._alloc(capacity)

    def _alloc(self, cap: int) -> None:
        def grow(name: str, dtype: type, fill: object) -> None:
            new: np.ndarray = np.full(cap, fill, dtype=dtype)
            old = getattr(self, name, None)
            if old is not None:
                new[: self.n] = old[: self.n]
            setattr(self, name, new)

        for name in _FLOAT:
            grow(name, np.float64, np.nan)
        for name in _INT:
            grow(name, np.int32, -1)
        for name in _SMALL:
            grow(name, np.int8, 0)
        for name in _BOOL:
            grow(name, np.bool_, False)
        for name in _OBJ:
            grow(name, object, None)
        self._cap = cap

    def add(self) -> int:
        """A new slot with every column at its empty value."""
        return int(self.add_many(1)[0])

    def add_many(self, count: int) -> np.ndarray:
        """``count`` new slots (consecutive), every column at its empty value."""
        if self.n + count > self._cap:
            cap = self._cap
            while cap < self.n + count:
                cap *= 2
            self._alloc(cap)
        slots = np.arange(self.n, self.n + count)
        self.n += count
        return slots

    def compact(self) -> np.ndarray | None:
        """Drop slots of pods that are gone once they are most of the table; returns the kept
        slots (old indices, in order) or None when nothing moved."""
        alive = self.alive[: self.n]
        gone = self.n - int(alive.sum())
        if gone < 1024 or gone < self.n // 2:
            return None
        keep = np.flatnonzero(alive)
        for name in _FLOAT + _INT + _SMALL + _BOOL + _OBJ:
            col = getattr(self, name)
            kept = col[keep].copy()
            col[: len(keep)] = kept
            col[len(keep): self.n] = _empty(col.dtype)
        self.n = len(keep)
        return keep


def _empty(dtype: np.dtype) -> object:
    return {"f": np.nan, "b": False, "O": None}.get(dtype.kind, 0 if dtype.itemsize == 1 else -1)
