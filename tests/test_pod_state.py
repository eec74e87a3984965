"""The one pod-classification rule, and the three places that use it agreeing on the same pods."""

from __future__ import annotations

import numpy as np
import pytest

from scaler.openshift.podtable import PodTable
from scaler.pod_state import PodClass, PodStatus, classify, status_of
from scaler.sim import pods as simpods


@pytest.mark.parametrize(("status", "expected"), [
    (PodStatus(phase="Pending"), PodClass.PENDING),
    (PodStatus(phase="Pending", scheduled=True), PodClass.PENDING),  # kubelet not yet reporting
    (PodStatus(phase="Pending", scheduled=True, container="waiting",
               container_reason="ContainerCreating"), PodClass.CREATING),
    (PodStatus(phase="Pending", scheduled=True, container="waiting",
               container_reason="ErrImagePull"), PodClass.CREATING),
    (PodStatus(phase="Running", scheduled=True, ready=True, container="running"),
     PodClass.RUNNING),
    (PodStatus(phase="Running", scheduled=True, container="waiting",
               container_reason="CrashLoopBackOff"), PodClass.FAILED),
    (PodStatus(phase="Running", scheduled=True, container="terminated",
               container_reason="OOMKilled"), PodClass.FAILED),
    (PodStatus(phase="Running", scheduled=True, container="waiting",
               container_reason="ContainerCreating"), PodClass.CREATING),  # a new VM
    (PodStatus(phase="Failed", reason="Evicted", scheduled=True), PodClass.EVICTED),
    (PodStatus(phase="Failed", scheduled=True), PodClass.FAILED),
    (PodStatus(phase="Succeeded", scheduled=True), PodClass.FAILED),
    (PodStatus(phase="Running", scheduled=True, ready=True, deleting=True), PodClass.TERMINATING),
    (PodStatus(phase="Pending", deleting=True), PodClass.TERMINATING),
])
def test_rule(status, expected):
    assert classify(status) is expected


def _pod(name, phase, *, node=None, ready=False, waiting=None, running=False, deleting=False,
         reason=None):
    obj = {"metadata": {"name": name, "uid": name}, "spec": {}, "status": {"phase": phase}}
    if node:
        obj["spec"]["nodeName"] = node
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if reason:
        obj["status"]["reason"] = reason
    obj["status"]["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
    if waiting or running:
        state = {"running": {}} if running else {"waiting": {"reason": waiting}}
        obj["status"]["containerStatuses"] = [{"name": "w", "state": state, "restartCount": 0}]
    return obj


def test_api_objects_and_pod_table_agree_with_the_rule():
    objs = [
        _pod("a", "Pending"),
        _pod("b", "Pending", node="n"),
        _pod("c", "Pending", node="n", waiting="ContainerCreating"),
        _pod("d", "Running", node="n", ready=True, running=True),
        _pod("e", "Running", node="n", waiting="CrashLoopBackOff"),
        _pod("f", "Failed", node="n", reason="Evicted"),
        _pod("g", "Running", node="n", ready=True, running=True, deleting=True),
    ]
    expected = [PodClass.PENDING, PodClass.PENDING, PodClass.CREATING, PodClass.RUNNING,
                PodClass.FAILED, PodClass.EVICTED, PodClass.TERMINATING]
    assert [classify(status_of(o)) for o in objs] == expected
    table = PodTable()
    table.replace(objs)
    c = table.counts()
    assert (c.running, c.pending, c.creating, c.terminating, c.failed, c.evicted) == (
        1, 2, 1, 1, 1, 1)


def test_simulator_codes_round_trip():
    """Every code the pod table can hold decodes to the status its fields describe."""
    t = simpods.PodTable()
    combos = [(ph, r, b, d, cs) for ph in range(4) for r in (0, 1) for b in (False, True)
              for d in (False, True) for cs in range(5)]
    for ph, r, b, d, cs in combos:
        i = t.add()
        t.phase[i], t.reason[i], t.node[i], t.cstate[i] = ph, r, 0 if b else -1, cs
        t.deleted[i] = 1.0 if d else np.nan
    codes = simpods.status_codes(t, np.arange(t.n))
    for code, combo in zip(codes, combos, strict=True):
        assert simpods.status_of_code(code) == simpods.pod_status(*combo)
