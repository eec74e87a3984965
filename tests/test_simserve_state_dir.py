"""``scaler sim serve --state-dir``: SIGKILL the front, start it again with the same directory,
and clients continue: same URL and SSH port, host keys unchanged (known_hosts verification
passes), objects and pods still there, resourceVersions monotonic, time going on."""

from __future__ import annotations

import csv
import datetime as dt
import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.sim_ssh_client import needs_ssh, sim_nodes_ssh
from tests.simserve_support import REPO, child_env, needs_kubectl, start_server

pytestmark = [needs_kubectl, needs_ssh]

DEP = "deployment/scaler-workload"


def serve(workdir: Path, state: Path, *extra: str):
    return start_server(workdir, "--state-dir", str(state), "--workers", "2", "--speed", "5",
                        "--seed", "5", *extra)


def api(server, path: str) -> dict:
    with urllib.request.urlopen(server.url + path, timeout=10) as r:
        return json.load(r)


def pods(server) -> tuple[dict[str, dict], int]:
    listed = api(server, "/api/v1/namespaces/scaler/pods")
    return {p["metadata"]["uid"]: p for p in listed["items"]}, int(listed["metadata"]["resourceVersion"])


def replicas(server) -> int:
    return server.kubectl_json("get", DEP)["spec"]["replicas"]


def rv(server) -> int:
    """The Deployment's resourceVersion (``kubectl scale -o json`` prints the object it read
    before scaling)."""
    return int(server.kubectl_json("get", DEP)["metadata"]["resourceVersion"])


def running(server) -> int:
    return sum(p["status"].get("phase") == "Running" for p in pods(server)[0].values())


def kill(server) -> None:
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)


def test_sigkill_and_restart_clients_continue(tmp_path):
    state = tmp_path / "state"
    first = serve(tmp_path / "a", state, "--save-interval", "1")
    try:
        first.kubectl("apply", "-k", str(REPO / "manifests"))
        first.kubectl("scale", DEP, "--replicas=6")
        first.wait_for(lambda: running(first) == 6, timeout=60, what="6 pods running")
        before, rv_before = pods(first)
        ssh = sim_nodes_ssh(first.output, tmp_path)
        known_hosts = ssh.known_hosts.read_text()
        assert ssh.run("worker-0", "cat /proc/loadavg").returncode == 0
        first.kubectl("scale", DEP, "--replicas=8")  # an API write: saved within a second
        time.sleep(2.5)
        _, rv_killed = pods(first)
    finally:
        kill(first)

    second = serve(tmp_path / "b", state)
    try:
        assert second.url == first.url  # the kubeconfig clients hold still points here
        assert any("restored from" in line for line in second.output)
        again = sim_nodes_ssh(second.output, tmp_path)
        assert again.port == ssh.port and ssh.known_hosts.read_text() == known_hosts
        # the old config and known_hosts: strict host key checking passes
        done = ssh.run("worker-1", "cat /proc/meminfo")
        assert done.returncode == 0 and done.stdout.startswith("MemTotal:"), done.stderr
        assert replicas(second) == 8
        after, rv_after = pods(second)
        assert set(before) <= set(after)  # the same pods (uids), still there
        for uid, pod in before.items():
            assert after[uid]["metadata"]["creationTimestamp"] == pod["metadata"]["creationTimestamp"]
            assert after[uid]["spec"]["nodeName"] == pod["spec"]["nodeName"]
        assert rv_after > rv_killed >= rv_before
        second.kubectl("scale", DEP, "--replicas=9")
        assert rv(second) > rv_after
        second.wait_for(lambda: running(second) == 9, timeout=60, what="9 pods running")
        # a watch from before the restart: the watch cache is gone, 410 and relist
        with urllib.request.urlopen(
                f"{second.url}/api/v1/namespaces/scaler/pods?watch=1&resourceVersion={rv_before}"
                "&timeoutSeconds=2", timeout=10) as r:
            first_event = json.loads(r.readline())
        assert first_event["type"] == "ERROR" and first_event["object"]["code"] == 410
    finally:
        second.stop()


