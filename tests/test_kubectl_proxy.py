"""The kubelet source through a real ``kubectl proxy`` against a Kubernetes API on loopback.

kubectl reads a minimal kubeconfig pointing at the test server and forwards
``/api/v1/nodes/<node>/proxy/stats/summary`` like any API path, so the proxy plumbing (start,
address, forwarding, read-only filter, stop on every exit path) is the real one.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from collectors.kubelet_http import probe
from collectors.kubelet_source import KubeletSource
from scaler.cluster import ClusterError
from scaler.openshift.kubectl_proxy import KubectlProxy, proxy_argv
from scaler.openshift.options import OpenShiftOptions
from tests.kubelet_support import (
    GAP,
    Collected,
    FakeApi,
    FakeNode,
    assert_gap,
    wait_until,
    workload_pods,
    write_kubeconfig,
)

KUBECTL = shutil.which("kubectl")
REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    e["HOME"] = str(tmp_path / "home")  # kubectl's cache, per test
    return e


def gone(pid: int) -> bool:
    """The process has ended (a zombie nobody reaps counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def refused(url: str) -> bool:
    """Nothing answers HTTP there any more. A connection that raced the proxy's exit can be
    reset rather than refused (its listening socket closed with the connection queued)."""
    try:
        urllib.request.urlopen(url + "/api/v1/nodes/worker-0", timeout=5)
    except urllib.error.URLError as e:
        return isinstance(e.reason, ConnectionRefusedError | ConnectionResetError)
    except (ConnectionResetError, http.client.RemoteDisconnected):
        return True
    return False


def test_source_through_kubectl_proxy_with_a_node_failing_and_recovering(
        tmp_path: Path, env: dict[str, str]) -> None:
    nodes = [FakeNode("worker-0", workload_pods(5, kata_every=2)),
             FakeNode("worker-1", workload_pods(3), fail=2)]
    with FakeApi(nodes) as api:
        kubeconfig = tmp_path / "kubeconfig"
        write_kubeconfig(kubeconfig, api.url, context="fake")
        proxy = KubectlProxy(KUBECTL or "kubectl", kubeconfig=str(kubeconfig), context="fake",
                             env=env)
        with proxy as url:
            assert url.startswith("http://127.0.0.1:") and url != api.url
            pid = proxy.proc.pid if proxy.proc else -1
            assert probe(url, "worker-0") is None
            src = KubeletSource(url, ["worker-0", "worker-1"], interval_s=0.1,
                                namespaces={"scaler"})
            got = Collected(src)
            with src:
                wait_until(lambda: got.pull() and src.latest().get("worker-1", GAP).ok
                           and any(s.ok for s in got.of("worker-0")), "worker-1 to recover")
                got.pull()
                stats = src.stats()
        assert gone(pid) and refused(url)
    w1 = got.of("worker-1")
    assert [s.ok for s in w1[:3]] == [False, False, True]
    assert_gap(w1[0])
    assert "HTTP 503" in (stats["worker-1"].last_error or "")
    assert {p.uid for p in got.pods} == {p.uid for p in nodes[0].pods + nodes[1].pods}
    ok = next(s for s in got.of("worker-0") if s.ok)
    assert ok.mem_total_mib == 16384.0
    assert getattr(ok, "cpus", 8) == 8  # the Node object came through the proxy too
    # only GETs of the two allowed paths reached the API server (kubectl's own version check
    # aside)
    paths = {r[1] for r in api.requests if r[1] != "/version"}
    assert paths == {"/api/v1/nodes/worker-0", "/api/v1/nodes/worker-1",
                     "/api/v1/nodes/worker-0/proxy/stats/summary",
                     "/api/v1/nodes/worker-1/proxy/stats/summary"}


def test_proxy_is_read_only_and_narrow(tmp_path: Path, env: dict[str, str]) -> None:
    with FakeApi([FakeNode("worker-0", [])]) as api:
        kubeconfig = tmp_path / "kubeconfig"
        write_kubeconfig(kubeconfig, api.url, context="fake")
        options = OpenShiftOptions(kubeconfig=str(kubeconfig), context="fake",
                                   client_binary=KUBECTL)
        with KubectlProxy.for_cluster(options, env=env) as url:
            for method, path in (("DELETE", "/api/v1/nodes/worker-0"),
                                 ("POST", "/api/v1/nodes/worker-0/proxy/stats/summary"),
                                 ("PATCH", "/api/v1/nodes/worker-0"),
                                 ("GET", "/api/v1/namespaces/default/secrets"),
                                 ("GET", "/api/v1/nodes/worker-0/proxy/exec/x"),
                                 ("GET", "/api/v1/nodes/worker-0/proxy/stats/summary/../../x")):
                req = urllib.request.Request(url + path, method=method)
                with pytest.raises(urllib.error.HTTPError) as e:
                    urllib.request.urlopen(req, timeout=10)
                assert e.value.code == 403, (method, path)
        assert api.count(lambda r: r[0] != "GET" or "secrets" in r[1] or "exec" in r[1]) == 0


def test_unreachable_api_server_is_one_line_from_probe(tmp_path: Path, env: dict[str, str]) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    with FakeApi([]) as api:
        write_kubeconfig(kubeconfig, api.url)  # a server that is gone once the block ends
    with KubectlProxy(KUBECTL or "kubectl", kubeconfig=str(kubeconfig), env=env) as url:
        why = probe(url, "worker-0") or ""
    assert why.startswith("HTTP ") and "connection refused" in why and "\n" not in why


@pytest.mark.parametrize("kind", ["missing kubeconfig", "unknown context", "missing binary",
                                  "not executable"])
def test_start_failures_are_one_line_cluster_errors(tmp_path: Path, env: dict[str, str],
                                                    kind: str) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, "http://127.0.0.1:9", context="fake")
    binary = KUBECTL or "kubectl"
    kw: dict[str, str] = {"kubeconfig": str(kubeconfig)}
    expect = {"missing kubeconfig": "cannot start kubectl proxy: error:",
              "unknown context": 'cannot start kubectl proxy: error: context "nope"',
              "missing binary": "client binary /nonexistent/kubectl not found",
              "not executable": "not found or not executable"}[kind]
    if kind == "missing kubeconfig":
        kw["kubeconfig"] = str(tmp_path / "no-such-file")
    elif kind == "unknown context":
        kw["context"] = "nope"
    elif kind == "missing binary":
        binary = "/nonexistent/kubectl"
    else:
        binary = str(kubeconfig)  # a file, but not a program
    proxy = KubectlProxy(binary, env=env, kubeconfig=kw["kubeconfig"], context=kw.get("context"))
    with pytest.raises(ClusterError) as e:
        proxy.start()
    assert expect in str(e.value) and "\n" not in str(e.value)
    assert proxy.proc is None or proxy.proc.poll() is not None


