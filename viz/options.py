"""Values the command line and the modules share, kept free of heavy imports.

`viz --help` must start as fast as a bare interpreter allows, so the CLI reads its defaults from
here and imports numpy, polars and Altair only inside the commands that need them.
"""

from __future__ import annotations

from viz.errors import VizInputError

#: Total free memory (sum over the sampled nodes) under which a run is "out of memory", MiB.
#: 1 GiB over a 5 x 16 GiB cluster is where the published runs began evicting.
DEFAULT_FREE_THRESHOLD_MIB = 1024.0
FORMATS = ("html", "png", "svg")
#: Images cost 0.1-0.3 s each to render, so they are made only when asked for.
DEFAULT_FORMATS = ("html",)


def parse_formats(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """'html,png' -> ("html", "png"); unknown or no format is a VizInputError."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = tuple(dict.fromkeys(i.strip().lower() for i in items if i.strip()))
    bad = [f for f in out if f not in FORMATS]
    if bad or not out:
        raise VizInputError(
            f"unknown format {', '.join(bad) or '(none)'}: choose from {', '.join(FORMATS)}"
        )
    return out
