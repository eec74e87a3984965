"""Parsing of the units users type: durations (``5s``, ``2m``, ``1h30m``, ``500ms``) and memory
sizes (``16Gi``, ``512Mi``, ``500``), as click parameter types so bad input is one line, exit 2."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # generic in recent click only; the runtime base stays plain
    _ParamType = click.ParamType[float, object]
else:
    _ParamType = click.ParamType

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in ``text``: a bare number is seconds; units ms, s, m, h, d may be chained (1h30m)."""
    s = str(text).strip().lower()
    if not s:
        raise ValueError("empty duration")
    try:
        value = float(s)
    except ValueError:
        pos, total = 0, 0.0
        for m in _DURATION_PART.finditer(s):
            if m.start() != pos:
                break
            total += float(m.group(1)) * _DURATION_SECONDS[m.group(2)]
            pos = m.end()
        if pos != len(s) or pos == 0:
            raise ValueError(f"malformed duration {text!r} (use e.g. 500ms, 5s, 2m, 1h30m)") from None
        value = total
    if value < 0:
        raise ValueError(f"negative duration {text!r}")
    return value


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(ki|mi|gi|ti|k|m|g|t|kib|mib|gib|tib)?b?$")
_SIZE_MIB = {
    None: 1.0, "mi": 1.0, "mib": 1.0, "m": 1.0, "ki": 1 / 1024, "kib": 1 / 1024, "k": 1 / 1024,
    "gi": 1024.0, "gib": 1024.0, "g": 1024.0, "ti": 1024.0**2, "tib": 1024.0**2, "t": 1024.0**2,
}


def parse_size_mib(text: str) -> float:
    """MiB in ``text``: a bare number is MiB (as the workload's MEMORY); Ki/Mi/Gi/Ti suffixes as
    Kubernetes quantities (K/M/G are read as binary too: this is a memory tool, not a disk one)."""
    m = _SIZE.match(str(text).strip().lower())
    if not m:
        raise ValueError(f"malformed size {text!r} (use e.g. 500, 512Mi, 16Gi)")
    return float(m.group(1)) * _SIZE_MIB[m.group(2)]


class _Parsed(_ParamType):
    """A click type backed by one of the parsers above: a ValueError becomes click's one-line
    "Invalid value" error; numbers (defaults, environment) pass through as floats."""

    parse: Callable[[str], float] = staticmethod(float)

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return self.parse(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


class Duration(_Parsed):
    name = "duration"
    parse = staticmethod(parse_duration)


class SizeMiB(_Parsed):
    name = "size"
    parse = staticmethod(parse_size_mib)


DURATION = Duration()
SIZE_MIB = SizeMiB()
