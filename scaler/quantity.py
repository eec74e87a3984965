"""Kubernetes resource quantities ("512Mi", "1Gi", "250m", "2") to numbers.

Both the driver (node capacity, RuntimeClass overhead) and the simulator's API front (container
resources into a WorkloadSpec) read them, so the parsing lives here, once.
"""

from __future__ import annotations

import re

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "P": 1e15, "E": 1e18}
_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$")


class QuantityError(ValueError):
    pass


def parse_quantity(value: str | int | float) -> float:
    """The quantity in base units (bytes for memory, cores for CPU)."""
    if isinstance(value, bool):
        raise QuantityError(f"not a quantity: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    m = _QUANTITY.match(str(value).strip())
    if not m:
        raise QuantityError(f"not a quantity: {value!r}")
    number, suffix = m.groups()
    scale = _BINARY.get(suffix) or _DECIMAL[suffix]
    return float(number) * scale


def memory_mib(value: str | int | float) -> float:
    return parse_quantity(value) / 2**20


def cpu_millis(value: str | int | float) -> int:
    return round(parse_quantity(value) * 1000)


def mib_quantity(mib: float) -> str:
    """MiB as the quantity users write ("512Mi")."""
    return f"{int(mib)}Mi" if float(mib).is_integer() else f"{round(mib * 1024)}Ki"


def millis_quantity(millis: int) -> str:
    return f"{millis}m"
