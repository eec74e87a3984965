"""Node and pod memory from the kubelet's Summary API, for clusters that allow no SSH to nodes.

Design note.

* How it reaches the kubelets. Every kubelet serves ``/stats/summary``; the API server forwards
  ``GET /api/v1/nodes/<node>/proxy/stats/summary`` to it, so the user's own access to the API
  server is all that is needed (RBAC: ``get`` on ``nodes/proxy``). The source speaks plain HTTP
  to a base URL; in a real run that is a local ``kubectl proxy`` (or ``oc proxy``,
  ``scaler.openshift.kubectl_proxy``), started once for the run with the run's
  ``--kubeconfig``/``--context``. That way every kind of kubeconfig authentication works
  (tokens, client certificates, exec plugins such as ``oc login``'s or a cloud's) without
  reimplementing any, and it is one long-lived process with kept-alive connections instead of a
  client process per request (what ``kubectl get --raw`` would cost: a fork, a config load and
  a TLS handshake per node per interval).
* What it asks. One ``GET .../stats/summary?only_cpu_and_memory=true`` per node per interval,
  all nodes concurrently on one asyncio loop in a background thread (the engine blocks in
  cluster calls; sampling must keep its schedule meanwhile, as in ``collectors.pool``). The
  query parameter is the kubelet's own (metrics-server uses it): the same node and pod CPU and
  memory without the network, filesystem, volume and rlimit blocks. A request still out when
  the next interval starts is not doubled: that tick is skipped and counted (``late``). Each
  node's Node object is read once (its CPU count, for ``cpu_busy_pct``). Nothing is written.
* What it costs (``python bench/bench_kubelet.py``, payloads built by ``tests/kubelet_support``
  the way the kubelet writes them, one-space indented JSON). At 250 pods a full Summary is
  about 560 kB, the ``only_cpu_and_memory`` one 234 kB (176 kB without the indentation, about
  25 kB gzipped): 2.4x fewer bytes (pods with more volumes or interfaces than these enlarge
  only the full form). Per node per poll the source spends about 10 ms of CPU
  (HTTP, parse, records) and kubectl proxy 1-2 ms (measured on 2 shared cores: noisy). 5
  nodes every 10 s move about 117 kB/s through the API server; every second, 1.2 MB/s. The
  kubelet refreshes its cAdvisor stats every 10-15 s (housekeeping), so polling faster than
  that mostly returns the same figures again: those answers are counted as ``repeats`` and not
  recorded twice (a sample is recorded when its stats time moves), and 10 s is the default.
* Failures. A node whose request fails (refused, timed out, 5xx, not a Summary) gives one
  ``NodeSample.gap`` (status reconnecting, values empty: never the last value repeated) and is
  asked again at its next tick.
* What the kubelet cannot see. With kata's ``sandbox_cgroup_only=false`` the VMM, virtiofsd and
  shim run in a separate overhead cgroup outside the pod cgroup, so the pod's figures leave out
  most of what a kata pod costs the host. cAdvisor finds no host cgroups for the containers
  inside the VM, so kata pods show zero or no container memory (kata-containers #12216,
  packaging #1025); pods whose memory is absent or zero are counted (``blind_pods``). The
  node's free memory, active memory, load and the CPU breakdown are not in the Summary at all
  (``collectors.kubelet_summary`` says which fields stay empty and why).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import aiohttp
import yarl

from collectors.background import BackgroundSource
from collectors.kubelet_http import (
    SUMMARY_QUERY,
    check_base_url,
    get,
    node_url,
    summary_url,
)
from collectors.kubelet_summary import (
    NodeCapacity,
    SummaryError,
    load_payload,
    node_capacity,
    parse_summary,
)
from collectors.sample import NodeSample

log = logging.getLogger("collectors.kubelet")

LATENCY_WINDOW = 4096  # latency percentiles are over each node's last this-many requests
MAX_PENDING_PODS = 200_000  # pod records kept for a consumer that does not drain them
CAPACITY_TRIES = 3
# cAdvisor refreshes its stats every 10 s, up to 15 s with dynamic housekeeping (kubelet
# defaults), so a sample can be that old when it arrives: a consumer judging freshness should
# allow at least this much (see ``KubeletSource.stale_after_s``).
KUBELET_STATS_PERIOD_S = 15.0


@dataclass
class PollStats:
    """Per-node counters, for the run metadata and the cost figures."""

    node: str
    requests: int = 0  # summary requests sent
    answers: int = 0  # summaries parsed
    errors: int = 0  # requests that failed (each one gave a gap)
    repeats: int = 0  # answers whose stats were no newer than the last recorded ones
    late: int = 0  # ticks skipped because the previous request was still out
    bytes: int = 0  # response body bytes read (summaries and the Node object)
    pods: int = 0  # pod records produced
    blind_pods: int = 0  # pods of the latest summary whose memory was absent or zero
    skipped_pods: int = 0  # pod entries without a podRef.uid, over the run
    last_error: str | None = None
    latency_mean_ms: float | None = None  # over all requests
    latency_p99_ms: float | None = None  # over the last LATENCY_WINDOW requests


@dataclass
class _Node:
    """What one node's poller remembers between ticks (loop thread only)."""

    name: str
    stats: PollStats
    capacity: NodeCapacity | None = None
    capacity_tries: int = 0
    last_time: float | None = None  # stats time of the last recorded sample
    last_emitted: float | None = None  # time of the last record, sample or gap
    # node stats time minus local time at arrival: clock skew minus the stats' age (0-15 s)
    offsets: deque[float] = field(default_factory=lambda: deque(maxlen=32))
    failing: bool = False
    pod_times: dict[str, float] = field(default_factory=dict)
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    latency_sum: float = 0.0


