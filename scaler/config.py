"""The resolved configuration of one run: how to scale (mode, step, stop rules) and what to run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scaler.modes import MODES as MODE_TABLE
from scaler.workload_spec import WorkloadSpec

MODES = tuple(MODE_TABLE)
MODE_ALIASES = {"fixed": "fixed-interval", "fixed-interval": "fixed-interval", "wait": "wait",
                "no-wait": "no-wait", "nowait": "no-wait"}


def normalise_mode(mode: str) -> str:
    try:
        return MODE_ALIASES[mode.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown mode {mode!r} (choose from {', '.join(MODES)}, or fixed)") from None


@dataclass(frozen=True)
class RunConfig:
    """How the engine scales. Durations in seconds.

    Saturation is detected when running pods have not reached a new high for
    ``saturation_steps`` consecutive steps while requested grew, and those steps span at least
    ``saturation_window_s``: the time floor keeps no-wait mode (sub-second steps) from calling the
    first seconds of pod start-up a saturation.
    """

    mode: str = "fixed-interval"
    step: int = 1
    interval_s: float = 5.0
    wait_timeout_s: float = 60.0
    poll_s: float = 2.0
    max_replicas: int = 1000
    duration_s: float | None = None
    beyond: int = 30
    saturation_steps: int = 10
    saturation_window_s: float = 60.0
    op_timeout_s: float = 120.0
    keep: bool = False
    seed: int = 0
    scenario: str = "capacity"
    workload: WorkloadSpec = WorkloadSpec()

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in MODES:
            problems.append(f"unknown mode {self.mode!r}")
        if self.step < 1:
            problems.append(f"--step must be at least 1 (got {self.step})")
        if self.max_replicas < 1:
            problems.append(f"--max-replicas must be at least 1 (got {self.max_replicas})")
        if self.beyond < 0:
            problems.append(f"--beyond must be 0 or more (got {self.beyond})")
        if self.saturation_steps < 1:
            problems.append("--saturation-steps must be at least 1")
        if self.mode == "fixed-interval" and self.interval_s <= 0:
            problems.append("--interval must be positive in fixed-interval mode")
        if self.mode == "wait" and (self.wait_timeout_s <= 0 or self.poll_s <= 0):
            problems.append("--wait-timeout and --poll must be positive in wait mode")
        if self.op_timeout_s <= 0:
            problems.append("--op-timeout must be positive")
        w = self.workload
        if not 0 <= w.cpu_percent <= 100:
            problems.append(f"--cpu must be within 0..100 (got {w.cpu_percent})")
        if w.memory_mib < 0 or w.increment_mib <= 0:
            problems.append("--memory must be 0 or more and --increment positive")
        for name, v in (("--request", w.request_mib), ("--limit", w.limit_mib)):
            if v is not None and v <= 0:
                problems.append(f"{name} must be positive")
        if w.request_mib and w.limit_mib and w.request_mib > w.limit_mib:
            problems.append("--request must not exceed --limit")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def label(self) -> str:
        """The configuration's name in file names and comparisons, e.g. ``kata-capacity``."""
        return f"{self.workload.runtime}-{self.scenario}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["workload"] = self.workload.to_dict()
        return d
