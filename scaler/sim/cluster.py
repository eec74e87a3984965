"""``SimulatedCluster``: the model behind the engine's ``Cluster`` protocol, in virtual time.

API calls cost virtual time as the control plane's latency model says (growing with the number of
pod objects), so the engine's timing columns show timing saturation; ``clock.sleep`` advances the
model instead of sleeping. Node memory reaches the engine the way SSH collectors deliver it: as
the fields of /proc/meminfo (``node_meminfo`` renders them as the text ``collectors.parse_meminfo``
reads back to the same numbers).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from collectors.cpustat import CpuTimes, cpu_percent
from collectors.meminfo import MemInfo
from collectors.pod_sample import PodMemory
from collectors.sample import NodeSample
from scaler import __version__
from scaler.cluster import ClusterError, ClusterInfo, PodCounts, PodLifecycle
from scaler.sim import controlplane
from scaler.sim.model import SimModel
from scaler.sim.pod_records import SimLifecycles, pod_memory
from scaler.sim.profile import DEFAULT_RUNTIME_NAME, SimProfile, UnknownRuntime, load_profile
from scaler.workload_spec import WorkloadSpec

DEPLOYMENT_KEY = "scaler/scaler-workload"
# Per-pod memory every this many virtual seconds. Longer than the SSH collectors' 5 s on
# purpose: a simulated run is meant to take seconds, and at 5 s a default 999-step runc run
# writes ~300,000 pod rows (65 MB) and takes twice as long; at 30 s, ~50,000, a pod's memory
# still sampled ~170 times over such a run (the model's figures are smooth between its events).
POD_INTERVAL_S = 30.0


class VirtualClock:
    """The engine's clock in simulation: reading it is free, sleeping advances the model."""

    def __init__(self, model: SimModel) -> None:
        self.model = model

    def now(self) -> float:
        return self.model.now

    def monotonic(self) -> float:
        return self.model.now - self.model.start

    def sleep(self, seconds: float) -> None:
        self.model.advance(seconds)


class SimNodeSource:
    """Samples every node every ``interval_s`` of virtual time: the fields of its /proc/meminfo,
    its 1-minute load average, its CPU (percent per state over the interval since its previous
    sample, from its /proc/stat counters: none for the first) and its workloads' work (pages/s
    and how many report), as a collector would read them; and every pod with a sandbox
    every ``pod_interval_s`` (rounded to whole samples; 0: never), from the model's truth
    (``scaler.sim.pod_records``), as the SSH collectors read pods every --pod-interval."""

    def __init__(self, model: SimModel, interval_s: float = 1.0, max_buffer: int = 200_000,
                 pod_interval_s: float = POD_INTERVAL_S) -> None:
        if not interval_s > 0:
            raise ValueError("sample interval must be positive")
        self.model = model
        self.interval_s = float(interval_s)
        self._buffer: deque[NodeSample] = deque(maxlen=max_buffer)
        self._pods: deque[PodMemory] = deque(maxlen=max_buffer)
        self._pod_every = 0 if pod_interval_s <= 0 else max(1, round(pod_interval_s / interval_s))
        self._samples = 0
        self._latest: dict[str, NodeSample] = {}
        self._cpu: dict[str, CpuTimes] = {}  # each node's /proc/stat counters at its last sample
        self._next: float | None = None
        self._running = False

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._next = self.model.now
        self._sample_due(self.model)
        self.model.add_listener(self._sample_due, due=self._due)

    def _due(self, until: float) -> float:
        """When the model must next show itself to this source, running until ``until``: the
        next sample time, except that samples the buffer would drop before anyone drains it
        (more than it holds until ``until``) are not taken at all."""
        if self._next is None:
            return math.inf
        per_node = (self._buffer.maxlen or 0) // max(1, len(self.model.node_names))
        coming = math.floor((until - self._next) / self.interval_s + 1e-9) + 1
        if per_node and coming > per_node:
            self._next += (coming - per_node) * self.interval_s
        return self._next

    def _sample_due(self, model: SimModel) -> None:
        while self._next is not None and self._next <= model.now + 1e-9:
            t = model.now
            memory = model.node_memory()
            for name, f in zip(model.node_names, memory, strict=True):
                # The fields /proc/meminfo would show (``model.node_meminfo`` renders them as
                # the text ``collectors.parse_meminfo`` reads back to these very numbers).
                info = MemInfo(total_kib=f["MemTotal"], free_kib=f["MemFree"],
                               available_kib=f.get("MemAvailable"), active_kib=f.get("Active"),
                               fields=f)
                k = model.node_names.index(name)
                times = model.cpu.times(k)
                before = self._cpu.get(name)
                self._cpu[name] = times
                s = NodeSample.from_meminfo(
                    name, t, info, load1=model.node_load1(name),
                    cpu=None if before is None else cpu_percent(before, times),
                    cpus=int(model.cpus[k]), work_rate=float(model.cpu.node_work[k]),
                    work_pods=int(model.cpu.work_pods[k]))
                self._buffer.append(s)
                self._latest[name] = s
            if self._pod_every and self._samples % self._pod_every == 0:
                self._pods.extend(pod_memory(model))
            self._samples += 1
            self._next += self.interval_s
            if self._next <= model.now:  # the model jumped ahead: sample once, not for each gap
                self._next = model.now + self.interval_s

    def drain(self) -> list[NodeSample]:
        out = list(self._buffer)
        self._buffer.clear()
        return out

    def drain_pods(self) -> list[PodMemory]:
        out = list(self._pods)
        self._pods.clear()
        return out

    def latest(self) -> dict[str, NodeSample]:
        return dict(self._latest)

    def stop(self) -> None:
        self._running = False
        self.model.remove_listener(self._sample_due)


