"""What a workload prints, as ``kubectl logs`` shows it, and the CPU each Deployment's workload
asks for: the part of SimState read from the Deployments' templates and the model's pods (its
work from the model's CPU account, as the kubelet Summary's CPU and the nodes' /proc/stat)."""

from __future__ import annotations

from typing import Any

from scaler.kube_objects import ManifestError, workload_spec_from_deployment
from scaler.simserve import render
from scaler.simserve.status import ApiError

LOG_LINES = 600  # seconds of a workload's stdout kept for `kubectl logs`


class WorkloadOutput:
    """Mixed into SimState, whose attributes it uses (model, store, _cpu_cache)."""

    model: Any
    store: Any
    _cpu_cache: dict[str, tuple]

    def now_epoch(self) -> float:
        raise NotImplementedError

    def cpu_percents(self) -> dict[str, float]:
        """Each Deployment's workload CPU percent (of one CPU), by "namespace/name"."""
        out = {}
        for dep in self.store.items("deployments"):
            key = f"{dep['metadata']['namespace']}/{dep['metadata']['name']}"
            rv = dep["metadata"].get("resourceVersion")
            cached = self._cpu_cache.get(key)
            if cached is None or cached[0] != rv:
                try:
                    cpu = float(workload_spec_from_deployment({"spec": dep["spec"]}).cpu_percent)
                except (ManifestError, KeyError, TypeError, ValueError, IndexError):
                    cpu = 0.0
                cached = self._cpu_cache[key] = (rv, cpu)
            out[key] = cached[1]
        return out

    def pod_log(self, namespace: str, name: str, tail: int | None = None) -> str:
        """The workload's stdout as ``kubectl logs`` shows it: one report line a second since
        its container started (workload/report.py's format), from the model's figures now
        (the model keeps no history: every line carries the current memory; at most the last
        ``LOG_LINES`` seconds)."""
        if self.store.get("pods", namespace, name) is None:
            raise ApiError(404, "NotFound", f'pods "{name}" not found')
        view = next((v for v in self.model.pods() if v.name == name), None)
        if view is None or render._f(view, "container_state") != "running":
            raise ApiError(400, "BadRequest", f'container "workload" in pod "{name}" is '
                           "waiting to start: ContainerCreating")
        started = render._f(view, "started", "started_at") or render._f(view, "created")
        elapsed = int(max(0.0, self.now_epoch() - float(started)))
        key = str(render._f(view, "deployment", default=""))
        cpu = self.cpu_percents().get(key, 0.0)
        rss = float(render._f(view, "memory_mib", default=0.0))
        # the work the model credits the pod with (scaler.sim.cpu), as its report file says
        measured = next((p for p in self.model.node_pods(view.node) if p.uid == view.uid), None)
        pages = int(round(measured.work_rate or 0.0)) if measured is not None else 0
        first = max(1, elapsed - LOG_LINES + 1)
        if tail is not None:
            first = max(first, elapsed - tail + 1)
        lines = [f"workload report t={k}.0s work={pages}pages/s cpu={cpu:.1f}% avg={cpu:.1f}% "
                 f"rss={rss:.1f}MiB data={max(0.0, rss - 8):.1f}MiB loops={k} "
                 f"increment=256MiB failures=0 pages={pages * k}"
                 for k in range(first, elapsed + 1)]
        return "".join(line + "\n" for line in lines)
