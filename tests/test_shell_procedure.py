"""The original shell procedure (tests/data/shell_procedure.sh: `oc scale`, `sleep`, `oc get
pods | grep -c`, one persistent `ssh worker 'while true; do cat /proc/meminfo; sleep N; done'`
per worker) run unmodified against ``scaler sim serve``, with `oc` being kubectl, and its CSV
compared with ``scaler run --cluster openshift`` against a front of the same seed.

Both sides run the capacity workload (runc, 500 MiB, no requests) one replica per iteration,
observing `PAUSE_S` after each scale, on a front at x5 speed: one wall second is five model
seconds, so the iteration is the original's `sleep 5`.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sim_ssh_client import SSH, needs_ssh, sim_nodes_ssh
from tests.simserve_support import KUBECTL, REPO, needs_kubectl, start_server
from viz.legacy import read_legacy

pytestmark = [needs_kubectl, needs_ssh]

SCRIPT = REPO / "tests" / "data" / "shell_procedure.sh"
ITERATIONS = 15
PAUSE_S = 1.0
SAMPLE_S = 1.0
SPEED = "5"
WORKERS = 3
SEED = "11"
DEPLOYMENT = "scaler-workload"  # manifests/deployment.yaml, namespace scaler
KIB_PER_MIB = 1024.0


def wrappers(bin_dir: Path, kubeconfig: Path, ssh_config: Path) -> None:
    """`oc` is kubectl with the front's kubeconfig; `ssh` is OpenSSH with the nodes' config
    (OpenSSH reads ~/.ssh/config from the password database, not $HOME)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, target in (("oc", f'{KUBECTL} --kubeconfig="{kubeconfig}"'),
                         ("ssh", f'{SSH} -F "{ssh_config}"')):
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\nexec {target} "$@"\n')
        path.chmod(0o755)


def run_procedure(tmp_path: Path) -> tuple[Path, float, list[str]]:
    server = start_server(tmp_path / "front-a", "--workers", str(WORKERS), "--seed", SEED,
                          "--speed", SPEED)
    try:
        ssh = sim_nodes_ssh(server.output, server.workdir)
        bin_dir = tmp_path / "bin"
        wrappers(bin_dir, server.kubeconfig, ssh.config)
        env = {**server.env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        subprocess.run(["oc", "apply", "-k", str(REPO / "manifests")], env=env, check=True,
                       capture_output=True, timeout=60)
        out = tmp_path / "procedure.csv"
        started = time.monotonic()
        proc = subprocess.run(
            ["bash", str(SCRIPT), str(out), str(ITERATIONS), f"{PAUSE_S:g}", f"{SAMPLE_S:g}",
             DEPLOYMENT, *ssh.nodes], env=env, capture_output=True, text=True, timeout=300)
        wall_s = time.monotonic() - started
        assert proc.returncode == 0, proc.stderr
        return out, wall_s, list(ssh.nodes)
    finally:
        server.stop()


def run_scaler(tmp_path: Path) -> Path:
    server = start_server(tmp_path / "front-b", "--workers", str(WORKERS), "--seed", SEED,
                          "--speed", SPEED)
    try:
        line = next(ln for ln in server.output if "ssh options:" in ln)
        out = tmp_path / "scaler" / "run.csv"
        cmd = [sys.executable, "-c", "from scaler.cli import main; main()", "run",
               "--cluster", "openshift", "--kubeconfig", str(server.kubeconfig), "-o", str(out),
               "--runtime", "runc", "--scenario", "capacity", "--mode", "fixed-interval",
               "--interval", f"{PAUSE_S:g}s", "--max-replicas", str(ITERATIONS),
               *line.split("ssh options:", 1)[1].split()]
        proc = subprocess.run(cmd, cwd=REPO, env=server.env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr
        return out
    finally:
        server.stop()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_the_shell_procedure_runs_unmodified_and_agrees_with_scaler(tmp_path):
    procedure_csv, wall_s, workers = run_procedure(tmp_path)
    header = next(csv.reader(procedure_csv.open()))
    # the published layout, readable by viz as an original-format run
    assert header == ["Iteration", "Elapsed", "Running", "Creating", "Terminating", "Evicted",
                      "Total Active Memory", "Total Free Memory", " Active",
                      *map(str, range(WORKERS)), "Free", *map(str, range(WORKERS))]
    steps, nodes = read_legacy(procedure_csv, header)
    assert steps["step"].to_list() == list(range(1, ITERATIONS + 1))
    assert nodes is not None and nodes["status"].to_list().count("ok") >= WORKERS * (ITERATIONS - 2)
    procedure = list(csv.DictReader(procedure_csv.open()))
    # every worker's persistent ssh delivered samples from the second iteration on
    for row in procedure[1:]:
        values = list(row.values())
        assert all(int(v) > 0 for v in values[9:9 + WORKERS] + values[10 + WORKERS:]), row

    scaler_csv = run_scaler(tmp_path)
    scaler = list(csv.DictReader(scaler_csv.open()))
    assert [int(r["requested"]) for r in scaler] == list(range(1, ITERATIONS + 1))

    # Counts: each side observes at least PAUSE_S (5 model seconds) after its i-th scale, and
    # a runc pod starts in 1-2 model seconds (scheduling, sandbox, container: the model's
    # startup profile), so both see every requested pod running but one whose start straddles
    # the observation (the sides' iterations drift apart by their different overheads): at
    # most 1 apart, with nothing terminating or evicted at this size (15 pods of 500 MiB on
    # 3 x 16 GiB workers).
    for p, s in zip(procedure, scaler, strict=True):
        i = int(p["Iteration"])
        assert abs(int(p["Running"]) - int(s["running"])) <= 1, (i, p, s)
        assert int(p["Running"]) + int(p["Creating"]) >= i - 1, p
        assert int(p["Terminating"]) == int(s["terminating"]) == 0
        assert int(p["Evicted"]) == 0 and int(s["evicted"]) == 0
    # Memory: the same model, the same pods. The sides sample at different instants (the
    # script reads a sample up to SAMPLE_S old), so their totals differ by what the pods grew
    # in between: at most one INCREMENT (256 MiB) per pod in its first loops, in practice far
    # less; the bound is 2 pods' full workload (1000 MiB) out of ~40 GiB free.
    last_p, last_s = procedure[-1], scaler[-1]
    free_p = int(last_p["Total Free Memory"]) / KIB_PER_MIB
    assert float(last_s["mem_free_mib"]) == pytest.approx(free_p, abs=1000.0)
    active_p = int(last_p["Total Active Memory"]) / KIB_PER_MIB
    assert float(last_s["mem_active_mib"]) == pytest.approx(active_p, abs=1000.0)

    # Overhead per iteration: the procedure's iteration minus its sleep (oc scale, oc get pods,
    # greps and the sample reads), scaler's scale and observation times. Printed, not asserted.
    procedure_s = (wall_s - ITERATIONS * PAUSE_S) / ITERATIONS
    scaler_s = sum(float(r["scale_s"]) + float(r["observe_s"]) for r in scaler) / len(scaler)
    print(f"\nper-iteration overhead over {ITERATIONS} iterations: shell procedure "
          f"{procedure_s * 1000:.0f} ms (wall {wall_s:.1f} s minus {ITERATIONS} x {PAUSE_S:g} s "
          f"sleep), scaler {scaler_s * 1000:.0f} ms (mean scale_s + observe_s)")
