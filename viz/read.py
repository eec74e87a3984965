"""Load a run from its files: run.csv (or an original-format CSV), run.nodes.csv, run.meta.json.

Every metadata key is optional: older or foreign files fall back to the CSV's own
runtime/scenario/mode columns, then to the file name.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from viz.csvio import read_csv, read_header, require_values, to_numeric
from viz.errors import VizInputError
from viz.legacy import USED_METHOD as LEGACY_USED_METHOD
from viz.legacy import is_legacy_header, read_legacy
from viz.run import Run, RunMeta

REQUIRED_STEP_COLUMNS = ["step", "elapsed_s", "requested", "running"]
STEP_NUMERIC = [
    "elapsed_s", "step", "requested", "running", "pending", "creating", "terminating",
    "evicted", "oom_killed", "failed", "restarts", "api_errors", "scale_s", "observe_s",
    "step_s", "mem_total_mib", "mem_free_mib", "mem_available_mib", "mem_active_mib",
    "nodes_sampled", "startup_p50_s", "startup_p99_s",
]  # fmt: skip
NODE_NUMERIC = [
    "elapsed_s", "mem_total_mib", "mem_free_mib", "mem_available_mib", "mem_active_mib", "load1",
]  # fmt: skip
USED_METHOD = "MemTotal − MemFree summed over the sampled nodes"


def sibling(path: Path, suffix: str) -> Path:
    """runs/kata.csv -> runs/kata<suffix> (suffix '.nodes.csv' or '.meta.json')."""
    return path.with_name(path.stem + suffix)


def load_meta(path: Path) -> tuple[dict, list[str]]:
    """The meta.json beside a run, or {} with a note; never fatal (metadata is optional)."""
    meta_path = sibling(path, ".meta.json")
    if not meta_path.exists():
        return {}, []
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}, [f"{meta_path.name} unreadable, ignored"]
    if not isinstance(data, dict):
        return {}, [f"{meta_path.name} is not a JSON object, ignored"]
    return data, []


def _first_text(df: pl.DataFrame, column: str) -> str | None:
    if column not in df.columns:
        return None
    values = df[column].cast(pl.String).drop_nulls()
    values = values.filter(values.str.strip_chars() != "")
    return values[0] if len(values) else None


def _guess_runtime(stem: str) -> str | None:
    lowered = stem.lower()
    for name in ("kata", "runc", "crun", "gvisor"):
        if name in lowered:
            return name
    return None


def _date(text: object) -> str | None:
    if isinstance(text, str) and len(text) >= 10 and text[4] == "-" and text[7] == "-":
        return text[:10]
    return None


def build_meta(path: Path, steps: pl.DataFrame, meta: dict, fmt: str, notes: list[str]) -> RunMeta:
    cluster = meta.get("cluster") if isinstance(meta.get("cluster"), dict) else {}

    def pick(key: str) -> str | None:
        value = meta.get(key)
        if isinstance(value, str) and value:
            return value
        return _first_text(steps, key)

    runtime = pick("runtime") or _guess_runtime(path.stem)
    kind = cluster.get("kind") if isinstance(cluster.get("kind"), str) else None
    if fmt == "original" and kind is None:
        kind = "original method"
    date = _date(meta.get("started")) or _date(_first_text(steps, "time"))
    if kind == "simulated":
        # A simulated run's timestamps are its virtual clock; the day it was actually run is
        # the wall-clock run id (YYYYmmddHHMMSS-runtime) or an explicit recorded_at.
        wall = meta.get("recorded_at")
        run_id = meta.get("run_id")
        if isinstance(run_id, str) and run_id[:8].isdigit() and len(run_id) >= 8:
            wall = wall or f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}"
        date = _date(wall) or date
    return RunMeta(
        runtime=runtime,
        scenario=pick("scenario"),
        mode=pick("mode"),
        cluster_kind=kind,
        date=date,
        end_reason=meta.get("end_reason") if isinstance(meta.get("end_reason"), str) else None,
        source_format=fmt,
        notes=tuple(notes),
    )


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


def read_nodes(path: Path) -> pl.DataFrame | None:
    """Node samples, or None when the file is absent or holds no rows."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    header = [h.strip() for h in read_header(path)]
    missing = [c for c in ("elapsed_s", "node") if c not in header]
    if missing:
        raise VizInputError(
            f"{path}: not a node-sample CSV: missing required column(s) {', '.join(missing)}"
        )
    overrides = {c: pl.Float64 for c in NODE_NUMERIC if c in header}
    overrides.update({c: pl.String for c in ("node", "status", "time") if c in header})
    df = read_csv(path, schema_overrides=overrides, infer_schema_length=0)
    if df.height == 0:
        return None
    floats = [c for c in NODE_NUMERIC if c in df.columns]
    return df.with_columns(pl.col(floats).fill_nan(None))


def load_run(path: Path | str) -> Run:
    """Read one run (either format, detected from the header)."""
    path = Path(path)
    header = read_header(path)
    meta, notes = load_meta(path)
    if is_legacy_header(header):
        steps, nodes = read_legacy(path, header)
        fmt, used_method = "original", LEGACY_USED_METHOD
    else:
        steps = _read_scaler_steps(path)
        nodes = read_nodes(sibling(path, ".nodes.csv"))
        fmt, used_method = "scaler", USED_METHOD
    steps = steps.sort("step", maintain_order=True)
    return Run(
        path=path,
        steps=steps,
        nodes=nodes,
        meta=build_meta(path, steps, meta, fmt, notes),
        used_method=used_method,
    )