class KubeletSource(BackgroundSource):
    """``collectors.sample.NodeSource`` (and ``PodSource``) over the kubelet Summary API.

    ``base_url`` reaches the API server without further authentication (a ``kubectl proxy``, or
    the simulator's API front); ``nodes`` are Node object names. ``namespaces`` limits the pod
    records (None: every pod on the node); node figures always cover the whole node.
    """

    thread_name = "scaler-kubelet"

    def __init__(self, base_url: str, nodes: Sequence[str], interval_s: float = 10.0, *,
                 timeout_s: float | None = None, namespaces: Collection[str] | None = None,
                 stagger: bool = True, max_pending_pods: int = MAX_PENDING_PODS) -> None:
        super().__init__(nodes, interval_s, max_pending_pods)
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError("timeout must be positive")
        self.base_url = check_base_url(base_url)
        self.nodes = list(nodes)
        # a request is abandoned after one interval, but never sooner than 2 s nor later than 10 s
        self.timeout_s = timeout_s if timeout_s is not None else min(max(interval_s, 2.0), 10.0)
        self.namespaces = None if namespaces is None else frozenset(namespaces)
        self.query = dict(SUMMARY_QUERY)  # {} asks the full Summary (the benchmark's baseline)
        self._stagger = stagger
        self._session: aiohttp.ClientSession | None = None
        self._state = {n: _Node(n, PollStats(n)) for n in self.nodes}

    @property
    def stale_after_s(self) -> float:
        """How old (by the node's clock) a sample may be and still count as current: three
        intervals, but never less than three of the kubelet's own stats periods."""
        return max(3 * self.interval_s, 3 * KUBELET_STATS_PERIOD_S)

    # -- extras --------------------------------------------------------------------------------

    def stats(self) -> dict[str, PollStats]:
        """A snapshot of the per-node counters."""
        with self._lock:
            out = {}
            for name, st in self._state.items():
                s = dataclasses.replace(st.stats)
                n = s.requests + st.capacity_tries
                if st.latencies:
                    s.latency_mean_ms = 1000.0 * st.latency_sum / max(n, 1)
                    ordered = sorted(st.latencies)
                    s.latency_p99_ms = 1000.0 * ordered[min(len(ordered) - 1,
                                                            int(0.99 * len(ordered)))]
                out[name] = s
            return out

    def totals(self) -> dict[str, float | int | None]:
        """The counters summed over the nodes, for the run metadata."""
        per_node = self.stats()
        keys = ("requests", "answers", "errors", "repeats", "late", "bytes", "pods", "blind_pods",
                "skipped_pods")
        out: dict[str, float | int | None] = {k: sum(getattr(s, k) for s in per_node.values())
                                              for k in keys}
        with self._lock:
            lat = sorted(x for st in self._state.values() for x in st.latencies)
            out["pods_dropped"] = self.pods_dropped
        out["latency_p99_ms"] = (1000.0 * lat[min(len(lat) - 1, int(0.99 * len(lat)))]
                                 if lat else None)
        out["latency_mean_ms"] = 1000.0 * sum(lat) / len(lat) if lat else None
        return out

    # -- the loop thread -----------------------------------------------------------------------

    def _tasks(self, loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[None]]:
        # Each request has its own deadline (timeout_s); no session-wide one.
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64),
                                              timeout=aiohttp.ClientTimeout())
        n = len(self.nodes)
        step = min(self.interval_s, 1.0) / n if self._stagger and n else 0.0
        return [loop.create_task(self._run_node(self._session, self._state[name], i * step),
                                 name=f"kubelet-{name}")
                for i, name in enumerate(self.nodes)]

    async def _close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _run_node(self, session: aiohttp.ClientSession, node: _Node, delay_s: float) -> None:
        loop = asyncio.get_running_loop()
        next_t = loop.time() + delay_s
        while True:
            await asyncio.sleep(max(0.0, next_t - loop.time()))
            await self._poll(session, node)
            next_t += self.interval_s
            now = loop.time()
            if next_t <= now:  # the request outlasted the interval: skip the ticks it covered
                missed = int((now - next_t) // self.interval_s) + 1
                with self._lock:
                    node.stats.late += missed
                next_t += missed * self.interval_s

    async def _get(self, session: aiohttp.ClientSession, node: _Node, url: yarl.URL,
                   params: dict[str, str] | None = None) -> tuple[int | None, bytes, str | None]:
        """One GET with the deadline, counted: (status, body, None) or (status, body, why)."""
        answer = await get(session, url, params, timeout_s=self.timeout_s)
        with self._lock:
            node.latencies.append(answer.seconds)
            node.latency_sum += answer.seconds
            node.stats.bytes += len(answer.body)
        return answer.status, answer.body, answer.error

    async def _capacity(self, session: aiohttp.ClientSession, node: _Node) -> None:
        """Read the Node object once for its CPU count; give up after a few failures."""
        node.capacity_tries += 1
        status, body, why = await self._get(session, node, node_url(self.base_url, node.name))
        if why is None:
            try:
                node.capacity = node_capacity(load_payload(body))
                return
            except SummaryError as e:
                why = f"Node object: {e}"
        if node.capacity_tries >= CAPACITY_TRIES or status in (401, 403, 404):
            node.capacity = NodeCapacity()  # unknown: cpu_busy_pct stays empty
            log.warning("kubelet stats: node %s: no CPU count (%s)", node.name, why)

    async def _poll(self, session: aiohttp.ClientSession, node: _Node) -> None:
        if node.capacity is None:
            await self._capacity(session, node)
        with self._lock:
            node.stats.requests += 1
        _, body, why = await self._get(session, node, summary_url(self.base_url, node.name),
                                       self.query)
        arrived = time.time()
        if why is None:
            try:
                summary = parse_summary(body, node=node.name, capacity=node.capacity)
            except SummaryError as e:
                why = f"not a kubelet Summary: {e}"
        if why is not None:
            self._failed(node, why, arrived)
            return
        if node.failing:
            log.warning("kubelet stats: node %s answers again", node.name)
            node.failing = False
        node.offsets.append(summary.sample.time - arrived)
        fresh = node.last_time is None or summary.sample.time > node.last_time
        pods = []
        for p in summary.pods:
            if p.time > node.pod_times.get(p.uid, float("-inf")):
                node.pod_times[p.uid] = p.time
                if self.namespaces is None or p.namespace in self.namespaces:
                    pods.append(p)
        seen = {p.uid for p in summary.pods}
        for uid in [u for u in node.pod_times if u not in seen]:  # pods gone from the node
            del node.pod_times[uid]
        with self._lock:
            st = node.stats
            st.answers += 1
            st.pods += len(pods)
            st.blind_pods = len(summary.blind)
            st.skipped_pods += summary.skipped
            if fresh:
                node.last_time = summary.sample.time
                node.last_emitted = max(node.last_emitted or summary.sample.time,
                                        summary.sample.time)
            else:
                st.repeats += 1
        if fresh:
            self._emit(summary.sample)
        self._emit_pods(pods)

    def _gap_time(self, node: _Node, arrived: float) -> float:
        """When a gap happened, on the node's stats clock: local time plus the smallest recent
        offset (this node's, else any node's, else one full stats period), so the stats that
        arrive after recovery, however old the kubelet's cache, come out newer than the gap and
        a consumer that keeps the newest record per node sees the node back. Never before the
        node's previous record: a gap is news, not history."""
        offsets = node.offsets or [o for n in self._state.values() for o in n.offsets]
        t = arrived + (min(offsets) if offsets else -KUBELET_STATS_PERIOD_S)
        if node.last_emitted is not None:
            t = max(t, node.last_emitted + 0.001)
        return t

    def _failed(self, node: _Node, why: str, arrived: float) -> None:
        if not node.failing:
            log.warning("kubelet stats: node %s: %s", node.name, why)
            node.failing = True
        gap = NodeSample.gap(node.name, self._gap_time(node, arrived))
        node.last_emitted = gap.time
        with self._lock:
            node.stats.errors += 1
            node.stats.last_error = why
        self._emit(gap)
