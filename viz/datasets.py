"""Chart data as named CSV datasets: written once per page, referenced by name from each chart.

A chart spec names its data (``{"name": "memory", "format": {"type": "csv", ...}}``) instead of
carrying it, so Altair never converts rows and two charts of one table (memory over time and
against requested replicas) share one copy in the HTML. CSV is about a third of the size of the
same rows as JSON objects and polars writes it in microseconds. Each builder rounds its columns
to what a chart can show before it gets here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import altair as alt
import polars as pl


@dataclass(frozen=True)
class Dataset:
    name: str
    frame: pl.DataFrame = field(compare=False)

    def ref(self) -> alt.NamedData:
        """The reference a chart puts in place of its data."""
        parse = {c: "number" for c, t in self.frame.schema.items() if t.is_numeric()}
        return alt.NamedData(name=self.name, format=alt.DataFormat(type="csv", parse=parse))

    @functools.cached_property
    def csv(self) -> str:
        return self.frame.write_csv()


def data_names(spec: Any) -> Iterator[str]:
    """Every dataset name a Vega-Lite spec refers to (``"data": {"name": ...}``), any depth."""
    if isinstance(spec, dict):
        data = spec.get("data")
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            yield data["name"]
        for value in spec.values():
            yield from data_names(value)
    elif isinstance(spec, list):
        for value in spec:
            yield from data_names(value)


def with_data(spec: dict[str, Any], datasets: dict[str, Dataset]) -> dict[str, Any]:
    """A self-contained copy of ``spec`` (for image export): its named datasets inlined."""
    used = {n: datasets[n].csv for n in data_names(spec) if n in datasets}
    return {**spec, "datasets": {**spec.get("datasets", {}), **used}}
