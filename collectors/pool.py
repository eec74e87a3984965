"""Many node collectors on one asyncio loop in a background thread, behind ``NodeSource``
(the loop, the thread and the hand-over: ``collectors.background``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TextIO

from collectors.background import BackgroundSource
from collectors.backoff import Backoff
from collectors.node_collector import (
    DEFAULT_BACKOFF_MAX_S,
    CollectorStats,
    NodeCollector,
    keepalive_after_silence,
)
from collectors.sample import NodeSample
from collectors.ssh_connect import Connector
from collectors.ssh_targets import NodeTarget, SSHOptions

MAX_PENDING_PODS = 50_000  # pod records kept for a consumer that does not drain them (oldest dropped)


class CollectorPool(BackgroundSource):
    """``collectors.sample.NodeSource`` over SSH: one persistent collector per target.

    ``options.reading`` says what the nodes' loops read besides node memory (per-pod figures
    every pod interval, the pods' work every sample); ``drain_pods`` hands the pod records over.
    """

    thread_name = "scaler-collectors"

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
        super().__init__([t.name for t in targets], interval_s, MAX_PENDING_PODS, on_sample)
        self.targets = list(targets)
        self.options = options
        self._backoff_max_s = backoff_max_s
        self._stall_after_s = stall_after_s
        self._stagger = stagger
        self._warn_to = warn_to
        self._collectors: list[NodeCollector] = []
        self._connector: Connector | None = None

    # -- extras ---------------------------------------------------------------------------

    def stats(self) -> dict[str, CollectorStats]:
        """A snapshot of per-node counters (frames, lost, gaps, reconnects, last error)."""
        with self._lock:
            return {c.target.name: CollectorStats(**vars(c.stats)) for c in self._collectors}

    # -- the loop thread ------------------------------------------------------------------

    def _tasks(self, loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[None]]:
        self._connector = Connector(self.options,
                                    keepalive_interval_s=keepalive_after_silence(self.interval_s),
                                    warn_to=self._warn_to)
        n = len(self.targets)
        collectors = [
            NodeCollector(
                t,
                self._connector,
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
        return [loop.create_task(c.run(), name=f"collect-{c.target.name}") for c in collectors]

    async def _close(self) -> None:
        if self._connector is not None:
            await self._connector.close()
