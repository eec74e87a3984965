"""The SSH collectors in one import: options, targets, the per-node collector, the pool, the probe."""

from collectors.node_collector import CollectorStats, NodeCollector
from collectors.pool import CollectorPool
from collectors.probe import ProbeResult, format_probe_table, probe
from collectors.remote_stream import collect_command
from collectors.ssh_targets import NodeTarget, SSHOptions, parse_node

__all__ = [
    "CollectorPool", "CollectorStats", "NodeCollector", "NodeTarget", "ProbeResult", "SSHOptions",
    "collect_command", "format_probe_table", "parse_node", "probe",
]