def test_writes_after_the_last_save_never_reuse_a_resource_version(tmp_path):
    state = tmp_path / "state"
    first = serve(tmp_path / "a", state, "--save-interval", "3600")
    try:
        first.kubectl("apply", "-k", str(REPO / "manifests"))
        time.sleep(1.5)  # saved (an API write)
        first.kubectl("scale", DEP, "--replicas=3")  # killed before it is saved (or just after)
        lost_rv = rv(first)
    finally:
        kill(first)
    second = serve(tmp_path / "b", state)
    try:
        assert replicas(second) in (0, 3)  # the snapshot may predate the scale
        second.kubectl("scale", DEP, "--replicas=2")
        assert rv(second) > lost_rv
    finally:
        second.stop()


def test_sigterm_saves_the_latest_state(tmp_path):
    state = tmp_path / "state"
    first = serve(tmp_path / "a", state, "--save-interval", "3600")
    first.kubectl("apply", "-k", str(REPO / "manifests"))
    first.kubectl("scale", DEP, "--replicas=5")
    assert first.stop(signal.SIGTERM) == 0  # at once: only the exit save can have it
    second = serve(tmp_path / "b", state)
    try:
        assert replicas(second) == 5
        second.wait_for(lambda: running(second) == 5, timeout=60, what="5 pods running")
    finally:
        second.stop()
    assert (state / "state.pickle").stat().st_mode & 0o077 == 0


def test_an_unreadable_snapshot_is_refused_with_a_reason(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.pickle").write_bytes(b"not a snapshot")
    proc = subprocess.run([sys.executable, "-c", "from scaler.cli_sim import sim; sim()", "serve",
                           "--state-dir", str(state)], cwd=REPO, env=child_env(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "ready" not in proc.stdout
    assert "cannot restore --state-dir" in proc.stderr and "state.pickle" in proc.stderr


def test_a_run_with_ssh_collectors_continues_across_a_restart(tmp_path):
    """scaler run --cluster openshift with its SSH collectors (host keys verified against the
    known_hosts the front wrote) while the front is SIGKILLed and started again: the run ends
    normally, and every node is sampled again after the restart."""
    state = tmp_path / "state"
    server = serve(tmp_path / "a", state)
    out = tmp_path / "run" / "run.csv"
    line = next(ln for ln in server.output if "ssh options:" in ln)
    cmd = [sys.executable, "-c", "from scaler.cli import main; main()", "run", "--cluster",
           "openshift", "--kubeconfig", str(server.kubeconfig), "-o", str(out), "-q",
           "--runtime", "runc", "--mode", "fixed-interval", "--interval", "500ms",
           "--max-replicas", "24", "--sample-interval", "500ms", "--op-timeout", "60s",
           *line.split("ssh options:", 1)[1].split()]
    run = subprocess.Popen(cmd, cwd=REPO, env=server.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    restarted = None
    try:
        server.wait_for(lambda: out.exists() and len(out.read_text().splitlines()) > 8,
                        timeout=120, what="8 steps")
        kill(server)
        killed_at = time.time()
        time.sleep(1.0)
        restarted = serve(tmp_path / "b", state)
        _, stderr = run.communicate(timeout=240)
    finally:
        if run.poll() is None:
            run.kill()
        if restarted is not None:
            restarted.stop()
    assert run.returncode == 0, stderr
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    assert meta["end_reason"] == "max-replicas" and meta["cleanup"] == "done"
    nodes = list(csv.DictReader(out.with_suffix(".nodes.csv").open()))
    after = {r["node"] for r in nodes if r["status"] == "ok"
             and dt.datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp()
             > killed_at + 1.0}
    assert after == {"worker-0", "worker-1"}, nodes[-6:]
