"""Where a run's node and pod figures come from (``--node-source``, issue 14.2), chosen by name
from a table: the simulator's own nodes, SSH collectors on a real cluster's nodes, the
kubelet's Summary API through the API server (for clusters that allow no SSH), both at once
(recorded side by side, how far they disagree reported), or whichever works (``auto``).

Everything that can fail for a reason the user can fix (no SSH access, no ``nodes/proxy``
permission) fails here, as one line, before the run's first file is written; ``auto`` says in
one line what it chose and why.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from collectors.pod_sample import PodMemory
from collectors.sample import NodeSample, NodeSource, drain_pods
from collectors.ssh_targets import NodeTarget
from scaler.cluster import Cluster, ClusterError, ClusterInfo
from scaler.errors import UserError
from scaler.request import ClusterChoice, CollectorChoice
from scaler.source_agreement import SourceAgreement

SSH, KUBELET, SIM, NONE = "ssh", "kubelet", "sim", "none"
AUTO, BOTH = "auto", "both"
CHOICES = (AUTO, SSH, KUBELET, BOTH)
# The kubelet refreshes its stats every 10-15 s (collectors.kubelet_source): polling faster
# mostly reads the same figures again, so 10 s unless --sample-interval says otherwise.
KUBELET_INTERVAL_S = 10.0


@dataclass
class NodeSources:
    """A run's node source, ready to start: ``name`` as the metadata records it (``ssh``,
    ``kubelet``, ``sim``, ``none``; ``primary`` for what run.csv's node figures come from),
    every source recorded (``names``), how old a sample may be and still count (``stale_s``),
    what to stop after the source (the kubectl proxy), and a line to tell the user."""

    source: NodeSource | None
    names: tuple[str, ...]
    stale_s: float
    note: str | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    agreement: SourceAgreement | None = None  # two sources: how far they disagree

    @property
    def primary(self) -> str:
        return self.names[0] if self.names else NONE

    def close(self) -> None:
        """Stop what the source needed (after the source itself has stopped)."""
        for close in reversed(self.closers):
            close()
        self.closers = []

    def columns(self) -> dict[str, Any]:
        """Which source produced which of the run's figures (the metadata's ``node_sources``)."""
        return {"run": self.primary, "nodes": list(self.names), "pods": list(self.names)}


class TwoSources:
    """Both sources at once: the first's samples make run.csv's figures; both are recorded
    (each sample with its source's name) and their pod records go to run.pods.csv."""

    def __init__(self, primary: tuple[str, NodeSource], secondary: tuple[str, NodeSource]):
        self.sources = (primary, secondary)

    def start(self) -> None:
        (_, first), (_, second) = self.sources
        first.start()
        try:
            second.start()
        except BaseException:
            first.stop()
            raise

    def drain_labelled(self) -> list[tuple[str, list[NodeSample]]]:
        return [(name, s.drain()) for name, s in self.sources]

    def drain(self) -> list[NodeSample]:
        return [x for _, batch in self.drain_labelled() for x in batch]

    def latest(self) -> dict[str, NodeSample]:
        return self.sources[0][1].latest()

    def drain_pods(self) -> list[PodMemory]:
        return [p for _, s in self.sources for p in drain_pods(s)]

    def stop(self) -> None:
        try:
            self.sources[0][1].stop()
        finally:
            self.sources[1][1].stop()

    def stats(self) -> dict[str, Any]:
        from scaler.metadata import stats_of

        return {name: stats_of(s) for name, s in self.sources}


def _say(quiet: bool, line: str) -> None:
    if not quiet:
        print(f"scaler: {line}", file=sys.stderr, flush=True)


# auto probes this many nodes (at once): SSH when any answers, so one node down does not turn
# the run's figures to the kubelet's.
PROBED = 3


def ssh_targets(c: CollectorChoice, info: ClusterInfo) -> list[NodeTarget]:
    """The cluster's nodes (InternalIP) plus any --node (a --node with a discovered name
    replaces that node's address)."""
    from collectors.ssh_targets import NodeTarget

    by_name = {n.name: NodeTarget(n.name, n.address) for n in info.nodes if n.address}
    by_name.update({t.name: t for t in c.targets})
    return list(by_name.values())


def ssh_pool(c: CollectorChoice, info: ClusterInfo) -> NodeSource | None:
    """SSH collectors on ``ssh_targets`` (one connection per node, or with ``--jump-fan-in``
    one channel to the jump host for all: ``collectors.jump_pool``); None without any node."""
    targets = ssh_targets(c, info)
    if not targets:
        return None
    if c.options.jump_fan_in:
        from collectors.jump_pool import JumpFanInPool

        try:
            return JumpFanInPool(targets, c.options, interval_s=c.interval_s)
        except ValueError as e:
            raise UserError(f"--jump-fan-in: {e}") from None
    from collectors.pool import CollectorPool

    return CollectorPool(targets, c.options, interval_s=c.interval_s)


def ssh_problem(c: CollectorChoice, info: ClusterInfo) -> str | None:
    """Why the nodes cannot be sampled over SSH (None: they can), from a probe of the first
    few: the first one's failure when none answers."""
    from collectors.probe import probe

    targets = ssh_targets(c, info)
    if not targets:
        return "no node address to reach"
    if c.options.jump_fan_in:
        # the nodes are reached by the jump host's ssh, with keys this machine may not have:
        # a fan-in asked for is taken as asked (its nodes' failures show as their gaps)
        return None
    results = probe(targets[:PROBED], c.options)
    if any(r.reachable for r in results):
        return None
    return f"{results[0].node}: {results[0].error}"


def kubelet_source(cluster: ClusterChoice, c: CollectorChoice,
                   info: ClusterInfo) -> tuple[NodeSource | None, str | None, list[Callable[[], None]]]:
    """The kubelet Summary API through a local ``kubectl proxy``: (source, None, closers), or
    (None, why not, []) when the proxy cannot start or the first node's stats cannot be read."""
    from collectors.kubelet_http import probe
    from collectors.kubelet_source import KubeletSource
    from scaler.openshift.kubectl_proxy import KubectlProxy
    from scaler.openshift.options import OpenShiftOptions

    nodes = [n.name for n in info.nodes]
    if not nodes:
        return None, "the cluster lists no worker node", []
    try:
        # From the main thread: the proxy's parent-death signal follows the starting thread.
        proxy = KubectlProxy.for_cluster(OpenShiftOptions(
            kubeconfig=cluster.kubeconfig, context=cluster.context,
            client_binary=cluster.client_binary))
        url = proxy.start()
    except ClusterError as e:
        return None, str(e), []
    try:
        why = probe(url, nodes[0])
        if why is not None:
            proxy.stop()
            return None, f"{nodes[0]}: {why}", []
        interval = c.interval_s if c.interval_given else KUBELET_INTERVAL_S
        source = KubeletSource(url, nodes, interval, namespaces={cluster.namespace})
    except BaseException:  # Ctrl-C while probing: no proxy left behind
        proxy.stop()
        raise
    return source, None, [proxy.stop]


def node_sources(cluster: Cluster, info: ClusterInfo, choice: ClusterChoice,
                 c: CollectorChoice, *, quiet: bool = False) -> NodeSources:
    """The run's node source as asked (``c.source``); a ``UserError`` when an explicitly asked
    one cannot work."""
    fallback_stale = max(10.0, 3 * c.interval_s)
    if not c.enabled:
        return NodeSources(None, (), fallback_stale)
    if choice.simulated:
        return NodeSources(cluster.node_source(), (SIM,), fallback_stale)
    if c.source == SSH:
        return NodeSources(ssh_pool(c, info), (SSH,), fallback_stale)
    if c.source in (KUBELET, BOTH):
        source, why, closers = kubelet_source(choice, c, info)
        if source is None:
            raise UserError(f"--node-source {c.source}: cannot read the nodes' kubelet stats "
                            f"through the API server ({why}); check that you may get "
                            "nodes/proxy (kubectl auth can-i get nodes --subresource=proxy)")
        stale = max(fallback_stale, getattr(source, "stale_after_s", fallback_stale))
        if c.source == KUBELET:
            return NodeSources(source, (KUBELET,), stale, closers=closers)
        pool = ssh_pool(c, info)
        if pool is None:
            for close in closers:
                close()
            raise UserError("--node-source both: no node to reach over SSH (no InternalIP and "
                            "no --node)")
        # Pairs of measurements within two of each source's periods (SSH samples pods every
        # --pod-interval, the kubelet's stats are refreshed every 10-15 s).
        agreement = SourceAgreement(
            SSH, KUBELET, node_window_s=max(2.0, 2 * c.interval_s),
            pod_window_s=max(2 * KUBELET_INTERVAL_S, 2 * c.options.reading.pod_interval_s))
        return NodeSources(TwoSources((SSH, pool), (KUBELET, source)), (SSH, KUBELET),
                           fallback_stale, closers=closers, agreement=agreement)
    return _auto(info, choice, c, fallback_stale, quiet)


def _auto(info: ClusterInfo, choice: ClusterChoice, c: CollectorChoice, stale: float,
          quiet: bool) -> NodeSources:
    """SSH when the first node answers a probe, else the kubelet's stats when they can be read,
    else no node samples; each fallback said in one line."""
    ssh_why = ssh_problem(c, info)
    if ssh_why is None:
        return NodeSources(ssh_pool(c, info), (SSH,), stale)
    source, kubelet_why, closers = kubelet_source(choice, c, info)
    if source is not None:
        note = f"node figures from the kubelet's stats (no SSH to the nodes: {ssh_why})"
        _say(quiet, note)
        return NodeSources(source, (KUBELET,),
                           max(stale, getattr(source, "stale_after_s", stale)), note, closers)
    note = (f"no node samples: no SSH to the nodes ({ssh_why}) and no kubelet stats "
            f"({kubelet_why})")
    _say(quiet, note)
    return NodeSources(None, (), stale, note)
