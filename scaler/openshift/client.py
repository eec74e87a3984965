"""Calls to the cluster through its client binary (oc or kubectl), with retries and accounting.

Two ways to run the binary, for two needs:

* ``invoke``: through openshift-client (apply, get, delete: the set-up and tear-down). Its
  context blocks are thread-local, so they are entered here, around each call, in the calling
  thread.
* ``timed``: a plain subprocess timed with a monotonic clock, for the operations whose duration
  is a measurement (``scale``). openshift-client notices the end of a call by polling with
  doubling sleeps (10 ms up to 1 s), which would add up to a second to every measured duration.

Both classify failures (errors.classify), retry transient ones with capped exponential
back-off until ``op_timeout`` and count them; fatal ones raise ClusterError with one line.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scaler.cluster import ClusterError, ClusterUnresponsive
from scaler.openshift.errors import (
    FATAL,
    FORBIDDEN,
    NOT_FOUND,
    UNREACHABLE,
    Failure,
    classify,
)

BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 2.0


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    seconds: float  # true duration of the call (monotonic clock around the process)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass
class Counters:
    """Thread-safe counters for the run's metadata."""

    requests: dict[str, Any] = field(default_factory=dict)  # purpose -> client calls (or API requests)
    bytes: dict[str, Any] = field(default_factory=dict)  # purpose -> response bytes read
    retries: int = 0
    api_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, purpose: str, requests: int = 1, nbytes: int = 0) -> None:
        with self.lock:
            self.requests[purpose] = self.requests.get(purpose, 0) + requests
            self.bytes[purpose] = self.bytes.get(purpose, 0) + nbytes

    def error(self, retried: bool = True) -> None:
        with self.lock:
            self.api_errors += 1
            self.retries += int(retried)


def kubeconfig_server(kubeconfig: str | None, context: str | None) -> str | None:
    """The server URL of the context kubectl would use: a local read of the kubeconfig (the
    files of $KUBECONFIG merged, first one wins, as kubectl does), never a request. For error
    lines only: best effort, None when unsure."""
    import yaml

    paths = [kubeconfig] if kubeconfig else [
        p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p] or [
        os.path.join(os.path.expanduser("~"), ".kube", "config")]
    docs = []
    for p in paths:
        try:
            with open(p) as f:
                doc = yaml.safe_load(f)
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(doc, dict):
            docs.append(doc)

    def first(key: str, name: str | None) -> dict[str, Any]:
        for d in docs:
            for entry in d.get(key) or []:
                if isinstance(entry, dict) and entry.get("name") == name:
                    return entry.get(key[:-1]) or {}
        return {}

    ctx_name = context or next((d.get("current-context") for d in docs
                                if d.get("current-context")), None)
    server = first("clusters", first("contexts", ctx_name).get("cluster")).get("server")
    return server if isinstance(server, str) else None


def fatal_hint(message: str) -> str:
    """What to check after a refusal that asking again will not cure (appended to its line)."""
    if "Unauthorized" in message or "must be logged in" in message:
        return "; check your credentials: log in again (oc login) or fix the kubeconfig's user"
    return ""


