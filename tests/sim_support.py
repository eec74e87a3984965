"""Helpers for the simulator's tests: small clusters, and driving a model step by step."""

from __future__ import annotations

from scaler.sim import SimModel, load_profile
from scaler.sim.profile import SimProfile
from scaler.workload_spec import SCENARIOS, WorkloadSpec

KEY = "test/workload"


def small_profile(workers: int = 2, memory_mib: int = 8192, cpus: int = 4, **cluster) -> SimProfile:
    """A small cluster with light infrastructure, so numbers in tests are easy to reason about."""
    p = load_profile(None, workers=workers, worker_cpus=cpus, worker_memory_mib=memory_mib)
    p.cluster.infra_used_mib = (500.0,)
    p.cluster.infra_pods = 2
    p.cluster.infra_cpu_request_m = (200.0,)
    p.cluster.infra_memory_request_mib = (256.0,)
    for k, v in cluster.items():
        setattr(p.cluster, k, v)
    return p


def model_with(spec: WorkloadSpec, replicas: int, profile: SimProfile | None = None,
               seed: int = 0, seconds: float = 0.0) -> SimModel:
    m = SimModel(profile or small_profile(), seed)
    m.apply_deployment(KEY, spec, replicas, {"app": "w"})
    m.advance(seconds)
    return m


def capacity(runtime: str = "runc", **changes) -> WorkloadSpec:
    return SCENARIOS["capacity"].with_(runtime=runtime, **changes)


def ramp(model: SimModel, to: int, every_s: float = 5.0, key: str = KEY) -> list:
    """One more replica every ``every_s`` seconds up to ``to``; the counts after each step."""
    out = []
    for n in range(1, to + 1):
        model.set_replicas(key, n)
        model.advance(every_s)
        out.append(model.counts(key))
    return out
