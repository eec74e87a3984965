"""Many node collectors on one asyncio loop in a background thread, behind ``NodeSource``.

The engine is synchronous and may block for seconds in a cluster call; the collectors must keep
their schedule meanwhile, so they live on their own loop in a daemon thread. The engine only ever
touches the pool through ``drain``/``latest`` (a lock-protected hand-over), never the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import TextIO

from collectors.backoff import Backoff
from collectors.node_collector import (
    DEFAULT_BACKOFF_MAX_S,
    CollectorStats,
    NodeCollector,
    keepalive_after_silence,
)
from collectors.pod_sample import PodMemory
from collectors.sample import NodeSample, latest_by_node
from collectors.ssh_connect import Connector
from collectors.ssh_targets import NodeTarget, SSHOptions

MAX_PENDING_PODS = 50_000  # pod records kept for a consumer that does not drain them (oldest dropped)


class CollectorPool:
    """``collectors.sample.NodeSource`` over SSH: one persistent collector per target.

    ``options.reading`` says what the nodes' loops read besides node memory (per-pod figures
    every pod interval, the pods' work every sample); ``drain_pods`` hands the pod records over.
    """

    def __init__(
        self,
        targets: list[NodeTarget],
        options: SSHOptions,
        interval_s: float = 1.0,
        *,
        backoff_max_s: float = DEFAULT_BACKOFF_MAX_S,
        stall_after_s: float | None = None,
        stagger: bool = True,
        warn_to: TextIO | None = None,
        on_sample: Callable[[NodeSample], None] | None = None,
    ) -> None:
        """``on_sample`` is called on the collectors' thread as each sample arrives (for metrics
        such as delivery lag); it must be quick and must not block."""
        names = [t.name for t in targets]
        if len(set(names)) != len(names):
            raise ValueError("node names must be unique")
        if interval_s <= 0:
            raise ValueError("interval must be positive")
        self.targets = list(targets)
        self.options = options
        self.interval_s = interval_s
        self._backoff_max_s = backoff_max_s
        self._stall_after_s = stall_after_s
        self._stagger = stagger
        self._warn_to = warn_to
        self._on_sample = on_sample
        self._lock = threading.Lock()
        self._pending: list[NodeSample] = []
        self._pending_pods: deque[PodMemory] = deque()
        self.pods_dropped = 0
        self._latest: dict[str, NodeSample] = {}
        self._collectors: list[NodeCollector] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._stopped = False

    # -- NodeSource -----------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("collector pool already started")
        self._thread = threading.Thread(target=self._thread_main, name="scaler-collectors", daemon=True)
        self._thread.start()
        self._ready.wait()

    def drain(self) -> list[NodeSample]:
        """Every sample since the previous call, in arrival order (time order per node)."""
        with self._lock:
            out, self._pending = self._pending, []
        return out

    def latest(self) -> dict[str, NodeSample]:
        with self._lock:
            return dict(self._latest)

    def drain_pods(self) -> list[PodMemory]:
        """Every per-pod record since the previous call (time order per node)."""
        with self._lock:
            out = list(self._pending_pods)
            self._pending_pods.clear()
        return out

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close every connection and end the thread; safe to call twice or before start."""
        if self._thread is None or self._stopped:
            return
        self._stopped = True
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # loop already gone
                pass
        self._thread.join(timeout_s)

    # -- extras ---------------------------------------------------------------------------

    def stats(self) -> dict[str, CollectorStats]:
        """A snapshot of per-node counters (frames, lost, gaps, reconnects, last error)."""
        with self._lock:
            return {c.target.name: CollectorStats(**vars(c.stats)) for c in self._collectors}

    def __enter__(self) -> CollectorPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the loop thread ------------------------------------------------------------------

    def _emit(self, sample: NodeSample) -> None:
        with self._lock:
            self._pending.append(sample)
            latest_by_node((sample,), self._latest)
        if self._on_sample is not None:
            self._on_sample(sample)

    def _emit_pods(self, records: list[PodMemory]) -> None:
        with self._lock:
            self._pending_pods.extend(records)
            excess = len(self._pending_pods) - MAX_PENDING_PODS
            for _ in range(max(excess, 0)):
                self._pending_pods.popleft()
            self.pods_dropped += max(excess, 0)

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main(loop))
        finally:
            self._ready.set()  # never leave start() waiting, even if _main failed early
            loop.close()

    async def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._stop_event = asyncio.Event()
        connector = Connector(self.options, keepalive_interval_s=keepalive_after_silence(self.interval_s),
                              warn_to=self._warn_to)
        n = len(self.targets)
        collectors = [
            NodeCollector(
                t,
                connector,
                self.interval_s,
                self._emit,
                backoff=Backoff(min(max(self.interval_s, 0.2), 1.0), self._backoff_max_s),
                stall_after_s=self._stall_after_s,
                # spread first connections (and so the nodes' sampling phases) over one interval
                start_delay_s=(i * min(self.interval_s, 1.0) / n) if self._stagger and n else 0.0,
                reading=self.options.reading,
                emit_pods=self._emit_pods,
            )
            for i, t in enumerate(self.targets)
        ]
        with self._lock:
            self._collectors = collectors
        tasks = [loop.create_task(c.run(), name=f"collect-{c.target.name}") for c in collectors]
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await connector.close()
