"""How a value is written in the run's CSV files: one rule per kind of column, by its name."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def float_spec(name: str) -> str | None:
    """The format of a float column, by its name (None: by its value, see ``cell``)."""
    if name.endswith(("_mib", "_rate")):
        return ".1f"
    if name.endswith("_cores"):
        return ".3f"
    if name.endswith("_pct") or name.startswith("load"):
        return ".2f"
    return None


def cell(name: str, value: object) -> str:
    """One value as written: empty for None, ISO 8601 UTC for ``time``, floats by
    ``float_spec`` (else 4 decimals under 10, 3 from there: seconds), the rest as text."""
    if value is None:
        return ""
    if name == "time":
        assert isinstance(value, float | int)
        return iso_utc(value)
    if isinstance(value, float):
        spec = float_spec(name)
        if spec is None:
            spec = ".4f" if value < 10 else ".3f"
        return format(value, spec)
    return str(value)
