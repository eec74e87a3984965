"""Safe CSV reading: every way a file can be unusable becomes one VizInputError line.

Runs are read while they may still be written, so a last line without its newline is a
half-written row and is dropped (polars would read it as a real row with missing fields).
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from viz.errors import VizInputError

_HEAD = 65536


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VizInputError(f"{path}: no such file")
    if path.is_dir():
        raise VizInputError(f"{path}: is a directory, not a CSV file")
    if path.stat().st_size == 0:
        raise VizInputError(f"{path}: file is empty")


def _check_text(path: Path, head: bytes) -> None:
    if b"\0" in head:
        raise VizInputError(f"{path}: not a CSV file (binary data)")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        # A multi-byte character cut by the head boundary is not an error.
        if err.start < len(head) - 4:
            raise VizInputError(f"{path}: not a CSV file (not UTF-8 text)") from None


def read_header(path: Path) -> list[str]:
    """Column names of the first line, exactly as written (spaces kept)."""
    _check_file(path)
    with path.open("rb") as f:
        head = f.read(_HEAD)
    _check_text(path, head)
    first = head.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")
    first = first.removeprefix("\ufeff")  # spreadsheets save CSVs with a byte-order mark
    if not first.strip():
        raise VizInputError(f"{path}: file is empty (no header line)")
    return first.split(",")


def complete_source(path: Path) -> Path | io.BytesIO:
    """The file itself, or its bytes up to the last newline when the last line is unfinished."""
    with path.open("rb") as f:
        f.seek(-1, io.SEEK_END)
        if f.read(1) == b"\n":
            return path
        f.seek(0)
        data = f.read()
    cut = data.rfind(b"\n")
    return io.BytesIO(data[: cut + 1] if cut >= 0 else b"")


def read_csv(path: Path, **kwargs) -> pl.DataFrame:
    """polars.read_csv on the complete lines of ``path``, with parse failures as VizInputError."""
    read_header(path)
    source = complete_source(path)
    try:
        return pl.read_csv(source, **kwargs)
    except pl.exceptions.NoDataError:
        raise VizInputError(f"{path}: file is empty") from None
    except (pl.exceptions.PolarsError, OSError, ValueError) as err:
        raise VizInputError(f"{path}: not a readable CSV ({_reason(err)})") from None


def _reason(err: Exception) -> str:
    """The parser's complaint in the user's words (polars speaks of schemas and dtypes)."""
    text = str(err).strip()
    if "more fields than defined" in text:
        return "a line has more fields than the header"
    if "could not parse" in text:
        return "a value could not be parsed: unbalanced quotes or a malformed line"
    if isinstance(err, OSError):
        return err.strerror or type(err).__name__
    return "malformed CSV"


def to_numeric(df: pl.DataFrame, columns: list[str], path: Path) -> pl.DataFrame:
    """Cast text columns to Float64; NaN becomes null; a non-numeric value is an error."""
    casts = []
    for name in columns:
        if name not in df.columns:
            continue
        col = df[name]
        if col.dtype == pl.String:
            stripped = col.str.strip_chars()
            num = stripped.cast(pl.Float64, strict=False)
            bad = stripped.is_not_null() & (stripped != "") & num.is_null()
            if bad.any():
                example = stripped.filter(bad)[0]
                raise VizInputError(f"{path}: column '{name}' is not numeric (value {example!r})")
        else:
            num = col.cast(pl.Float64, strict=False)
        casts.append(num.fill_nan(None).alias(name))
    return df.with_columns(casts) if casts else df


def require_values(df: pl.DataFrame, columns: list[str], path: Path) -> None:
    """Required columns must exist and hold at least one value (not all empty or NaN)."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise VizInputError(
            f"{path}: not a run CSV: missing required column(s) {', '.join(missing)}"
        )
    if df.height == 0:
        raise VizInputError(f"{path}: no data rows (header only)")
    empty = [c for c in columns if df[c].null_count() == df.height]
    if empty:
        raise VizInputError(
            f"{path}: column(s) {', '.join(empty)} hold no values (all empty or NaN)"
        )
