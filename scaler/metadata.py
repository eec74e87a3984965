"""The run's metadata sidecar (run.meta.json) and its summary, as plain dicts (design.md
section 4): what was asked, of which cluster, and what came of it."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, is_dataclass
from typing import Any

from scaler import __version__
from scaler.cluster import ClusterInfo
from scaler.config import RunConfig
from scaler.quantity import QuantityError, memory_mib
from scaler.recorder import Recorder, iso_utc
from scaler.stops import EndReason


def cluster_section(info: ClusterInfo) -> dict[str, Any]:
    return {
        "kind": info.kind,
        "version": info.version,
        # A real driver may be talking to the simulator's API front: it says so.
        "simulated": info.kind == "simulated" or bool(info.details.get("simulator")),
        "nodes": [asdict(n) for n in info.nodes],
        "runtime_class": info.runtime_class,
        "details": info.details,
    }


def initial(cfg: RunConfig, info: ClusterInfo, recorder: Recorder, extra: dict[str, Any],
            start: float) -> dict[str, Any]:
    """The metadata written before the first step (end reason ``running``)."""
    return {
        "tool": "scaler",
        "version": __version__,
        "command": list(sys.argv),
        "runtime": cfg.workload.runtime,
        # The handler the pods run under (runc, crun, kata-qemu, ...), once the cluster says.
        "runtime_handler": None,
        # A VM runtime's configured guest memory, MiB, where the cluster tells it (the
        # simulator does; a real cluster: null unless learnt).
        "vm_memory_mib": None,
        # "custom" when the workload differs from its scenario's; the label says how.
        "scenario": cfg.recorded_scenario,
        "workload_label": cfg.workload_label,
        "mode": cfg.mode,
        "config": cfg.to_dict(),
        "workload": cfg.workload.to_dict(),
        "cluster": cluster_section(info),
        "files": {
            "run": recorder.csv_path.name,
            "nodes": recorder.nodes_path.name,
            "pods": recorder.pods_path.name,
        },
        **extra,
        # The cluster's clock is virtual in simulation; this is when the run really began.
        "recorded_at": iso_utc(time.time()),
        "started": iso_utc(start),
        "ended": None,
        "end_reason": EndReason.RUNNING,
    }


def stats_of(source: object) -> dict[str, Any]:
    """A cluster's or node source's counters (``stats()``), dataclasses as dicts; {} if none."""
    stats = getattr(source, "stats", None)
    if stats is None:
        return {}
    try:
        raw = stats()
    except Exception as e:  # noqa: BLE001 - counters must never lose the run's metadata
        return {"error": str(e)}
    return {k: asdict(v) if is_dataclass(v) and not isinstance(v, type) else v
            for k, v in raw.items()}


def declared_overhead_mib(runtime_class: dict[str, Any] | None) -> float | None:
    """The memory a RuntimeClass declares per pod (``overhead.podFixed.memory``), MiB; None
    without a RuntimeClass or a declared memory overhead. Drivers record it as the quantity
    (``{"memory": "350Mi"}``), the simulator in MiB (``{"memory_mib": 350}``)."""
    overhead = (runtime_class or {}).get("overhead") or {}
    if overhead.get("memory_mib") is not None:
        return float(overhead["memory_mib"])
    quantity = overhead.get("memory")
    if quantity is None:
        return None
    try:
        return memory_mib(quantity)
    except QuantityError:
        return None
