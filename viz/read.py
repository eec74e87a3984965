"""Load a run from its files: run.csv (or an original-format CSV), run.nodes.csv, run.meta.json.

A user pointing at the wrong file of a run (its metadata or its node samples) is told which file
to give instead.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl

from viz.csvio import read_csv, read_header, require_values, to_numeric
from viz.errors import VizInputError
from viz.legacy import USED_METHOD as LEGACY_USED_METHOD
from viz.legacy import WORK_METHOD as LEGACY_WORK_METHOD
from viz.legacy import is_legacy_header, read_legacy
from viz.meta import build_meta, load_meta, sibling, workload_words
from viz.reference import by_path
from viz.run import Run, RunMeta

REQUIRED_STEP_COLUMNS = ["step", "elapsed_s", "requested", "running"]
STEP_NUMERIC = [
    "elapsed_s", "step", "requested", "running", "pending", "creating", "terminating",
    "evicted", "oom_killed", "failed", "restarts", "api_errors", "scale_s", "observe_s",
    "step_s", "mem_total_mib", "mem_free_mib", "mem_available_mib", "mem_active_mib",
    "nodes_sampled", "startup_p50_s", "startup_p99_s",
    # per-step failure counts (added later; absent from older files)
    "evicted_listed", "sandbox_deaths", "failed_create", "failed_scheduling", "sandbox_failures",
    # useful work and node CPU (contract 11; the published CPU runs' work_files, work_count)
    "work_rate", "work_pods", "work_files", "work_count", "cpu_busy_pct", "cpu_busy_cores",
    "cpu_user_pct", "cpu_system_pct", "cpu_iowait_pct", "cpu_steal_pct",
]  # fmt: skip
# Only the node columns the charts draw are parsed: a node file can hold millions of rows.
NODE_NUMERIC = ["elapsed_s", "mem_free_mib", "mem_active_mib", "cpu_busy_pct"]
NODE_TEXT = ["node", "source"]
USED_METHOD = "MemTotal − MemFree summed over the sampled nodes"
WORK_METHOD = "run.csv work_rate (pages/s summed over the pods' fresh reports)"


def _read_scaler_steps(path: Path) -> pl.DataFrame:
    df = read_csv(path, infer_schema=False)
    df = df.rename({c: c.strip().removeprefix("\ufeff") for c in df.columns})
    df = to_numeric(df, STEP_NUMERIC, path)
    require_values(df, REQUIRED_STEP_COLUMNS, path)
    if "mem_total_mib" in df.columns and "mem_free_mib" in df.columns:
        used = (pl.col("mem_total_mib") - pl.col("mem_free_mib")).alias("mem_used_mib")
    else:
        used = pl.lit(None, pl.Float64).alias("mem_used_mib")
    return df.with_columns(used)


def read_nodes(path: Path, primary: str | None = None) -> pl.DataFrame | None:
    """Node samples, or None when the file is absent or holds no rows.

    A run sampled by two node sources (``--node-source both``) records each node twice per
    interval, once per source; the charts and figures show one account of each node, the
    source that made run.csv's figures (``primary``, the metadata's ``node_sources.run``; else
    the first source in the file), so node totals are never doubled."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    raw = read_header(path)
    header = [h.strip() for h in raw]
    missing = [c for c in ("elapsed_s", "node") if c not in header]
    if missing:
        raise VizInputError(
            f"{path}: not a node-sample CSV: missing required column(s) {', '.join(missing)}"
        )
    names = dict(zip(header, raw, strict=True))
    wanted = [names[c] for c in NODE_NUMERIC + NODE_TEXT if c in names]
    overrides = {c: (pl.String if c.strip() in NODE_TEXT else pl.Float64) for c in wanted}
    df = read_csv(path, columns=wanted, schema_overrides=overrides, infer_schema_length=0)
    df = df.rename({c: c.strip() for c in df.columns})
    if df.height == 0:
        return None
    floats = [c for c in NODE_NUMERIC if c in df.columns]
    df = df.with_columns(pl.col(floats).fill_nan(None))
    if "source" in df.columns:
        sources = df["source"].unique(maintain_order=True).drop_nulls().to_list()
        if len(sources) > 1:
            keep = primary if primary in sources else sources[0]
            df = df.filter(pl.col("source") == keep)
    return df


def _not_a_run_file(path: Path, header: list[str]) -> None:
    """The other files of a run are the commonest wrong argument: name the right one."""
    stem = path.name.removesuffix(".meta.json").removesuffix(".nodes.csv").removesuffix(".pods.csv")
    hint = f"; give the run's CSV ({stem}.csv)" if stem != path.name else ""
    if path.name.endswith(".meta.json"):
        raise VizInputError(f"{path}: is a run's metadata (JSON), not its data{hint}")
    if header[0].lstrip().startswith(("{", "[")):
        raise VizInputError(f"{path}: is JSON, not a run CSV")
    names = {h.strip() for h in header}
    if {"uid", "class", "elapsed_s"} <= names and "step" not in names:
        raise VizInputError(f"{path}: is a run's per-pod file, not a run CSV{hint}")
    if {"node", "elapsed_s"} <= names and "step" not in names:
        raise VizInputError(f"{path}: is a node-sample file, not a run CSV{hint}")


def load_run(path: Path | str) -> Run:
    """Read one run (either format, detected from the header)."""
    path = Path(path)
    header = read_header(path)
    _not_a_run_file(path, header)
    meta, notes = load_meta(path)
    if is_legacy_header(header):
        steps, nodes = read_legacy(path, header)
        fmt, used_method, work_method = "original", LEGACY_USED_METHOD, LEGACY_WORK_METHOD
    else:
        steps = _read_scaler_steps(path)
        sources = meta.get("node_sources")
        primary = sources.get("run") if isinstance(sources, dict) else None
        nodes = read_nodes(sibling(path, ".nodes.csv"), primary if isinstance(primary, str) else None)
        fmt, used_method, work_method = "scaler", USED_METHOD, WORK_METHOD
    steps = steps.sort("step", maintain_order=True)
    return Run(
        path=path,
        steps=steps,
        nodes=nodes,
        meta=_published(path, build_meta(path, steps, meta, fmt, notes)),
        used_method=used_method,
        work_method=work_method,
        # The original scripts wrote a missing worker as 0 and summed it: a total is complete
        # only over every worker column. New files: the most nodes sampled so far (as the
        # load generator judges it while running).
        node_count=nodes["node"].n_unique() if fmt == "original" and nodes is not None else None,
    )


def _published(path: Path, meta: RunMeta) -> RunMeta:
    """A shipped published run carries its catalogue name and its workload in words."""
    ref = by_path(path)
    if ref is None:
        return meta
    words = workload_words(ref.cpu_percent, ref.memory_mib, ref.increment_mib, resources=ref.effective)
    return replace(meta, reference=ref.name, runtime=ref.runtime, workload=words, group=ref.name)
