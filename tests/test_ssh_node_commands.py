"""A measurement script's SSH commands against ``scaler sim serve``'s nodes, with the real OpenSSH
client: the allow-listed read-only commands answer from the model, loops keep streaming with
stdin closed, everything else is refused with exit 127 and never run."""

import shlex
import subprocess
import time

import pytest

from collectors.meminfo import parse_meminfo
from scaler.sim.model import SimModel
from tests.sim_ssh_client import needs_ssh, sim_nodes_ssh
from tests.simserve_support import start_server
from tests.test_sim_meminfo_fields import RHCOS_FIELDS

pytestmark = needs_ssh


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("nodes")
    server = start_server(workdir, "--workers", "2", "--seed", "3")
    try:
        yield server, sim_nodes_ssh(server.output, workdir)
    finally:
        server.stop()


def test_cat_proc_files(served):
    _, ssh = served
    done = ssh.run("worker-1", "cat /proc/meminfo")
    assert done.returncode == 0, done.stderr
    assert [line.split(":")[0] for line in done.stdout.splitlines()] == RHCOS_FIELDS
    assert parse_meminfo(done.stdout).total_kib > 15 * 1024 * 1024
    both = ssh.run("worker-0", "cat /proc/loadavg /proc/meminfo; date +%s")
    lines = both.stdout.splitlines()
    assert both.returncode == 0 and len(lines[0].split()) == 5 and "/" in lines[0].split()[3]
    assert abs(int(lines[-1]) - time.time()) < 5


def test_proc_stat_needs_a_cpu_model(served):
    _, ssh = served
    done = ssh.run("worker-0", "cat /proc/stat")
    if hasattr(SimModel, "node_stat"):
        assert done.returncode == 0 and done.stdout.startswith("cpu ")
    else:
        assert done.returncode == 1 and "cat: /proc/stat: not simulated" in done.stderr


@pytest.mark.parametrize("command", [
    "cat /etc/passwd", "cat /proc/meminfo | grep MemFree", "touch /tmp/pwned",
    "echo $(id)", "sleep 1 &",
])
def test_anything_else_is_refused_and_never_run(served, tmp_path, command):
    _, ssh = served
    done = ssh.run("worker-0", command.replace("/tmp/pwned", str(tmp_path / "pwned")))
    assert done.returncode == 127 and done.stdout == ""
    assert "command not allowed" in done.stderr and "cat /proc/meminfo" in done.stderr
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("how", ["-n", "devnull", "background"])
def test_the_loop_keeps_streaming_with_stdin_closed(served, tmp_path, how):
    """ssh -n, ``ssh node cmd < /dev/null`` and a backgrounded ``ssh ... &`` in a script: the
    client closes stdin at once; the loop must keep sampling until the client goes away."""
    _, ssh = served
    loop = "while true; do cat /proc/meminfo; sleep 0.2; done"
    out = tmp_path / "samples"
    if how == "background":  # as a script does it: stdin of a background job is /dev/null
        script = f"{' '.join(ssh.argv('worker-0', shlex.quote(loop)))} > {out} 2>&1 & echo $!; wait"
        client = subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE, text=True)
    else:
        options = ("-n",) if how == "-n" else ()
        client = subprocess.Popen(ssh.argv("worker-0", loop, *options), stdin=subprocess.DEVNULL,
                                  stdout=out.open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (
                not out.exists() or out.read_text().count("MemTotal:") < 6):
            assert client.poll() is None, out.exists() and out.read_text()
            time.sleep(0.1)
        text = out.read_text()
    finally:
        if how == "background":
            ssh_pid = int(client.stdout.readline())
            subprocess.run(["kill", str(ssh_pid)], check=False)
        client.terminate()
        client.wait(10)
    assert text.count("MemTotal:") >= 6
    samples = text.split("MemTotal:")[1:]
    assert all(len(("MemTotal:" + s).splitlines()) >= len(RHCOS_FIELDS) for s in samples[:-1])


def test_the_loop_ends_when_the_client_goes_away(served):
    server, ssh = served
    client = subprocess.Popen(ssh.argv("worker-1", "while true; do cat /proc/loadavg; sleep 0.1; done",
                                       "-n"), stdout=subprocess.PIPE, text=True)
    assert client.stdout.readline().count(" ") == 4
    client.kill()
    client.wait(10)
    # the server is still healthy and serves the next command at once
    done = ssh.run("worker-1", "cat /proc/loadavg")
    assert done.returncode == 0 and server.proc.poll() is None
