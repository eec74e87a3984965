"""Writing a page of charts: one self-contained HTML file, and images of the charts when asked.

Each chart is turned into its Vega-Lite dict once (Altair's schema validation off: the specs are
built here, from tested code) and refers to its data by name; the page carries each dataset once,
as CSV text, whatever number of charts use it. The HTML embeds the Vega/Vega-Lite/vega-embed
bundle from vl-convert, so reports open offline (no CDN). The bundle takes about 2 s to build, so
it is built once and kept in the user's cache directory.
"""

from __future__ import annotations

import functools
import html
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import altair as alt

from viz.datasets import Dataset, data_names, with_data
from viz.errors import VizInputError
from viz.options import FORMATS, parse_formats
from viz.render import Renderer

__all__ = ["FORMATS", "parse_formats", "Page", "ensure_dir", "write_bytes", "html_page"]


@dataclass(frozen=True)
class Page:
    """Charts as Vega-Lite dicts (data by name) and the datasets they name."""

    specs: dict[str, dict[str, Any]]
    datasets: dict[str, Dataset]

    @classmethod
    def build(cls, charts: Mapping[str, alt.TopLevelMixin], datasets: Iterable[Dataset]) -> Page:
        specs = {name: chart.to_dict(validate=False) for name, chart in charts.items()}
        return cls(specs, {d.name: d for d in datasets})

    def image_jobs(self, out: Path, stem: str, formats: Iterable[str]) -> list[tuple[dict, Path, str]]:
        return [
            (with_data(spec, self.datasets), out / f"{stem}.{name}.{fmt}", fmt)
            for fmt in formats
            if fmt != "html"
            for name, spec in self.specs.items()
        ]


def ensure_dir(out_dir: Path) -> Path:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise VizInputError(f"{out_dir}: cannot create output directory ({err.strerror})") from None
    return out_dir


def write_bytes(path: Path, data: bytes | str) -> Path:
    try:
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
    except OSError as err:
        raise VizInputError(f"{path}: cannot write ({err.strerror})") from None
    return path


def write_images(page: Page, out: Path, stem: str, formats: Iterable[str], renderer: Renderer | None = None) -> list[Path]:
    """One image per chart and format (no HTML); with a started renderer, in parallel."""
    jobs = page.image_jobs(out, stem, formats)
    if renderer is not None:
        return renderer.render(jobs)
    with Renderer(parallel=len(jobs) > 2) as own:
        return own.render(jobs)


def _cache_file() -> Path:
    import vl_convert as vlc

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    version = getattr(vlc, "__version__", "unknown")
    return Path(base) / "viz" / f"vega-bundle-{version}.js"


def _valid_bundle(text: str) -> bool:
    return "window.vegaEmbed=" in text[-4000:] and len(text) > 100_000


@functools.cache
def _bundle() -> str:
    """The inline JavaScript, from the user's cache when a complete copy for this vl-convert
    version is there (it saves ~2 s per `viz plot`); any cache problem just rebuilds it."""
    cache = _cache_file()
    try:
        text = cache.read_text(encoding="utf-8")
        if _valid_bundle(text):
            return text
    except OSError:
        pass
    # "</script" inside the bundle would end the tag early; it has none, but guard anyway.
    import vl_convert as vlc

    bundle: str = vlc.javascript_bundle()  # type: ignore[call-arg]  # no snippet: the whole library
    text = bundle.replace("</script", "<\\/script")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, cache)  # atomic: a reader never sees half a bundle
    except OSError:
        pass
    return text


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 2em; }
.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
td, th { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
td.num { text-align: right; white-space: nowrap; } .how { color: #666; font-size: 0.85em; }
.note { color: #8a5a00; }
"""


def _script_text(value: Any) -> str:
    """JSON for inside a script element, where neither "</" nor "<!--" may appear."""
    return json.dumps(value).replace("</", "<\\/").replace("<!--", "<\\u0021--")


def html_page(heading: str, subtitle: str, sections_html: str, page: Page, notes: list[str]) -> str:
    """A complete offline HTML page: heading, prepared HTML sections, then the charts. Every
    dataset is written once (``D``); each chart gets the ones it names when it is embedded."""
    divs, calls = [], []
    for i, (name, spec) in enumerate(page.specs.items()):
        divs.append(f'<h2>{html.escape(name)}</h2>\n<div id="chart{i}"></div>')
        used = sorted({n for n in data_names(spec) if n in page.datasets})
        calls.append(
            f'vegaEmbed("#chart{i}", withData({_script_text(spec)}, {_script_text(used)}), '
            '{"actions": true});'
        )
    data = "const D = {" + ",\n".join(
        f"{_script_text(name)}: {_script_text(d.csv)}" for name, d in page.datasets.items()
    ) + "};\n"
    helper = (
        "function withData(spec, names) {\n"
        "  spec.datasets = Object.assign(spec.datasets || {}, "
        "Object.fromEntries(names.map((n) => [n, D[n]])));\n  return spec;\n}\n"
    )
    note_html = "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(heading)}</title>\n<style>{_STYLE}</style>\n"
        f'<script type="module">{_bundle()}</script>\n</head>\n<body>\n'
        f'<h1>{html.escape(heading)}</h1>\n<p class="sub">{html.escape(subtitle)}</p>\n'
        f"{note_html}\n{sections_html}\n" + "\n".join(divs) + "\n"
        '<script type="module">\n' + data + helper + "\n".join(calls) + "\n</script>\n"
        "</body>\n</html>\n"
    )
