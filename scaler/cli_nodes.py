"""``scaler nodes``: commands about the nodes themselves (today: ``probe`` SSH access)."""

from __future__ import annotations

import sys

import click

from scaler.errors import UserError
from scaler.ssh_options import ssh_access_from, ssh_access_options
from scaler.units import Duration


@click.group()
def nodes():
    """Commands about the cluster's nodes."""


def _discovered(kubeconfig: str | None, context: str | None, client_binary: str | None):
    """Worker nodes (name, InternalIP) of the cluster the user named; read-only calls."""
    from collectors.ssh_targets import NodeTarget
    from scaler.cluster import ClusterError
    from scaler.openshift import OpenShiftCluster, OpenShiftOptions

    cluster = OpenShiftCluster(OpenShiftOptions(kubeconfig=kubeconfig, context=context,
                                                client_binary=client_binary))
    try:
        info = cluster.describe()
    except ClusterError as e:  # the cluster the user named cannot be read: bad input
        raise UserError(str(e)) from None
    return [NodeTarget(n.name, n.address) for n in info.nodes if n.address]


@nodes.command("probe")
@ssh_access_options
@click.option("--timeout", "timeout_s", type=Duration(), default="15s", show_default=True,
              help="Give up on a node after this long.")
@click.option("--kubeconfig", type=click.Path(), help="Take the worker nodes (InternalIP) from "
                                                      "this cluster.")
@click.option("--context", help="Kubeconfig context of that cluster.")
@click.option("--client-binary", help="oc or kubectl (default: oc if on PATH, else kubectl).")
def probe_command(timeout_s: float, kubeconfig: str | None, context: str | None,
                  client_binary: str | None, **kwargs):
    """Connect to every node once over SSH and show reachability, latency and MemTotal.

    Nodes are the cluster's workers when --kubeconfig or --context names a cluster (read-only:
    only nodes are listed), plus every --node (which wins for a name given twice).
    Exit status 1 if any node is unreachable.
    """
    from collectors.probe import format_probe_table, probe

    options, explicit = ssh_access_from(kwargs)
    targets = {}
    if kubeconfig or context:
        targets.update({t.name: t for t in _discovered(kubeconfig, context, client_binary)})
    targets.update({t.name: t for t in explicit})
    targets = list(targets.values())
    if not targets:
        raise UserError("no nodes: name a cluster (--kubeconfig/--context) or give "
                        "--node NAME=HOST[:PORT] (repeatable)")
    results = probe(targets, options, timeout_s=timeout_s, warn_to=sys.stderr)
    click.echo(format_probe_table(results), nl=False)
    if not all(r.reachable for r in results):
        raise SystemExit(1)
