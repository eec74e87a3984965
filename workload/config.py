"""What the workload was asked to do, from the command line and the environment.

The interface of the C program it replaces is kept so existing manifests keep working:
positional ``<cpu%> [MB] [incrementMB]``, or the environment ``CPU``, ``MEMORY``,
``INCREMENT`` of its image. Long options come on top. Precedence, highest first: long
option, positional argument, environment, default.

The parser is written by hand: argparse (with the re and gettext it imports) would add
about 1.6 MiB to the resident set of every pod, dataclasses about 3 MiB, for five options.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~2 MiB resident)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: Defaults of the program and of its image: the "capacity" scenario of the reference runs.
DEFAULT_CPU = 5.0
DEFAULT_MEMORY = 500.0
DEFAULT_INCREMENT = 256.0

_DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
_OPTIONS = ("--cpu", "--memory", "--increment", "--report", "--duration")
_INF = float("inf")

HELP = f"""\
usage: python -m workload [cpu%] [MB] [incrementMB] [--cpu N] [--memory MiB]
                          [--increment MiB] [--report FILE] [--duration D]

Burn a percent of one CPU writing to memory pages, and hold a resident set, every page
kept active. The work done is counted in pages touched: 4 KiB pages written, one byte
each; the rate is pages per second (pages/s).

positional arguments (the C program's interface):
  cpu%               percent of one CPU, 0-100 (default {DEFAULT_CPU:g})
  MB                 whole-process resident set target in MiB, 0 = unbounded (default {DEFAULT_MEMORY:g})
  incrementMB        MiB added per loop (default {DEFAULT_INCREMENT:g})

options:
  -h, --help         show this help and exit
  --cpu N            percent of one CPU, 0-100
  --memory MiB       target for the whole process resident set (VmRSS), 0 = unbounded
  --increment MiB    MiB added per one-second loop
  --report FILE      every second, replace FILE (atomically: temporary file + rename)
                     with one line of integers:
                       scaler-work 1 <epoch_us> <pages_per_s> <period_us> <pages_total> <rss_kib> <cpu_centipct>
                     epoch_us: when written (microseconds since the epoch); pages_per_s:
                     4 KiB pages touched per second over the last period; period_us: that
                     period (about 1 s); pages_total: pages touched since start; rss_kib:
                     VmRSS in KiB; cpu_centipct: CPU over the period in 1/100 percent of
                     one CPU. A report older than 3 periods is stale (the process stopped).
  --duration D       stop after this long: seconds, or a number with s, m or h

Environment: CPU, MEMORY, INCREMENT, REPORT, DURATION (options and positional arguments
take precedence). stdout: one line a second, e.g.
  workload report t=3.0s work=524288pages/s cpu=20.0% avg=20.0% rss=200.0MiB ...
SIGTERM or SIGINT: a final line and exit status 0.
"""


class UsageError(ValueError):
    """A bad argument or environment value: reported as one line, exit status 2."""


class HelpRequested(Exception):
    """``-h``/``--help``: print ``HELP`` and exit with status 0."""


class WorkloadConfig:
    """The settings of one run, in the units users write.

    ``cpu_percent`` is a percent of one CPU; ``memory_mib`` the target for the whole
    process resident set (0: grow without bound); ``increment_mib`` the growth per loop;
    ``report_path`` where to write the work done (None: nowhere); ``duration_s`` when to
    stop by itself (None: run until signalled). A plain class with slots: the dataclasses
    module costs every pod about 3 MiB resident.
    """

    __slots__ = ("cpu_percent", "memory_mib", "increment_mib", "report_path", "duration_s")

    def __init__(
        self,
        cpu_percent: float = DEFAULT_CPU,
        memory_mib: float = DEFAULT_MEMORY,
        increment_mib: float = DEFAULT_INCREMENT,
        report_path: str | None = None,
        duration_s: float | None = None,
    ) -> None:
        self.cpu_percent = cpu_percent
        self.memory_mib = memory_mib
        self.increment_mib = increment_mib
        self.report_path = report_path
        self.duration_s = duration_s

    def _values(self) -> tuple[float, float, float, str | None, float | None]:
        return (self.cpu_percent, self.memory_mib, self.increment_mib, self.report_path, self.duration_s)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WorkloadConfig) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in zip(self.__slots__, self._values(), strict=True))
        return f"WorkloadConfig({fields})"


def parse_config(argv: Sequence[str], env: Mapping[str, str]) -> WorkloadConfig:
    """Resolve the settings; raise UsageError (one line) on anything invalid, HelpRequested
    for ``-h``/``--help``."""
    options, positional = _split(argv)

    def pick(name: str, index: int) -> tuple[str | None, str]:
        for value, source in (
            (options.get("--" + name.lower()), "--" + name.lower()),
            (positional[index] if index < len(positional) else None, name),
            (env.get(name), name),
        ):
            if value is not None and value != "":
                return value, source
        return None, name

    cpu_raw, cpu_src = pick("CPU", 0)
    mem_raw, mem_src = pick("MEMORY", 1)
    inc_raw, inc_src = pick("INCREMENT", 2)
    cpu = DEFAULT_CPU if cpu_raw is None else _number(cpu_raw, cpu_src)
    memory = DEFAULT_MEMORY if mem_raw is None else _number(mem_raw, mem_src)
    increment = DEFAULT_INCREMENT if inc_raw is None else _number(inc_raw, inc_src)
    if cpu > 100:
        raise UsageError(f"{cpu_src} must be at most 100 (percent of one CPU), got {cpu_raw!r}")
    if increment == 0:
        raise UsageError(f"{inc_src} must be positive, got {inc_raw!r}")

    report = options.get("--report") or env.get("REPORT") or None
    dur_raw = options.get("--duration")
    dur_raw = dur_raw if dur_raw is not None else (env.get("DURATION") or None)
    duration = None if dur_raw is None else _duration(dur_raw)
    return WorkloadConfig(cpu, memory, increment, report, duration)


def _split(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Long options (``--x V``, ``--x=V``, unique prefixes) and up to three positionals.

    As with argparse, a word that looks like a negative number is a positional (so that
    ``-5`` is reported as negative, not as an unknown option) and ``--`` ends the options.
    """
    options: dict[str, str] = {}
    positional: list[str] = []
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            positional.extend(words[i:])
            break
        if word in ("-h", "--help"):
            raise HelpRequested
        if word.startswith("-") and len(word) > 1 and not _looks_negative(word):
            name, eq, value = word.partition("=")
            option = _option(name, word)
            if not eq:
                if i >= len(words):
                    raise UsageError(f"argument {option}: expected one argument")
                value = words[i]
                i += 1
            options[option] = value
        else:
            positional.append(word)
    if len(positional) > 3:
        raise UsageError(f"unrecognized arguments: {' '.join(positional[3:])}")
    return options, positional


def _option(name: str, word: str) -> str:
    matches = [o for o in _OPTIONS if o.startswith(name)] if name.startswith("--") and len(name) > 2 else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UsageError(f"ambiguous option: {name} could match {', '.join(matches)}")
    raise UsageError(f"unrecognized arguments: {word}")


def _looks_negative(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _number(raw: str, source: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{source} must be a number, got {raw!r}") from None
    if value != value or value in (_INF, -_INF):
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
    if value != value or value in (_INF, -_INF) or value <= 0:
        raise UsageError(f"--duration must be positive, got {raw!r}")
    return value
