"""The hand-over every sampling source shares: an asyncio loop in a daemon thread, behind
``collectors.sample.NodeSource``.

The engine is synchronous and may block for seconds in a cluster call; samplers must keep their
schedule meanwhile, so they live on their own loop in a background thread. The engine only ever
touches a source through ``drain``/``latest``/``drain_pods`` (a lock-protected hand-over), never
the loop. Subclasses say what runs on the loop (``_tasks``) and what to close after
(``_close``); they hand results over with ``_emit`` and ``_emit_pods``.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Self

from collectors.pod_sample import PodMemory
from collectors.sample import NodeSample, latest_by_node


class BackgroundSource:
    """Start, stop and the lock-protected buffers of a ``NodeSource`` sampling on its own loop.

    Pod records a consumer does not drain are kept up to ``max_pending_pods``, the oldest dropped
    first and counted in ``pods_dropped``. ``on_sample`` is called on the loop thread as each
    sample arrives (for metrics such as delivery lag); it must be quick and must not block.
    """

    thread_name = "scaler-source"

    def __init__(self, nodes: Sequence[str], interval_s: float, max_pending_pods: int,
                 on_sample: Callable[[NodeSample], None] | None = None) -> None:
        """``nodes``: the names sampled (unique); ``interval_s``: between samples (positive)."""
        if len(set(nodes)) != len(nodes):
            raise ValueError("node names must be unique")
        if interval_s <= 0:
            raise ValueError("interval must be positive")
        self.interval_s = interval_s
        self._max_pending_pods = max_pending_pods
        self._on_sample = on_sample
        self._lock = threading.Lock()
        self._pending: list[NodeSample] = []
        self._pending_pods: deque[PodMemory] = deque()
        self.pods_dropped = 0
        self._latest: dict[str, NodeSample] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._stopped = False

    # -- NodeSource ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.thread_name} already started")
        self._thread = threading.Thread(target=self._thread_main, name=self.thread_name,
                                        daemon=True)
        self._thread.start()
        self._ready.wait()

    def drain(self) -> list[NodeSample]:
        """Every node sample since the previous call (time order per node), gaps included."""
        with self._lock:
            out, self._pending = self._pending, []
        return out

    def latest(self) -> dict[str, NodeSample]:
        with self._lock:
            return dict(self._latest)

    def drain_pods(self) -> list[PodMemory]:
        """Every pod record since the previous call (time order per node)."""
        with self._lock:
            out = list(self._pending_pods)
            self._pending_pods.clear()
        return out

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the loop's tasks, close what they used, end the thread. Safe to call twice or
        before start; returns within a second unless the loop thread is stuck in a parse."""
        if self._thread is None or self._stopped:
            return
        self._stopped = True
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop is already gone
                pass
        self._thread.join(timeout_s)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- for subclasses (called on the loop thread) --------------------------------------------

    def _emit(self, sample: NodeSample) -> None:
        """Hand one node sample (or gap) over to the consumer."""
        with self._lock:
            self._pending.append(sample)
            latest_by_node((sample,), self._latest)
        if self._on_sample is not None:
            self._on_sample(sample)

    def _emit_pods(self, records: Iterable[PodMemory]) -> None:
        """Hand pod records over, dropping the oldest beyond ``max_pending_pods``."""
        with self._lock:
            self._pending_pods.extend(records)
            excess = len(self._pending_pods) - self._max_pending_pods
            for _ in range(max(excess, 0)):
                self._pending_pods.popleft()
            self.pods_dropped += max(excess, 0)

    def _tasks(self, loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[Any]]:
        """Create what samples, on ``loop``; called once, on the loop thread."""
        raise NotImplementedError

    async def _close(self) -> None:
        """Close what the tasks used, after they are cancelled and done."""

    # -- the loop thread -----------------------------------------------------------------------

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
        tasks = self._tasks(loop)
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._close()
