"""End to end: the model's own failures as the cluster's events (issue 12.1, 12.3). ``scaler run
--cluster openshift`` against ``scaler sim serve`` on scenarios that OOM-kill runc containers
and kill kata VMs; the run's failure counts (read from the events and the pods' statuses) must
be the model's own (``sim serve --truth``), and the real kubectl must find the events by reason.

Tolerance: the driver observes once per step, so its cumulative counts may trail the model's by
what happened in the last observation's lag (the model's state over ``LAG_S`` wall seconds before the row's time, at 10 model seconds
per wall second);
past that they must agree exactly for events (one occurrence counted once) and within 20% for
OOM kills (read from container statuses: two kills of one container between two observations
show as one)."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

from tests.simserve_support import needs_kubectl, start_server
from tests.test_e2e_openshift import epoch, read_truth, scaler_run, truth_between

pytestmark = needs_kubectl

LAG_S = 0.5  # wall seconds: the observation's lag behind the model, at most


def _truth_window(truth: Path, t: float, field: str) -> tuple[int, int]:
    times, rows = read_truth(truth)
    states = truth_between(times, rows, t - LAG_S, t + 0.05)
    values = [int(r[field]) for r in states]
    return min(values), max(values)


def _events(server, reason: str) -> list[dict]:
    out = server.kubectl("get", "events", "-A", "--field-selector", f"reason={reason}",
                         "-o", "json", check=False)
    return json.loads(out.stdout)["items"] if out.returncode == 0 else []


def _run_watching_events(server, proc, reasons: tuple[str, ...]) -> dict[str, list[dict]]:
    """Wait for the run, asking the real kubectl for events by reason meanwhile (the run's
    clean-up deletes its namespace, and its events with it)."""
    found: dict[str, list[dict]] = {r: [] for r in reasons}
    while proc.poll() is None:
        for r in reasons:
            found[r] = _events(server, r) or found[r]
        try:
            proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            pass
    return found


def test_runc_oom_kills_match_the_model(tmp_path):
    truth = tmp_path / "truth.csv"
    server = start_server(tmp_path / "srv", "--speed", "10", "--workers", "2", "--no-ssh",
                          "--truth", str(truth))
    try:
        out = tmp_path / "runc.csv"
        proc = scaler_run(server, out, "--runtime", "runc", "--scenario", "restricted",
                          "--limit", "256", "--interval", "1s", "--step", "2",
                          "--max-replicas", "24",
                          "--no-collectors")
        found = _run_watching_events(server, proc, ("BackOff", "OOMKilling"))
        _, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stderr
        rows = list(csv.DictReader(out.open()))
        last = rows[-1]
        seen = int(last["oom_killed"])
        low, high = _truth_window(truth, epoch(last["time"]), "oom_killed")
        assert high > 0, "the scenario OOM-kills"
        assert 0.8 * low <= seen <= high, (seen, low, high)
        # the kubelet's account: BackOff on the pods, no OOMKilling (node-problem-detector's)
        backoff = found["BackOff"]
        assert backoff and all(e["involvedObject"]["kind"] == "Pod"
                               and e["source"]["component"] == "kubelet" for e in backoff)
        assert not found["OOMKilling"]
        meta = json.loads(out.with_suffix(".meta.json").read_text())
        assert meta["cluster_stats"]["events"]["by_reason"].get("BackOff", 0) > 0
    finally:
        server.stop()


def test_kata_vm_deaths_and_failed_sandboxes_match_the_model(tmp_path):
    """Kata VMs whose guest memory fills /dev/shm die (SandboxChanged) and new ones fail to
    start (FailedCreatePodSandBox): the run's sandbox_deaths and sandbox_failures columns are
    the model's vm_deaths and sandbox failures."""
    profile = tmp_path / "die.yaml"
    profile.write_text("runtimes:\n  kata:\n    shm_full: die\n")
    truth = tmp_path / "truth.csv"
    server = start_server(tmp_path / "srv", "--speed", "10", "--workers", "2", "--no-ssh",
                          "--sim-profile", str(profile), "--truth", str(truth))
    try:
        out = tmp_path / "kata.csv"
        proc = scaler_run(server, out, "--runtime", "kata", "--scenario", "capacity",
                          "--interval", "1s", "--step", "4", "--max-replicas", "40",
                          "--no-collectors")
        found = _run_watching_events(server, proc, ("SandboxChanged",))
        _, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stderr
        rows = list(csv.DictReader(out.open()))
        last = rows[-1]
        t = epoch(last["time"])
        for column, field in (("sandbox_deaths", "sandbox_deaths"),
                              ("sandbox_failures", "sandbox_failures")):
            low, high = _truth_window(truth, t, field)
            assert low <= int(last[column]) <= high, (column, last[column], low, high)
        assert int(last["sandbox_deaths"]) > 0
        changed = found["SandboxChanged"]
        assert changed and changed[0]["message"] == \
            "Pod sandbox changed, it will be killed and re-created."
    finally:
        server.stop()
