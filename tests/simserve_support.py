"""Helpers for the tests that drive ``scaler sim serve`` with the real kubectl: start a server in
a subprocess, wait until it is ready, run kubectl against it, stop it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")


def child_env(home: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["HOME"] = str(home)  # kubectl's discovery cache, per test session
    env.pop("KUBECONFIG", None)
    return env


@dataclass
class SimServer:
    proc: subprocess.Popen
    workdir: Path
    kubeconfig: Path
    url: str
    env: dict
    output: list[str] = field(default_factory=list)

    def kubectl(self, *args: str, check: bool = True, timeout: float = 30, input: str | None = None):
        proc = subprocess.run([KUBECTL, f"--kubeconfig={self.kubeconfig}", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def kubectl_json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def ssl_context(self):
        """None for a plain-HTTP front; else one trusting the front's certificate (``--users``
        makes it serve HTTPS), read from the kubeconfig."""
        if not self.url.startswith("https:"):
            return None
        import base64
        import ssl

        import yaml

        doc = yaml.safe_load(self.kubeconfig.read_text())
        ca = base64.b64decode(doc["clusters"][0]["cluster"]["certificate-authority-data"])
        return ssl.create_default_context(cadata=ca.decode())

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/simserve/stats", timeout=5,
                                    context=self.ssl_context()) as r:
            return json.load(r)

    def wait_for(self, predicate, timeout: float = 30, interval: float = 0.2, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise AssertionError(f"timed out waiting for {what}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_server(workdir: Path, *args: str, timeout: float = 30) -> SimServer:
    workdir.mkdir(parents=True, exist_ok=True)
    env = child_env(workdir / "home")
    kubeconfig = workdir / "kubeconfig"
    cmd = [sys.executable, "-c", "from scaler.cli_sim import sim; sim()", "serve",
           "--workdir", str(workdir), "--kubeconfig", str(kubeconfig), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=REPO)
    lines: list[str] = []
    ready = threading.Event()

    def pump():
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("ready"):
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(timeout) or proc.poll() is not None:
        proc.kill()
        raise AssertionError("sim serve did not start:\n" + "\n".join(lines))
    url = next(line.split()[2] for line in lines if "Kubernetes API:" in line)
    return SimServer(proc, workdir, kubeconfig, url, env, lines)


def kube_client(kubeconfig: Path):
    """The official Kubernetes Python client, configured from ``kubeconfig``."""
    from kubernetes import config

    return config.new_client_from_config(config_file=str(kubeconfig))


def workload_deployment(name: str, namespace: str, *, replicas: int = 1,
                        runtime_class: str | None = None) -> dict:
    labels = {"app": name}
    spec: dict = {"containers": [{"name": "workload", "image": "quay.io/example/w:1",
                                  "env": [{"name": "MEMORY", "value": "100"}]}]}
    if runtime_class:
        spec["runtimeClassName"] = runtime_class
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": spec}}}
