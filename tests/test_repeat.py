"""`scaler run --repeat N` (team contract 7): each configuration N times into one directory as
<group>-r<k>.csv; simulated repeats differ by seed, real ones run one after another with a clean
up and a settle wait between; the metadata says which repeat of which group each run is."""

import csv
import json
import subprocess
import sys

from click.testing import CliRunner

from scaler.cli import main
from scaler.config import RunConfig
from scaler.plan import plan
from scaler.request import RunRequest
from tests.run_support import read_run
from tests.simserve_support import REPO, needs_kubectl, start_server


def _csvs(d):
    return sorted(p.name for p in d.glob("*.csv")
                  if not p.name.endswith((".nodes.csv", ".pods.csv")))


def test_simulated_repeats_are_seeds_into_one_directory(tmp_path):
    out = tmp_path / "rep"
    res = CliRunner().invoke(main, ["run", "-q", "--max-replicas", "25", "--runtime", "runc,kata",
                                    "--repeat", "3", "--seed", "7", "-o", str(out)])
    assert res.exit_code == 0, res.stderr
    assert _csvs(out) == [f"{rt}-capacity-r{k}.csv" for rt in ("default", "kata")
                          for k in (1, 2, 3)]
    metas = {p.stem: json.loads(p.read_text()) for p in out.glob("*.meta.json")}
    for k in (1, 2, 3):
        meta = metas[f"kata-capacity-r{k}.meta"]
        assert meta["group"] == "kata-capacity"
        assert meta["repeat"] == {"index": k, "count": 3, "seed": 6 + k}
        assert meta["config"]["seed"] == 6 + k
    # each repeat is the plain run of its seed; the seeds make them differ
    plain = tmp_path / "plain.csv"
    CliRunner().invoke(main, ["run", "-q", "--max-replicas", "25", "--runtime", "kata",
                              "--seed", "8", "-o", str(plain)])
    assert (out / "kata-capacity-r2.nodes.csv").read_bytes() == \
        plain.with_name("plain.nodes.csv").read_bytes()
    nodes = [(out / f"kata-capacity-r{k}.nodes.csv").read_bytes() for k in (1, 2, 3)]
    assert len(set(nodes)) == 3
    assert (out / "compare" / "compare.json").exists()  # all six compared


def test_without_repeat_nothing_changes(tmp_path):
    out = tmp_path / "m"
    CliRunner().invoke(main, ["run", "-q", "--max-replicas", "3", "--runtime", "runc,kata",
                              "-o", str(out)])
    assert _csvs(out) == ["default-capacity.csv", "kata-capacity.csv"]
    meta = json.loads((out / "kata-capacity.meta.json").read_text())
    assert "repeat" not in meta and "group" not in meta


def test_repeat_numbers_are_padded_to_the_width_of_n(tmp_path):
    runs = plan(RunRequest(runtimes=("default",), scenarios=("hungry",), config=RunConfig(),
                           output=str(tmp_path / "d"), repeat=12))
    assert [p.path.name for p in runs][:2] == ["default-hungry-r01.csv", "default-hungry-r02.csv"]
    assert runs[-1].path.name == "default-hungry-r12.csv"
    assert [p.config.seed for p in runs] == list(range(12))
    assert not (tmp_path / "d").exists()  # planning writes nothing


def test_repeats_need_a_directory(tmp_path, scaler_cmd):
    res = scaler_cmd("run", "-q", "--repeat", "2", "-o", "one.csv")
    assert res.returncode == 2 and "directory" in res.stderr


@needs_kubectl
def test_repeats_against_the_simulator_api_front(tmp_path):
    """A real-cluster driver: the same configuration twice, cleaned up and settled between,
    into one directory; the seed is not the simulator's to vary there."""
    server = start_server(tmp_path / "srv", "--speed", "8", "--workers", "2", "--no-ssh")
    try:
        out = tmp_path / "runs"
        cmd = [sys.executable, "-c", "from scaler.cli import main; main()", "run",
               "--cluster", "openshift", "--kubeconfig", str(server.kubeconfig),
               "--no-collectors", "--mode", "no-wait", "--max-replicas", "8",
               "--repeat", "2", "--settle", "1s", "-o", str(out)]
        proc = subprocess.run(cmd, cwd=REPO, env=server.env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert "settle" in proc.stderr
        assert _csvs(out) == ["default-capacity-r1.csv", "default-capacity-r2.csv"]
        for k in (1, 2):
            rows, _, meta = read_run(out / f"default-capacity-r{k}.csv")
            assert len(rows) == 8 and meta["cleanup"] == "done"
            assert meta["repeat"] == {"index": k, "count": 2, "seed": 0}
            assert meta["cluster"]["kind"] == "openshift" and meta["cluster"]["simulated"]
        r1 = json.loads((out / "default-capacity-r1.meta.json").read_text())
        r2 = json.loads((out / "default-capacity-r2.meta.json").read_text())
        assert r1["ended"] <= r2["started"] and r1["run_id"] != r2["run_id"]
        # the second run started from a clean namespace: its first step has no leftover pods
        first = next(csv.DictReader(open(out / "default-capacity-r2.csv", newline="")))
        assert int(first["running"]) + int(first["pending"]) + int(first["creating"]) <= 1
    finally:
        server.stop()
