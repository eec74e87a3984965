"""End to end: `scaler run --cluster openshift` against `scaler sim serve`, node memory over SSH."""

import csv
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def scaler(*args):
    return [sys.executable, "-m", "scaler", *args]


@pytest.fixture
def sim_serve(tmp_path):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not installed")
    workdir = tmp_path / "serve"
    proc = subprocess.Popen(scaler("sim", "serve", "--workdir", str(workdir), "--workers", "2"),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("ready"):
            break
    text = "".join(lines)
    try:
        port = re.search(r"SSH nodes on port (\d+)", text)
        assert port, text
        yield workdir, int(port.group(1)), text
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_run_against_the_sim_front_fills_run_nodes_csv_over_ssh(sim_serve, tmp_path):
    workdir, port, banner = sim_serve
    out = tmp_path / "out" / "run.csv"
    r = subprocess.run(
        scaler("run", "--cluster", "openshift", "--kubeconfig", str(workdir / "kubeconfig"),
               "--client-binary", "kubectl", "--max-replicas", "3", "--interval", "1s",
               "--sample-interval", "300ms", "--ssh-port", str(port),
               "-i", str(workdir / "ssh" / "sim_nodes_id_ed25519"),
               "--ssh-known-hosts", str(workdir / "ssh" / "sim_nodes_known_hosts"), "-o", str(out),
               "--node", f"gone=127.0.0.99:{port}"),  # nothing listens there: a node that is down
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    with open(out.with_name("run.nodes.csv")) as f:
        rows = list(csv.DictReader(f))
    nodes = {row["node"] for row in rows}
    workers = set(re.findall(r"(worker-\d+)=127\.0\.0\.\d+", banner))
    assert nodes == workers | {"gone"} and len(workers) == 2
    gone = [row for row in rows if row["node"] == "gone"]
    assert gone and all(row["status"] == "reconnecting" for row in gone)
    assert all(row["mem_free_mib"] == "" and row["mem_total_mib"] == "" for row in gone)  # a gap
    ok = [row for row in rows if row["status"] == "ok"]
    assert {row["node"] for row in ok} == workers
    assert len(ok) >= 2 * 4  # ~3 s of 300 ms sampling on 2 nodes, from SSH
    assert all(float(row["mem_total_mib"]) > 1000 and row["mem_free_mib"] for row in ok)
    with open(out) as f:
        steps = list(csv.DictReader(f))
    assert steps and all(int(s["nodes_sampled"]) == 2 for s in steps)


def test_probe_discovers_the_nodes_of_a_named_cluster(sim_serve, tmp_path):
    workdir, port, banner = sim_serve
    r = subprocess.run(
        scaler("nodes", "probe", "--kubeconfig", str(workdir / "kubeconfig"),
               "--client-binary", "kubectl", "--ssh-port", str(port),
               "-i", str(workdir / "ssh" / "sim_nodes_id_ed25519"),
               "--ssh-known-hosts", str(workdir / "ssh" / "sim_nodes_known_hosts"),
               "--node", f"gone=127.0.0.99:{port}"),
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
    )
    assert r.returncode == 1, r.stderr  # "gone" is unreachable
    table = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:]}
    workers = set(re.findall(r"(worker-\d+)=127\.0\.0\.\d+", banner))
    assert set(table) == workers | {"gone"}
    for w in workers:
        assert table[w][2] == "yes" and int(table[w][4]) > 1000  # reachable, MemTotal MiB
    assert table["gone"][2] == "no"


def test_probe_of_an_unreadable_cluster_is_one_line(tmp_path):
    r = subprocess.run(scaler("nodes", "probe", "--kubeconfig", str(tmp_path / "nope"),
                              "--client-binary", "kubectl"),
                       cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
