"""What the user asked ``scaler run`` for, as typed values: the command line parsed and checked,
nothing built yet. ``scaler.plan`` turns a request into runs; ``scaler.session`` runs them.

Light on purpose: the CLI builds these without importing the engine, a cluster driver or SSH.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from collectors.ssh_targets import NodeTarget, SSHOptions
from scaler.config import RunConfig, limit_problem
from scaler.kube_names import dns_label_problem
from scaler.workload_spec import WorkloadSpec


@dataclass(frozen=True)
class WorkloadOverrides:
    """Workload options given on the command line; None keeps the scenario's value. A request
    or limit of 0 removes the scenario's ("no requests", as in the original measurements)."""

    cpu_percent: float | None = None
    memory_mib: int | None = None
    increment_mib: int | None = None
    request_mib: int | None = None
    limit_mib: int | None = None
    image: str | None = None

    def apply(self, base: WorkloadSpec, runtime: str) -> WorkloadSpec:
        spec = base.with_(runtime=runtime, cpu_percent=self.cpu_percent, image=self.image,
                          memory_mib=self.memory_mib, increment_mib=self.increment_mib)
        if self.request_mib is not None:
            spec = replace(spec, request_mib=self.request_mib or None)
        if self.limit_mib is not None:
            spec = replace(spec, limit_mib=self.limit_mib or None)
        return spec


@dataclass(frozen=True)
class ClusterChoice:
    """Which cluster to drive: ``simulated`` (with its shape) or ``openshift`` (how to reach it)."""

    kind: str = "simulated"
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str = "scaler"
    client_binary: str | None = None
    adopt: bool = False
    sim_profile: str | None = None
    workers: int | None = None
    worker_cpus: int | None = None
    worker_memory_mib: int | None = None
    # --runtime-class-manifest: RuntimeClass objects to create when missing, by name
    runtime_class_manifests: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        # The namespace is a Kubernetes name on the simulator too: a run that a real cluster
        # would refuse is refused everywhere.
        ns_problem = dns_label_problem(self.namespace)
        if ns_problem:
            problems.append(f"--namespace {ns_problem}")
        for option, value, unit in (("--workers", self.workers, ""),
                                    ("--worker-cpus", self.worker_cpus, ""),
                                    ("--worker-memory", self.worker_memory_mib, "MiB")):
            problem = limit_problem(option, value, unit=unit)
            if problem:
                problems.append(problem)
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def simulated(self) -> bool:
        return self.kind == "simulated"


@dataclass(frozen=True)
class CollectorChoice:
    """Node figures: where from (``source``: auto, ssh, kubelet, both; the simulator samples
    its own nodes), how to log in, extra nodes, how often to sample (``interval_given``: the user
    chose the interval, else each source's default), on or off."""

    options: SSHOptions = field(default_factory=SSHOptions)
    targets: tuple[NodeTarget, ...] = ()
    interval_s: float = 1.0
    enabled: bool = True
    source: str = "auto"
    interval_given: bool = False
    pod_interval_given: bool = False  # --pod-interval given: the simulator uses it too


@dataclass(frozen=True)
class RunRequest:
    """Everything ``scaler run`` was asked: the runtimes, scenarios and CPU percents to cross (the
    matrix), the workload overrides, how to scale and stop (``config``: scenario and workload are filled per
    run), the cluster, the collectors, and where and how to report."""

    runtimes: tuple[str, ...]
    scenarios: tuple[str, ...]
    config: RunConfig
    # --cpu: one percent overrides the scenario's; several are a dimension of the matrix
    # (scenario x CPU x runtime). Empty: each scenario's own.
    cpus: tuple[float, ...] = ()
    workload: WorkloadOverrides = WorkloadOverrides()
    cluster: ClusterChoice = ClusterChoice()
    collectors: CollectorChoice = CollectorChoice()
    output: str | None = None
    force: bool = False  # overwrite an earlier run's files
    repeat: int | None = None  # --repeat N: each configuration N times (None: not asked)
    settle_s: float = 30.0  # real cluster: the wait between one run's clean-up and the next
    as_json: bool = False
    quiet: bool = False
