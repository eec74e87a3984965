"""Keep the pod table current from a watch stream, so observing costs the same at 10 or 10,000 pods.

A background thread lists the run's pods once (paged), then follows
``GET .../pods?watch=1&resourceVersion=RV`` through the client binary (``get --raw`` streams the
response as it arrives, and the client handles authentication however the kubeconfig says).
When the stream ends it resumes from the last resourceVersion seen (bookmarks keep it fresh);
only when the server says that version is gone (410) does it list again.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.parse

from scaler.openshift.client import KubeClient
from scaler.openshift.errors import FATAL, classify
from scaler.openshift.podtable import PodTable

LIST_PAGE = 500
WATCH_TIMEOUT_S = 300


class ResyncNeeded(Exception):
    pass


class PodWatcher:
    def __init__(self, client: KubeClient, namespace: str, selector: str, *,
                 page: int = LIST_PAGE, watch_timeout_s: int = WATCH_TIMEOUT_S) -> None:
        self.client = client
        self.namespace = namespace
        self.selector = selector
        self.page = page
        self.watch_timeout_s = watch_timeout_s
        self.table = PodTable()
        self.lock = threading.Lock()
        self.rv: str | None = None
        self.fatal: str | None = None
        self.failing_since: float | None = None  # monotonic time the stream started failing
        self.lists = 0
        self.watches = 0
        self.events = 0
        self.resyncs = 0  # lists forced by 410 Gone (the watch fell behind the server's log)
        self._stop = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._run, name="scaler-pod-watch", daemon=True)
        self.synced = threading.Event()

    # -- control ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
        self._thread.join(timeout=5)
        if proc is not None and proc.poll() is None:
            proc.kill()

    # -- the loop --------------------------------------------------------------------------------

    def _path(self, **params) -> str:
        q = {"labelSelector": self.selector, **{k: v for k, v in params.items() if v is not None}}
        return f"/api/v1/namespaces/{self.namespace}/pods?" + urllib.parse.urlencode(q)

    def _run(self) -> None:
        delay = 0.1
        need_list = self.rv is None
        while not self._stop.is_set():
            try:
                if need_list:
                    self._list()
                    need_list = False
                    self.synced.set()
                clean = self._watch()
                if clean:
                    delay = 0.1
                    continue
            except ResyncNeeded:
                need_list = True
                self.resyncs += 1
                continue
            except _Fatal as e:
                self.fatal = str(e)
                return
            except _Transient:
                pass
            # a failed request: count it, back off, try again
            self.client.counters.error(retried=True)
            if self.failing_since is None:
                self.failing_since = time.monotonic()
            self._stop.wait(delay)
            delay = min(delay * 2, 2.0)

    def _list(self) -> None:
        items: list[dict] = []
        token = None
        rv = None
        while True:
            args = ["get", "--raw", self._path(limit=self.page, **{"continue": token})]
            out = self.client._run_subprocess(args, self.client.op_timeout_s, None)
            self.client.counters.add("observe", 1, len(out.stdout))
            if not out.ok:
                self._failed(out.returncode, out.stderr)
            try:
                doc = json.loads(out.stdout)
            except ValueError:
                raise _Transient("list answer is not JSON") from None
            items.extend(doc.get("items") or [])
            meta = doc.get("metadata") or {}
            rv = rv or meta.get("resourceVersion")
            token = meta.get("continue")
            if not token:
                break
        with self.lock:
            self.table.replace(items)
            self.rv = rv
        self.lists += 1
        self.failing_since = None

    def _watch(self) -> bool:
        """Follow the stream until it ends; True when it ended normally (timeout)."""
        args = self.client.argv(["get", "--raw", self._path(
            watch=1, resourceVersion=self.rv, allowWatchBookmarks="true",
            timeoutSeconds=self.watch_timeout_s)])
        try:
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)  # a terminal's Ctrl-C is the engine's
        except OSError as e:
            raise _Fatal(f"cannot run {self.client.binary}: {e}") from None
        self._proc = proc
        self.watches += 1
        self.client.counters.add("observe", 1, 0)
        got_any = False
        counters = self.client.counters
        fd = proc.stdout.fileno()
        pending = b""
        try:
            while True:
                chunk = os.read(fd, 1 << 20)  # whatever has arrived, at least one byte
                if not chunk:
                    break
                counters.add("observe", 0, len(chunk))  # as it arrives: a stream may last hours
                *lines, pending = (pending + chunk).split(b"\n")
                events = []
                for line in lines:
                    if not line.strip():
                        continue
                    try:
                        events.append(json.loads(line))
                    except ValueError:
                        continue
                if not events:
                    continue
                got_any = True
                self.failing_since = None
                self._apply(events, proc)
        finally:
            rc = proc.wait()
            stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            proc.stdout.close()
            if proc.stderr:
                proc.stderr.close()
            self._proc = None
        if self._stop.is_set():
            return True
        if rc != 0:
            self._failed(rc, stderr)
        return got_any or rc == 0

    def _apply(self, events: list[dict], proc: subprocess.Popen) -> None:
        """Apply what arrived together in one go, so an observation never sees half of a
        batch the server sent at once."""
        with self.lock:
            for ev in events:
                kind, obj = ev.get("type"), ev.get("object") or {}
                if kind == "ERROR":
                    proc.terminate()
                    if obj.get("code") == 410:
                        raise ResyncNeeded()
                    raise _Transient(obj.get("message") or "watch error")
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    self.table.apply(kind, obj)
                    self.events += 1
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                if rv:
                    self.rv = rv

    def _failed(self, returncode: int, stderr: str) -> None:
        failure = classify(returncode, stderr)
        if failure.kind == FATAL:
            raise _Fatal(f"watching pods: {failure.message}")
        if "Expired" in stderr or "(Gone)" in stderr or "too old resource version" in stderr:
            raise ResyncNeeded()
        raise _Transient(failure.message)

    # -- reads -----------------------------------------------------------------------------------

    def counts(self, api_errors: int):
        with self.lock:
            return self.table.counts(api_errors)

    def lifecycles(self) -> list:
        """Every pod's lifecycle record now (scaler.pod_lifecycle.lifecycle_of)."""
        with self.lock:
            return list(self.table.lifecycles.values())


class _Fatal(Exception):
    pass


class _Transient(Exception):
    pass
