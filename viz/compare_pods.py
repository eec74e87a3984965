"""The per-pod cost of a comparison: one row per group (runtimes lined up), its pods pooled over
the group's runs, and each group's verdict on its declared overhead."""

from __future__ import annotations

from viz.charts_pods import CostRow
from viz.groups import Group
from viz.pod_report import pod_verdict, pooled_pods, pooled_verdict


def cost_rows(groups: list[Group], labels: list[str]) -> list[CostRow]:
    rows = []
    for g, label in zip(groups, labels, strict=True):
        frame = pooled_pods(g.reports)
        if frame is None:
            continue
        tables = [r.pods for r in g.reports if r.pods is not None]
        measured = frozenset.union(*(t.measured for t in tables))
        sources = tuple(sorted({s for t in tables for s in t.sources}))
        rows.append(CostRow(label, frame, g.meta.declared_overhead_mib, g.meta.vm_memory_mib,
                            measured, sources, g.meta.is_default_runtime))  # fmt: skip
    return rows


def group_verdict(group: Group) -> str | None:
    """The verdict over every pod of the group's runs; None when none recorded pods."""
    return pooled_verdict(group.reports)


def group_sources(group: Group) -> tuple[str, ...]:
    """The node sources that measured the group's pods (none: ())."""
    return tuple(sorted({s for r in group.reports if r.pods is not None for s in r.pods.sources}))


def why_no_verdict(group: Group) -> str:
    """The verdict line of a group whose runs measured no overhead: why (its first run's)."""
    return pod_verdict(group.reports[0].run, None)
