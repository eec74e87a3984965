"""Kubelet Summary payloads built from the documented fields, and a small Kubernetes API on
loopback that serves them per node (the path the API server proxies to each kubelet).

The payloads follow k8s.io/kubelet/pkg/apis/stats/v1alpha1 (node, system containers, pods with
podRef, containers, cpu, memory, and in the full form network, fs, volumes, ephemeral storage,
rlimit), written as the kubelet writes them (one-space indented JSON). Run
``python -m tests.kubelet_support`` to print their sizes at 250 pods.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from collectors.kubelet_source import KubeletSource
from collectors.pod_sample import PodMemory
from collectors.sample import NodeSample

MIB = 1024 * 1024
GIB = 1024 * MIB


def rfc3339(t: float) -> str:
    """metav1.Time as JSON: RFC 3339, whole seconds, UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def cpu(t: float, cores: float, total_s: float) -> dict[str, Any]:
    return {"time": rfc3339(t), "usageNanoCores": int(cores * 1e9),
            "usageCoreNanoSeconds": int(total_s * 1e9)}


def memory(t: float, usage: int, working_set: int, rss: int, *,
           available: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"time": rfc3339(t)}
    if available is not None:
        out["availableBytes"] = available
    out.update(usageBytes=usage, workingSetBytes=working_set, rssBytes=rss,
               pageFaults=usage // 4096 + 1234, majorPageFaults=7)
    return out


def fs(t: float, used: int) -> dict[str, Any]:
    return {"time": rfc3339(t), "availableBytes": 96636764160, "capacityBytes": 128849018880,
            "usedBytes": used, "inodesFree": 61999000, "inodes": 62914560, "inodesUsed": 915560}


def network(t: float, iface: str) -> dict[str, Any]:
    counters = {"rxBytes": 123456789, "rxErrors": 0, "txBytes": 98765432, "txErrors": 0}
    return {"time": rfc3339(t), "name": iface, **counters,
            "interfaces": [{"name": iface, **counters}]}


@dataclass
class PodSpec:
    """One pod on a node. ``kind``: ``runc`` (all figures), ``kata`` (the VM is in the pod cgroup,
    the container inside it has only the kubelet's no-stats placeholder), ``kata-missing`` (no
    memory at all), ``kata-zero`` (explicit zeros)."""

    name: str
    namespace: str = "scaler"
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    kind: str = "runc"
    workload_mib: float = 500.0
    overhead_mib: float = 12.0  # pod cgroup beyond the container (pause; for kata the VM)
    cores: float = 0.05
    lag_s: float = 0.0  # how much older than the node's its stats are (own housekeeping timer)


def pod_entry(p: PodSpec, t: float, *, full: bool) -> dict[str, Any]:
    t -= p.lag_s
    ws = int(p.workload_mib * MIB)
    entry: dict[str, Any] = {
        "podRef": {"name": p.name, "namespace": p.namespace, "uid": p.uid},
        "startTime": rfc3339(t - 600),
    }
    c: dict[str, Any] = {"name": "workload", "startTime": rfc3339(t - 597)}
    if p.kind == "runc":
        c["cpu"] = cpu(t, p.cores, 30.0)
        c["memory"] = memory(t, ws + 8 * MIB, ws, ws - 4 * MIB)
    elif p.kind == "kata":
        c["cpu"] = {"time": rfc3339(t)}
        c["memory"] = {"time": rfc3339(t), "workingSetBytes": 0}
    elif p.kind == "kata-zero":
        c["cpu"] = cpu(t, 0.0, 0.0)
        c["memory"] = memory(t, 0, 0, 0)
    if full and p.kind == "runc":
        c["rootfs"] = fs(t, 16384)
        c["logs"] = fs(t, 86016)
    entry["containers"] = [c]
    pod_ws = ws + int(p.overhead_mib * MIB)
    if p.kind in ("runc", "kata"):
        entry["cpu"] = cpu(t, p.cores + 0.001, 31.0)
        entry["memory"] = memory(t, pod_ws + 16 * MIB, pod_ws, pod_ws - 8 * MIB)
    elif p.kind == "kata-zero":
        entry["cpu"] = cpu(t, 0.0, 0.0)
        entry["memory"] = memory(t, 0, 0, 0)
    if full:
        entry["network"] = network(t, "eth0")
        entry["volume"] = [{**fs(t - 30, 12288), "name": f"kube-api-access-{p.uid[:5]}"}]
        entry["ephemeral-storage"] = fs(t, 114688)
        entry["process_stats"] = {"process_count": 1}
    return entry


def summary(node: str, t: float, pods: list[PodSpec], *, full: bool = True,
            capacity: int = 16 * GIB, system_mib: float = 2048.0) -> dict[str, Any]:
    """A Summary as the kubelet returns it (``full=False``: ``?only_cpu_and_memory=true``)."""
    used = int(system_mib * MIB) + sum(int((p.workload_mib + p.overhead_mib) * MIB) for p in pods
                                       if p.kind in ("runc", "kata"))
    ws = min(used, capacity - 64 * MIB)
    sys_containers = [
        {"name": name, "startTime": rfc3339(t - 86400),
         "cpu": cpu(t - 1, 0.05, 6000.0), "memory": memory(t - 1, 190 * MIB, 140 * MIB, 96 * MIB)}
        for name in ("kubelet", "runtime", "pods")
    ]
    n: dict[str, Any] = {
        "nodeName": node, "systemContainers": sys_containers, "startTime": rfc3339(t - 86400),
        "cpu": cpu(t, 1.234, 98765.0),
        "memory": memory(t, ws + ws // 3, ws, ws * 9 // 10, available=capacity - ws),
    }
    if full:
        n["network"] = network(t, "ens3")
        n["fs"] = fs(t, 32212254720)
        n["runtime"] = {"imageFs": fs(t, 12884901888)}
        n["rlimit"] = {"time": rfc3339(t), "maxpid": 4194304, "curproc": 1893}
    return {"node": n, "pods": [pod_entry(p, t, full=full) for p in pods]}


def workload_pods(count: int, *, kata_every: int = 0, prefix: str = "scaler-workload-7d9f8b6c5"
                  ) -> list[PodSpec]:
    """``count`` workload pods named as a Deployment names them; every ``kata_every``-th is kata."""
    rng = random.Random(count)  # figures vary as real ones do (it matters for the gzip size)
    out = []
    for i in range(count):
        kata = kata_every and i % kata_every == 0
        out.append(PodSpec(name=f"{prefix}-{rng.getrandbits(20):05x}",
                           uid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                           kind="kata" if kata else "runc",
                           workload_mib=rng.uniform(120.0, 500.0),
                           overhead_mib=rng.uniform(400.0, 520.0) if kata else rng.uniform(4, 12),
                           cores=rng.uniform(0.045, 0.055), lag_s=float(rng.randrange(15))))
    return out


def as_kubelet_json(doc: dict[str, Any]) -> bytes:
    """As the kubelet writes it (go-restful: indented with one space)."""
    return json.dumps(doc, indent=1).encode()


def node_object(name: str, cpus: int = 8, memory_kib: int = 16 * 1024 * 1024) -> dict[str, Any]:
    return {"kind": "Node", "apiVersion": "v1",
            "metadata": {"name": name, "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, name))},
            "status": {"capacity": {"cpu": str(cpus), "memory": f"{memory_kib}Ki", "pods": "250"},
                       "allocatable": {"cpu": f"{cpus * 1000 - 500}m", "pods": "250",
                                       "memory": f"{memory_kib - 1024 * 1024}Ki"}}}


# -- a Kubernetes API on loopback, serving summaries per node ------------------------------------


@dataclass
class FakeNode:
    """How one node answers. ``fail`` > 0: the next that many summary requests get a 503;
    ``hang``: summary requests never get an answer (until the server stops); ``forbid``: 403 as
    for a user without ``nodes/proxy``; ``advance``: the stats time is the local clock in whole
    seconds, as metav1.Time writes it (else it stays at the first answer's, as a kubelet's cache
    does between refreshes). ``max_inflight``: the most summary requests for
    this node ever open at once."""

    name: str
    pods: list[PodSpec]
    t: float | None = None  # the stats time of the last answer
    fail: int = 0
    hang: bool = False
    forbid: bool = False
    raw: bytes | None = None  # answer 200 with this body instead of a Summary
    advance: bool = True
    served: int = 0
    failed: int = 0
    inflight: int = 0
    max_inflight: int = 0


class FakeApi:
    """An aiohttp app on 127.0.0.1 in its own thread: ``/api/v1/nodes/{node}`` and
    ``/api/v1/nodes/{node}/proxy/stats/summary``; every request is recorded."""

    def __init__(self, nodes: list[FakeNode]) -> None:
        self.nodes = {n.name: n for n in nodes}
        self.requests: list[tuple[str, str, str]] = []  # (method, path, query)
        self._cache: dict[tuple[str, float, bool], bytes] = {}
        self.lock = threading.Lock()
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._closing: asyncio.Event | None = None

    def count(self, pred: Callable[[tuple[str, str, str]], bool]) -> int:
        with self.lock:
            return sum(1 for r in self.requests if pred(r))

    async def _node(self, request: web.Request) -> web.Response:
        node = self.nodes.get(request.match_info["node"])
        if node is None:
            return web.json_response({"kind": "Status", "message": "nodes not found",
                                      "reason": "NotFound", "code": 404}, status=404)
        return web.json_response(node_object(node.name))

    async def _summary(self, request: web.Request) -> web.Response:
        node = self.nodes.get(request.match_info["node"])
        if node is None:
            return web.json_response({"kind": "Status", "message": "nodes not found",
                                      "reason": "NotFound", "code": 404}, status=404)
        with self.lock:
            node.inflight += 1
            node.max_inflight = max(node.max_inflight, node.inflight)
        try:
            return await self._answer(request, node)
        finally:
            with self.lock:
                node.inflight -= 1

    async def _answer(self, request: web.Request, node: FakeNode) -> web.Response:
        with self.lock:
            hang, failing = node.hang, node.fail > 0
            if failing:
                node.fail -= 1
                node.failed += 1
        if hang:
            assert self._closing is not None
            await self._closing.wait()
            raise web.HTTPServiceUnavailable()
        if node.forbid:
            return web.json_response(
                {"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403,
                 "message": f'nodes "{node.name}" is forbidden: User "dev" cannot get resource '
                            '"nodes/proxy" in API group "" at the cluster scope'}, status=403)
        if node.raw is not None:
            return web.Response(body=node.raw, content_type="text/html")
        if failing:
            return web.json_response({"kind": "Status", "status": "Failure", "code": 503,
                                      "message": "error trying to reach service: dial tcp "
                                                 "10.0.0.11:10250: connect: connection refused",
                                      "reason": "ServiceUnavailable"}, status=503)
        with self.lock:
            node.served += 1
            if node.advance or node.t is None:
                node.t = float(int(time.time()))
            t = node.t
        full = request.query.get("only_cpu_and_memory") != "true"
        key = (node.name, t, full)
        body = self._cache.get(key)
        if body is None:  # one rendering per node, stats time and form, as a kubelet's cache
            body = self._cache[key] = as_kubelet_json(summary(node.name, t, node.pods, full=full))
            for old in [k for k in self._cache if k[0] == node.name and k[1] < t]:
                del self._cache[old]
        return web.Response(body=body, content_type="application/json")

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        with self.lock:
            self.requests.append((request.method, request.path, request.query_string))
        if request.method != "GET":
            return web.json_response({"message": "read-only test server"}, status=405)
        resp: web.StreamResponse = await handler(request)
        return resp

    def start(self) -> FakeApi:
        self._thread = threading.Thread(target=self._main, name="fake-api", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("fake API server did not start")
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.run_until_complete(self._serve())
        loop.close()

    async def _serve(self) -> None:
        self._closing = asyncio.Event()
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/api/v1/nodes/{node}", self._node)
        app.router.add_get("/api/v1/nodes/{node}/proxy/stats/summary", self._summary)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._started.set()
        await self._closing.wait()
        await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._closing is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._closing.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_kubeconfig(path: Any, server_url: str, context: str = "fake") -> None:
    """A minimal kubeconfig pointing kubectl at ``server_url`` (plain HTTP, no credentials)."""
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {context}\n  cluster:\n    server: {server_url}\n"
        f"users:\n- name: {context}\n  user: {{}}\n"
        f"contexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: {context}\n"
        f"current-context: {context}\n")


def serve(nodes: int, pods: int) -> None:
    """Serve ``nodes`` nodes of ``pods`` pods each (a fifth of them kata) on loopback: print the
    URL, run until stdin closes (for benchmarks, in a process of its own)."""
    import sys

    api = FakeApi([FakeNode(f"worker-{i}", workload_pods(pods, kata_every=5))
                   for i in range(nodes)]).start()
    print(api.url, flush=True)
    sys.stdin.read()
    api.stop()


def main() -> None:
    """Print the payload sizes at 250 pods (full and CPU-and-memory-only; raw and gzipped) and
    the parse time of one CPU-and-memory payload."""
    from collectors.kubelet_summary import parse_summary

    pods = workload_pods(250, kata_every=5)
    t = time.time()
    for full in (True, False):
        body = as_kubelet_json(summary("worker-0", t, pods, full=full))
        compact = json.dumps(summary("worker-0", t, pods, full=full), separators=(",", ":"))
        print(f"250 pods, {'full' if full else 'only_cpu_and_memory'}: {len(body):,} bytes "
              f"as the kubelet indents it, {len(compact):,} compact, "
              f"{len(gzip.compress(body)):,} gzipped")
    body = as_kubelet_json(summary("worker-0", t, pods, full=False))
    runs = 50
    t0 = time.process_time()
    for _ in range(runs):
        parse_summary(body, node="worker-0")
    print(f"parse: {1000 * (time.process_time() - t0) / runs:.1f} ms CPU per payload "
          f"(noisy on a shared machine)")


if __name__ == "__main__":
    main()


# -- waiting on and collecting from a running source (tests of the kubelet source) ---------------

DEADLINE_S = 60.0
GAP = NodeSample.gap("none", 0.0)


def wait_until(pred: Callable[[], object], what: str, deadline_s: float = DEADLINE_S) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Collected:
    """Everything drained from a source, kept in arrival order."""

    def __init__(self, src: KubeletSource) -> None:
        self.src = src
        self.samples: list[NodeSample] = []
        self.pods: list[PodMemory] = []

    def pull(self) -> Collected:
        self.samples += self.src.drain()
        self.pods += self.src.drain_pods()
        return self

    def of(self, node: str) -> list[NodeSample]:
        return [s for s in self.samples if s.node == node]


def assert_gap(s: NodeSample) -> None:
    assert s.status == "reconnecting" and not s.ok
    assert s.mem_total_mib is s.mem_free_mib is s.mem_available_mib is s.mem_active_mib is None
