"""The recorder writes its CSVs from their record types: every field of ``StepRow`` is a
run.csv column, every field of ``NodeSample`` a run.nodes.csv column (and the sample's
source), every field of ``PodState`` and ``PodMemory`` a run.pods.csv column, by name, never by
position."""

import csv
import json
from dataclasses import fields

from collectors.pod_sample import PodMemory
from collectors.sample import NodeSample
from scaler.pod_rows import _RENAMED, PodRow, PodState
from scaler.recorder import NODE_COLUMNS, POD_COLUMNS, RUN_COLUMNS, Recorder, StepRow


def test_columns_are_the_record_fields():
    assert RUN_COLUMNS == tuple(f.name for f in fields(StepRow))
    sample_fields = {f.name for f in fields(NodeSample)}
    assert set(NODE_COLUMNS) == sample_fields | {"elapsed_s", "source"}
    assert NODE_COLUMNS[:3] == ("time", "elapsed_s", "node")
    # status keeps its place at the end of the original contract's columns (after load1); the
    # fields added to NodeSample later follow it in their order
    assert NODE_COLUMNS[3:9] == ("mem_total_mib", "mem_free_mib", "mem_available_mib",
                                 "mem_active_mib", "load1", "status")
    later = [f.name for f in fields(NodeSample)]
    later = later[later.index("load1") + 1:]
    assert list(NODE_COLUMNS[9:]) == [*later, "source"]


def test_pod_columns_are_the_record_fields_in_contract_order():
    # Team contract 10: the lifecycle, the source, PodMemory's figures from cgroup_mib to
    # cpu_cores, then work_rate.
    memory = [f.name for f in fields(PodMemory)]
    assert POD_COLUMNS == ("time", "elapsed_s", "pod", "uid", "node", "runtime", "class", "phase",
                           "restarts", "created_s", "scheduled_s", "started_s", "ready_s",
                           "ended_s", "end_reason", "source",
                           *memory[memory.index("cgroup_mib"):])
    assert POD_COLUMNS[-2:] == ("cpu_cores", "work_rate")
    assert tuple(_RENAMED.get(f.name, f.name) for f in fields(PodState)) == POD_COLUMNS[2:15]


def test_pod_rows_lifecycle_only_and_measured(tmp_path):
    rec = Recorder(tmp_path / "run.csv")
    state = PodState(pod="w-1", uid="u1", node="n0", runtime="kata", pod_class="running",
                     phase="Running", restarts=0, created_s=1.0, scheduled_s=1.0,
                     started_s=4.0, ready_s=5.0, ended_s=None, end_reason=None)
    t0 = 1_767_225_600.0
    m = PodMemory("n0", t0 + 10, "ssh", "u1", cgroup_mib=700.25, workload_mib=200.0,
                  cpu_cores=0.0512, work_rate=1234.0)
    rec.write_pods([PodRow(t0 + 8, 8.0, state), PodRow(t0 + 10, 10.0, state, m)])
    rec.close()
    rows = list(csv.DictReader(open(tmp_path / "run.pods.csv", newline="")))
    assert rows[0]["source"] == "" and rows[0]["cgroup_mib"] == "" and rows[0]["class"] == "running"
    assert (rows[1]["source"], rows[1]["cgroup_mib"], rows[1]["cpu_cores"], rows[1]["work_rate"],
            rows[1]["ready_s"]) == ("ssh", "700.2", "0.051", "1234.0", "5.0000")
    assert rec.pod_rows == 2


def test_node_rows_carry_each_field_under_its_own_name(tmp_path):
    rec = Recorder(tmp_path / "run.csv")
    rec.t0 = 1_767_225_600.0
    ok = NodeSample(node="w0", time=rec.t0 + 2.5, mem_total_mib=16000.0, mem_free_mib=1000.25,
                    mem_available_mib=2000.0, mem_active_mib=3000.0, load1=1.234)
    gap = NodeSample.gap("w1", rec.t0 + 3.0)
    rec.write_nodes([ok, gap])
    rec.write_meta({"x": 1})
    rec.close()
    rows = list(csv.DictReader(open(tmp_path / "run.nodes.csv", newline="")))
    assert list(rows[0]) == list(NODE_COLUMNS)
    want = {"time": "2026-01-01T00:00:02.500Z", "elapsed_s": "2.5000", "node": "w0",
                       "mem_total_mib": "16000.0", "mem_free_mib": "1000.2",
                       "mem_available_mib": "2000.0", "mem_active_mib": "3000.0",
                       "load1": "1.23", "status": "ok"}
    assert {k: rows[0][k] for k in want} == want
    assert rows[1]["status"] == "reconnecting" and rows[1]["node"] == "w1"
    assert all(rows[1][c] == "" for c in NODE_COLUMNS if c.startswith(("mem_", "load")))
    assert json.loads((tmp_path / "run.meta.json").read_text()) == {"x": 1}
    assert rec.node_rows == 2
