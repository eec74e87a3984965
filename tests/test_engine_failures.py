import csv
import json

from scaler.config import RunConfig
from scaler.engine import Engine
from scaler.recorder import RUN_COLUMNS, Recorder
from scaler.stops import StopFlag
from tests.engine_support import ScriptedCluster
from viz.figures import StopRule, stop_step


def _run(tmp_path, cluster, **cfg):
    rec = Recorder(tmp_path / "run.csv")
    res = Engine(cluster, RunConfig(**cfg), rec).run()
    rows = list(csv.DictReader(open(tmp_path / "run.csv")))
    meta = json.loads((tmp_path / "run.meta.json").read_text())
    return res, rows, meta


def test_hung_call_ends_the_run_as_unresponsive_and_cleans_up(tmp_path):
    cluster = ScriptedCluster(hang_on_scale=4)
    res, rows, meta = _run(tmp_path, cluster, mode="no-wait", op_timeout_s=60)
    assert res.end_reason == "cluster-unresponsive"
    assert meta["end_reason"] == "cluster-unresponsive"
    assert "over --op-timeout" in meta["error"]
    assert len(rows) == 3 and cluster.cleaned
    assert meta["cleanup"] == "done"


def test_cluster_error_mid_run_keeps_rows_and_metadata(tmp_path):
    cluster = ScriptedCluster(fail_on_scale=5)
    res, rows, meta = _run(tmp_path, cluster, mode="fixed-interval", interval_s=5)
    assert res.end_reason == "cluster-error" and meta["error"] == "the API server said no"
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert list(rows[0]) == list(RUN_COLUMNS)
    assert cluster.cleaned


def test_stop_flag_is_honoured_between_steps(tmp_path):
    cluster = ScriptedCluster()
    stop = StopFlag()
    rec = Recorder(tmp_path / "run.csv")

    def on_step(row):
        if row.step == 7:
            stop.request("interrupted")

    res = Engine(cluster, RunConfig(mode="no-wait"), rec, stop=stop, on_step=on_step).run()
    assert res.end_reason == "interrupted" and res.steps == 7
    assert json.loads((tmp_path / "run.meta.json").read_text())["end_reason"] == "interrupted"


def test_keep_leaves_the_deployment(tmp_path):
    cluster = ScriptedCluster()
    res, _, meta = _run(tmp_path, cluster, mode="no-wait", max_replicas=3, keep=True)
    assert res.end_reason == "max-replicas" and meta["cleanup"] == "kept"


def test_run_stops_once_the_cluster_stopped_gaining_then_beyond_steps(tmp_path):
    # Capacity 10, pods ready 3 s after the raise, 5 s steps: running tracks requested until
    # 10, then stays flat. The stop rule (viz.figures) needs no gain (2 pods or more) over the
    # last 2/3 of the run: the last gain at step g stops the run at step 3g; then 6 more steps.
    cluster = ScriptedCluster(capacity=10, ready_after=3.0)
    res, rows, meta = _run(tmp_path, cluster, mode="fixed-interval", interval_s=5,
                           stop_steps=4, stop_window_s=15, beyond=6)
    assert res.end_reason == "saturated"
    running = [int(r["running"]) for r in rows]
    assert running[:10] == list(range(1, 11))
    last_gain = 9  # gains of 2 pods: 1, 3, 5, 7, 9 (10 is within the tolerance of 9)
    stop = meta["summary"]["figures"]["stop"]["step"]
    assert stop == 3 * last_gain
    assert res.steps == stop + 6
    assert meta["summary"]["max_running"] == 10
    # the same figure, from the file, as viz computes it
    replayed = stop_step([int(r["step"]) for r in rows], [float(r["elapsed_s"]) for r in rows],
                         [int(r["requested"]) for r in rows], running,
                         StopRule(min_steps=4, min_seconds=15))
    assert replayed.step == stop


def test_fixed_interval_timing_columns(tmp_path):
    cluster = ScriptedCluster(scale_takes=0.5, observe_takes=0.25)
    res, rows, _ = _run(tmp_path, cluster, mode="fixed-interval", interval_s=5, max_replicas=4)
    for r in rows:
        assert float(r["scale_s"]) == 0.5
        assert float(r["observe_s"]) == 0.25
        # the raise-to-observation wait includes the scale call; the step adds the observation
        assert float(r["step_s"]) == 5.25
