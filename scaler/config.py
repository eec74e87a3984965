"""The resolved configuration of one run: how to scale (mode, step, stop rules) and what to run,
and the bounds on what makes sense (each with its reason)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scaler.modes import MODES as MODE_TABLE
from scaler.workload_spec import (
    CPU_SCENARIO,
    SCENARIOS,
    WorkloadSpec,
    custom_label,
    differences,
    number,
)

MODES = tuple(MODE_TABLE)
MODE_ALIASES = {"fixed": "fixed-interval", "fixed-interval": "fixed-interval", "wait": "wait",
                "no-wait": "no-wait", "nowait": "no-wait"}
CUSTOM_SCENARIO = "custom"
_CPU = frozenset({"cpu_percent"})


@dataclass(frozen=True)
class Limit:
    """The largest value an option may take, and why."""

    most: float
    why: str


HOUR = 3600.0
# Kubernetes' largest supported cluster: 5,000 nodes, 150,000 pods in all ("Considerations for
# large clusters", kubernetes.io). Past those a run measures nothing a real cluster can be.
MAX_PODS = Limit(150_000, "Kubernetes supports at most 150,000 pods in a cluster")
LIMITS: dict[str, Limit] = {
    "--max-replicas": MAX_PODS,
    "--step": MAX_PODS,
    "--beyond": MAX_PODS,
    "--stop-steps": MAX_PODS,
    # A raise an hour already makes the default 1,000-step run six weeks long.
    "--interval": Limit(HOUR, "a raise an hour already makes a 1,000-step run last six weeks"),
    "--wait-timeout": Limit(HOUR, "a pod that is not running after an hour is not coming"),
    "--poll": Limit(HOUR, "observing less than once an hour sees nothing of a run"),
    "--stop-window": Limit(7 * 24 * HOUR, "a week without a new maximum is a stopped cluster"),
    "--duration": Limit(30 * 24 * HOUR, "a month is longer than any cluster stays still"),
    "--op-timeout": Limit(HOUR, "an API call that takes an hour has failed"),
    "--settle": Limit(HOUR, "a cluster that has not settled after an hour will not"),
    "--repeat": Limit(1000, "a thousand repeats already give the 0.1% percentiles"),
    # numpy seeds are non-negative; 32 bits is what every numpy generator takes.
    "--seed": Limit(2**32 - 1, "a seed is a 32-bit number (0 to 4294967295)"),
    "--workers": Limit(5000, "Kubernetes supports at most 5,000 nodes in a cluster"),
    "--worker-cpus": Limit(1024, "no single machine offers more than 1,024 CPUs"),
    "--worker-memory": Limit(64 * 1024 * 1024, "no single machine offers more than 64 TiB"),
}


def _num(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:g}"


def seconds_text(v: float) -> str:
    """A duration as a user would write it: 90s, 2h, 99999h (not 3.59996e+08s)."""
    for unit, size in (("h", 3600), ("m", 60)):
        if v >= size and float(v / size).is_integer():
            return f"{v / size:,.0f}{unit}"
    return f"{_num(v)}s"


def limit_problem(option: str, value: float | None, *, unit: str = "") -> str | None:
    """One line when ``value`` is past ``option``'s limit (naming it and why), else None."""
    lim = LIMITS.get(option)
    if value is None or lim is None or value <= lim.most:
        return None
    if unit == "s":
        shown, most = seconds_text(value), seconds_text(lim.most)
    elif unit == "MiB":
        shown, most = f"{_num(value)} MiB", f"{_num(lim.most)} MiB"
    else:
        shown, most = _num(value), _num(lim.most)
    return f"{option} {shown} is over the limit of {most} ({lim.why})"


