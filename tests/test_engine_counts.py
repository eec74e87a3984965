"""The pod counts a cluster driver reports reach run.csv by name (team contract 3) and the
run's summary, where failure modes must be visible."""

import csv
import json
from dataclasses import dataclass, replace

from scaler.cluster import PodCounts
from scaler.config import RunConfig
from scaler.engine import Engine
from scaler.recorder import RUN_COLUMNS, Recorder
from tests.engine_support import ScriptedCluster

FAILURES = ("evicted_listed", "sandbox_deaths", "failed_create", "failed_scheduling",
            "sandbox_failures")


@dataclass
class FailingPods(ScriptedCluster):
    """Every observation also reports failures growing with the number of calls."""

    def observe(self) -> PodCounts:
        n = len(self.scales)
        return replace(super().observe(), restarts=2 * n, evicted_listed=n % 3, sandbox_deaths=n,
                       failed_create=1, failed_scheduling=n, sandbox_failures=n // 2,
                       terminating=n % 2)


def test_failure_counts_are_columns_and_summary_figures(tmp_path):
    Engine(FailingPods(), RunConfig(mode="no-wait", max_replicas=6),
           Recorder(tmp_path / "run.csv")).run()
    rows = list(csv.DictReader(open(tmp_path / "run.csv", newline="")))
    assert list(rows[0]) == list(RUN_COLUMNS)
    failures = RUN_COLUMNS[RUN_COLUMNS.index("api_errors") + 1:][:len(FAILURES)]
    assert failures == FAILURES
    assert [int(r["sandbox_deaths"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [int(r["evicted_listed"]) for r in rows] == [1, 2, 0, 1, 2, 0]
    s = json.loads((tmp_path / "run.meta.json").read_text())["summary"]
    assert (s["sandbox_deaths"], s["failed_scheduling"], s["sandbox_failures"]) == (6, 6, 3)
    assert (s["restarts"], s["failed_create"], s["max_evicted_listed"]) == (12, 1, 2)
    assert s["max_terminating"] == 1 and s["final"]["terminating"] == 0
