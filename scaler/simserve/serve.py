"""Run the front: the model in real time, the HTTP server, optional SSH nodes, clean shutdown."""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from aiohttp import web

from scaler.kube_objects import load_templates
from scaler.signals import caught
from scaler.simserve.app import Api, Faults
from scaler.simserve.kubeconfig import CONTEXT, write_kubeconfig
from scaler.simserve.persist import FrontPorts, Persister, read_ports, write_ports
from scaler.simserve.state import SimState
from scaler.simserve.tls import make_serving_cert
from scaler.simserve.truth_memory import MemoryTruth
from scaler.simserve.users import Authenticator, User, write_kubeconfigs


@dataclass(frozen=True)
class ServeOptions:
    workdir: Path
    host: str = "127.0.0.1"
    port: int = 0
    speed: float = 1.0
    tick_s: float = 0.2
    error_rate: float = 0.0
    latency_s: float = 0.0
    fault_seed: int | None = None
    kubeconfig: Path | None = None
    truth: Path | None = None
    ssh: bool = True
    ssh_port: int = 0
    runtime_class: bool = True
    kubelet_stats: bool = True  # the node proxy serves each node's kubelet Summary API
    watch_timeout_s: float = 1800.0
    bookmark_interval_s: float = 10.0
    # Watch events kept (old object versions: ~2-3 kB each); older resourceVersions get 410
    # Gone, as from a real API server's bounded watch cache.
    event_log: int = 20_000
    # Keep ports, SSH keys and the cluster's state here across restarts (scaler.simserve.persist).
    state_dir: Path | None = None
    save_interval_s: float = 10.0
    users: list[User] | None = None  # None: no authentication, everyone is an admin


def default_runtime_classes(model) -> dict[str, dict]:
    """A "kata" RuntimeClass as a cluster with Kata installed has one: the shipped manifest, with
    the overhead the model's kata profile charges, so the scheduler and the objects agree."""
    rc = load_templates()["RuntimeClass/kata"]
    body = {k: v for k, v in rc.items() if k not in ("apiVersion", "kind", "metadata")}
    profile = getattr(model, "profile", None)
    runtimes = getattr(profile, "runtimes", None) or {}
    kata = runtimes.get("kata") if isinstance(runtimes, dict) else None
    overhead = getattr(kata, "overhead_mib", None)
    cpu = getattr(kata, "overhead_cpu_m", None)
    if overhead is not None:
        body["overhead"] = {"podFixed": {"memory": f"{int(overhead)}Mi",
                                         "cpu": f"{int(cpu if cpu is not None else 250)}m"}}
    return {"kata": body}


