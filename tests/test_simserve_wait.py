"""``scaler run --mode wait`` against ``scaler sim serve`` with a few thousand pods: every step
sees all its pods running (the front shows every pod of the model and no phantom one), long
before the wait timeout. A pod missing from the front, or one it kept after the model lost it,
would hold a step until --wait-timeout."""

from __future__ import annotations

import csv
import time

from tests.simserve_support import needs_kubectl, start_server
from tests.test_e2e_openshift import no_deployments_left, scaler_run

pytestmark = needs_kubectl

STEP, STEPS, TIMEOUT_S = 500, 4, 300


def test_wait_mode_never_stalls_on_a_phantom_pod(tmp_path):
    profile = tmp_path / "profile.json"
    profile.write_text('{"control_plane": {"controller_pods_per_s": 2000.0, '
                       '"scheduler_pods_per_s": 2000.0}}')
    server = start_server(tmp_path / "srv", "--speed", "5", "--workers", "10", "--no-ssh",
                          "--sim-profile", str(profile))
    try:
        out = tmp_path / "runs" / "wait.csv"
        t0 = time.monotonic()
        proc = scaler_run(server, out, "--runtime", "runc", "--mode", "wait",
                          "--memory", "1Mi", "--increment", "1Mi", "--step", str(STEP),
                          "--max-replicas", str(STEP * STEPS), "--wait-timeout", f"{TIMEOUT_S}s",
                          "--poll", "1s", "--no-collectors")
        stdout, stderr = proc.communicate(timeout=TIMEOUT_S * STEPS + 120)
        took = time.monotonic() - t0
        assert proc.returncode == 0, stderr
        rows = list(csv.DictReader(out.open()))
        assert [int(r["requested"]) for r in rows] == [STEP * (i + 1) for i in range(STEPS)]
        assert all(r["running"] == r["requested"] for r in rows), rows
        assert took < TIMEOUT_S  # no step sat out its wait
        assert no_deployments_left(server)
    finally:
        server.stop()
