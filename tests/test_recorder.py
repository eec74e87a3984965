"""The recorder writes both CSVs from their record types: every field of ``StepRow`` is a
run.csv column and every field of ``NodeSample`` a run.nodes.csv column, by name, never by
position."""

import csv
import json
from dataclasses import fields

from collectors.sample import NodeSample
from scaler.recorder import NODE_COLUMNS, RUN_COLUMNS, Recorder, StepRow


def test_columns_are_the_record_fields():
    assert RUN_COLUMNS == tuple(f.name for f in fields(StepRow))
    sample_fields = {f.name for f in fields(NodeSample)}
    assert set(NODE_COLUMNS) == sample_fields | {"elapsed_s"}
    assert NODE_COLUMNS[:3] == ("time", "elapsed_s", "node")
    # status keeps its place at the end of the original contract's columns (after load1); the
    # fields added to NodeSample later follow it in their order
    assert NODE_COLUMNS[3:9] == ("mem_total_mib", "mem_free_mib", "mem_available_mib",
                                 "mem_active_mib", "load1", "status")
    later = [f.name for f in fields(NodeSample)]
    later = later[later.index("load1") + 1:]
    assert list(NODE_COLUMNS[9:]) == later


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
