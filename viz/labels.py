"""Short names for runs in a comparison: made of what differs between them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from viz.run import RunMeta


def where(m: RunMeta) -> str | None:
    if m.reference:
        return "published"
    if m.simulated:
        return "simulated"
    if m.simulated is False:
        return "real" if m.source_format == "scaler" else "original method"
    return None


def _scenario(m: RunMeta) -> str | None:
    return m.scenario_label


_FIELDS: dict[str, Callable[[RunMeta], str | None]] = {
    "runtime": lambda m: m.runtime_label if m.runtime else None,
    "scenario": _scenario,
    "mode": lambda m: m.mode,
    "cluster": where,
    # Only where runs of one scenario ran different workloads (files older than "custom").
    "workload": lambda m: m.workload,
}


def _fields(metas: Sequence[RunMeta], fields: Sequence[str]) -> list[str]:
    """The varying fields, plus the workload in words where one scenario name covers runs of
    different workloads."""
    out = varying(metas, [f for f in fields if f != "workload"])
    by_scenario: dict[str | None, set[str | None]] = {}
    for m in metas:
        by_scenario.setdefault(m.scenario_label, set()).add(m.workload)
    if any(len(w - {None}) > 1 for w in by_scenario.values()):
        out.append("workload")
    return out


def varying(metas: Sequence[RunMeta], fields: Sequence[str]) -> list[str]:
    """The fields whose known values differ (a field only some runs record tells them apart no
    better than the fields they all record: old files have no scenario)."""
    return [f for f in fields if len({_FIELDS[f](m) for m in metas} - {None}) > 1]


def run_labels(metas: Sequence[RunMeta], stems: Sequence[str]) -> list[str]:
    """Labels made of what differs (runtime, scenario, mode, cluster); a published run is
    called by its name; file names are appended where labels would still collide."""
    fields = _fields([m for m in metas if not m.reference], list(_FIELDS))
    labels = []
    for m, s in zip(metas, stems, strict=True):
        if m.reference:
            labels.append(m.reference)
            continue
        words = [_FIELDS[f](m) for f in fields]
        text = " ".join(w for w in words if w)
        labels.append(text or (m.runtime_label if m.runtime else s))
    if len(set(labels)) < len(labels):
        labels = [
            f"{lab} ({s})" if labels.count(lab) > 1 else lab
            for lab, s in zip(labels, stems, strict=True)
        ]
    if len(set(labels)) < len(labels):
        labels = [f"{lab} #{i + 1}" for i, lab in enumerate(labels)]
    return labels


def variant_labels(metas: Sequence[RunMeta], labels: Sequence[str]) -> tuple[str, list[str]]:
    """What tells apart runs of one runtime (shown as line dash or point shape, while colour
    shows the runtime): the scenario, else whatever else differs. Returns the legend title and
    one value per run; runs of one runtime that would still look alike get their label."""
    fields = _fields(metas, ["scenario", "mode", "cluster", "workload"])
    values = []
    for m in metas:
        words = [_FIELDS[f](m) for f in fields]
        values.append(m.reference or " ".join(w for w in words if w) or "all")
    seen: dict[tuple[str, str], int] = {}
    for m, v in zip(metas, values, strict=True):
        seen[(m.runtime_label, v)] = seen.get((m.runtime_label, v), 0) + 1
    values = [
        lab if seen[(m.runtime_label, v)] > 1 else v
        for m, v, lab in zip(metas, values, labels, strict=True)
    ]
    for i, m in enumerate(metas):
        if m.abnormal:
            values[i] += f" [{m.status}]"
    title = " / ".join(fields) if fields else "runs"
    return title, values
