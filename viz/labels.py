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


_FIELDS: dict[str, Callable[[RunMeta], str | None]] = {
    "runtime": lambda m: m.runtime_label if m.runtime else None,
    "scenario": lambda m: m.scenario_label,
    "mode": lambda m: m.mode,
    "cluster": where,
}


def varying(metas: Sequence[RunMeta], fields: Sequence[str]) -> list[str]:
    """The fields whose known values differ (a field only some runs record tells them apart no
    better than the fields they all record: old files have no scenario)."""
    return [f for f in fields if len({_FIELDS[f](m) for m in metas} - {None}) > 1]


def run_labels(metas: Sequence[RunMeta], stems: Sequence[str]) -> list[str]:
    """Labels made of what differs (runtime, scenario, mode, cluster); a published run is
    called by its name; file names are appended where labels would still collide."""
    fields = varying([m for m in metas if not m.reference], list(_FIELDS))
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
    fields = varying(metas, ["scenario", "mode", "cluster"])
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
