"""Helpers for the per-pod tests: cgroup trees as the kubelet lays them out, report files, the
remote loop run locally, real v1 cgroups with real processes in them.

cgroup v2's memory controller is not available on the test machine (v2 is mounted at
/sys/fs/cgroup/unified without it), so v2 is covered by directory trees of files written in the
kernel's own format (Documentation/admin-guide/cgroup-v2.rst and mm/memcontrol.c's
memory_stat_format order); cgroup v1's memory controller is real and writable there, so v1 is
covered with real cgroups holding real processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from collectors.remote_pods import REPORT_FILE, REPORT_VOLUME, PodReading
from collectors.remote_stream import Frame, FrameParser, collect_command

ROOT = Path(__file__).resolve().parents[1]
V1_MEMORY = Path("/sys/fs/cgroup/memory")
V1_CPUACCT = Path("/sys/fs/cgroup/cpuacct")

# memory.stat of a v2 cgroup, keys in the kernel's order (Linux 6.x; "kernel" since 5.18).
V2_KEYS = ("anon file kernel kernel_stack pagetables sec_pagetables percpu sock vmalloc shmem "
           "zswap zswapped file_mapped file_dirty file_writeback swapcached anon_thp file_thp "
           "shmem_thp inactive_anon active_anon inactive_file active_file unevictable "
           "slab_reclaimable slab_unreclaimable slab workingset_refault_anon "
           "workingset_refault_file workingset_activate_anon workingset_activate_file "
           "workingset_restore_anon workingset_restore_file workingset_nodereclaim pgscan pgsteal "
           "pgfault pgmajfault pgrefill pgactivate pgdeactivate pglazyfree pglazyfreed "
           "thp_fault_alloc thp_collapse_alloc").split()
# Linux 5.15: no "kernel" (nor vmalloc, sec_pagetables, zswap): the loop sums the parts.
V2_KEYS_5_15 = [k for k in V2_KEYS if k not in ("kernel", "vmalloc", "sec_pagetables", "zswap",
                                                  "zswapped")]


def v2_stat(keys=V2_KEYS, **values: int) -> str:
    """memory.stat text: the given values (bytes), every other key a distinct small number."""
    return "".join(f"{k} {values.get(k, 4096 * (i + 1))}\n" for i, k in enumerate(keys))


def systemd_pod_dir(root: Path, qos: str, uid: str) -> Path:
    """kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice (Guaranteed: directly
    under kubepods.slice), as the kubelet's systemd cgroup driver names them."""
    unit = uid.replace("-", "_")
    base = root / "kubepods.slice"
    if qos == "guaranteed":
        return base / f"kubepods-pod{unit}.slice"
    return base / f"kubepods-{qos}.slice" / f"kubepods-{qos}-pod{unit}.slice"


def cgroupfs_pod_dir(root: Path, qos: str, uid: str) -> Path:
    base = root / "kubepods"
    return base / f"pod{uid}" if qos == "guaranteed" else base / qos / f"pod{uid}"


def report_path(kubelet: Path, uid: str) -> Path:
    return (kubelet / "pods" / uid / "volumes" / "kubernetes.io~empty-dir" / REPORT_VOLUME
            / REPORT_FILE)


def write_report(kubelet: Path, uid: str, epoch_us: int, rate: int, period_us: int = 1_000_000,
                 rss_kib: int = 1000) -> Path:
    path = report_path(kubelet, uid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"scaler-work 1 {epoch_us} {rate} {period_us} {rate * 3} {rss_kib} 2000\n")
    return path


def now_us() -> int:
    return int(time.time() * 1e6)


