"""Reading runs: the data contract, half-written files, metadata fallbacks, the original format."""

from __future__ import annotations

import json

import polars as pl
import pytest

from tests.viz_support import REFERENCE, Synthetic, write_run
from viz.errors import VizInputError
from viz.read import load_run


def test_reads_contract_files_with_meta(tmp_path):
    path = write_run(tmp_path, Synthetic(steps=50, runtime="kata", mode="wait"))
    run = load_run(path)
    assert run.steps.height == 50
    assert run.nodes is not None and run.nodes.height == 5 * 50
    assert run.meta.runtime == "kata" and run.meta.mode == "wait"
    assert run.meta.cluster_kind == "simulated" and run.meta.date == "2026-11-23"
    assert run.meta.end_reason == "max-replicas"
    used = run.steps["mem_used_mib"].to_numpy()
    assert used[0] == pytest.approx(4000 + 480)


def test_half_written_last_line_is_dropped(tmp_path):
    path = write_run(tmp_path, Synthetic(steps=20))
    text = path.read_text()
    path.write_text(text + "2026-11-23T10:59:59Z,999.0,21,runc,capacity,no-wait,21,3")
    assert load_run(path).steps.height == 20
    nodes = tmp_path / "runc.nodes.csv"
    nodes.write_text(nodes.read_text() + "2026-11-23T10:59:59Z,999.0,worker-0,163")
    assert load_run(path).nodes.height == 5 * 20


def test_metadata_falls_back_to_columns_then_file_name(tmp_path):
    path = write_run(tmp_path, Synthetic(steps=20, runtime="kata", scenario="hungry"), meta=False)
    meta = load_run(path).meta
    assert (meta.runtime, meta.scenario, meta.mode) == ("kata", "hungry", "no-wait")
    assert meta.cluster_kind is None and "not recorded" in meta.provenance()
    df = pl.read_csv(path).drop("runtime", "scenario", "mode", "time")
    bare = tmp_path / "old-kata-run.csv"
    df.write_csv(bare)
    meta = load_run(bare).meta
    assert meta.runtime == "kata" and meta.scenario is None and meta.date is None


def test_partial_or_broken_meta_is_not_fatal(tmp_path):
    path = write_run(tmp_path, Synthetic(steps=20), meta=False)
    meta_path = tmp_path / "runc.meta.json"
    meta_path.write_text(json.dumps({"cluster": {"kind": "openshift"}}))
    meta = load_run(path).meta
    assert meta.cluster_kind == "openshift" and meta.runtime == "runc"
    meta_path.write_text("{not json")
    assert "unreadable" in load_run(path).meta.notes[0]


def test_extra_columns_and_empty_memory_are_accepted(tmp_path):
    path = write_run(tmp_path, Synthetic(steps=30))
    df = pl.read_csv(path).with_columns(
        pl.lit(7).alias("future_column"),
        *[pl.lit(None, pl.Float64).alias(c) for c in ("mem_total_mib", "mem_free_mib")],
    )
    df.write_csv(path)
    (tmp_path / "runc.nodes.csv").unlink()
    run = load_run(path)
    assert run.nodes is None
    assert run.steps["mem_used_mib"].null_count() == 30


def test_original_format_converted_to_contract():
    run = load_run(REFERENCE / "kata.csv")
    first = run.steps.row(0, named=True)
    # kata.csv row 1: 1,6,1,0,19,0,13179660,40229464,,4040320,2105624,5016764,0,2016952,...
    assert first["step"] == 1 and first["requested"] == 1 and first["elapsed_s"] == 6
    assert first["terminating"] == 19
    assert first["mem_active_mib"] == pytest.approx(13179660 / 1024)
    assert first["mem_free_mib"] == pytest.approx(40229464 / 1024)
    assert first["nodes_sampled"] == 4  # worker 3 wrote 0: no data
    w3 = run.nodes.filter((pl.col("node") == "worker-3") & (pl.col("elapsed_s") == 6))
    assert w3["status"][0] == "missing" and w3["mem_free_mib"][0] is None
    assert run.meta.source_format == "original" and run.meta.runtime == "kata"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "file is empty"),
        (b"\n\n", "file is empty"),
        (b"\x89PNG\r\n\x1a\n\0\0\0binary", "binary"),
        (b"step,requested\n1,1\n", "missing required column(s) elapsed_s, running"),
        (b"step,elapsed_s,requested,running\n", "no data rows"),
        (b"step,elapsed_s,requested,running\n1,1,1,nan\n2,2,2,NaN\n", "running hold no values"),
        (b"step,elapsed_s,requested,running\n1,1,1,\n2,2,2,\n", "running hold no values"),
        (b"step,elapsed_s,requested,running\n1,1,1,x\n", "column 'running' is not numeric"),
        (b'{"tool": "scaler", "runtime": "kata"}\n', "is JSON, not a run CSV"),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(VizInputError) as err:
        load_run(path)
    assert message in str(err.value)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_bad_node_file_is_named(tmp_path):
    path = write_run(tmp_path, Synthetic(steps=10))
    (tmp_path / "runc.nodes.csv").write_text("when,where\n1,2\n")
    with pytest.raises(VizInputError, match="runc.nodes.csv: not a node-sample CSV"):
        load_run(path)


