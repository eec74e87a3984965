"""``scaler nodes``: commands about the nodes themselves (today: ``probe`` SSH access)."""

from __future__ import annotations

import sys

import click

from collectors.probe import format_probe_table, probe
from scaler.ssh_options import ssh_options, ssh_settings_from
from scaler.units import Duration


@click.group()
def nodes():
    """Commands about the cluster's nodes."""


@nodes.command("probe")
@ssh_options
@click.option("--timeout", "timeout_s", type=Duration(), default="15s", show_default=True,
              help="Give up on a node after this long.")
def probe_command(timeout_s: float, **kwargs):
    """Connect to every node once over SSH and show reachability, latency and MemTotal.

    Exit status 1 if any node is unreachable.
    """
    options, targets, _interval, _enabled = ssh_settings_from(kwargs)
    if not targets:
        raise click.UsageError("no nodes: give --node NAME=HOST[:PORT] (repeatable)")
    results = probe(targets, options, timeout_s=timeout_s, warn_to=sys.stderr)
    click.echo(format_probe_table(results), nl=False)
    if not all(r.reachable for r in results):
        raise SystemExit(1)
