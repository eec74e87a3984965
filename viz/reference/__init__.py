"""Published measurements shipped with the tool, by name, so a run can be put beside them
(``viz compare runs/kata.csv --reference c3d-2021/kata``) and the tests can check the simulator
against them from a plain clone.

Each dataset is a folder of the original CSVs (kept byte for byte as published) with a README
saying where they come from, how they were taken and what is odd about them; ``RUNS`` says what
each file is. Names are ``<dataset>/<file stem>``, e.g. ``c3d-2021/limited-runc``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_HERE = Path(__file__).resolve().parent

#: dataset name -> folder beside this module
DATASETS = {"c3d-2021": "c3d-kata-2021"}


@dataclass(frozen=True)
class ReferenceRun:
    """One published run. ``memory_mib``/``increment_mib`` and ``cpu_percent`` are the workload's
    settings; ``resources`` is what the manifest said; ``effective`` what Kubernetes applied
    (resources written at pod level are dropped by the API server, so those pods ran
    BestEffort); ``kind`` is "memory" or "cpu"."""

    name: str
    file: str
    kind: str
    runtime: str
    cpu_percent: float
    memory_mib: int | None  # None: not published
    increment_mib: int | None
    resources: str
    effective: str
    notes: str = ""

    @property
    def path(self) -> Path:
        dataset, _, _ = self.name.partition("/")
        return _HERE / DATASETS[dataset] / self.file


_POD_LEVEL = "BestEffort (resources written at pod level, ignored)"

RUNS: dict[str, ReferenceRun] = {r.name: r for r in (
    ReferenceRun("c3d-2021/runc", "runc.csv", "memory", "runc", 5, 500, 256, "none",
                 "BestEffort", "memory capacity run; evicted hundreds (Evicted pods listed)"),
    ReferenceRun("c3d-2021/kata", "kata.csv", "memory", "kata", 5, 500, 256, "none",
                 "BestEffort", "memory capacity run; worker 3 missing for the first iterations"),
    ReferenceRun("c3d-2021/limited-runc", "limited-runc.csv", "memory", "runc", 5, 500, 250,
                 "requests 384Mi, limits 512Mi at pod level", _POD_LEVEL,
                 "started with 37 pods left Terminating from an earlier run"),
    ReferenceRun("c3d-2021/limited-kata", "limited-kata.csv", "memory", "kata", 5, 500, 250,
                 "requests 384Mi, limits 512Mi at pod level", _POD_LEVEL,
                 "started with 37 pods left Terminating from an earlier run"),
    ReferenceRun("c3d-2021/restricted-kata-512M-limit", "restricted-kata-512M-limit.csv",
                 "memory", "kata", 5, 500, 250, "limits 512Mi at pod level", _POD_LEVEL),
    ReferenceRun("c3d-2021/restricted-kata-512Mv2-limit", "restricted-kata-512Mv2-limit.csv",
                 "memory", "kata", 5, 500, 250, "limits 512Mi at pod level", _POD_LEVEL,
                 "second try of the 512Mi run"),
    ReferenceRun("c3d-2021/restricted-kata-1024M-limit", "restricted-kata-1024M-limit.csv",
                 "memory", "kata", 5, 500, 250, "requests 512Mi, limits 1024Mi at pod level",
                 _POD_LEVEL),
    ReferenceRun("c3d-2021/restricted-runc-1024M-limit", "restricted-runc-1024M-limit.csv",
                 "memory", "runc", 5, 500, 250, "requests 512Mi, limits 1024Mi at pod level",
                 _POD_LEVEL),
    ReferenceRun("c3d-2021/restricted-kata-2048M-limit", "restricted-kata-2048M-limit.csv",
                 "memory", "kata", 5, 500, 250, "limits 2048Mi at pod level", _POD_LEVEL),
    ReferenceRun("c3d-2021/runc-5pct-500m-fixed-timing", "runc-5pct-500m-fixed-timing.csv",
                 "memory", "runc", 5, 500, 256, "none", "BestEffort",
                 "an earlier, shorter run (wait-then-fixed timing)"),
    *(ReferenceRun(f"c3d-2021/cpu-{rt}-{pct}pct", f"cpu-{rt}-{pct}pct.csv", "cpu", rt, pct, None, None,
                   "none", "BestEffort",
                   "CPU run (small memory, settings not published): WorkUnits/WorkCount "
                   "summed from the workload's report files")
      for rt, pct in (("runc", 10), ("runc", 20), ("runc", 50), ("runc", 80), ("runc", 100),
                      ("kata", 50), ("kata", 100))),
)}


class UnknownReference(ValueError):
    pass


def reference_run(name: str) -> ReferenceRun:
    """The published run called ``name`` ("c3d-2021/kata"); a bare file stem ("kata") is
    looked up in every dataset."""
    if name in RUNS:
        return RUNS[name]
    hits = [r for r in RUNS.values() if r.name.partition("/")[2] == name]
    if len(hits) == 1:
        return hits[0]
    raise UnknownReference(f"unknown reference run {name!r} (known: {', '.join(RUNS)})")


def dataset_dir(dataset: str = "c3d-2021") -> Path:
    return _HERE / DATASETS[dataset]


def by_path(path: Path) -> ReferenceRun | None:
    """The catalogue entry of a shipped file, so it is labelled as published however it is
    named on the command line (by name, or by its path in the package)."""
    try:
        resolved = path.resolve()
    except OSError:
        return None
    return next((r for r in RUNS.values() if r.path == resolved), None)