def test_command_line_is_loopback_read_only() -> None:
    argv = proxy_argv("kubectl", kubeconfig="/k", context="c", pdeathsig=False)
    assert argv[:4] == ["kubectl", "--kubeconfig=/k", "--context=c", "proxy"]
    assert "--address=127.0.0.1" in argv and "--port=0" in argv
    assert any(a.startswith("--reject-methods=") and "POST" in a for a in argv)


CHILD = r"""
import sys, time
from collectors.kubelet_source import KubeletSource
from scaler.openshift.kubectl_proxy import KubectlProxy
kubectl, kubeconfig = sys.argv[1], sys.argv[2]
proxy = KubectlProxy(kubectl, kubeconfig=kubeconfig)
with proxy as url:
    with KubeletSource(url, ["worker-0"], interval_s=0.1) as src:
        while not any(s.ok for s in src.drain()):
            time.sleep(0.02)
        print("ready", proxy.proc.pid, url, flush=True)
        while True:
            time.sleep(0.05)
            src.drain()
"""


def _child(tmp_path: Path, env: dict[str, str], api_url: str
           ) -> tuple[subprocess.Popen[str], int, str]:
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, api_url)
    env = {**env, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, KUBECTL or "kubectl", str(kubeconfig)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None and child.stderr is not None
    line = child.stdout.readline()
    if not line.startswith("ready"):
        child.kill()
        raise AssertionError(f"child did not start: {line!r} {child.stderr.read()[-2000:]}")
    _, pid, url = line.split()
    return child, int(pid), url


def test_ctrl_c_stops_source_and_proxy(tmp_path: Path, env: dict[str, str]) -> None:
    with FakeApi([FakeNode("worker-0", workload_pods(2))]) as api:
        child, pid, url = _child(tmp_path, env, api.url)
        assert not gone(pid)
        t0 = time.monotonic()
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
        took = time.monotonic() - t0
        assert "KeyboardInterrupt" in err  # the plain script does not catch it: it unwound
        assert gone(pid) and refused(url)
        assert took < 10.0, f"Ctrl-C took {took:.2f} s to close everything"


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="util-linux setpriv not installed")
def test_proxy_ends_when_scaler_is_killed(tmp_path: Path, env: dict[str, str]) -> None:
    with FakeApi([FakeNode("worker-0", workload_pods(2))]) as api:
        child, pid, url = _child(tmp_path, env, api.url)
        child.kill()  # SIGKILL: no clean-up code runs in scaler
        child.wait(30)
        wait_until(lambda: gone(pid), "the orphaned proxy to end")
        assert refused(url)
