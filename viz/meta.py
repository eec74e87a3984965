"""A run's metadata (run.meta.json) read into a RunMeta, every key optional.

Older or foreign files fall back to the CSV's own runtime/scenario/mode columns, then to the file
name. The metadata keys read here are the ones the recorder writes (contracts 2, 5 and 7 of the
project's notes): ``runtime``/``runtime_handler``, ``scenario``/``workload_label``,
``cluster.simulated``, ``end_reason``, ``group`` and ``repeat``; and for the per-pod cost
(contract 10) ``node_source``, ``cluster.runtime_class.overhead`` and ``vm_memory_mib``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import polars as pl

from viz.run import RunMeta

KNOWN_RUNTIMES = ("default", "kata", "runc", "crun", "gvisor")
_REPEAT_SUFFIX = re.compile(r"-r(\d+)$")


def sibling(path: Path, suffix: str) -> Path:
    """runs/kata.csv -> runs/kata<suffix> (suffix '.nodes.csv' or '.meta.json')."""
    return path.with_name(path.stem + suffix)


def load_meta(path: Path) -> tuple[dict[str, Any], list[str]]:
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


def guess_runtime(stem: str) -> str | None:
    lowered = stem.lower()
    for name in KNOWN_RUNTIMES:
        if name in lowered:
            return name
    return None


def _date(text: object) -> str | None:
    if isinstance(text, str) and len(text) >= 10 and text[4] == "-" and text[7] == "-":
        return text[:10]
    return None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def workload_words(
    cpu: float | None,
    memory: float | None,
    increment: float | None,
    request: float | None = None,
    limit: float | None = None,
    resources: str | None = None,
) -> str | None:
    """The workload's settings in words ("CPU 5%, memory 500 MiB +256 MiB/s, no request or limit"),
    the same way for a new run's metadata and for a published run's catalogue entry."""
    parts = []
    if cpu is not None:
        parts.append(f"CPU {cpu:g}%")
    if memory is not None:
        grow = f" +{increment:g} MiB/s" if increment else ""
        parts.append(f"memory {memory:g} MiB{grow}" if memory else f"memory unbounded{grow}")
    if resources is not None:
        parts.append(resources)
    elif request is not None or limit is not None:
        bits = [f"request {request:g} MiB" if request else "", f"limit {limit:g} MiB" if limit else ""]
        parts.append(", ".join(b for b in bits if b) or "no request or limit")
    elif parts:
        parts.append("no request or limit")
    return ", ".join(parts) or None


def _workload_from_meta(meta: dict[str, Any]) -> str | None:
    w = meta.get("workload")
    if not isinstance(w, dict):
        return None
    return workload_words(
        _num(w.get("cpu_percent")),
        _num(w.get("memory_mib")),
        _num(w.get("increment_mib")),
        _num(w.get("request_mib")) or 0.0,
        _num(w.get("limit_mib")) or 0.0,
    )


_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "m": 1e-3}
_QUANTITY = re.compile(r"^\s*([+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]{0,2})\s*$")


def memory_mib(value: object) -> float | None:
    """A Kubernetes memory quantity ("350Mi", "160M", "1Gi", 367001600) in MiB; None if not one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) / 2**20
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value)
    if not match:
        return None
    number, suffix = float(match.group(1)), match.group(2)
    factor = _BINARY.get(suffix) or _DECIMAL.get(suffix) or (1.0 if suffix == "" else None)
    return None if factor is None else number * factor / 2**20


def declared_overhead(runtime_class: dict[str, Any]) -> float | None:
    """The RuntimeClass's overhead.podFixed memory, MiB: the simulator writes ``memory_mib``, a
    real cluster's discovery the quantity ``memory`` (or the whole ``podFixed`` object)."""
    overhead = _dict(runtime_class.get("overhead"))
    overhead = _dict(overhead.get("podFixed")) or overhead
    mib = _num(overhead.get("memory_mib"))
    return mib if mib is not None else memory_mib(overhead.get("memory"))


def group_of(meta: dict[str, Any], stem: str) -> tuple[str, int | None]:
    """(group, repeat index): the metadata's ``group`` and ``repeat.index`` (contract 7), else
    the file stem without its ``-r<k>`` suffix and k."""
    match = _REPEAT_SUFFIX.search(stem)
    index = int(match.group(1)) if match else None
    index = _int(_dict(meta.get("repeat")).get("index")) or index
    group = meta.get("group")
    if isinstance(group, str) and group:
        return group, index
    return (_REPEAT_SUFFIX.sub("", stem) if match else stem), index


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def build_meta(
    path: Path, steps: pl.DataFrame, meta: dict[str, Any], fmt: str, notes: list[str]
) -> RunMeta:
    cluster = _dict(meta.get("cluster"))

    def pick(key: str) -> str | None:
        value = meta.get(key)
        if isinstance(value, str) and value:
            return value
        return _first_text(steps, key)

    def text(value: object) -> str | None:
        return value if isinstance(value, str) and value else None

    runtime = pick("runtime") or guess_runtime(path.stem)
    kind = text(cluster.get("kind"))
    if fmt == "original" and kind is None:
        kind = "original method"
    simulated = cluster.get("simulated")
    date = _date(meta.get("started")) or _date(_first_text(steps, "time"))
    if simulated is True or kind == "simulated":
        # A simulated run's timestamps are its virtual clock; the day it was actually run is
        # the wall-clock run id (YYYYmmddHHMMSS-runtime) or an explicit recorded_at.
        wall = meta.get("recorded_at")
        run_id = meta.get("run_id")
        if isinstance(run_id, str) and run_id[:8].isdigit() and len(run_id) >= 8:
            wall = wall or f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}"
        date = _date(wall) or date
    handler = text(meta.get("runtime_handler"))
    if handler is None and runtime == "default":
        handler = text(_dict(cluster.get("runtime_class")).get("handler"))
    group, index = group_of(meta, path.stem)
    repeat = _dict(meta.get("repeat"))
    runtime_class = _dict(cluster.get("runtime_class"))
    vm_memory = _num(meta.get("vm_memory_mib"))
    if vm_memory is None:  # where the metadata may keep it beside the RuntimeClass
        vm_memory = _num(runtime_class.get("vm_memory_mib")) or _num(cluster.get("vm_memory_mib"))
    return RunMeta(
        runtime=runtime,
        scenario=pick("scenario"),
        mode=pick("mode"),
        cluster_kind=kind,
        date=date,
        end_reason=text(meta.get("end_reason")),
        source_format=fmt,
        notes=tuple(notes),
        runtime_handler=handler,
        simulated_flag=simulated if isinstance(simulated, bool) else None,
        workload_label=text(meta.get("workload_label")),
        workload=_workload_from_meta(meta),
        group=group,
        repeat_index=index,
        repeat_count=_int(repeat.get("count")),
        seed=_int(repeat.get("seed")),
        node_source=text(meta.get("node_source")),
        declared_overhead_mib=declared_overhead(runtime_class),
        vm_memory_mib=vm_memory,
    )
