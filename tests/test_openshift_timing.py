"""The driver's client calls against fake client binaries: true durations, retries, clear errors.

A shell script stands in for oc/kubectl (no cluster needed to know how long a fork takes). The
durations recorded must be the call's real duration within 5% + 10 ms; openshift-client's own
polling adds up to a second, which is why ``scale`` does not go through it.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from scaler.cluster import ClusterError, ClusterUnresponsive
from scaler.openshift import OpenShiftCluster, OpenShiftOptions
from scaler.openshift.client import KubeClient

SLEEPER = """#!/bin/sh
s=$(date +%s%N)
sleep {seconds}
e=$(date +%s%N)
echo "$s $e $*" >> "{log}"
echo "deployment.apps/scaler-workload scaled"
"""

SCRIPTED = """#!/bin/sh
echo "$*" >> "{dir}/calls.log"
n=$(wc -l < "{dir}/calls.log")
action=$(sed -n "${{n}}p" "{dir}/plan")
[ -z "$action" ] && action=$(tail -n 1 "{dir}/plan")
case "$action" in
  ok) echo "deployment.apps/scaler-workload scaled";;
  unavailable) echo 'Error from server (ServiceUnavailable): the server is currently unable to handle the request' >&2; exit 1;;
  toomany) echo 'Error from server (TooManyRequests): the server has received too many requests and has asked us to try again later' >&2; exit 1;;
  forbidden) echo 'Error from server (Forbidden): deployments.apps "scaler-workload" is forbidden: User "dev" cannot patch resource "deployments/scale"' >&2; exit 1;;
  refused) echo 'The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?' >&2; exit 1;;
  hang) sleep 30;;
  terminating) echo '{{"kind": "Namespace", "metadata": {{"name": "scaler"}}, "status": {{"phase": "Terminating"}}}}';;
  notfound) echo 'Error from server (NotFound): namespaces "scaler" not found' >&2; exit 1;;
  gone) echo 'error: no objects passed to scale namespaces "scaler" not found' >&2; exit 1;;
esac
"""


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _true_durations(log: Path) -> list[float]:
    out = []
    for line in log.read_text().splitlines():
        s, e = line.split()[:2]
        out.append((int(e) - int(s)) / 1e9)
    return out


@pytest.mark.parametrize("seconds", [0.2, 0.7])
def test_scale_duration_is_the_true_call_time(tmp_path, seconds):
    log = tmp_path / "times.log"
    fake = _script(tmp_path / "kubectl", SLEEPER.format(seconds=seconds, log=log))
    cluster = OpenShiftCluster(OpenShiftOptions(client_binary=str(fake), kubeconfig="kc",
                                                run_id="t"))
    recorded = []
    for replicas in (1, 2, 3, 4, 5):
        t0 = cluster.clock.monotonic()  # what the engine does around every scale
        cluster.scale(replicas)
        recorded.append(cluster.clock.monotonic() - t0)
    true = _true_durations(log)
    # The script times itself from its first line: starting the shell is part of the call but
    # not of its "true" time, and on a busy shared machine it can take tens of ms. So: the best
    # of five within 5% + 10 ms, and the median far below openshift-client's polling delay
    # (which adds 110 ms to a 0.2 s call, 570 ms to a 0.7 s one).
    errors = sorted(abs(r - t) - (0.05 * t + 0.010) for r, t in zip(recorded, true, strict=True))
    assert errors[0] <= 0, (recorded, true)
    assert errors[2] <= 0.05, (recorded, true)
    assert "scale deployment/scaler-workload --replicas=2 -n scaler" in log.read_text()
    assert "--kubeconfig=kc" in log.read_text()


def test_openshift_client_path_is_inflated_by_its_polling(tmp_path):
    """Why the timed path exists: the same 0.2 s call through openshift-client returns only at its
    next poll (10, 30, 70, 150, 310 ms...), more than 100 ms late."""
    log = tmp_path / "times.log"
    fake = _script(tmp_path / "kubectl", SLEEPER.format(seconds=0.2, log=log))
    client = KubeClient(str(fake), kubeconfig=None, context=None, op_timeout_s=10)
    out, _ = client.call(["scale", "x"], purpose="t", timed=False)
    (true,) = _true_durations(log)
    assert out.seconds - true > 0.1 - 0.01
    timed = [client.call(["scale", "x"], purpose="t", timed=True)[0].seconds for _ in range(3)]
    true_s = _true_durations(log)[1:]
    assert min(abs(o - t) - (0.05 * t + 0.010) for o, t in zip(timed, true_s, strict=True)) <= 0


def _scripted(tmp_path: Path, *plan: str, op_timeout: float = 10) -> tuple[OpenShiftCluster, Path]:
    (tmp_path / "plan").write_text("\n".join(plan) + "\n")
    fake = _script(tmp_path / "oc", SCRIPTED.format(dir=tmp_path))
    cluster = OpenShiftCluster(OpenShiftOptions(client_binary=str(fake), op_timeout_s=op_timeout))
    cluster.client._sleep = lambda s: None  # back-off without waiting
    return cluster, tmp_path / "calls.log"


def test_transient_errors_are_retried_and_counted(tmp_path):
    cluster, calls = _scripted(tmp_path, "unavailable", "toomany", "ok")
    cluster.scale(5)
    assert len(calls.read_text().splitlines()) == 3
    assert cluster.client.counters.api_errors == 2
    assert cluster.observe().api_errors == 2
    assert cluster.stats()["retries"] == 2


def test_a_namespace_being_deleted_is_waited_for(tmp_path):
    cluster, calls = _scripted(tmp_path, "terminating", "terminating", "notfound")
    naps = []
    cluster.clock.sleep = naps.append
    assert cluster._unless_deleting(["get", "namespace", "scaler"], "ns").exists is False
    assert len(calls.read_text().splitlines()) == 3 and len(naps) == 2


def test_a_namespace_stuck_terminating_ends_at_op_timeout(tmp_path):
    cluster, _ = _scripted(tmp_path, "terminating", op_timeout=0.3)
    with pytest.raises(ClusterUnresponsive, match="still terminating"):
        cluster._unless_deleting(["get", "namespace", "scaler"], "namespace scaler")


def test_forbidden_is_a_one_line_cluster_error(tmp_path):
    cluster, calls = _scripted(tmp_path, "forbidden")
    with pytest.raises(ClusterError) as e:
        cluster.scale(5)
    assert "Forbidden" in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).endswith("check what you may do: oc auth can-i --list -n scaler")
    assert not isinstance(e.value, ClusterUnresponsive)
    assert len(calls.read_text().splitlines()) == 1


def test_unreachable_before_contact_is_a_cluster_error(tmp_path):
    cluster, _ = _scripted(tmp_path, "refused")
    with pytest.raises(ClusterError, match="cannot reach the API server") as e:
        cluster.scale(1)
    assert not isinstance(e.value, ClusterUnresponsive)


KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://api.example:6443"}}]
contexts: [{name: other, context: {cluster: nowhere}}, {name: c, context: {cluster: c, user: u}}]
users: [{name: u, user: {token: t}}]
current-context: other
"""