class Server:
    """The running front; ``start`` then ``run_until`` (or ``stop``)."""

    def __init__(self, model, options: ServeOptions, out: TextIO = sys.stdout) -> None:
        self.model = model
        self.options = options
        self.out = out
        self._truth_file = open(options.truth, "w") if options.truth else None  # noqa: SIM115
        self.state = SimState(model, speed=options.speed, truth_out=self._truth_file,
                              runtime_classes=default_runtime_classes(model) if options.runtime_class else None,
                              event_log=options.event_log)
        if options.truth:
            self.state.memory_truth = MemoryTruth(Path(options.truth))
        self.persister: Persister | None = None
        if options.state_dir is not None:
            self.persister = Persister(self.state, options.state_dir,
                                       save_interval_s=options.save_interval_s, out=out)
            self.persister.restore()
            self.model = self.state.model  # the restored model, when there was one
        self.api = Api(self.state, Faults(options.error_rate, options.latency_s, options.fault_seed),
                       watch_timeout=options.watch_timeout_s,
                       bookmark_interval=options.bookmark_interval_s,
                       auth=Authenticator(options.users), kubelet_stats=options.kubelet_stats)
        self.user_kubeconfigs: dict[str, Path] = {}
        # bearer tokens travel only over TLS (tls.py)
        self.cert = make_serving_cert(options.workdir / "tls", options.host) \
            if options.users else None
        self._runner: web.AppRunner | None = None
        self.ssh = None
        self.port = 0
        self.kubeconfig_path = options.kubeconfig or options.workdir / "kubeconfig"
        self.stopping = asyncio.Event()

    @property
    def url(self) -> str:
        scheme = "https" if self.cert is not None else "http"
        return f"{scheme}://{self.options.host}:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.api.app(), handle_signals=False, access_log=None,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        ports = read_ports(self.options.state_dir) if self.options.state_dir else None
        site = web.TCPSite(self._runner, self.options.host,
                           self.options.port or (ports.api if ports else 0),
                           ssl_context=self.cert.server_context() if self.cert else None)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.api.server_address = f"{self.options.host}:{self.port}"
        if self.options.users and self.cert is not None:
            self.user_kubeconfigs = write_kubeconfigs(self.options.users, self.kubeconfig_path,
                                                      self.url, self.cert.cert_pem)
        else:
            write_kubeconfig(self.kubeconfig_path, self.url)
        if self.options.ssh:
            try:
                from scaler.simserve.ssh_nodes import start_sim_ssh_nodes
            except ImportError:
                start_sim_ssh_nodes = None
            if start_sim_ssh_nodes is not None:
                state_dir = self.options.state_dir
                self.ssh = await start_sim_ssh_nodes(
                    self.model, dict(self.state.node_addresses),
                    port=self.options.ssh_port or (ports.ssh or 0 if ports else 0),
                    workdir=(state_dir or self.options.workdir) / "ssh",
                    keep_keys=state_dir is not None)
        if self.options.state_dir is not None:
            write_ports(self.options.state_dir,
                        FrontPorts(self.port, self.ssh.port if self.ssh is not None else None))
        self._print_usage()

    def _print_usage(self) -> None:
        kc = self.kubeconfig_path
        lines = [
            f"scaler sim serve: SIMULATED cluster ({len(self.state.node_addresses)} nodes, "
            f"speed x{self.options.speed:g}), not a real one",
            f"  Kubernetes API: {self.url} "
            + ("(HTTPS on loopback, bearer tokens, RBAC)" if self.options.users
               else "(plain HTTP on loopback, no authentication)"),
            f"  kubeconfig:     {kc} (context {CONTEXT})",
            f"  try:  kubectl --kubeconfig {kc} get nodes -o wide",
            f"        scaler run --cluster openshift --kubeconfig {kc} --runtime kata",
        ]
        if self.options.state_dir is not None:
            lines.append(f"  state:          {self.options.state_dir} (kept across restarts)")
        for user, path in self.user_kubeconfigs.items():
            if path != kc:
                lines.append(f"  user {user}: {path}")
        if self.options.error_rate or self.options.latency_s:
            lines.append(f"  faults: error rate {self.options.error_rate:g}, "
                         f"latency {self.options.latency_s:g} s per request")
        if self.ssh is not None:
            nodes = ", ".join(f"{n}={a}" for n, a in self.state.node_addresses.items())
            lines += [f"  SSH nodes on port {self.ssh.port}: {nodes}",
                      f"    ssh options: --ssh-port {self.ssh.port} --ssh-key {self.ssh.client_key_path}"
                      f" --ssh-known-hosts {self.ssh.known_hosts_path}"]
        lines.append("ready (Ctrl-C to stop)")
        print("\n".join(lines), file=self.out, flush=True)

    async def run(self) -> None:
        """Advance the model every tick until ``stop``."""
        while not self.stopping.is_set():
            self.state.sync()
            if self.persister is not None:
                self.persister.tick()
            try:
                await asyncio.wait_for(self.stopping.wait(), self.options.tick_s)
            except TimeoutError:
                pass
        await self.close()

    def stop(self) -> None:
        self.stopping.set()

    async def close(self) -> None:
        if self.persister is not None:
            self.state.sync()
            try:
                self.persister.save()  # SIGTERM/SIGINT: the latest state, not the last periodic one
            except OSError as e:
                print(f"scaler sim serve: the state was not saved at exit: {e.strerror or e}",
                      file=self.out, flush=True)
            self.persister = None
        self.api.closing.set()
        if self.ssh is not None:
            self.ssh.close()
            self.ssh = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._truth_file is not None:
            self._truth_file.close()
            self._truth_file = None
        if self.state.memory_truth is not None:
            self.state.memory_truth.close()
            self.state.memory_truth = None


async def serve(model, options: ServeOptions, out: TextIO = sys.stdout) -> None:
    server = Server(model, options, out)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        if caught(sig):  # one started ignoring Ctrl-C (a background job) keeps ignoring it
            loop.add_signal_handler(sig, server.stop)
    await server.start()
    await server.run()
    print("scaler sim serve: stopped", file=out, flush=True)
