"""Building what a run drives: the cluster (the embedded simulator, or a real one through its
driver) and, for a real cluster, the SSH collectors that sample its nodes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from collectors.sample import NodeSource
from scaler.clock import Clock
from scaler.cluster import Cluster, ClusterInfo, PodCounts
from scaler.errors import UserError
from scaler.request import ClusterChoice, CollectorChoice
from scaler.workload_spec import LEGACY_DEFAULT_RUNTIME, WorkloadSpec

NodeSourceFactory = Callable[[ClusterInfo], NodeSource | None]


def build_cluster(choice: ClusterChoice, seed: int, run_id: str, op_timeout_s: float,
                  sample_interval_s: float) -> Cluster:
    if choice.simulated:
        return simulated_cluster(choice, seed, sample_interval_s)
    from scaler.openshift import OpenShiftCluster, OpenShiftOptions

    return OpenShiftCluster(OpenShiftOptions(
        kubeconfig=choice.kubeconfig, context=choice.context, namespace=choice.namespace,
        client_binary=choice.client_binary, adopt=choice.adopt, op_timeout_s=op_timeout_s,
        run_id=run_id, runtime_class_manifests=choice.runtime_class_manifests,
    ))


def simulated_cluster(choice: ClusterChoice, seed: int, sample_interval_s: float) -> Cluster:
    from scaler.sim import ProfileError, build_simulated_cluster

    try:
        cluster = build_simulated_cluster(
            choice.sim_profile, workers=choice.workers, worker_cpus=choice.worker_cpus,
            worker_memory_mib=choice.worker_memory_mib, seed=seed,
            sample_interval_s=sample_interval_s,
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

    def node_source(self) -> NodeSource | None:
        source: NodeSource | None = self.cluster.node_source()
        return source

    def cleanup(self, keep: bool = False) -> None:
        self.cluster.cleanup(keep=keep)

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.cluster.stats()
        return stats


def ssh_node_source(collectors: CollectorChoice) -> NodeSourceFactory:
    """SSH collectors for a real cluster: its discovered nodes (InternalIP) plus any --node given
    (a --node with a discovered name replaces that node's address)."""

    def build(info: ClusterInfo) -> NodeSource | None:
        from collectors.pool import CollectorPool
        from collectors.ssh_targets import NodeTarget

        by_name = {n.name: NodeTarget(n.name, n.address) for n in info.nodes if n.address}
        by_name.update({t.name: t for t in collectors.targets})
        if not by_name:
            return None
        return CollectorPool(list(by_name.values()), collectors.options,
                             interval_s=collectors.interval_s)

    return build