def test_unreachable_mid_run_is_retried_until_op_timeout(tmp_path):
    (tmp_path / "kc").write_text(KUBECONFIG)
    (tmp_path / "plan").write_text("ok\nrefused\n")
    fake = _script(tmp_path / "oc", SCRIPTED.format(dir=tmp_path))
    cluster = OpenShiftCluster(OpenShiftOptions(client_binary=str(fake), op_timeout_s=0.5,
                                                kubeconfig=str(tmp_path / "kc"), context="c"))
    cluster.client._sleep = lambda s: None
    cluster.scale(1)
    with pytest.raises(ClusterUnresponsive, match="op-timeout") as e:
        cluster.scale(2)
    assert len((tmp_path / "calls.log").read_text().splitlines()) > 2
    # the line says what to check, with the run's own kubeconfig and context
    assert str(e.value).endswith(
        f"check that the API server https://api.example:6443 is up: oc "
        f"--kubeconfig={tmp_path / 'kc'} --context=c get --raw /readyz")
    assert "\n" not in str(e.value)


def test_a_hanging_call_ends_at_op_timeout(tmp_path):
    cluster, _ = _scripted(tmp_path, "hang", op_timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(ClusterUnresponsive):
        cluster.scale(1)
    assert time.monotonic() - t0 < 5


def test_what_is_already_gone_is_cleaned_up(tmp_path):
    """After an API server restart that lost the run's objects, kubectl says "not found" without
    "(NotFound)": clean-up is done, not failed."""
    cluster, calls = _scripted(tmp_path, "gone", "ok", "ok")
    cluster._created = [("namespace", "scaler"), ("deployment", "scaler-workload")]
    cluster._deployment_taken = cluster._deployment_ours = True
    cluster.cleanup()
    assert [c.split()[:3] for c in calls.read_text().splitlines()] == [
        ["scale", "deployment/scaler-workload", "--replicas=0"],
        ["delete", "deployment", "scaler-workload"], ["delete", "namespace", "scaler"]]


def test_a_deployment_deleted_behind_the_runs_back_says_so(tmp_path):
    cluster, _ = _scripted(tmp_path, "gone")
    with pytest.raises(ClusterError, match="deleted behind its back, or the cluster lost its "
                                           "state") as e:
        cluster.scale(3)
    assert not isinstance(e.value, ClusterUnresponsive)


def test_cleanup_after_the_cluster_stopped_answering_says_what_is_left(tmp_path):
    cluster, calls = _scripted(tmp_path, "ok", "hang", op_timeout=0.5)
    cluster.scale(1)
    cluster._created = [("namespace", "scaler"), ("deployment", "scaler-workload")]
    cluster._deployment_taken = cluster._deployment_ours = True
    cluster._unresponsive = True  # as after a scale that timed out
    with pytest.raises(ClusterUnresponsive) as e:
        cluster.cleanup()
    assert str(e.value).endswith("left in place: deployment scaler/scaler-workload, namespace "
                                 "scaler")


def test_missing_binary_is_a_clear_error(tmp_path):
    with pytest.raises(ClusterError, match="not found"):
        OpenShiftCluster(OpenShiftOptions(client_binary=str(tmp_path / "no-such-oc")))
    with pytest.raises(ClusterError, match="not found on PATH"):
        OpenShiftCluster(OpenShiftOptions(client_binary="no-such-oc-binary"))


def test_default_binary_prefers_oc_then_kubectl(tmp_path, monkeypatch):
    for name in ("oc", "kubectl"):
        _script(tmp_path / name, "#!/bin/sh\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert OpenShiftCluster(OpenShiftOptions()).binary == str(tmp_path / "oc")
    os.remove(tmp_path / "oc")
    assert OpenShiftCluster(OpenShiftOptions()).binary == str(tmp_path / "kubectl")
    os.remove(tmp_path / "kubectl")
    with pytest.raises(ClusterError, match="neither oc nor kubectl"):
        OpenShiftCluster(OpenShiftOptions())
