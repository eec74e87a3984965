"""The CSV format of the original measurement scripts, converted to the run data contract.

Format (see the reference README): ``Iteration,Elapsed,Running,Creating,Terminating,Evicted,
Total Active Memory,Total Free Memory, Active,<workers...>,Free,<workers...>``; memory in kB;
``Elapsed`` cumulative seconds; a worker written as 0 had no sample (0 means "no data").
Each iteration ran ``oc scale --replicas=I``, so requested replicas equal the iteration.

The CPU runs insert ``WorkUnits,WorkCount`` after ``Elapsed``: the number of workload report
files read at that iteration, and the sum of the work they reported (4 KiB pages touched per
report period). They become ``work_files`` and ``work_count``, kept as recorded, and
``work_rate`` in pages/s (``work_count`` / the report period, see ``REPORT_PERIOD_S``), the unit
of a new run's ``work_rate``.

``Evicted`` counts the Evicted pod objects listed at that iteration, which garbage collection
lowers again: it becomes ``evicted_listed`` (the recorder's column of the same meaning), not
the cumulative ``evicted``, so the two are never compared as if alike.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from viz.csvio import read_csv, require_values, to_numeric
from viz.errors import VizInputError

KIB_PER_MIB = 1024.0
_COUNTS = {
    "Iteration": "step",
    "Elapsed": "elapsed_s",
    "Running": "running",
    "Creating": "creating",
    "Terminating": "terminating",
    "Evicted": "evicted_listed",
    "WorkUnits": "work_files",
    "WorkCount": "work_count",
}
#: The 2021 workload (github c3d/workload, workload.c from commit 99130f5 of 2021-04-30, which
#: made each report the count since the previous one, to 887fe22 of 2024-03-29) wrote its report
#: at the end of the first loop that ended more than 1 s (``total > 1000000`` us) after the
#: previous report; 887fe22 shortened that to 250 ms, three years after these runs. The CPU runs
#: read per-pod report files from ``mktemp`` names, which the workload only did from 2021-04-30,
#: and were published by 2022. A loop of a small buffer lasts microseconds, so a period is 1 s
#: to within a fraction of a percent. (The data fit: at 10 to 80% CPU a pod alone reported the
#: same ~8.5e6 pages per period, loops paced by nanosleep's 50 us timer slack rather than by the
#: CPU setting: ~17,000 loops of a ~2 MiB buffer per 1 s period; per 250 ms it would take loops
#: shorter than that slack allows.)
REPORT_PERIOD_S = 1.0
WORK_METHOD = (
    "published WorkCount (pages touched per report period of just over 1 s, summed over the "
    "report files read, which include lingering files of pods that are gone and miss files "
    "not yet written) / 1 s"
)
USED_METHOD = (
    "drop in MemFree since each worker's first sample, summed over sampled workers "
    "(this format has no MemTotal)"
)


def is_legacy_header(header: list[str]) -> bool:
    """Memory runs start ``Iteration,Elapsed,Running``; CPU runs ``Iteration,Elapsed,WorkUnits``."""
    return header[:2] == ["Iteration", "Elapsed"] and "Running" in header


def _worker_columns(header: list[str], path: Path) -> tuple[list[str], list[int], list[int]]:
    stripped = [h.strip() for h in header]
    try:
        a = stripped.index("Active")
        f = stripped.index("Free", a + 1)
    except ValueError:
        raise VizInputError(
            f"{path}: original-format CSV without the 'Active'/'Free' worker marker columns"
        ) from None
    workers = stripped[a + 1 : f]
    active_idx = list(range(a + 1, f))
    free_idx = list(range(f + 1, f + 1 + len(workers)))
    if free_idx and free_idx[-1] >= len(header):
        raise VizInputError(f"{path}: original-format CSV with fewer Free than Active columns")
    return workers, active_idx, free_idx


def read_legacy(path: Path, header: list[str]) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """(steps, nodes) in contract columns and MiB."""
    workers, active_idx, free_idx = _worker_columns(header, path)
    names = [f"c{i}" for i in range(len(header))]
    raw = read_csv(path, has_header=False, skip_rows=1, new_columns=names, infer_schema=False)
    named = {f"c{i}": h for i, h in enumerate(header) if h in _COUNTS or h.startswith("Total ")}
    raw = raw.rename(named)
    numeric = list(named.values()) + [f"c{i}" for i in active_idx + free_idx]
    raw = to_numeric(raw, numeric, path)
    require_values(raw, ["Iteration", "Elapsed", "Running"], path)

    zero_is_missing = [
        pl.when(pl.col(f"c{i}") > 0).then(pl.col(f"c{i}") / KIB_PER_MIB).alias(f"c{i}")
        for i in active_idx + free_idx
    ]
    raw = raw.with_columns(zero_is_missing)

    free_cols = [f"c{i}" for i in free_idx]
    # Per worker: how much MemFree dropped since that worker's first real sample.
    drops = [(pl.col(c).drop_nulls().first() - pl.col(c)) for c in free_cols]
    steps = raw.select(
        *[pl.col(k).alias(v) for k, v in _COUNTS.items() if k in raw.columns],
        pl.col("Iteration").alias("requested"),
        (pl.col("Total Active Memory") / KIB_PER_MIB).alias("mem_active_mib")
        if "Total Active Memory" in raw.columns
        else pl.lit(None, pl.Float64).alias("mem_active_mib"),
        (pl.col("Total Free Memory") / KIB_PER_MIB).alias("mem_free_mib")
        if "Total Free Memory" in raw.columns
        else pl.lit(None, pl.Float64).alias("mem_free_mib"),
        pl.sum_horizontal([pl.col(c).is_not_null() for c in free_cols])
        .cast(pl.Float64)
        .alias("nodes_sampled"),
        pl.sum_horizontal(drops).alias("mem_used_mib")
        if free_cols
        else pl.lit(None, pl.Float64).alias("mem_used_mib"),
        pl.col("Elapsed").diff().fill_null(pl.col("Elapsed").first()).alias("step_s"),
        *(
            [(pl.col("WorkCount") / REPORT_PERIOD_S).alias("work_rate")]
            if "WorkCount" in raw.columns
            else []
        ),
    )
    if not workers:
        return steps, None
    parts = []
    for w, ai, fi in zip(workers, active_idx, free_idx, strict=True):
        part = raw.select(
            pl.col("Elapsed").alias("elapsed_s"),
            pl.lit(f"worker-{w}").alias("node"),
            pl.col(f"c{ai}").alias("mem_active_mib"),
            pl.col(f"c{fi}").alias("mem_free_mib"),
        )
        parts.append(part)
    nodes = pl.concat(parts).with_columns(
        pl.when(pl.col("mem_free_mib").is_null() & pl.col("mem_active_mib").is_null())
        .then(pl.lit("missing"))
        .otherwise(pl.lit("ok"))
        .alias("status")
    )
    return steps, nodes
