"""Which runs a comparison divides by which: the pairs behind every overhead ratio.

A ratio only means something between runs that differ in one thing. Three kinds of pair:

- runtime: each runtime against the baseline runtime (the cluster default, ``default`` in new
  files and ``runc`` in old ones, or ``--baseline NAME``), within the same scenario and workload
  on the same kind of cluster (simulated or real): "kata / default (runc), hungry";
- scenario: each scenario (or workload) against the first one, within the same runtime:
  "restricted / capacity, kata";
- measured: a simulated run against a measurement of the same runtime (a real run or a published
  reference), and a user's measurement against a published one: how far the model (or the
  user's cluster) is from what was measured.

Everything here works on run metadata only, so it is testable without a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from viz.errors import VizInputError
from viz.run import RunMeta

KIND_TITLES = {
    "runtime": "runtime vs the baseline runtime (same scenario and workload, same kind of cluster)",
    "scenario": "scenario vs scenario (same runtime, same kind of cluster)",
    "measured": "model vs measurement (same runtime): the simulated or new run / the measured one",
}
SCENARIO_ORDER = ("capacity", "hungry", "restricted", "cpu")


@dataclass(frozen=True)
class Pair:
    kind: str  # a key of KIND_TITLES
    num: int  # index of the numerator group
    den: int  # index of the denominator group
    context: str  # what the two share, for the label ("hungry", "kata", ...)


def is_baseline(meta: RunMeta, baseline: str | None) -> bool:
    """The baseline runtime: the one named, matched by name, handler or label; else the
    cluster default (``default`` or, in older files, ``runc``)."""
    if baseline is None:
        return meta.is_default_runtime
    return baseline in (meta.runtime, meta.runtime_key, meta.runtime_label)


def _setting(m: RunMeta) -> tuple[object, ...]:
    return (m.simulated, m.workload_key)


def _measured(m: RunMeta) -> bool:
    return m.reference is not None or m.simulated is False


def _scenario_rank(m: RunMeta, first_seen: dict[tuple[str | None, str | None], int]) -> tuple[int, int]:
    s = m.scenario or ""
    known = SCENARIO_ORDER.index(s) if s in SCENARIO_ORDER else len(SCENARIO_ORDER)
    return known, first_seen[m.workload_key]


def find_pairs(metas: Sequence[RunMeta], baseline: str | None = None) -> list[Pair]:
    """Every pair worth a ratio, runtime pairs first. ``metas`` are one per group."""
    if baseline is not None and not any(is_baseline(m, baseline) for m in metas):
        known = sorted({m.runtime_label for m in metas})
        raise VizInputError(
            f"--baseline {baseline}: no run has that runtime (runtimes: {', '.join(known)})"
        )
    pairs: list[Pair] = []
    base = [i for i, m in enumerate(metas) if is_baseline(m, baseline)]
    for i, m in enumerate(metas):
        if i in base:
            continue
        same = [j for j in base if _setting(metas[j]) == _setting(m)]
        same.sort(key=lambda j: metas[j].mode != m.mode)  # the same mode when there is one
        if same:
            pairs.append(Pair("runtime", i, same[0], m.scenario_label or m.workload or "same workload"))
    first_seen: dict[tuple[str | None, str | None], int] = {}
    for i, m in enumerate(metas):
        first_seen.setdefault(m.workload_key, i)
    by_runtime: dict[tuple[object, ...], list[int]] = {}
    for i, m in enumerate(metas):
        by_runtime.setdefault((m.runtime_key, m.simulated, m.reference is None), []).append(i)
    for members in by_runtime.values():
        keys = {metas[i].workload_key for i in members}
        if len(keys) < 2:
            continue
        ref = min(members, key=lambda i: _scenario_rank(metas[i], first_seen))
        for i in members:
            if metas[i].workload_key != metas[ref].workload_key:
                pairs.append(Pair("scenario", i, ref, metas[i].runtime_label))
    for i, m in enumerate(metas):
        for j, other in enumerate(metas):
            if i == j or m.runtime_key != other.runtime_key or not _measured(other):
                continue
            model_vs_real = m.simulated is True
            mine_vs_published = m.simulated is False and m.reference is None and other.reference
            compatible = None in (m.scenario, other.scenario) or m.scenario == other.scenario
            if (model_vs_real or mine_vs_published) and compatible:
                pairs.append(Pair("measured", i, j, m.runtime_label))
    return pairs
