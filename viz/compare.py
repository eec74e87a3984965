"""`viz compare`: runs overlaid, their figures side by side, and ratios between the right pairs.

The load generator calls it after a matrix run (``scaler run --runtime default,kata``)::

    cmp = Comparison.build(paths, skip_unusable=True)   # VizInputError (a ValueError) if none usable
    print(cmp.text())                                   # the table, as `viz compare` prints it
    written = cmp.write(out_dir, ("html", "png"))       # compare.html, compare.json, images

:func:`compare_runs` does the last two steps in one call and returns the files written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from viz.compare_cpu import cpu_ratios
from viz.errors import VizInputError
from viz.groups import Group, expand_paths, group_reports
from viz.labels import run_labels
from viz.options import DEFAULT_FORMATS, DEFAULT_FREE_THRESHOLD_MIB
from viz.pairing import KIND_TITLES, Pair, find_pairs, is_baseline
from viz.read import load_run
from viz.reference import UnknownReference, reference_run
from viz.report import analyse_run
from viz.stats import RATIO_METHOD, RatioSpread, ratio_spread

# Figures divided in each kind of pair: (figure, label, True when the baseline is the numerator:
# "default ran 2.8x as many pods as kata" reads better than 0.36).
OVERHEAD = [("mib_per_pod", "MiB per pod", False), ("max_running", "max running pods", True)]
MEASURED = [
    "max_running", "knee", "free_below_threshold", "mib_per_pod", "peak_active",
    "evicted_listed_peak", "evicted_total", "creating_peak", "pending_peak", "timing_knee",
    "work_per_pod", "cpu_knee", "running_at_cpu_knee", "work_plateau_pods",
]  # fmt: skip


@dataclass(frozen=True)
class Ratio:
    name: str  # the figure
    kind: str  # a key of pairing.KIND_TITLES
    label: str  # "hungry: MiB per pod, kata / default (runc)"
    value: float | None
    method: str
    spread: RatioSpread
    num: str  # group labels
    den: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "label": self.label, "value": self.value,
            "method": self.method, "numerator": self.num, "denominator": self.den,
            **{k: v for k, v in self.spread.to_dict().items() if k != "value"},
        }  # fmt: skip


def _ratio(groups: list[Group], labels: list[str], pair: Pair) -> list[Ratio]:
    a, b = groups[pair.num], groups[pair.den]
    if pair.kind == "measured":
        out = []
        for key in MEASURED:
            s = ratio_spread(a.figures[key], b.figures[key])
            out.append(Ratio(key, pair.kind, f"{labels[pair.num]} vs {labels[pair.den]}",
                             s.value, "this run's figure / the measured one", s,
                             labels[pair.num], labels[pair.den]))  # fmt: skip
        return out
    names = (
        (a.meta.runtime_label, b.meta.runtime_label)
        if pair.kind == "runtime"
        else (a.meta.scenario_label or labels[pair.num], b.meta.scenario_label or labels[pair.den])
    )
    out = []
    for key, what, inverse in OVERHEAD:
        inverse = inverse and pair.kind == "runtime"
        top, bottom = (b, a) if inverse else (a, b)
        n, d = (names[1], names[0]) if inverse else names
        s = ratio_spread(top.figures[key], bottom.figures[key])
        prefix = f"{pair.context}: " if pair.context else ""
        method = RATIO_METHOD if max(a.n, b.n) > 1 else f"ratio of the two runs' {what} figures"
        out.append(Ratio(key, pair.kind, f"{prefix}{what}, {n} / {d}", s.value, method, s,
                         labels[pair.num if not inverse else pair.den],
                         labels[pair.den if not inverse else pair.num]))  # fmt: skip
    if pair.kind == "runtime":
        prefix = f"{pair.context}: " if pair.context else ""
        for c in cpu_ratios(a, b):
            out.append(Ratio(c.key, pair.kind, f"{prefix}{c.what}, {names[0]} / {names[1]}",
                             c.spread.value, c.method, c.spread, labels[pair.num],
                             labels[pair.den]))  # fmt: skip
    return out


def slug(labels: list[str]) -> str:
    text = "-vs-".join(labels)
    text = re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower()
    return text[:80].rstrip("-") or "runs"


def resolve_references(names: list[str]) -> list[Path]:
    paths = []
    for name in names:
        try:
            paths.append(reference_run(name).path)
        except UnknownReference as err:
            raise VizInputError(str(err)) from None
    return paths


@dataclass(frozen=True)
class Comparison:
    groups: list[Group]
    labels: list[str]
    pairs: list[Pair]
    ratios: list[Ratio]
    baseline: str | None
    skipped: tuple[str, ...] = ()  # one-line reasons for runs left out (skip_unusable only)

    @classmethod
    def build(
        cls,
        paths: list[Path],
        free_threshold_mib: float = DEFAULT_FREE_THRESHOLD_MIB,
        skip_unusable: bool = False,
        references: list[str] | None = None,
        baseline: str | None = None,
    ) -> Comparison:
        files = expand_paths(paths) + resolve_references(list(references or []))
        if not files:
            raise VizInputError("compare needs at least one run CSV or --reference")
        reports = []
        skipped: list[str] = []
        for p in files:
            try:
                reports.append(analyse_run(load_run(Path(p)), free_threshold_mib))
            except VizInputError as err:
                if not skip_unusable:
                    raise
                skipped.append(str(err))
        if not reports:
            raise VizInputError("no usable run to compare: " + "; ".join(skipped))
        return cls.from_groups(group_reports(reports), baseline, tuple(skipped))

    @classmethod
    def from_groups(cls, groups: list[Group], baseline: str | None = None,
                    skipped: tuple[str, ...] = ()) -> Comparison:  # fmt: skip
        """The comparison of runs already read and grouped (`viz report` of several runs)."""
        metas = [g.meta for g in groups]
        labels = run_labels(metas, [g.name for g in groups])
        pairs = find_pairs(metas, baseline)
        ratios = [r for p in pairs for r in _ratio(groups, labels, p)]
        base = next((m.runtime_label for m in metas if is_baseline(m, baseline)), None)
        return cls(groups, labels, pairs, ratios, base, skipped)

    def text(self) -> str:
        from viz.compare_text import format_comparison

        return format_comparison(self)

    def to_dict(self) -> dict[str, Any]:
        from viz.compare_text import pod_verdicts

        return {
            "groups": [
                {"label": lab, **g.to_dict()} for lab, g in zip(self.labels, self.groups, strict=True)
            ],
            "runs": [
                {"label": lab, **r.to_dict()}
                for lab, g in zip(self.labels, self.groups, strict=True)
                for r in g.reports
            ],
            "baseline": self.baseline,
            "ratios": [r.to_dict() for r in self.ratios],
            "pair_kinds": KIND_TITLES,
            "pod_cost": dict(pod_verdicts(self)),
            "skipped": list(self.skipped),
        }

    def default_dir(self) -> Path:
        """A folder named after the runs, beside the first one (never the working directory)."""
        return self.groups[0].first.run.path.parent / f"compare-{slug(self.labels)}"

    def write(self, out_dir: Path | None, formats: tuple[str, ...] | list[str]) -> list[Path]:
        from viz.compare_text import write_comparison

        return write_comparison(self, out_dir or self.default_dir(), tuple(formats))


def compare_runs(
    paths: list[Path],
    out_dir: Path | None,
    formats: tuple[str, ...] | list[str] = DEFAULT_FORMATS,
    free_threshold_mib: float = DEFAULT_FREE_THRESHOLD_MIB,
    skip_unusable: bool = False,
    references: list[str] | None = None,
    baseline: str | None = None,
) -> list[Path]:
    """Write compare.html, compare.json and compare.<chart>.<png|svg> in ``out_dir`` (None: a
    folder named after the runs, beside the first). Returns the files written.

    Raises VizInputError (a ValueError with a one-line message) on unusable input; with
    ``skip_unusable`` (for a matrix where one run failed early) such runs are left out and
    named in compare.json ("skipped") and in the page, and only having no usable run raises.
    """
    comparison = Comparison.build(paths, free_threshold_mib, skip_unusable, references, baseline)
    return comparison.write(out_dir, formats)