class KubeClient:
    def __init__(self, binary: str, *, kubeconfig: str | None, context: str | None,
                 op_timeout_s: float, sleep: Callable[[float], None] = time.sleep,
                 namespace: str | None = None) -> None:
        self.binary = binary
        self.namespace = namespace  # only for the hints in error lines
        self.kubeconfig = kubeconfig
        self.context = context
        self.op_timeout_s = op_timeout_s
        self.counters = Counters()
        self._sleep = sleep
        self.contacted = False  # once the API server has answered, "unreachable" is transient
        self._server: str | None = None

    def global_args(self) -> list[str]:
        args = []
        if self.kubeconfig:
            args.append(f"--kubeconfig={self.kubeconfig}")
        if self.context:
            args.append(f"--context={self.context}")
        return args

    def argv(self, args: list[str]) -> list[str]:
        return [self.binary, *self.global_args(), *args]

    def namespace_args(self) -> list[str]:
        return ["-n", self.namespace] if self.namespace else []

    def command(self, args: list[str]) -> str:
        """A command line the user can paste, with the run's kubeconfig and context."""
        return " ".join(shlex.quote(a) for a in
                        [self.binary.rsplit("/", 1)[-1], *self.global_args(), *args])

    def server(self) -> str:
        """The API server's URL as the kubeconfig names it ("?" when it cannot be read)."""
        if self._server is None:
            self._server = kubeconfig_server(self.kubeconfig, self.context) or "?"
        return self._server

    def check_server_hint(self) -> str:
        """What to check when the cluster does not answer: one clause for an error line."""
        where = self.server()
        where = f"the API server {where}" if where != "?" else "the API server"
        return f"check that {where} is up: {self.command(['get', '--raw', '/readyz'])}"

    def unresponsive(self, what: str) -> ClusterUnresponsive:
        return ClusterUnresponsive(f"{what}; {self.check_server_hint()}")

    # -- one call --------------------------------------------------------------------------------

    def _run_subprocess(self, args: list[str], timeout_s: float, stdin: str | None) -> Outcome:
        argv = self.argv(args)
        t0 = time.monotonic()
        try:
            proc = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                                  timeout=timeout_s)
        except FileNotFoundError:
            raise ClusterError(f"client binary {self.binary} not found") from None
        except PermissionError:
            raise ClusterError(f"client binary {self.binary} is not executable") from None
        except subprocess.TimeoutExpired:
            took = time.monotonic() - t0
            return Outcome(-9, "", f"timed out after {took:.1f} s", took)
        return Outcome(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)

    def _run_openshift_client(self, args: list[str], timeout_s: float, stdin: str | None) -> Outcome:
        import openshift_client as oc  # type: ignore[import-untyped]  # no stubs, no py.typed

        t0 = time.monotonic()
        try:
            with oc.client_path(self.binary), oc.api_server(kubeconfig_path=self.kubeconfig), \
                    oc.timeout(timeout_s), oc.no_tracking():
                ctx = [f"--context={self.context}"] if self.context else []
                result = oc.invoke(args[0], cmd_args=[*ctx, *args[1:]], stdin_str=stdin,
                                   no_namespace=True, auto_raise=False)
        except FileNotFoundError:
            raise ClusterError(f"client binary {self.binary} not found") from None
        except PermissionError:
            raise ClusterError(f"client binary {self.binary} is not executable") from None
        took = time.monotonic() - t0
        status, err = result.status(), result.err()
        if any(a.timeout for a in result.actions()):
            status, err = -9, f"timed out after {took:.1f} s"
        return Outcome(status, result.out(), err, took)

    # -- with retries -----------------------------------------------------------------------------

    def call(self, args: list[str], *, purpose: str, stdin: str | None = None, timed: bool = False,
             accept: tuple[str, ...] = ()) -> tuple[Outcome, Failure | None]:
        """Run until success, an accepted failure kind (e.g. NOT_FOUND), or a fatal error.

        Transient failures are retried with back-off and counted; past ``op_timeout`` the
        operation raises ClusterUnresponsive.
        """
        start = time.monotonic()
        delay = BACKOFF_FIRST_S
        while True:
            remaining = self.op_timeout_s - (time.monotonic() - start)
            if remaining <= 0:
                raise self.unresponsive(
                    f"{purpose}: no answer from the cluster within {self.op_timeout_s:g} s "
                    f"(--op-timeout)")
            run = self._run_subprocess if timed else self._run_openshift_client
            out = run(args, remaining, stdin)
            self.counters.add(purpose, 1, len(out.stdout))
            if out.ok:
                self.contacted = True
                return out, None
            failure = classify(out.returncode, out.stderr)
            if failure.kind in accept:
                self.contacted = True
                return out, failure
            if out.returncode == -9 and out.stderr.startswith("timed out after"):
                raise self.unresponsive(
                    f"{purpose}: {self.binary.rsplit('/', 1)[-1]} did not finish within "
                    f"{self.op_timeout_s:g} s (--op-timeout)")
            if failure.kind == FATAL:
                raise ClusterError(f"{purpose}: {failure.message}{fatal_hint(failure.message)}")
            if failure.kind == FORBIDDEN:
                raise ClusterError(
                    f"{purpose}: {failure.message}; check what you may do: "
                    f"{self.command(['auth', 'can-i', '--list', *self.namespace_args()])}")
            if failure.kind == UNREACHABLE and not self.contacted:
                raise ClusterError(f"cannot reach the API server: {failure.message}; "
                                   f"{self.check_server_hint()}")
            if failure.kind == NOT_FOUND:
                raise ClusterError(f"{purpose}: {failure.message}")
            # TRANSIENT, STALE_VERSION, EXISTS (a race with another writer) or UNREACHABLE
            # mid-run: try again
            self.counters.error(retried=True)
            wait = min(delay, max(0.0, self.op_timeout_s - (time.monotonic() - start)))
            self._sleep(wait)
            delay = min(delay * 2, BACKOFF_MAX_S)

    def get_json(self, args: list[str], *, purpose: str, accept_missing: bool = False) -> dict[str, Any] | None:
        """``get`` as JSON (``get --raw`` prints JSON already); None when missing and accepted."""
        if "--raw" not in args:
            args = [*args, "-o", "json"]
        out, failure = self.call(args, purpose=purpose, accept=(NOT_FOUND,) if accept_missing else ())
        if failure is not None:
            return None
        try:
            doc: dict[str, Any] = json.loads(out.stdout)
            return doc
        except ValueError:
            raise ClusterError(f"{purpose}: the client printed something that is not JSON") from None

