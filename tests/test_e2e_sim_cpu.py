"""End to end, CPU and work (issue 13): ``scaler run --cluster openshift`` through the real kubectl
against ``scaler sim serve``, its collectors reading the simulated nodes over SSH: /proc/stat for
node CPU and the @@work sections (the pods' work reports) rendered from the model's CPU model."""

from __future__ import annotations

import csv
import subprocess
import sys

from tests.simserve_support import REPO, needs_kubectl, start_server

pytestmark = needs_kubectl


def ssh_args(server) -> list[str]:
    line = next((ln for ln in server.output if "ssh options:" in ln), None)
    assert line is not None, "sim serve offered no SSH nodes:\n" + "\n".join(server.output)
    return line.split("ssh options:", 1)[1].split()


def test_cpu_run_over_ssh_fills_work_and_node_cpu(tmp_path):
    server = start_server(tmp_path / "srv", "--speed", "4", "--workers", "2")
    try:
        out = tmp_path / "runs" / "cpu.csv"
        cmd = [sys.executable, "-c", "from scaler.cli import main; main()", "run",
               "--cluster", "openshift", "--kubeconfig", str(server.kubeconfig), "-o", str(out),
               "--scenario", "cpu", "--cpu", "100", "--mode", "fixed-interval", "--interval", "2s",
               "--max-replicas", "12", *ssh_args(server)]
        proc = subprocess.run(cmd, cwd=REPO, env=server.env, capture_output=True, text=True,
                              timeout=240)
        assert proc.returncode == 0, proc.stderr
        rows = list(csv.DictReader(out.open()))
        nodes = list(csv.DictReader(out.with_name("cpu.nodes.csv").open()))
    finally:
        server.stop()
    assert len(rows) == 12
    late = [r for r in rows if int(r["running"]) >= 4]
    assert late, rows
    for r in late:
        # every running pod reports; a lone pod at 100% does 1.9e8 pages/s on the model's CPUs
        assert r["work_rate"] and float(r["work_rate"]) > 0 and int(r["work_pods"]) > 0
        assert r["cpu_busy_pct"] and 0 < float(r["cpu_busy_pct"]) <= 100
        assert r["cpu_user_pct"] and r["cpu_system_pct"]
    last = rows[-1]
    assert float(last["work_rate"]) / int(last["work_pods"]) <= 1.9e8 * 1.001
    # the busiest worker is at most full: 8 CPUs of busy time
    assert float(last["cpu_busy_cores"]) <= 16.0 + 1e-6
    ok = [n for n in nodes if n["status"] == "ok"]
    assert {n["node"] for n in ok} == {"worker-0", "worker-1"}
    assert all(n["cpus"] == "8" for n in ok)
    assert any(n["cpu_busy_pct"] for n in ok) and any(n["work_rate"] for n in ok)