class LocalLoop:
    """The remote command run by a local ``sh`` as sshd would run it (stdin kept open: closing it
    ends the loop); frames are read as they come."""

    def __init__(self, reading: PodReading, interval_s: float = 0.2, count: int = 0,
                 argv_prefix: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 cwd: str | None = None) -> None:
        self.proc = subprocess.Popen([*argv_prefix, "sh", "-c",
                                      collect_command(interval_s, count, reading)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
        self.parser = FrameParser()
        self.pending: list[Frame] = []

    def next(self) -> Frame:
        assert self.proc.stdout is not None
        while not self.pending:
            chunk = self.proc.stdout.readline()
            if not chunk:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"loop ended: {self.proc.wait()} {err[-500:]}")
            self.pending += self.parser.feed(chunk)
        return self.pending.pop(0)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> LocalLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def frames_of(reading: PodReading, count: int, interval_s: float = 0.2, **kw) -> list[Frame]:
    with LocalLoop(reading, interval_s, count, **kw) as loop:
        return [loop.next() for _ in range(count)]


def world_readable_dir(prefix: str) -> Path:
    """A fresh directory others can traverse (pytest's tmp_path is owner-only)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


# -- real cgroup v1 -------------------------------------------------------------------------------


def v1_cgroups_or_skip() -> None:
    probe = V1_MEMORY / f"scaler-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as e:
        reason = f"no writable cgroup v1 memory controller at {V1_MEMORY} ({e.strerror})"
        if os.environ.get("SCALER_REQUIRE_CGROUP_V1") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


class V1Node:
    """A node's cgroup v1 hierarchy in miniature: ``memory`` (and ``cpuacct`` when writable)
    test cgroups under the real controllers, seen through a cgroup root directory of symlinks
    (``<root>/memory`` -> /sys/fs/cgroup/memory/scaler-test-...), with real processes in them."""

    def __init__(self, root: Path) -> None:
        self.name = f"scaler-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.root = root
        self.memory = V1_MEMORY / self.name
        self.memory.mkdir()
        (root / "memory").symlink_to(self.memory)
        self.cpuacct: Path | None = V1_CPUACCT / self.name
        try:
            self.cpuacct.mkdir()
            (root / "cpuacct").symlink_to(self.cpuacct)
        except OSError:
            self.cpuacct = None
        self.procs: list[subprocess.Popen[bytes]] = []

    def cgroup(self, rel: str) -> Path:
        """Make ``rel`` (e.g. kubepods/besteffort/pod<uid>/<ctr>) in every controller."""
        for base in (self.memory, self.cpuacct):
            if base is not None:
                (base / rel).mkdir(parents=True, exist_ok=True)
        return self.memory / rel

    def move(self, pid: int, rel: str) -> None:
        self.cgroup(rel)
        for base in (self.memory, self.cpuacct):
            if base is not None:
                (base / rel / "cgroup.procs").write_text(str(pid))

    def start(self, argv: list[str], rel: str, argv0: str | None = None,
              **popen: object) -> subprocess.Popen[bytes]:
        """Start ``argv`` (named ``argv0`` if given, as ``exec -a`` does) in cgroup ``rel``: it
        is moved there before it execs, so everything it allocates is charged there."""
        self.cgroup(rel)
        targets = [str(b / rel / "cgroup.procs") for b in (self.memory, self.cpuacct) if b]
        moves = "; ".join(f"echo $$ > {t}" for t in targets)
        name = f"-a {argv0} " if argv0 else ""
        script = f"{moves}; exec {name}\"$@\""
        proc = subprocess.Popen(["bash", "-c", script, "start", *argv], **popen)  # type: ignore[call-overload]
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
        for base in (self.memory, self.cpuacct):
            if base is None or not base.exists():
                continue
            dirs = sorted((p for p in base.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
            for d in [*dirs, base]:
                for _ in range(50):  # a killed process leaves its cgroup a moment later
                    try:
                        d.rmdir()
                        break
                    except OSError:
                        time.sleep(0.05)


def workload_argv(report: Path | None, memory_mib: int = 24, cpu: int = 5) -> list[str]:
    argv = [sys.executable, "-m", "workload", "--cpu", str(cpu), "--memory", str(memory_mib),
            "--increment", str(memory_mib)]
    if report is not None:
        argv += ["--report", str(report)]
    return argv


def proc_status_kib(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            out[key] = int(rest.split()[0])
    return out


def smaps_rollup_kib(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        out[key] = int(rest.split()[0])
    return out
