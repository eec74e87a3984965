"""Seeded runs write exactly the files they wrote before: the restructured engine, session and
recorder must not change a byte of run.csv, run.nodes.csv or run.pods.csv, nor a value of
run.meta.json beyond what depends on when, where and how fast it ran.

The golden files in tests/data/golden/ were written by the code as it was before the restructure.
An intended change of output regenerates them in the same commit, with the reason in its message:

    SCALER_UPDATE_GOLDEN=1 python -m pytest -q tests/test_golden_runs.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from scaler.cli import main

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
UPDATE = os.environ.get("SCALER_UPDATE_GOLDEN") == "1"

# Small seeded runs covering each mode, each scenario, both runtimes, evictions, OOM kills,
# restarts and a run that ends saturated. Node samples every 5 s keep the files small.
RUNS = {
    "default-capacity-fixed": ["--runtime", "runc", "--max-replicas", "30"],
    "kata-hungry-nowait": ["--runtime", "kata", "--scenario", "hungry", "--mode", "no-wait",
                           "--max-replicas", "30"],
    "default-restricted-wait": ["--runtime", "runc", "--scenario", "restricted", "--mode", "wait",
                             "--step", "5", "--max-replicas", "30", "--wait-timeout", "20s"],
    "default-hungry-saturated": ["--runtime", "runc", "--scenario", "hungry", "--workers", "1",
                              "--worker-memory", "12Gi", "--beyond", "3",
                              "--stop-steps", "5", "--stop-window", "10s"],
}

# run.pods.csv is kept for the runs where it is small (the saturated run's is about 1 MB).
PODS = {"default-capacity-fixed", "default-restricted-wait", "kata-hungry-nowait"}

# Metadata that depends on when, where and how fast the run went, not on what it measured.
VOLATILE = {"command", "recorded_at", "run_id"}
VOLATILE_SUMMARY = {"wall_s", "output"}


def stable_meta(meta: dict) -> dict:
    out = {k: v for k, v in meta.items() if k not in VOLATILE}
    out["summary"] = {k: v for k, v in meta["summary"].items() if k not in VOLATILE_SUMMARY}
    return out


@pytest.mark.parametrize("name", sorted(RUNS))
def test_seeded_run_writes_the_golden_files(name, tmp_path):
    out = tmp_path / f"{name}.csv"
    res = CliRunner().invoke(main, ["run", "-q", "--sample-interval", "5s", *RUNS[name],
                                    "-o", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.stderr
    meta = json.dumps(stable_meta(json.loads((tmp_path / f"{name}.meta.json").read_text())),
                      indent=2, sort_keys=True) + "\n"
    produced = {
        f"{name}.csv": out.read_bytes(),
        f"{name}.nodes.csv": (tmp_path / f"{name}.nodes.csv").read_bytes(),
        f"{name}.meta.json": meta.encode(),
    }
    if name in PODS:
        produced[f"{name}.pods.csv"] = (tmp_path / f"{name}.pods.csv").read_bytes()
    if UPDATE:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for fname, data in produced.items():
            (GOLDEN / fname).write_bytes(data)
    for fname, data in produced.items():
        want = (GOLDEN / fname).read_bytes()
        if fname.endswith(".json"):
            assert json.loads(data) == json.loads(want), fname
        else:
            assert data == want, f"{fname} differs from the golden file"
