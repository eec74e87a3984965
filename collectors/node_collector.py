"""One node, one persistent SSH connection, one long-lived remote loop; gaps recorded as gaps.

The collector is a small state machine run as one asyncio task:

- connect (through the shared ``Connector``), start ``collect_command`` on a session channel, and
  turn every complete frame into an ``ok`` NodeSample stamped with the node's own clock;
- the stream is lost when the channel or connection closes (a killed node, a reset), when no
  frame arrives for ``stall_after_s`` (a silent hang, a stuck remote loop), or when asyncssh
  keepalives go unanswered; keepalives are only sent after a silent stretch
  (``keepalive_after_silence``): while frames flow, the stream itself proves the connection alive,
  and a keepalive per interval would double the packets each node costs;
- from the moment the loss is noticed until a new connection delivers its first frame, a
  ``reconnecting`` sample (values empty) is emitted once per interval, so a dead node never looks
  like a node whose memory stopped moving;
- reconnect attempts wait a capped exponential back-off, reset once data flows again.

Gap samples carry a time on the node's clock as last estimated (local time plus the offset seen on
the last frame), so a node's series stays on one clock across a gap.

CPU percentages need two samples: the collector keeps the previous frame's /proc/stat counters of
the current connection (a new connection starts afresh, so a sample never spans a gap); so do
per-pod CPU figures.

With a ``PodReading`` the same loop also sends the node's work (every frame: ``work_rate`` and
``work_pods`` of the NodeSample) and, every pod interval, one line per pod
(``collectors.pod_frames``), handed over as ``PodMemory`` records through ``emit_pods``, and an
``@@access`` line saying what the loop could read (kept in the stats, logged when it changes).

Per frame the work is: parse, one NodeSample, hand it over; the watchdog wakes once per stall
period, not once per interval, because each wake-up re-arms itself for the newest frame's deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncssh

from collectors.backoff import Backoff
from collectors.cpustat import CpuTimes, cpu_percent
from collectors.pod_frames import ACCESS, PODS, PodRecords, parse_access, parse_pods, work_of
from collectors.pod_sample import PodMemory
from collectors.remote_pods import NO_PODS, PodReading
from collectors.remote_stream import Frame, FrameParser, collect_command
from collectors.sample import NodeSample
from collectors.ssh_connect import Connector, close_connection, describe_error
from collectors.ssh_targets import NodeTarget

log = logging.getLogger("collectors.ssh")

DEFAULT_BACKOFF_MAX_S = 10.0


def keepalive_after_silence(interval_s: float) -> float:
    """Seconds without a packet before a keepalive goes out: one interval more than the sampling
    interval (at least a second more), so a frame that is merely late never triggers one."""
    return interval_s + max(interval_s, 1.0)


def default_stall_after(interval_s: float) -> float:
    """No frame for this long means the stream is lost (about 3 intervals)."""
    return 3.0 * interval_s + 0.5


@dataclass
class CollectorStats:
    """Counters per node, for the run metadata and the benchmark."""

    node: str
    frames: int = 0
    lost: int = 0  # samples the node numbered but never delivered on a live stream
    bad_frames: int = 0
    junk_chars: int = 0
    gaps: int = 0
    connects: int = 0
    failures: int = 0
    connected: bool = False
    last_error: str | None = None
    pod_samples: int = 0  # frames that carried per-pod figures
    pod_records: int = 0
    pods_layout: str | None = None  # e.g. "v2 systemd": cgroup version and kubelet driver
    kata_mode: str | None = None  # "overhead" (sandbox_cgroup_only=false), "sandbox", "-"
    access: dict[str, str] | None = None  # what the remote loop could read (its @@access line)
    work_stale: int | None = None  # stale and clock-skewed reports in the latest frame
    work_skewed: int | None = None


class StreamLost(Exception):
    """The sample stream ended or went silent; ``str()`` says how."""


class StreamSession(asyncssh.SSHClientSession[str]):
    """A remote loop's channel: stdout to ``stdout_received``, the last of stderr kept for the
    error message, the exit status, and ``closed`` resolved when the channel goes."""

    def __init__(self) -> None:
        self.closed: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self.stderr_tail = ""
        self.exit_status: int | None = None

    def stdout_received(self, data: str) -> None:
        raise NotImplementedError

    def data_received(self, data: str, datatype: asyncssh.DataType) -> None:
        if datatype == asyncssh.EXTENDED_DATA_STDERR:
            self.stderr_tail = (self.stderr_tail + data)[-400:]
            return
        self.stdout_received(data)

    def exit_status_received(self, status: int) -> None:
        self.exit_status = status

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)

    def why_closed(self, host: str | None, what: str) -> str:
        """Once ``closed`` is done: the connection's error, else ``what`` ended with its exit
        status and the last line it wrote on stderr."""
        exc = self.closed.result()
        if exc is not None:
            return describe_error(exc, host)
        why = f"{what} ended (exit status {self.exit_status})"
        if self.stderr_tail.strip():
            why += ": " + self.stderr_tail.strip().splitlines()[-1]
        return why


class _FrameSession(StreamSession):
    def __init__(self, collector: NodeCollector) -> None:
        super().__init__()
        self._collector = collector
        self._parser = FrameParser()

    def stdout_received(self, data: str) -> None:
        for frame in self._parser.feed(data):
            self._collector._on_frame(frame)
        stats = self._collector.stats
        stats.bad_frames += self._parser.bad_frames
        stats.junk_chars += self._parser.junk_chars
        self._parser.bad_frames = self._parser.junk_chars = 0


class NodeCollector:
    def __init__(
        self,
        target: NodeTarget,
        connector: Connector,
        interval_s: float,
        emit: Callable[[NodeSample], None],
        *,
        backoff: Backoff | None = None,
        stall_after_s: float | None = None,
        start_delay_s: float = 0.0,
        time_fn: Callable[[], float] = time.time,
        reading: PodReading = NO_PODS,
        emit_pods: Callable[[list[PodMemory]], None] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval must be positive")
        self.target = target
        self.interval_s = interval_s
        self.stall_after_s = stall_after_s or default_stall_after(interval_s)
        self.start_delay_s = start_delay_s
        self.stats = CollectorStats(node=target.name)
        self._connector = connector
        self._emit = emit
        self._backoff = backoff or Backoff(min(max(interval_s, 0.2), 1.0), DEFAULT_BACKOFF_MAX_S)
        self._time = time_fn
        self._command = collect_command(interval_s, reading=reading)
        self._emit_pods = emit_pods
        self._pods = PodRecords(target.name)
        self._offset = 0.0  # node clock minus local clock, as of the last frame
        self._last_time = float("-inf")
        self._last_frame_at = 0.0  # loop time
        self._next_seq = 0
        self._prev_cpu: CpuTimes | None = None
        self._gap_task: asyncio.Task[None] | None = None

    # -- frames and gaps ------------------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        loop = asyncio.get_running_loop()
        self._last_frame_at = loop.time()
        self._offset = frame.time - self._time()
        if frame.seq > self._next_seq:
            self.stats.lost += frame.seq - self._next_seq
        self._next_seq = frame.seq + 1
        self.stats.frames += 1
        if self._gap_task is not None:
            self._gap_task.cancel()
            self._gap_task = None
            log.info("node %s: sampling again", self.target.name)
        self._backoff.reset()
        self._last_time = frame.time
        cpu = None
        if frame.cpu is not None:
            if self._prev_cpu is not None:
                cpu = cpu_percent(self._prev_cpu, frame.cpu)
            self._prev_cpu = frame.cpu
        work = work_of(frame.sections)
        if work is not None:
            self.stats.work_stale, self.stats.work_skewed = work.stale, work.skewed
        self._emit(NodeSample.from_meminfo(
            self.target.name, frame.time, frame.meminfo, frame.load1, cpu=cpu, cpus=frame.cpus,
            work_rate=None if work is None else work.rate,
            work_pods=None if work is None else work.pods))
        if PODS in frame.sections:
            self._on_pods(frame)

    def _on_pods(self, frame: Frame) -> None:
        parsed = parse_pods(frame.sections[PODS])
        access = parse_access(frame.sections.get(ACCESS))
        if access and access != self.stats.access:
            self.stats.access = access
            blind = [k for k in ("smaps", "kubelet") if access.get(k) in ("denied", "partial")]
            if blind and access.get("euid") != "0":
                log.warning("node %s: %s not readable as the login user (sudo: %s); runtime "
                            "memory falls back to RSS, work reports are not counted",
                            self.target.name, " and ".join(blind), access.get("via", "?"))
        if parsed is None:
            self.stats.bad_frames += 1
            return
        header, lines = parsed
        self.stats.pods_layout = f"{header.cgroup} {header.driver}"
        self.stats.kata_mode = header.kata_mode
        self.stats.pod_samples += 1
        records = self._pods.records(frame.time, lines)
        self.stats.pod_records += len(records)
        if self._emit_pods is not None:
            self._emit_pods(records)

    def _emit_gap(self) -> None:
        t = max(self._time() + self._offset, self._last_time + 1e-6)
        self._last_time = t
        self.stats.gaps += 1
        self._emit(NodeSample.gap(self.target.name, t))

    async def _gaps(self, delay_s: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + delay_s
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            self._emit_gap()
            due = max(due + self.interval_s, loop.time())

    def _start_gaps(self, delay_s: float = 0.0) -> None:
        if self._gap_task is None:
            self._gap_task = asyncio.get_running_loop().create_task(self._gaps(delay_s))

    # -- the connection -------------------------------------------------------------------

    async def run(self) -> None:
        """Collect until cancelled."""
        try:
            # Before the first frame, a node is not "reconnecting" yet: give it one stall period.
            # (Inside the try: a pool stopped during the start delay must cancel this task too,
            # or asyncio reports it "destroyed but pending" when the loop closes.)
            self._start_gaps(self.start_delay_s + self.stall_after_s)
            if self.start_delay_s:
                await asyncio.sleep(self.start_delay_s)
            while True:
                try:
                    await self._stream_once()
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # any failure is a gap, never a dead collector
                    self._lost(describe_error(e, self.target.host))
                await asyncio.sleep(self._backoff.next_delay())
        finally:
            self.stats.connected = False
            if self._gap_task is not None:
                self._gap_task.cancel()
                self._gap_task = None

    def _lost(self, why: str) -> None:
        self.stats.connected = False
        self.stats.failures += 1
        if self.stats.last_error != why:
            log.warning("node %s (%s): %s; reconnecting", self.target.name, self.target.host, why)
        self.stats.last_error = why
        self._start_gaps(0.0)

    async def _stream_once(self) -> None:
        conn = await self._connector.connect(self.target)
        try:
            session = _FrameSession(self)
            await conn.create_session(lambda: session, self._command)
            self.stats.connects += 1
            self.stats.connected = True
            self._next_seq = 0
            self._prev_cpu = None
            self._pods = PodRecords(self.target.name)
            loop = asyncio.get_running_loop()
            started = loop.time()
            while True:
                # sleep until the newest frame's stall deadline (re-read after every wake-up)
                remaining = max(started, self._last_frame_at) + self.stall_after_s - loop.time()
                if remaining <= 0:
                    raise StreamLost(f"no sample for {self.stall_after_s:.1f}s")
                done, _ = await asyncio.wait({session.closed}, timeout=remaining)
                if done:
                    raise StreamLost(session.why_closed(self.target.host, "remote loop"))
        finally:
            await close_connection(conn, 1.0)
