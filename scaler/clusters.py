"""Building what a run drives: the cluster (the embedded simulator, or a real one through its
driver). Its node figures' source: ``scaler.node_sources``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from collectors.sample import NodeSource
from scaler.clock import Clock
from scaler.cluster import Cluster, ClusterInfo, PodCounts, PodLifecycle
from scaler.errors import UserError
from scaler.request import ClusterChoice
from scaler.workload_spec import LEGACY_DEFAULT_RUNTIME, WorkloadSpec


def build_cluster(choice: ClusterChoice, seed: int, run_id: str, op_timeout_s: float,
                  sample_interval_s: float, pod_interval_s: float | None = None) -> Cluster:
    if choice.simulated:
        return simulated_cluster(choice, seed, sample_interval_s, pod_interval_s)
    from scaler.openshift import OpenShiftCluster, OpenShiftOptions

    return OpenShiftCluster(OpenShiftOptions(
        kubeconfig=choice.kubeconfig, context=choice.context, namespace=choice.namespace,
        client_binary=choice.client_binary, adopt=choice.adopt, op_timeout_s=op_timeout_s,
        run_id=run_id, runtime_class_manifests=choice.runtime_class_manifests,
    ))


def simulated_cluster(choice: ClusterChoice, seed: int, sample_interval_s: float,
                      pod_interval_s: float | None = None) -> Cluster:
    """The embedded simulator; its pods are measured every ``pod_interval_s`` (None: the
    simulator's default)."""
    from scaler.sim import ProfileError, build_simulated_cluster

    try:
        cluster = build_simulated_cluster(
            choice.sim_profile, workers=choice.workers, worker_cpus=choice.worker_cpus,
            worker_memory_mib=choice.worker_memory_mib, seed=seed,
            sample_interval_s=sample_interval_s,
            **({} if pod_interval_s is None else {"pod_interval_s": pod_interval_s}),
        )
    except ProfileError as e:
        raise UserError(str(e)) from None
    default = getattr(cluster.profile.cluster, "default_runtime", LEGACY_DEFAULT_RUNTIME)
    return DefaultRuntimeNamed(cluster, default)


def refuse_unknown_runtimes(cluster: Cluster, info: ClusterInfo,
                            specs: list[WorkloadSpec]) -> None:
    """Refuse, before the first run, a runtime the cluster cannot run: one the simulator has no
    profile for (its own rule and message), or a RuntimeClass a real cluster lacks that scaler
    does not ship (``kube_objects.runtime_class_problem``)."""
    for spec in specs:
        if spec.default_runtime:
            continue
        if isinstance(cluster, DefaultRuntimeNamed):
            cluster.check(spec)
            continue
        on_cluster = info.details.get("runtime_classes")
        if isinstance(on_cluster, dict):
            from scaler.kube_objects import runtime_class_problem

            # a RuntimeClass the run was given a manifest for (--runtime-class-manifest) counts
            supplied = info.details.get("runtime_class_manifests") or []
            problem = runtime_class_problem(spec.runtime, [*on_cluster, *supplied])
            if problem:
                raise UserError(problem)


class DefaultRuntimeNamed:
    """The simulated cluster, with the default runtime called ``default`` (team contract 2).

    Interim, until the simulator maps ``default`` to its profile's ``cluster.default_runtime``
    itself: a default-runtime spec reaches the model as that profile's name (``runc``), and
    ``describe`` says which handler that is. Every other call goes straight through.
    """

    def __init__(self, cluster: Any, name: str) -> None:
        self.cluster = cluster
        self.name = name

    @property
    def clock(self) -> Clock:
        clock: Clock = self.cluster.clock
        return clock

    def describe(self) -> ClusterInfo:
        info: ClusterInfo = self.cluster.describe()
        if info.runtime_class is None and info.default_runtime_handler is None:
            info = replace(info, default_runtime_handler=self.name)
        return info

    def _model_spec(self, spec: WorkloadSpec) -> WorkloadSpec:
        return replace(spec, runtime=self.name) if spec.default_runtime else spec

    def check(self, spec: WorkloadSpec) -> None:
        """A runtime the simulator has no profile for: its own message (``SimProfile.runtime``)."""
        try:
            self.cluster.profile.runtime(self._model_spec(spec).runtime)
        except KeyError as e:
            raise UserError(str(e.args[0]) if e.args else str(e)) from None

    def prepare(self, spec: WorkloadSpec) -> None:
        self.cluster.prepare(self._model_spec(spec))

    def scale(self, replicas: int) -> None:
        self.cluster.scale(replicas)

    def observe(self) -> PodCounts:
        counts: PodCounts = self.cluster.observe()
        return counts

    def pod_lifecycles(self) -> list[PodLifecycle]:
        changes: list[PodLifecycle] = self.cluster.pod_lifecycles()
        return changes

    def node_source(self) -> NodeSource | None:
        source: NodeSource | None = self.cluster.node_source()
        return source

    def cleanup(self, keep: bool = False) -> None:
        self.cluster.cleanup(keep=keep)

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.cluster.stats()
        return stats
