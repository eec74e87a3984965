"""What the workload was asked to do, from the command line and the environment.

The interface of the C program it replaces is kept so existing manifests keep working:
positional ``<cpu%> [MB] [incrementMB]``, or the environment ``CPU``, ``MEMORY``,
``INCREMENT`` of its image. Long options come on top. Precedence, highest first: long
option, positional argument, environment, default.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Defaults of the program and of its image: the "capacity" scenario of the reference runs.
DEFAULT_CPU = 5.0
DEFAULT_MEMORY = 500.0
DEFAULT_INCREMENT = 256.0

_DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


class UsageError(ValueError):
    """A bad argument or environment value: reported as one line, exit status 2."""


@dataclass(frozen=True)
class WorkloadConfig:
    """The settings of one run, in the units users write.

    ``cpu_percent`` is a percent of one CPU; ``memory_mib`` the target for the whole
    process resident set (0: grow without bound); ``increment_mib`` the growth per loop;
    ``report_path`` where to write the work done (None: nowhere); ``duration_s`` when to
    stop by itself (None: run until signalled).
    """

    cpu_percent: float = DEFAULT_CPU
    memory_mib: float = DEFAULT_MEMORY
    increment_mib: float = DEFAULT_INCREMENT
    report_path: str | None = None
    duration_s: float | None = None


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting (we print one line)."""

    def error(self, message: str):
        raise UsageError(message)


def _parser() -> _Parser:
    p = _Parser(
        prog="python -m workload",
        description="Burn a percent of one CPU and hold a resident set, every page kept active.",
        epilog="Environment: CPU, MEMORY, INCREMENT, REPORT, DURATION (options and "
        "positional arguments take precedence).",
    )
    p.add_argument("pos_cpu", nargs="?", metavar="cpu%", help="percent of one CPU (0-100)")
    p.add_argument("pos_memory", nargs="?", metavar="MB", help="resident set target in MiB (0: unbounded)")
    p.add_argument("pos_increment", nargs="?", metavar="incrementMB", help="growth per loop in MiB")
    p.add_argument("--cpu", help=f"percent of one CPU, 0-100 (default {DEFAULT_CPU:g})")
    p.add_argument("--memory", help=f"whole-process RSS target in MiB, 0 = unbounded (default {DEFAULT_MEMORY:g})")
    p.add_argument("--increment", help=f"MiB added per loop (default {DEFAULT_INCREMENT:g})")
    p.add_argument("--report", metavar="FILE", help="write the work done to FILE (JSON, atomically) every second")
    p.add_argument("--duration", help="stop after this long: seconds, or with a unit s, m, h")
    return p


def parse_config(argv: Sequence[str], env: Mapping[str, str]) -> WorkloadConfig:
    """Resolve the settings; raise UsageError (one line) on anything invalid."""
    ns = _parser().parse_args(list(argv))

    def pick(option, positional, env_name):
        for value, source in ((option, "--" + env_name.lower()), (positional, env_name), (env.get(env_name), env_name)):
            if value is not None and value != "":
                return value, source
        return None, None

    cpu_raw, cpu_src = pick(ns.cpu, ns.pos_cpu, "CPU")
    mem_raw, mem_src = pick(ns.memory, ns.pos_memory, "MEMORY")
    inc_raw, inc_src = pick(ns.increment, ns.pos_increment, "INCREMENT")
    cpu = DEFAULT_CPU if cpu_raw is None else _number(cpu_raw, cpu_src)
    memory = DEFAULT_MEMORY if mem_raw is None else _number(mem_raw, mem_src)
    increment = DEFAULT_INCREMENT if inc_raw is None else _number(inc_raw, inc_src)
    if cpu > 100:
        raise UsageError(f"{cpu_src} must be at most 100 (percent of one CPU), got {cpu_raw!r}")
    if increment == 0:
        raise UsageError(f"{inc_src} must be positive, got {inc_raw!r}")

    report = ns.report if ns.report else (env.get("REPORT") or None)
    dur_raw = ns.duration if ns.duration is not None else (env.get("DURATION") or None)
    duration = None if dur_raw is None else _duration(dur_raw)
    return WorkloadConfig(cpu, memory, increment, report, duration)


def _number(raw: str, source: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{source} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise UsageError(f"{source} must be a finite number, got {raw!r}")
    if value < 0:
        raise UsageError(f"{source} must not be negative, got {raw!r}")
    return value


def _duration(raw: str) -> float:
    text = raw.strip().lower()
    unit = text[-1:] if text[-1:] in ("s", "m", "h") else ""
    try:
        value = float(text[: len(text) - len(unit)]) * _DURATION_UNITS[unit]
    except ValueError:
        raise UsageError(f"--duration must be seconds or a number with s, m or h, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"--duration must be positive, got {raw!r}")
    return value
