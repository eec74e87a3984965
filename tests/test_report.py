"""What `scaler run` says in words: the cluster it drives (in English), and the figures and
failure modes at the end of a run."""

from pathlib import Path

from scaler.cluster import ClusterInfo
from scaler.config import RunConfig
from scaler.engine import RunResult
from scaler.report import announce, run_summary
from scaler.stops import EndReason
from scaler.workload_spec import SCENARIOS


def test_announcement_reads_as_english_and_names_handler_and_workload():
    cfg = RunConfig(workload=SCENARIOS["capacity"].with_(runtime="default", memory_mib=1024))
    real = ClusterInfo(kind="openshift", version="v1.32", nodes=(), details={"simulator": True})
    line = announce(real, cfg)
    assert "driving an openshift cluster" in line and "the simulator's API front" in line
    assert "workload capacity; memory 1024 MiB" in line
    sim = ClusterInfo(kind="simulated", version="simulated (scaler 0.1.0, Kubernetes model 1.32)",
                      nodes=(), default_runtime_handler="runc")
    # "simulated" once: the simulator's version string starts with its kind.
    assert "driving a simulated cluster (scaler 0.1.0, Kubernetes model 1.32, 0 nodes)" in \
        announce(sim, cfg)
    assert announce(sim, cfg).count("simulated") == 1
    assert "runtime default (runc)" in announce(sim, cfg)


def test_end_of_run_lines_show_figures_and_failure_modes():
    summary = {
        "elapsed_s": 100.0, "wall_s": 1.0, "cluster": "simulated", "max_running": 30,
        "max_running_step": 20,
        "figures": {"knee": {"step": 12, "method": "m"}, "free_below": {"step": None},
                    "stop": {"step": 60}},
        "free_threshold_mib": 1024.0,
        "final": {"running": 28, "pending": 3, "creating": 4, "terminating": 1},
        "max_pending": 5, "max_creating": 9, "max_terminating": 2, "max_evicted": 7,
        "max_evicted_listed": 4, "max_oom_killed": 2, "restarts": 439, "sandbox_deaths": 6,
        "sandbox_failures": 1, "failed_create": 0, "failed_scheduling": 3,
    }
    text = run_summary(RunResult(EndReason.SATURATED, 60, summary), Path("r.csv"))
    for words in ("end: saturated after 60 steps", "knee at step 12",
                  "free memory under 1024 MiB never", "stopped gaining at step 60",
                  "28 running, 3 pending, 4 creating, 1 terminating", "at most 5 pending",
                  "evicted 7 (at most 4 listed at once)", "OOM kills 2", "restarts 439",
                  "sandbox/VM deaths 6", "failed scheduling 3", "wrote r.csv"):
        assert words in text, (words, text)
    assert "saturation" not in text
