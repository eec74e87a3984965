"""Per-node collection: /proc/meminfo and /proc/stat parsing, node samples, and their sources.

This package knows nothing of clusters: a source is given node names and addresses and yields
``NodeSample`` records. The simulator renders its nodes as /proc/meminfo text and parses it with the
same ``parse_meminfo`` the SSH collectors use, so both paths go through one parser.
"""

from collectors.meminfo import MemInfo, parse_meminfo, render_meminfo
from collectors.sample import NodeSample, NodeSource

__all__ = ["MemInfo", "parse_meminfo", "render_meminfo", "NodeSample", "NodeSource"]
