"""run.pods.csv (team contract 10) read and reduced to one row per pod, with polars.

A run of 1,000 pods sampled over 1,000 steps writes about a million rows; no chart draws them.
Only the columns the per-pod cost needs are read (typed up front, nothing inferred), samples
of pods that were not running are dropped, and each pod becomes its last measurement while
running, the rule of ``viz.overhead`` (which the load generator's summary uses too: a pod
starting, being evicted or OOM-killed is not at its steady cost, and a long-lived pod weighs no
more than a short one). That sample is split into the parts of the cost (``PARTS``, with
expressions, never row by row); the parts of a pod add up to its host memory.

The breakdown of one sample, MiB (missing figures: 0, and said so by ``measured``):

- host memory = ``cgroup_mib`` + ``overhead_cgroup_mib`` (``viz.overhead.host_mib``: kata's
  sandbox overhead cgroup, when ``sandbox_cgroup_only=false`` puts the VMM outside the pod
  cgroup);
- workload = ``workload_mib`` (the workload's own resident set; inside the guest for a VM);
- kernel = ``kernel_mib`` (memory.stat), at most what the workload leaves;
- page cache/shm = ``file_mib`` + ``shmem_mib`` - ``guest_backing_mib`` (a VM's guest memory is
  shmem on the host: it holds the workload, so it is not counted as cache), at most what is left;
- runtime/VMM = the rest: the sandbox's processes (VMM, virtiofsd, shim; conmon and pause), and
  a VM's guest memory beyond the workload (guest kernel, agent, page cache in the guest).

The measured overhead of a pod is ``viz.overhead.pod_overhead``: host memory - workload.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from viz import overhead
from viz.csvio import complete_source, read_header
from viz.errors import VizInputError
from viz.meta import sibling

TEXT = ["pod", "uid", "runtime", "class", "source"]
MEMORY = ["cgroup_mib", "overhead_cgroup_mib", "workload_mib", "runtime_mib", "file_mib",
          "shmem_mib", "kernel_mib", "guest_backing_mib"]  # fmt: skip
NUMBERS = [*MEMORY, "elapsed_s"]
REQUIRED = ["uid", "class", "source", "cgroup_mib", "workload_mib"]
PARTS = {  # column of PodTable.frame: label, in stacking order (bottom first)
    "workload": "workload",
    "runtime_part": "runtime/VMM",
    "cache": "page cache/shm",
    "kernel": "kernel",
}


@dataclass(frozen=True)
class PodTable:
    """One row per pod that ran with memory samples: uid, pod, runtime (its name), samples (its
    running measurements), elapsed_s (of the last), and MiB, from its last measurement while
    running: host, workload, runtime_part (runtime/VMM), cache, kernel, overhead (host -
    workload); and which optional parts any sample measured."""

    path: Path
    frame: pl.DataFrame
    rows: int  # lines of the file read (all pods, all samples, lifecycle rows too)
    measured: frozenset[str]  # of "kernel", "cache", "overhead_cgroup"
    sources: tuple[str, ...]


def pods_path(run_path: Path) -> Path:
    return sibling(run_path, ".pods.csv")


def _zero(name: str) -> pl.Expr:
    return pl.col(name).fill_null(0.0)


def _split() -> list[pl.Expr]:
    """The breakdown of each sample (see the module's docstring), as polars expressions."""
    host = pl.col("cgroup_mib") + _zero("overhead_cgroup_mib")
    workload = pl.min_horizontal(pl.col("workload_mib").clip(lower_bound=0.0), host)
    kernel = pl.min_horizontal(_zero("kernel_mib").clip(lower_bound=0.0), host - workload)
    cache_raw = (_zero("file_mib") + _zero("shmem_mib") - _zero("guest_backing_mib")).clip(lower_bound=0.0)
    cache = pl.min_horizontal(cache_raw, host - workload - kernel)
    return [
        host.alias("host"), workload.alias("workload"), kernel.alias("kernel"), cache.alias("cache"),
        (host - workload - kernel - cache).alias("runtime_part"),
    ]  # fmt: skip


def sources_without_workload(run_path: Path) -> list[str]:
    """The sources of run.pods.csv that measured running pods' host memory but never their
    workload's resident set (the kubelet for kata: cAdvisor sees no container cgroup of a VM's
    pod on the host), sorted; [] when there is none, or no file."""
    path = pods_path(run_path)
    if not path.exists() or path.stat().st_size == 0:
        return []
    header = [h.strip() for h in read_header(path)]
    if any(c not in header for c in REQUIRED):
        return []
    frame = pl.read_csv(complete_source(path), columns=["class", "source", "cgroup_mib", "workload_mib"],
                        schema_overrides={c: (pl.Float64 if c in NUMBERS else pl.String) for c in header},
                        infer_schema=False)  # fmt: skip
    running = frame.filter((pl.col("class") == "running") & pl.col("source").is_not_null()
                           & pl.col("cgroup_mib").is_not_null())  # fmt: skip
    by_source = running.group_by("source").agg(pl.col("workload_mib").is_not_null().any().alias("w"))
    return sorted(by_source.filter(~pl.col("w"))["source"].to_list())


def read_pods(run_path: Path) -> PodTable | None:
    """The pods of the run at ``run_path``; None when it has no run.pods.csv (a run from before
    the file, or a source that sees no pods) or the file holds no running pod's memory."""
    path = pods_path(run_path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    header = [h.strip() for h in read_header(path)]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise VizInputError(f"{path}: not a run.pods.csv: missing column(s) {', '.join(missing)}")
    wanted = [c for c in TEXT + NUMBERS if c in header]
    schema = {c: (pl.Float64 if c in NUMBERS else pl.String) for c in header}
    source = complete_source(path)
    try:
        # A run being written ends in a half line: its complete lines are read from memory.
        lazy = (pl.scan_csv(source, schema_overrides=schema, infer_schema=False)
                if isinstance(source, Path)
                else pl.read_csv(source, columns=wanted, schema_overrides=schema,
                                 infer_schema=False).lazy())  # fmt: skip
        counted = lazy.select(pl.len().alias("rows"))
        samples = (
            lazy.select(wanted)
            .with_columns(*[pl.lit(None, pl.Float64).alias(c) for c in NUMBERS if c not in header])
            .filter((pl.col("class") == "running") & pl.col("source").is_not_null()
                    & pl.col("cgroup_mib").is_not_null() & pl.col("workload_mib").is_not_null())
        )  # fmt: skip
        flags = samples.select(
            pl.col("kernel_mib").is_not_null().any().alias("kernel"),
            (pl.col("file_mib").is_not_null() | pl.col("shmem_mib").is_not_null()).any().alias("cache"),
            pl.col("overhead_cgroup_mib").is_not_null().any().alias("overhead_cgroup"),
            pl.col("source").unique().sort().implode().alias("sources"),
        )  # fmt: skip
        last = ["elapsed_s", "cgroup_mib", "overhead_cgroup_mib", "workload_mib", "host",
                "workload", "kernel", "cache", "runtime_part"]  # fmt: skip
        per_pod = (
            samples.with_columns(_split())
            .group_by("uid")  # rows keep their file order (the order taken) within a group
            .agg(
                pl.col("pod").drop_nulls().first(),
                pl.col("runtime").drop_nulls().first(),
                pl.len().alias("samples"),
                *[pl.col(c).last() for c in last],
            )
            .sort("runtime", "uid")
        )
        rows, found, frame = pl.collect_all([counted, flags, per_pod])
    except pl.exceptions.PolarsError as err:
        raise VizInputError(f"{path}: not a readable run.pods.csv ({type(err).__name__})") from None
    if frame.height == 0:
        return None
    # The measured overhead by viz.overhead's own function (the one the summary uses), per pod.
    overheads = [overhead.pod_overhead(c, o, w) for c, o, w in frame.select(
        "cgroup_mib", "overhead_cgroup_mib", "workload_mib").iter_rows()]  # fmt: skip
    frame = frame.with_columns(pl.Series("overhead", overheads, dtype=pl.Float64))
    measured = frozenset(k for k in ("kernel", "cache", "overhead_cgroup") if found[k][0])
    sources = tuple(s for s in found["sources"][0].to_list() if s)
    return PodTable(path, frame, int(rows["rows"][0]), measured, sources)
