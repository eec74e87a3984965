"""A small scripted cluster for the engine's failure paths (a hung API, an error mid-run), which
the simulator, being a healthy model, never produces. Behaviour tests use the simulator."""

from __future__ import annotations

from dataclasses import dataclass, field

from scaler.cluster import ClusterError, ClusterInfo, ClusterUnresponsive, NodeInfo, PodCounts


class ManualClock:
    def __init__(self, start: float = 1_700_000_000.0):
        self.t = 0.0
        self.start = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.start + self.t

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)


@dataclass
class ScriptedCluster:
    """Pods become ready ``ready_after`` seconds after being requested, up to ``capacity``."""

    capacity: int = 10
    ready_after: float = 3.0
    scale_takes: float = 0.1
    observe_takes: float = 0.2
    fail_on_scale: int | None = None  # raise ClusterError on this scale call (1-based)
    hang_on_scale: int | None = None  # this scale call takes an hour
    unresponsive_on_prepare: bool = False  # the set-up outlasts --op-timeout (nothing measured)
    clock: ManualClock = field(default_factory=ManualClock)
    requested_at: list[float] = field(default_factory=list)
    scales: list[tuple[float, int]] = field(default_factory=list)
    cleaned: bool = False
    prepared: bool = False

    def describe(self) -> ClusterInfo:
        node = NodeInfo("n0", "127.0.0.1", 8000, 16384, 7500, 15360, 250)
        return ClusterInfo(kind="scripted", version="1", nodes=(node,))

    def prepare(self, spec) -> None:
        if self.unresponsive_on_prepare:
            raise ClusterUnresponsive("listing pods took longer than 120 s (--op-timeout)")
        self.prepared = True

    def scale(self, replicas: int) -> None:
        n = len(self.scales) + 1
        if n == self.fail_on_scale:
            raise ClusterError("the API server said no")
        self.clock.t += 3600.0 if n == self.hang_on_scale else self.scale_takes
        self.scales.append((self.clock.t, replicas))
        while len(self.requested_at) < replicas:
            self.requested_at.append(self.clock.t)

    def observe(self) -> PodCounts:
        self.clock.t += self.observe_takes
        ready = sum(1 for t in self.requested_at if self.clock.t - t >= self.ready_after)
        running = min(ready, self.capacity)
        return PodCounts(running=running, pending=len(self.requested_at) - running)

    def pod_lifecycles(self):
        return []

    def node_source(self):
        return None

    def cleanup(self, keep: bool = False) -> None:
        self.cleaned = True

    def stats(self) -> dict:
        return {"scales": len(self.scales)}