def normalise_mode(mode: str) -> str:
    try:
        return MODE_ALIASES[mode.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown mode {mode!r} (choose from {', '.join(MODES)}, or fixed)") from None


@dataclass(frozen=True)
class RunConfig:
    """How the engine scales. Durations in seconds.

    The run stops when the cluster has stopped gaining (``viz.figures.StopRule``): no new
    running maximum over the last ``stop_fraction`` of the run, in steps and in time, and over at
    least ``stop_steps`` steps and ``stop_window_s`` seconds; then ``beyond`` steps more.
    ``scenario`` is the named scenario the workload starts from. ``cpu_sweep``: the CPU percent
    is a dimension of the matrix (``--cpu 10,50,100``), so it names the run rather than making
    its workload custom; so it does in the ``cpu`` scenario, whose point it is.
    """

    mode: str = "fixed-interval"
    step: int = 1
    interval_s: float = 5.0
    wait_timeout_s: float = 60.0
    poll_s: float = 2.0
    max_replicas: int = 1000
    duration_s: float | None = None
    beyond: int = 0
    stop_steps: int = 30
    stop_window_s: float = 60.0
    stop_fraction: float = 2.0 / 3.0
    op_timeout_s: float = 120.0
    keep: bool = False
    seed: int = 0
    scenario: str = "capacity"
    workload: WorkloadSpec = WorkloadSpec()
    cpu_sweep: bool = False

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
        if self.stop_steps < 1:
            problems.append(f"--stop-steps must be at least 1 (got {self.stop_steps})")
        if self.stop_window_s < 0:
            problems.append("--stop-window must be 0 or more")
        if not 0 <= self.stop_fraction < 1:
            problems.append(f"--stop-fraction must be from 0 to below 1 (got {self.stop_fraction:g})")
        if self.mode == "fixed-interval" and self.interval_s <= 0:
            problems.append("--interval must be positive in fixed-interval mode")
        if self.mode == "wait" and (self.wait_timeout_s <= 0 or self.poll_s <= 0):
            problems.append("--wait-timeout and --poll must be positive in wait mode")
        if self.op_timeout_s <= 0:
            problems.append("--op-timeout must be positive")
        if self.seed < 0:
            problems.append(f"--seed must be 0 or more (got {self.seed})")
        for option, value, unit in (
            ("--max-replicas", self.max_replicas, ""), ("--step", self.step, ""),
            ("--beyond", self.beyond, ""), ("--stop-steps", self.stop_steps, ""),
            ("--interval", self.interval_s, "s"), ("--wait-timeout", self.wait_timeout_s, "s"),
            ("--poll", self.poll_s, "s"), ("--stop-window", self.stop_window_s, "s"),
            ("--duration", self.duration_s, "s"), ("--op-timeout", self.op_timeout_s, "s"),
            ("--seed", self.seed, ""),
        ):
            problem = limit_problem(option, value, unit=unit)
            if problem:
                problems.append(problem)
        problems += workload_problems(self.workload)
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def cpu_named(self) -> bool:
        """The CPU percent is part of the run's name (a CPU sweep, or the cpu scenario)."""
        return self.cpu_sweep or self.scenario == CPU_SCENARIO

    @property
    def _skip(self) -> frozenset[str]:
        return _CPU if self.cpu_named else frozenset()

    @property
    def _base_name(self) -> str:
        """The scenario as named in labels: ``cpu50`` for the cpu scenario, ``capacity-cpu10``
        in a CPU sweep of another, else the scenario."""
        if not self.cpu_named:
            return self.scenario
        cpu = f"cpu{number(self.workload.cpu_percent)}"
        return cpu if self.scenario == CPU_SCENARIO else f"{self.scenario}-{cpu}"

    @property
    def custom(self) -> bool:
        """The workload differs from its scenario's (image aside: the same program; the CPU
        percent aside when it names the run)."""
        return bool(differences(SCENARIOS[self.scenario], self.workload, skip=self._skip))

    @property
    def recorded_scenario(self) -> str:
        """What run.csv and the metadata call the scenario: ``custom`` when the workload
        differs from the named scenario's."""
        return CUSTOM_SCENARIO if self.custom else self.scenario

    @property
    def workload_label(self) -> str:
        """The scenario, and what differs from it (e.g. "capacity; memory 1024 MiB"); with the
        CPU percent naming the run, "cpu 50%" or "capacity cpu 10%"."""
        name = self.scenario
        if self.cpu_named:
            cpu = f"cpu {number(self.workload.cpu_percent)}%"
            name = cpu if self.scenario == CPU_SCENARIO else f"{self.scenario} {cpu}"
        return custom_label(name, SCENARIOS[self.scenario], self.workload, skip=self._skip)

    @property
    def label(self) -> str:
        """The configuration's name in file names, comparisons and repeat groups, e.g.
        ``kata-capacity``, ``default-cpu50`` (the cpu scenario), ``kata-capacity-cpu10`` (a CPU
        sweep), or ``default-custom-capacity-memory1024-limit1200`` for a custom workload."""
        if not self.custom:
            return f"{self.workload.runtime}-{self._base_name}"
        diffs = differences(SCENARIOS[self.scenario], self.workload, skip=self._skip)
        slug = "-".join(f"{name}{value}" for name, value in diffs)
        return f"{self.workload.runtime}-{CUSTOM_SCENARIO}-{self._base_name}-{slug}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["workload"] = self.workload.to_dict()
        return d


def workload_problems(w: WorkloadSpec) -> list[str]:
    problems = []
    if not 0 <= w.cpu_percent <= 100:
        problems.append(f"--cpu must be within 0..100 (got {w.cpu_percent})")
    if w.memory_mib < 0 or w.increment_mib <= 0:
        problems.append("--memory must be 0 or more and --increment positive")
    for name, v in (("--request", w.request_mib), ("--limit", w.limit_mib)):
        if v is not None and v <= 0:
            problems.append(f"{name} must be positive")
    if w.request_mib and w.limit_mib and w.request_mib > w.limit_mib:
        problems.append("--request must not exceed --limit")
    return problems