class SimulatedCluster:
    """``scaler.cluster.Cluster`` on a ``SimModel``; one workload Deployment per run."""

    def __init__(self, model_or_profile: SimModel | SimProfile, seed: int = 0, *,
                 sample_interval_s: float = 1.0, key: str = DEPLOYMENT_KEY,
                 pod_interval_s: float = POD_INTERVAL_S) -> None:
        if isinstance(model_or_profile, SimModel):
            self.model = model_or_profile
            self.seed = model_or_profile.seed
        else:
            self.model = SimModel(model_or_profile, seed)
            self.seed = seed
        self.profile = self.model.profile
        self.clock = VirtualClock(self.model)
        self.key = key
        self.sample_interval_s = sample_interval_s
        self.pod_interval_s = pod_interval_s
        self.spec: WorkloadSpec | None = None
        self._source: SimNodeSource | None = None
        self._lifecycles: SimLifecycles | None = None
        self._stats = {"api_calls": 0, "api_seconds": 0.0, "objects_listed": 0}
        self._created = False

    # The protocol -------------------------------------------------------------------------

    def describe(self) -> ClusterInfo:
        cp = self.profile.control_plane
        return ClusterInfo(
            kind="simulated",
            version=f"simulated (scaler {__version__}, Kubernetes model {cp.kubernetes_version})",
            nodes=tuple(self.model.nodes()),
            runtime_class=self._runtime_class(),
            details={"profile": self.profile.to_dict(), "seed": self.seed},
            default_runtime_handler=(self.profile.runtime(DEFAULT_RUNTIME_NAME).handler
                                     or self.profile.cluster.default_runtime),
            vm_memory_mib=self._vm_memory_mib(),
        )

    def prepare(self, spec: WorkloadSpec) -> None:
        try:
            self.profile.runtime(spec.runtime)
        except UnknownRuntime as e:
            raise ClusterError(str(e)) from None
        self.spec = spec
        self._call(controlplane.call_seconds(self.profile.control_plane, self.model.state))
        self.model.apply_deployment(self.key, spec, 0, {"app": "scaler-workload"})
        self._created = True

    def scale(self, replicas: int) -> None:
        if not self._created:
            raise ClusterError("scale before prepare: no workload deployment")
        self.model.set_replicas(self.key, replicas)
        self._call(controlplane.scale_seconds(self.profile.control_plane, self.model.state))

    def observe(self) -> PodCounts:
        objects = self.model.object_count()
        self._call(controlplane.list_seconds(self.profile.control_plane, self.model.state))
        self._stats["objects_listed"] += objects
        if not self._created:
            return PodCounts()
        counts = self.model.counts(self.key)
        startups = self.model.take_startups(self.key)
        return PodCounts(**{**counts.__dict__, "startup_s": startups})

    def pod_lifecycles(self) -> list[PodLifecycle]:
        if self._lifecycles is None:
            self._lifecycles = SimLifecycles(self.model, self.key)
        return self._lifecycles.changes()

    def node_source(self) -> SimNodeSource:
        if self._source is None:
            self._source = SimNodeSource(self.model, self.sample_interval_s,
                                         pod_interval_s=self.pod_interval_s)
        return self._source

    def cleanup(self, keep: bool = False) -> None:
        if keep or not self._created:
            return
        self.scale(0)
        self._call(controlplane.call_seconds(self.profile.control_plane, self.model.state))
        self.model.delete_deployment(self.key)
        self._created = False

    def stats(self) -> dict[str, Any]:
        return {**self._stats, "model_ticks": self.model.ticks, "pod_ticks": self.model.pod_ticks}

    # Helpers ------------------------------------------------------------------------------

    def _call(self, took: float) -> None:
        """One API round trip: virtual time passes while the model keeps running."""
        self._stats["api_calls"] += 1
        self._stats["api_seconds"] += took
        self.model.advance(took)

    def _vm_memory_mib(self) -> float | None:
        if self.spec is None:
            return None
        rt = self.profile.runtime(self.spec.runtime)
        return rt.vm_memory_mib if rt.vm else None

    def _runtime_class(self) -> dict[str, Any] | None:
        if self.spec is None or self.spec.runtime_class is None:
            return None
        rt = self.profile.runtime(self.spec.runtime)
        return {
            "name": self.spec.runtime,
            "handler": rt.handler or self.spec.runtime,
            "overhead": {"memory_mib": rt.overhead_mib, "cpu_millis": rt.overhead_cpu_m},
        }


def build_simulated_cluster(
    profile_path: str | None = None,
    *,
    workers: int | None = None,
    worker_cpus: int | None = None,
    worker_memory_mib: int | None = None,
    seed: int = 0,
    sample_interval_s: float = 1.0,
    pod_interval_s: float = POD_INTERVAL_S,
) -> SimulatedCluster:
    """What ``scaler run`` calls: defaults, overridden by a profile file, then by options."""
    profile = load_profile(profile_path, workers=workers, worker_cpus=worker_cpus,
                           worker_memory_mib=worker_memory_mib)
    return SimulatedCluster(profile, seed, sample_interval_s=sample_interval_s,
                            pod_interval_s=pod_interval_s)
