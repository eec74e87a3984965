"""PNG/SVG images from Vega-Lite specs with vl-convert, on two cores when there are two.

vl-convert renders on one internal JavaScript thread: Python threads do not make it faster
(measured: 5 charts took longer from 4 threads than one after another). A helper process has its
own. It is started before the run is read, so its start-up (interpreter, vl-convert's first call
about 0.5 s) overlaps the reading; it gets half of the charts as spec files and renders them
while this process renders the other half. If the helper cannot start or fails, this process
renders its share too: images never depend on it.

    python -m viz.render      # the helper: reads one JSON job list per line, answers one line
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from viz.errors import VizInputError

_WARM_SPEC = {
    "data": {"values": [{"x": 0}]},
    "mark": "point",
    "encoding": {"x": {"field": "x", "type": "quantitative"}},
}


def _convert(spec: dict[str, Any], fmt: str) -> bytes:
    import vl_convert as vlc

    if fmt == "png":
        return bytes(vlc.vegalite_to_png(spec, scale=1))
    return str(vlc.vegalite_to_svg(spec)).encode("utf-8")


def write_image(spec: dict[str, Any], path: Path, fmt: str) -> Path:
    data = _convert(spec, fmt)
    try:
        path.write_bytes(data)
    except OSError as err:
        raise VizInputError(f"{path}: cannot write ({err.strerror})") from None
    return path


class Renderer:
    """Renders image jobs ``(spec, path, fmt)``; start it early, call render() once, close()."""

    def __init__(self, parallel: bool = True) -> None:
        self._helper: subprocess.Popen[str] | None = None
        self.by_helper = 0  # images the helper wrote
        if parallel and (os.cpu_count() or 1) >= 2:
            try:
                self._helper = subprocess.Popen(
                    [sys.executable, "-m", "viz.render", _schema_url()],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                    env={**os.environ, "PYTHONPATH": _import_root()},
                )
            except OSError:
                self._helper = None

    def render(self, jobs: list[tuple[dict[str, Any], Path, str]]) -> list[Path]:
        if not jobs:
            return []
        mine, theirs = _split(jobs) if self._helper else (jobs, [])
        with tempfile.TemporaryDirectory(prefix="viz-render-") as tmp:
            sent = self._send(theirs, Path(tmp)) if theirs else False
            for spec, path, fmt in mine:
                write_image(spec, path, fmt)
            failed = self._collect(theirs) if sent else theirs
        for spec, path, fmt in failed:  # the helper could not: do it here
            write_image(spec, path, fmt)
        return [path for _, path, _ in jobs]

    def _send(self, jobs: list[tuple[dict[str, Any], Path, str]], tmp: Path) -> bool:
        assert self._helper is not None and self._helper.stdin is not None
        listing = []
        for i, (spec, path, fmt) in enumerate(jobs):
            spec_file = tmp / f"spec{i}.json"
            spec_file.write_text(json.dumps(spec), encoding="utf-8")
            listing.append([str(spec_file), str(path.resolve()), fmt])
        try:
            self._helper.stdin.write(json.dumps(listing) + "\n")
            self._helper.stdin.flush()
        except OSError:
            return False
        return True

    def _collect(
        self, jobs: list[tuple[dict[str, Any], Path, str]]
    ) -> list[tuple[dict[str, Any], Path, str]]:
        assert self._helper is not None and self._helper.stdout is not None
        try:
            answer = json.loads(self._helper.stdout.readline() or "null")
        except (OSError, ValueError):
            answer = None
        if not isinstance(answer, list) or len(answer) != len(jobs):
            return jobs
        self.by_helper += sum(ok == "ok" for ok in answer)
        return [job for job, ok in zip(jobs, answer, strict=True) if ok != "ok"]

    @property
    def pid(self) -> int | None:
        return self._helper.pid if self._helper else None

    def close(self, abort: bool = False) -> None:
        """End the helper: let it finish, or (``abort``: an error or Ctrl-C) stop it now."""
        helper, self._helper = self._helper, None
        if helper is None:
            return
        if abort:
            helper.kill()
            helper.wait()
            return
        try:
            assert helper.stdin is not None
            helper.stdin.close()
            helper.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            helper.kill()
            helper.wait()

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(abort=exc_type is not None)


def _split(
    jobs: list[tuple[dict[str, Any], Path, str]],
) -> tuple[list[tuple[dict[str, Any], Path, str]], list[tuple[dict[str, Any], Path, str]]]:
    """Two shares of about equal cost (rendering time grows with the data in the spec)."""
    costs = [len(json.dumps(spec)) + 20_000 for spec, _, _ in jobs]
    mine: list[tuple[dict[str, Any], Path, str]] = []
    theirs: list[tuple[dict[str, Any], Path, str]] = []
    load = [0, 0]
    for i in sorted(range(len(jobs)), key=lambda i: -costs[i]):
        side = 0 if load[0] <= load[1] else 1
        (mine if side == 0 else theirs).append(jobs[i])
        load[side] += costs[i]
    return mine, theirs


def _schema_url() -> str:
    """The Vega-Lite version our specs name: the helper warms up on that one (vl-convert
    compiles each Vega-Lite version's library on its first use)."""
    import altair as alt

    return str(alt.SCHEMA_URL)


def _import_root() -> str:
    """The folder holding the viz package, so the helper imports this same copy of it."""
    root = str(Path(__file__).resolve().parents[1])
    extra = os.environ.get("PYTHONPATH")
    return root + (os.pathsep + extra if extra else "")


def _serve(schema: str | None) -> None:
    # vl-convert's first call starts its JavaScript runtime and compiles that Vega-Lite version.
    _convert({**_WARM_SPEC, **({"$schema": schema} if schema else {})}, "png")
    for line in sys.stdin:
        results = []
        for spec_file, out, fmt in json.loads(line):
            try:
                spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
                Path(out).write_bytes(_convert(spec, fmt))
                results.append("ok")
            except Exception as err:  # noqa: BLE001 - reported back; the parent redoes the job
                results.append(f"error: {err}")
        print(json.dumps(results), flush=True)


if __name__ == "__main__":
    _serve(sys.argv[1] if len(sys.argv) > 1 else None)
