"""What each pod runs and asks for, and the named scenarios of design.md section 3."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

DEFAULT_IMAGE = "quay.io/scaler/workload:latest"
# The cluster's default runtime (no runtimeClassName in the pod) is called what it is: whatever
# handler the cluster runs by default (runc, crun, ...) is recorded beside it, not in its name.
DEFAULT_RUNTIME = "default"
# Accepted spellings of the default runtime: "runc" is what it was called before, and what the
# simulator's profiles still name it until the simulator maps "default" itself.
DEFAULT_RUNTIME_ALIASES = frozenset({DEFAULT_RUNTIME, "runc"})
LEGACY_DEFAULT_RUNTIME = "runc"


def normalise_runtime(name: str) -> str:
    """A runtime as the user typed it, as recorded: ``runc`` is the default runtime."""
    name = name.strip()
    return DEFAULT_RUNTIME if name in DEFAULT_RUNTIME_ALIASES else name


@dataclass(frozen=True)
class WorkloadSpec:
    """One Deployment's pod template, in the units users write.

    ``runtime`` is a RuntimeClass name; ``default`` (or ``runc``, the same) means the cluster's
    default runtime (no ``runtimeClassName`` in the pod). The field's default stays ``runc``
    until the simulator maps ``default`` to its profile (team contract 2). ``memory_mib == 0`` means "grow without bound" (the
    memory-hungry scenario). Requests and limits of None are absent from the container spec.
    """

    runtime: str = LEGACY_DEFAULT_RUNTIME
    cpu_percent: float = 5.0
    memory_mib: int = 500
    increment_mib: int = 256
    request_mib: int | None = None
    limit_mib: int | None = None
    cpu_request_m: int | None = None
    cpu_limit_m: int | None = None
    image: str = DEFAULT_IMAGE

    @property
    def default_runtime(self) -> bool:
        return self.runtime in DEFAULT_RUNTIME_ALIASES

    @property
    def runtime_class(self) -> str | None:
        return None if self.default_runtime else self.runtime

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_(self, **changes: Any) -> WorkloadSpec:
        """A copy with ``changes`` applied; a change of None keeps the current value."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


# Scenarios from the Kata measurements this tool descends from (design.md section 3).
SCENARIOS: dict[str, WorkloadSpec] = {
    # Pods that fit, and memory per pod: no requests, so only maxPods bounds placement.
    "capacity": WorkloadSpec(cpu_percent=5, memory_mib=500, increment_mib=256),
    # Grab all memory it can: shows eviction and the memory really usable.
    "hungry": WorkloadSpec(cpu_percent=5, memory_mib=0, increment_mib=64),
    # Request below use, limit just above it: memory hot-plug (kata) and limit enforcement.
    "restricted": WorkloadSpec(
        cpu_percent=5, memory_mib=500, increment_mib=256, request_mib=256, limit_mib=512
    ),
    # CPU-bound (issue 13): work per pod under CPU contention. 50 % is the middle of the
    # published CPU sweep (10..100 %) and the one percent run under both runc and kata there
    # (viz/reference/c3d-kata-2021/README.md: cpu-runc-50pct.csv, cpu-kata-50pct.csv). Memory is
    # small, as in those runs, but not nothing: their runc runs reached ~1,000 pods on 80 GiB
    # with ~19 MiB less free memory per pod (28.8 GiB free at step 1, 11.7 GiB at 973 pods), so
    # 16 MiB held per pod keeps that density while the work counter (4 KiB pages touched per
    # second) sweeps a resident set larger than the CPU caches, i.e. measures page touching,
    # not cache hits (the workload's own advice: at least ~16 MiB). No requests, as published.
    "cpu": WorkloadSpec(cpu_percent=50, memory_mib=16, increment_mib=16),
}
# The scenario whose point is its CPU percent: runs of it are named by that percent.
CPU_SCENARIO = "cpu"


# What makes a workload what it is, as (field, word in labels, unit, word in file names). The
# image is not among them: it is the same program wherever it is pulled from.
_DESCRIBED = (
    ("cpu_percent", "cpu", "%", "cpu"),
    ("memory_mib", "memory", " MiB", "memory"),
    ("increment_mib", "increment", " MiB", "increment"),
    ("request_mib", "request", " MiB", "request"),
    ("limit_mib", "limit", " MiB", "limit"),
    ("cpu_request_m", "cpu request", "m", "cpurequest"),
    ("cpu_limit_m", "cpu limit", "m", "cpulimit"),
)


def number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def differences(base: WorkloadSpec, spec: WorkloadSpec, *,
                skip: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """What ``spec`` changes of ``base``'s workload, as (file-name word, value) pairs, e.g.
    [("memory", "1024"), ("limit", "none")]; fields in ``skip`` are not compared."""
    out = []
    for field, _, _, slug in _DESCRIBED:
        if field in skip:
            continue
        old, new = getattr(base, field), getattr(spec, field)
        if old != new:
            out.append((slug, "none" if new is None else number(new)))
    return out


def custom_label(name: str, base: WorkloadSpec, spec: WorkloadSpec, *,
                 skip: frozenset[str] = frozenset()) -> str:
    """The scenario ``name``, then what ``spec`` changes of it: "capacity; memory 1024 MiB,
    limit 1200 MiB" (just "capacity" when nothing does); fields in ``skip`` are not compared."""
    parts = []
    for field, word, unit, _ in _DESCRIBED:
        if field in skip:
            continue
        old, new = getattr(base, field), getattr(spec, field)
        if old != new:
            parts.append(f"no {word}" if new is None else f"{word} {number(new)}{unit}")
    return f"{name}; {', '.join(parts)}" if parts else name


def scenario(name: str) -> WorkloadSpec:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(
            f"unknown scenario {name!r} (choose from {', '.join(SCENARIOS)})"
        ) from None
