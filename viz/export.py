"""Writing charts: one PNG/SVG per chart via vl-convert, and self-contained HTML pages.

The HTML embeds the Vega/Vega-Lite/vega-embed bundle from vl-convert, so reports open offline
(no CDN). The bundle takes about 2 s to build, so it is built once per process and kept in the
user's cache directory.
"""

from __future__ import annotations

import functools
import html
import json
import os
from pathlib import Path

import altair as alt
import vl_convert as vlc

from viz.errors import VizInputError

FORMATS = ("html", "png", "svg")


def parse_formats(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    items = text.split(",") if isinstance(text, str) else list(text)
    out = tuple(dict.fromkeys(i.strip().lower() for i in items if i.strip()))
    bad = [f for f in out if f not in FORMATS]
    if bad or not out:
        raise VizInputError(
            f"unknown format {', '.join(bad) or '(none)'}: choose from {', '.join(FORMATS)}"
        )
    return out


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


def save_image(chart: alt.TopLevelMixin, path: Path, fmt: str) -> Path:
    spec = chart.to_dict()
    if fmt == "png":
        return write_bytes(path, vlc.vegalite_to_png(spec, scale=1))
    return write_bytes(path, vlc.vegalite_to_svg(spec))


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "viz" / f"vega-bundle-{vlc.__version__}.js"


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
    text = vlc.javascript_bundle().replace("</script", "<\\/script")
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


def html_page(
    heading: str,
    subtitle: str,
    sections_html: str,
    charts: dict[str, alt.TopLevelMixin],
    notes: list[str],
) -> str:
    """A complete offline HTML page: heading, prepared HTML sections, then the charts."""
    divs, calls = [], []
    for i, (name, chart) in enumerate(charts.items()):
        divs.append(f'<h2>{html.escape(name)}</h2>\n<div id="chart{i}"></div>')
        # Neither "</script" nor "<!--" may appear inside a script element, even in a string.
        spec = json.dumps(chart.to_dict()).replace("</", "<\\/").replace("<!--", "<\\u0021--")
        calls.append(f'vegaEmbed("#chart{i}", {spec}, {{"actions": true}});')
    note_html = "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(heading)}</title>\n<style>{_STYLE}</style>\n"
        f'<script type="module">{_bundle()}</script>\n</head>\n<body>\n'
        f'<h1>{html.escape(heading)}</h1>\n<p class="sub">{html.escape(subtitle)}</p>\n'
        f"{note_html}\n{sections_html}\n" + "\n".join(divs) + "\n"
        '<script type="module">\n' + "\n".join(calls) + "\n</script>\n</body>\n</html>\n"
    )
