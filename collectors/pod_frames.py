"""The per-pod and work sections of a frame: parsed into records, and rendered for simulated nodes.

The remote loop (``collectors.remote_pods``) adds to a frame, every sample when work is read::

    @@work <pages/s> <fresh reports> <stale reports> <skewed reports> <kubelet: ok|denied|absent>

and every pod sample::

    @@pods <cgroup: v1|v2|none> <driver: systemd|cgroupfs|none> <kata mode: overhead|sandbox|-> <n>
    <uid> <qos g|b|e> <cur> <anon> <file> <shmem> <kernel> <inactive_file> <cpu_usec> <ovh>
          <rt_anon> <rt_file> <guest> <wl> <vmm p|o|-> <work pages/s> <work rss>
    ...
    @@access euid=<n> via=<user|sudo|nosudo|refused|sim> cgroup=.. pods=.. smaps=<ok|denied|partial|-> kubelet=..

one line per pod (shown wrapped here), memory in KiB, ``-`` where the node could not tell:
``cur`` is the pod cgroup's memory.current (v1 usage_in_bytes), then memory.stat's anon, file,
shmem, kernel and inactive_file (v1: total_rss, total_cache, total_shmem, kmem usage,
total_inactive_file), ``cpu_usec`` the cgroup's cumulative CPU time, ``ovh`` kata's overhead
cgroup, ``rt_anon``/``rt_file`` the sandbox's host processes' RssAnon and Pss_File sums,
``guest`` the VMM's RssShmem + HugetlbPages (the guest RAM it has touched), ``wl`` the VmRSS of
the pod's other processes (the workload, when it runs on the host), then the pod's fresh work
report's rate and resident set (its VmRSS as the workload itself measures it: inside the VM
under kata).

``PodRecords`` turns lines into ``PodMemory`` records (team contract 9, source "ssh"):

- ``cgroup_mib`` = cur; ``working_set_mib`` = cur - inactive_file (the kubelet's definition);
  ``rss_mib`` = ``anon_mib`` = anon; ``file_mib``, ``shmem_mib``, ``kernel_mib`` as read;
- ``workload_mib`` = wl when host processes of the workload were seen (runc), else the fresh
  report's resident set (kata: the guest's view), else None;
- ``runtime_mib`` = rt_anon + rt_file: the sandbox processes' own memory, shared library pages
  shared out (PSS), the guest's RAM left out (it is ``guest_backing_mib``);
- ``overhead_cgroup_mib`` = ovh; ``guest_backing_mib`` = guest;
- ``cpu_cores`` = the change of cpu_usec over the time between two pod samples of the same
  connection (None for a pod's first); ``work_rate`` = the fresh report's pages/s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from collectors.pod_sample import SOURCE_SSH, PodMemory

PODS = "pods"
WORK = "work"
ACCESS = "access"
KIB = 1024.0
_VALUES = 15  # numeric columns after uid and qos (vmm location is one of them, as text)


class WorkFigures(NamedTuple):
    """The node's work: pages/s summed over fresh reports and how many; None when the report
    files could not be read (``kubelet`` says why: ``denied`` without root, ``absent``)."""

    rate: float | None
    pods: int | None
    stale: int
    skewed: int
    kubelet: str


class PodsHeader(NamedTuple):
    cgroup: str
    driver: str
    kata_mode: str
    pods: int


class PodLine(NamedTuple):
    """One pod as the node sent it (KiB; None where it sent ``-``)."""

    uid: str
    qos: str
    cur: int | None
    anon: int | None
    file: int | None
    shmem: int | None
    kernel: int | None
    inactive_file: int | None
    cpu_usec: int | None
    overhead: int | None
    rt_anon: int | None
    rt_file: int | None
    guest: int | None
    workload: int | None
    vmm: str
    work_rate: int | None
    work_rss: int | None


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def parse_work(payload: str | None) -> WorkFigures | None:
    """The ``@@work`` section (None when absent or garbled)."""
    if not payload:
        return None
    f = payload.split()
    if len(f) < 5:
        return None
    readable = f[4] == "ok" and f[0].isdigit() and f[1].isdigit()
    return WorkFigures(float(f[0]) if readable else None, int(f[1]) if readable else None,
                       _int(f[2]) or 0, _int(f[3]) or 0, f[4])


def parse_access(payload: str | None) -> dict[str, str]:
    """The ``@@access`` section as a dict (``{}`` when absent)."""
    out: dict[str, str] = {}
    for word in (payload or "").split():
        key, sep, value = word.partition("=")
        if sep:
            out[key] = value
    return out


def parse_pods(payload: str | None) -> tuple[PodsHeader, list[PodLine]] | None:
    """The ``@@pods`` section: its header and pod lines (malformed lines are skipped)."""
    if payload is None:
        return None
    head, *lines = payload.split("\n")
    h = head.split()
    if len(h) != 4 or not h[3].isdigit():
        return None
    pods = []
    for line in lines:
        f = line.split()
        if len(f) != 2 + _VALUES or len(f[0]) < 8:
            continue
        n = [_int(x) for x in f[2:]]
        pods.append(PodLine(f[0], f[1], n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8],
                            n[9], n[10], n[11], f[14], n[13], n[14]))
    return PodsHeader(h[0], h[1], h[2], int(h[3])), pods


def _mib(kib: int | None) -> float | None:
    return None if kib is None else kib / KIB


class PodRecords:
    """Pod lines of one connection into ``PodMemory`` records (CPU needs the previous sample)."""

    def __init__(self, node: str) -> None:
        self.node = node
        self._cpu: dict[str, tuple[float, int]] = {}

    def records(self, time: float, lines: Sequence[PodLine]) -> list[PodMemory]:
        out = []
        cpu_now: dict[str, tuple[float, int]] = {}
        for p in lines:
            cores = None
            if p.cpu_usec is not None:
                cpu_now[p.uid] = (time, p.cpu_usec)
                prev = self._cpu.get(p.uid)
                if prev is not None and time > prev[0] and p.cpu_usec >= prev[1]:
                    cores = (p.cpu_usec - prev[1]) / 1e6 / (time - prev[0])
            working = None
            if p.cur is not None and p.inactive_file is not None:
                working = max(p.cur - p.inactive_file, 0) / KIB
            workload = None
            if p.workload:
                workload = p.workload / KIB
            elif p.work_rate is not None and p.work_rss is not None:
                workload = p.work_rss / KIB
            runtime = None
            if p.rt_anon is not None:
                runtime = (p.rt_anon + (p.rt_file or 0)) / KIB
            out.append(PodMemory(
                node=self.node, time=time, source=SOURCE_SSH, uid=p.uid,
                cgroup_mib=_mib(p.cur), working_set_mib=working, rss_mib=_mib(p.anon),
                anon_mib=_mib(p.anon), file_mib=_mib(p.file), shmem_mib=_mib(p.shmem),
                kernel_mib=_mib(p.kernel), workload_mib=workload, runtime_mib=runtime,
                overhead_cgroup_mib=_mib(p.overhead), guest_backing_mib=_mib(p.guest),
                cpu_cores=cores, work_rate=None if p.work_rate is None else float(p.work_rate),
            ))
        self._cpu = cpu_now  # pods gone from the node are forgotten
        return out


# -- simulated nodes ------------------------------------------------------------------------------


def _kib(mib: float | None) -> str:
    return "-" if mib is None else str(max(0, int(round(mib * KIB))))


class PodSectionRenderer:
    """Renders a model's ``PodMemory`` truth as the sections a real node's loop would send.

    The inverse of ``PodRecords``: ``inactive_file`` = cgroup - working set, ``rt_anon`` =
    ``runtime_mib`` (``rt_file`` 0), the workload as host processes for pods without a VM
    (``guest_backing_mib`` None) and as the report's resident set otherwise; CPU is integrated
    from ``cpu_cores`` into the cumulative counter a cgroup keeps. Work counts the pods whose
    ``work_rate`` is not None as fresh.
    """

    def __init__(self) -> None:
        self._cpu: dict[str, tuple[float, float]] = {}  # uid -> (time, cumulative usec)

    def _cpu_usec(self, uid: str, time: float, cores: float | None) -> str:
        if cores is None:
            return "-"
        prev_t, total = self._cpu.get(uid, (time, 0.0))
        total += max(cores, 0.0) * max(time - prev_t, 0.0) * 1e6
        self._cpu[uid] = (time, total)
        return str(int(total))

    def render(self, time: float, pods: Sequence[PodMemory], *, with_pods: bool,
               with_work: bool) -> str:
        text = ""
        if with_work:
            rates = [p.work_rate for p in pods if p.work_rate is not None]
            text += f"@@{WORK} {int(round(sum(rates)))} {len(rates)} 0 0 ok\n"
        if not with_pods:
            return text
        vm = any(p.guest_backing_mib is not None for p in pods)
        mode = ("overhead" if any(p.overhead_cgroup_mib is not None for p in pods)
                else "sandbox" if vm else "-")
        lines = []
        for p in pods:
            working = None
            if p.cgroup_mib is not None and p.working_set_mib is not None:
                working = max(p.cgroup_mib - p.working_set_mib, 0.0)
            has_vm = p.guest_backing_mib is not None
            vmm = "-" if not has_vm else ("o" if p.overhead_cgroup_mib is not None else "p")
            fresh = p.work_rate is not None
            fields = [
                p.uid, "-", _kib(p.cgroup_mib), _kib(p.anon_mib if p.anon_mib is not None
                                                     else p.rss_mib),
                _kib(p.file_mib), _kib(p.shmem_mib), _kib(p.kernel_mib), _kib(working),
                self._cpu_usec(p.uid, time, p.cpu_cores), _kib(p.overhead_cgroup_mib),
                _kib(p.runtime_mib), "-" if p.runtime_mib is None else "0",
                _kib(p.guest_backing_mib), _kib(None if has_vm else p.workload_mib), vmm,
                str(int(round(p.work_rate))) if p.work_rate is not None else "-",
                _kib(p.workload_mib) if fresh and has_vm else "-",
            ]
            lines.append(" ".join(fields) + "\n")
        gone = set(self._cpu) - {p.uid for p in pods}
        for uid in gone:
            del self._cpu[uid]
        return (f"{text}@@{PODS} v2 systemd {mode} {len(lines)}\n{''.join(lines)}"
                f"@@{ACCESS} euid=0 via=sim cgroup=v2 pods=systemd smaps=ok kubelet=ok\n")


PodModel = Callable[[str], Sequence[PodMemory]]


def model_sections(model: object, node: str, pod_every: int,
                   work: bool) -> Callable[[int, float], str] | None:
    """For a server emulating nodes: the extra sections of frame ``seq`` at ``time``, from the
    model's optional ``node_pods(name) -> Sequence[PodMemory]``; None when the model has no such
    method or the command asked for neither pods nor work."""
    node_pods: PodModel | None = getattr(model, "node_pods", None)
    if node_pods is None or (pod_every <= 0 and not work):
        return None
    renderer = PodSectionRenderer()

    def sections(seq: int, time: float) -> str:
        with_pods = pod_every > 0 and seq % pod_every == 0
        if not with_pods and not work:
            return ""
        return renderer.render(time, node_pods(node), with_pods=with_pods, with_work=work)

    return sections


def work_of(sections: Mapping[str, str]) -> WorkFigures | None:
    """A frame's work figures (None when the frame has no readable ``@@work`` section)."""
    return parse_work(sections.get(WORK))
