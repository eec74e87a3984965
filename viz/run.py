"""The in-memory form of one recorded run, whatever file format it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl


@dataclass(frozen=True)
class RunMeta:
    """What was run, for titles and labels. Every field may be unknown (None) in old files."""

    runtime: str | None = None
    scenario: str | None = None
    mode: str | None = None
    cluster_kind: str | None = None  # "simulated", "openshift", "original method", ...
    date: str | None = None  # ISO date (YYYY-MM-DD) of the start, when recorded
    end_reason: str | None = None
    source_format: str = "scaler"  # "scaler" or "original"
    notes: tuple[str, ...] = ()

    @property
    def simulated(self) -> bool | None:
        if self.cluster_kind is None:
            return None
        return self.cluster_kind == "simulated"

    def describe(self) -> str:
        """One line naming the run: runtime, scenario, mode."""
        parts = [self.runtime or "unknown runtime"]
        parts += [p for p in (self.scenario, self.mode) if p]
        return ", ".join(parts)

    def provenance(self) -> str:
        """Where the numbers come from: simulated or real cluster, and when."""
        if self.cluster_kind == "simulated":
            where = "simulated cluster (model, not a measurement)"
        elif self.cluster_kind:
            where = f"real cluster ({self.cluster_kind})"
        else:
            where = "cluster kind not recorded"
        return f"{where} · {self.date or 'date not recorded'}"


@dataclass(frozen=True)
class Run:
    """One run: per-step rows in the data-contract columns, optional node samples, metadata.

    ``steps`` always has ``step``, ``elapsed_s``, ``requested``, ``running`` (Float64) and
    ``mem_used_mib`` (possibly all null); other contract columns are present when the file had
    them. ``nodes`` has ``elapsed_s``, ``node`` and the ``mem_*_mib`` columns, or is None.
    """

    path: Path
    steps: pl.DataFrame
    nodes: pl.DataFrame | None
    meta: RunMeta
    used_method: str = field(default="")

    @property
    def name(self) -> str:
        return self.path.stem
