"""A local ``kubectl proxy`` (or ``oc proxy``) for the run: the API server on loopback, with the
user's own authentication, for the kubelet stats source (``collectors.kubelet_source``).

Why a proxy: it authenticates with whatever the kubeconfig holds (tokens, client certificates,
exec plugins such as ``oc login``'s) without scaler reimplementing any of it, and it is one
long-lived process for the whole run instead of a client process per request.

It is started read-only and narrow: it listens on 127.0.0.1 only, on a port the system picks
(``--port=0``; the address is read from the line it prints), answers only GET on a Node object
and on the node proxy's ``stats/summary`` (``--accept-paths``, ``--reject-methods``), so another
local user who finds the port can read node statistics and nothing else, and never write.
It runs in its own session so the terminal's Ctrl-C does not end it before the run has taken
its last samples; it is stopped on every exit path of the context manager, and where
util-linux ``setpriv`` exists it also gets SIGTERM if scaler dies without cleaning up (the
parent-death signal follows the thread that started it: start it from the main thread).

Errors are ``scaler.cluster.ClusterError`` with one line (the CLI prints it and exits 2).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Mapping

from scaler.cluster import ClusterError
from scaler.openshift.errors import first_line
from scaler.openshift.options import OpenShiftOptions, resolve_binary

READY = re.compile(r"Starting to serve on (\S+)")
# The only requests the proxy lets through: a Node object and its kubelet's stats summary.
ACCEPT_PATHS = r"^/api/v1/nodes/[^/]+(/proxy/stats/summary)?$"
REJECT_METHODS = r"^(POST|PUT|PATCH|DELETE|CONNECT|OPTIONS|TRACE)$"
START_TIMEOUT_S = 30.0


def proxy_argv(binary: str, *, kubeconfig: str | None, context: str | None,
               pdeathsig: bool = True) -> list[str]:
    """The command line: ``[setpriv --pdeathsig TERM --] kubectl [--kubeconfig] [--context]
    proxy ...`` (``setpriv`` only where it exists)."""
    argv = [binary]
    if kubeconfig:
        argv.append(f"--kubeconfig={kubeconfig}")
    if context:
        argv.append(f"--context={context}")
    argv += ["proxy", "--port=0", "--address=127.0.0.1",
             r"--accept-hosts=^(localhost|127\.0\.0\.1)$", f"--accept-paths={ACCEPT_PATHS}",
             f"--reject-methods={REJECT_METHODS}"]
    setpriv = shutil.which("setpriv") if pdeathsig else None
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else argv


class KubectlProxy:
    """``with KubectlProxy(binary, kubeconfig=..., context=...) as url:`` gives the proxy's base
    URL (``http://127.0.0.1:<port>``) and stops the process on the way out, whatever the way."""

    def __init__(self, binary: str, *, kubeconfig: str | None = None, context: str | None = None,
                 start_timeout_s: float = START_TIMEOUT_S, env: Mapping[str, str] | None = None
                 ) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.context = context
        self.start_timeout_s = start_timeout_s
        self.env = None if env is None else dict(env)
        self.url: str | None = None
        self.proc: subprocess.Popen[str] | None = None
        self._lines: deque[str] = deque(maxlen=50)  # the proxy's last output, for error messages
        self._address: str | None = None
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    @classmethod
    def for_cluster(cls, options: OpenShiftOptions, *, start_timeout_s: float = START_TIMEOUT_S,
                    env: Mapping[str, str] | None = None) -> KubectlProxy:
        """The proxy for a run's cluster: its client binary (oc if on PATH, else kubectl, or
        --client-binary), --kubeconfig and --context."""
        return cls(resolve_binary(options.client_binary), kubeconfig=options.kubeconfig,
                   context=options.context, start_timeout_s=start_timeout_s, env=env)

    @property
    def name(self) -> str:
        return f"{os.path.basename(self.binary)} proxy"

    @property
    def output(self) -> list[str]:
        return list(self._lines)

    def start(self) -> str:
        if self.proc is not None:
            raise RuntimeError("proxy already started")
        found = self.binary if os.sep in self.binary else shutil.which(self.binary)
        if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
            raise ClusterError(f"client binary {self.binary} not found or not executable")
        argv = proxy_argv(found, kubeconfig=self.kubeconfig, context=self.context)
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, errors="replace", start_new_session=True, env=self.env)
        except FileNotFoundError:
            raise ClusterError(f"client binary {self.binary} not found") from None
        except PermissionError:
            raise ClusterError(f"client binary {self.binary} is not executable") from None
        # Read its output for as long as it runs: the address line first, then whatever it logs
        # per failed request (an unread pipe would fill up and stall the proxy).
        self._reader = threading.Thread(target=self._read, args=(self.proc,),
                                        name="scaler-kubectl-proxy", daemon=True)
        self._reader.start()
        if not self._ready.wait(self.start_timeout_s):
            self.stop()
            raise ClusterError(f"{self.name} did not start within {self.start_timeout_s:g} s")
        if self._address is None:
            code = self.proc.wait()
            self.stop()
            why = first_line("\n".join(self._lines)) or f"exited with status {code}"
            raise ClusterError(f"cannot start {self.name}: {why}")
        host, _, port = self._address.rpartition(":")
        host = host.strip("[]")
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback or not port.isdigit():
            self.stop()
            raise ClusterError(f"{self.name} serves on {self._address}, not on loopback")
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        return self.url

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                line = line.rstrip("\n")
                self._lines.append(line)
                if self._address is None:
                    m = READY.search(line)
                    if m:
                        self._address = m.group(1)
                        self._ready.set()
        except (OSError, ValueError):  # the pipe closed under us while stopping
            pass
        finally:
            self._ready.set()  # ended before printing an address: start() reports it

    def stop(self, timeout_s: float = 1.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``; safe to call twice or before start."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(timeout_s)
        if proc.stdout is not None:
            proc.stdout.close()
        self.url = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