def test_byte_order_mark_is_ignored(tmp_path):
    path = tmp_path / "kata-sheet.csv"
    path.write_bytes(b"\xef\xbb\xbfstep,elapsed_s,requested,running\n1,1,1,1\n2,2,2,2\n")
    assert load_run(path).steps["running"].to_list() == [1, 2]
    legacy = tmp_path / "kata-old.csv"
    lines = (REFERENCE / "kata.csv").read_bytes().splitlines(keepends=True)[:4]
    legacy.write_bytes(b"\xef\xbb\xbf" + b"".join(lines))
    run = load_run(legacy)
    assert run.meta.source_format == "original" and run.steps.height == 3


def test_every_published_file_is_catalogued_and_readable():
    """The shipped dataset: each CSV has an entry saying what it is, and viz reads each one."""
    from viz.reference import RUNS, dataset_dir, reference_run

    files = {p.name for p in dataset_dir("c3d-2021").glob("*.csv")}
    assert files == {r.file for r in RUNS.values()}
    for r in RUNS.values():
        assert reference_run(r.name) is r
        run = load_run(r.path)
        assert run.steps.height > 100
        assert run.meta.reference == r.name and run.meta.runtime == r.runtime
        assert run.meta.simulated is False and "published measurement" in run.meta.provenance()
        # the CPU runs' work columns are kept under their own names (issue: read them now)
        assert ("work_count" in run.steps.columns) == (r.kind == "cpu")
    assert reference_run("kata").file == "kata.csv"


def test_cpu_run_format_keeps_its_work_columns():
    """CPU runs insert WorkUnits,WorkCount after Elapsed: the number of workload report files
    read and the pages they reported touched; everything after reads as in a memory run."""
    run = load_run(REFERENCE / "cpu-runc-10pct.csv")
    first = run.steps.row(0, named=True)
    # cpu-runc-10pct.csv row 1: 1,6,1,7.26873e+06,1,0,0,0,9482056,29202224,,...
    assert (first["step"], first["elapsed_s"], first["running"]) == (1, 6, 1)
    assert first["work_files"] == 1 and first["work_count"] == pytest.approx(7.26873e6)
    assert first["mem_active_mib"] == pytest.approx(9482056 / 1024)
    assert run.meta.source_format == "original" and run.nodes.height == 5 * 999


def test_published_evicted_column_is_the_listed_count():
    """The original scripts counted Evicted pods listed at each iteration (garbage collection
    lowers it again): it is read as evicted_listed, never as the cumulative evicted."""
    run = load_run(REFERENCE / "runc.csv")
    assert "evicted_listed" in run.steps.columns and "evicted" not in run.steps.columns


def test_metadata_labels_are_true(tmp_path):
    """A run against `scaler sim serve` is driven as a real cluster but is a model; a custom
    workload is labelled by what differs; the default runtime names its handler."""
    syn = Synthetic(steps=20, runtime="default", handler="runc", kind="openshift", simulated=True,
                    scenario="custom", workload_label="capacity; memory 1024 MiB, limit 1200 MiB")  # fmt: skip
    meta = load_run(write_run(tmp_path, syn)).meta
    assert meta.simulated is True and "simulated cluster (scaler sim serve" in meta.provenance()
    assert "real cluster" not in meta.provenance()
    assert meta.describe() == (
        "default (runc), custom (capacity; memory 1024 MiB, limit 1200 MiB), no-wait"
    )
    real = load_run(write_run(tmp_path / "r", Synthetic(steps=20, kind="openshift"))).meta
    assert real.simulated is False and real.provenance().startswith("real cluster (openshift)")


def test_two_node_sources_are_not_doubled(tmp_path):
    """--node-source both records every node twice per interval (ssh and kubelet): viz keeps
    the source that made run.csv's figures, named in the metadata, else the file's first."""
    path = write_run(tmp_path, Synthetic(steps=20, runtime="kata"),
                     extra_meta={"node_sources": {"run": "kubelet", "nodes": ["kubelet", "ssh"],
                                                  "pods": ["kubelet", "ssh"]}})
    nodes_path = path.with_suffix(".nodes.csv")
    one = pl.read_csv(nodes_path)
    both = pl.concat([one.with_columns(pl.lit("ssh").alias("source")),
                      one.with_columns(pl.lit("kubelet").alias("source"),
                                       (pl.col("mem_free_mib") - 7).alias("mem_free_mib"))])
    both.write_csv(nodes_path)
    run = load_run(path)
    assert run.nodes is not None and run.nodes.height == one.height
    assert set(run.nodes["source"]) == {"kubelet"}
    assert run.nodes["mem_free_mib"].sum() == pytest.approx(one["mem_free_mib"].sum() - 7 * one.height)
    meta = json.loads(path.with_suffix(".meta.json").read_text())
    del meta["node_sources"]
    path.with_suffix(".meta.json").write_text(json.dumps(meta))
    assert set(load_run(path).nodes["source"]) == {"ssh"}
