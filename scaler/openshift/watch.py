"""Keep a table current from a watch stream, so observing costs the same at 10 or 150,000 pods.

A background thread lists the resource once, a page at a time (each page is handed to the sink,
which keeps only its small records, and dropped before the next is fetched), then follows
``GET ...?watch=1&resourceVersion=RV`` through the client binary (``get --raw`` streams the
response as it arrives, and the client handles authentication however the kubeconfig says).

When the stream ends it resumes from the last resourceVersion seen (bookmarks keep it fresh).
It lists again, as client-go's reflector does, when the server says that version is unusable:
410 Expired (the version left etcd's history) or 504 "Too large resource version" (the server
restarted from an older state), whether said as the request's status or as an ``ERROR`` event
in the stream; and after the API server could not be reached at all, since a server that comes
back may be a restarted one whose versions went backwards and that does not say so.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
import urllib.parse
from typing import Any, Protocol

from scaler.cluster import PodCounts
from scaler.openshift.client import KubeClient, fatal_hint
from scaler.openshift.errors import (
    FATAL,
    FORBIDDEN,
    NOT_FOUND,
    STALE_VERSION,
    UNREACHABLE,
    Failure,
    classify,
    status_kind,
)
from scaler.openshift.podtable import PodTable

LIST_PAGE = 500
WATCH_TIMEOUT_S = 300

log = logging.getLogger(__name__)


class Sink(Protocol):
    """What a watcher feeds (podtable.PodTable, events.EventTally). Called with the watcher's
    lock held, so readers holding the same lock never see half of a batch."""

    def begin_list(self) -> None: ...

    def list_page(self, items: list[dict[str, Any]]) -> None: ...

    def end_list(self) -> None: ...

    def apply(self, kind: str, obj: dict[str, Any]) -> None: ...


class Watcher:
    def __init__(self, client: KubeClient, path: str, sink: Sink, *, selector: str | None = None,
                 field_selector: str | None = None, page: int = LIST_PAGE,
                 watch_timeout_s: int = WATCH_TIMEOUT_S, purpose: str = "observe",
                 optional: bool = False) -> None:
        """``path``: the collection, e.g. ``/api/v1/namespaces/x/pods``. ``optional``: a
        resource the run can do without (events): what would stop the run instead marks it
        ``unavailable`` and ends the thread."""
        self.client = client
        self.path = path
        self.sink = sink
        self.selector = selector
        self.field_selector = field_selector
        self.page = page
        self.watch_timeout_s = watch_timeout_s
        self.purpose = purpose
        self.optional = optional
        self.lock = threading.Lock()
        self.rv: str | None = None
        self.fatal: str | None = None
        self.unavailable: str | None = None
        self.failing_since: float | None = None  # monotonic time the requests started failing
        self.lists = 0
        self.watches = 0
        self.events = 0
        self.resyncs = 0  # lists forced by an unusable resourceVersion or an outage
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._proc_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"scaler-watch-{purpose}",
                                        daemon=True)
        self.synced = threading.Event()
        self.ended = threading.Event()  # the thread is done (stopped, fatal or unavailable)

    # -- control ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._proc_lock:  # either the thread sees the flag, or this sees its process
            self._stop.set()
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
        self._thread.join(timeout=5)
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def _spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        """Start the client, unless stopping; ``stop`` ends whatever this started."""
        with self._proc_lock:
            if self._stop.is_set():
                raise _Stopped()
            try:
                proc = subprocess.Popen(self.client.argv(args), stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE,
                                        start_new_session=True)  # Ctrl-C is the engine's
            except OSError as e:
                raise _Fatal(f"cannot run {self.client.binary}: {e}") from None
            self._proc = proc
        return proc

    # -- the loop --------------------------------------------------------------------------------

    def _url(self, **params: Any) -> str:
        q = {"labelSelector": self.selector, "fieldSelector": self.field_selector, **params}
        q = {k: v for k, v in q.items() if v is not None}
        return f"{self.path}?{urllib.parse.urlencode(q)}" if q else self.path

    def _run(self) -> None:
        try:
            self._loop()
        except _Stopped:
            pass
        finally:
            self.ended.set()
            self.synced.set()  # nobody waits for a sync that will not come

    def _loop(self) -> None:
        delay = 0.1
        need_list = self.rv is None
        outage = False  # the server could not be reached: relist when it answers again
        while not self._stop.is_set():
            try:
                if need_list:
                    self._list()
                    need_list = outage = False
                    self.failing_since = None
                    self.synced.set()
                if self._watch():
                    delay = 0.1
                    continue
            except _Stale as e:
                need_list = True
                self.resyncs += int(e.counted)
                continue
            except _Fatal as e:
                if self.optional:
                    self.unavailable = str(e)
                    log.warning("%s; counts from it stay empty", e)
                else:
                    self.fatal = str(e)
                return
            except _Transient as e:
                if e.unreachable and not outage:
                    outage = True
                if outage and not need_list and self.rv is not None:
                    need_list = True
                    self.resyncs += 1
            if self._stop.is_set():
                return
            # a failed request: count it, back off, try again
            self.client.counters.error(retried=True)
            if self.failing_since is None:
                self.failing_since = time.monotonic()
            self._stop.wait(delay)
            delay = min(delay * 2, 2.0)

    def _fetch(self, url: str) -> tuple[int, bytes, str]:
        """One GET through the client; stoppable (``stop`` terminates it) and bounded by
        ``--op-timeout``. Bytes, not text: the page is parsed straight from them."""
        proc = self._spawn(["get", "--raw", url])
        try:
            out, err = proc.communicate(timeout=self.client.op_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return -9, b"", "timed out (i/o timeout)"
        finally:
            self._proc = None
        return proc.returncode, out, err.decode(errors="replace")

    def _list(self) -> None:
        token = None
        rv = None
        with self.lock:
            self.sink.begin_list()
        while True:
            rc, out, err = self._fetch(self._url(limit=self.page, **{"continue": token}))
            self.client.counters.add(self.purpose, 1, len(out))
            if self._stop.is_set():
                raise _Transient("stopped")
            if rc != 0:
                self._failed(rc, err)
            try:
                doc = json.loads(out)
            except ValueError:
                raise _Transient("list answer is not JSON") from None
            del out
            if doc.get("kind") == "Status":
                self._status(doc)
            meta = doc.get("metadata") or {}
            rv = rv or meta.get("resourceVersion")
            token = meta.get("continue")
            with self.lock:
                self.sink.list_page(doc.get("items") or [])
            del doc  # the raw page goes before the next one is fetched
            if not token:
                break
        with self.lock:
            self.sink.end_list()
            self.rv = rv
        self.lists += 1

    def _watch(self) -> bool:
        """Follow the stream until it ends; True when it ended normally (timeout)."""
        proc = self._spawn(["get", "--raw", self._url(
            watch=1, resourceVersion=self.rv, allowWatchBookmarks="true",
            timeoutSeconds=self.watch_timeout_s)])
        self.watches += 1
        counters = self.client.counters
        counters.add(self.purpose, 1, 0)
        got_any = False
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        pending = b""
        try:
            while True:
                chunk = os.read(fd, 1 << 20)  # whatever has arrived, at least one byte
                if not chunk:
                    break
                counters.add(self.purpose, 0, len(chunk))  # as it arrives: a stream may last hours
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

    def _apply(self, events: list[dict[str, Any]], proc: subprocess.Popen[bytes]) -> None:
        """Apply what arrived together in one go, so an observation never sees half of a
        batch the server sent at once."""
        with self.lock:
            for ev in events:
                kind, obj = ev.get("type"), ev.get("object") or {}
                if kind == "ERROR":
                    proc.terminate()
                    self._status(obj)
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    self.sink.apply(kind, obj)
                    self.events += 1
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                if rv:
                    self.rv = rv

    # -- failures --------------------------------------------------------------------------------

    def _status(self, status: dict[str, Any]) -> None:
        """A Status object where data was expected (an ERROR event, a failed list)."""
        self._raise(status_kind(status), status.get("message") or "")

    def _failed(self, returncode: int, stderr: str) -> None:
        self._raise(classify(returncode, stderr), stderr)

    def _raise(self, failure: Failure, text: str) -> None:
        what = f"watching {self.path.rsplit('/', 1)[-1]}"
        if failure.kind == STALE_VERSION:
            raise _Stale()
        if failure.kind == FATAL and self.field_selector and "BadRequest" in text:
            # a server that does not filter on these fields: filter here instead
            log.info("%s: the server refused fieldSelector %s; filtering here", what,
                     self.field_selector)
            self.field_selector = None
            raise _Stale(counted=False)
        if failure.kind == FORBIDDEN:
            can_i = self.client.command(["auth", "can-i", "--list", *self.client.namespace_args()])
            raise _Fatal(f"{what}: {failure.message}; check what you may do: {can_i}")
        if failure.kind == FATAL or (failure.kind == NOT_FOUND and self.optional):
            raise _Fatal(f"{what}: {failure.message}{fatal_hint(failure.message)}")
        raise _Transient(failure.message, unreachable=failure.kind == UNREACHABLE)


class PodWatcher(Watcher):
    """The pods matching a label selector in one namespace, as a PodTable."""

    def __init__(self, client: KubeClient, namespace: str, selector: str, **kw: Any) -> None:
        self.table = PodTable()
        super().__init__(client, f"/api/v1/namespaces/{namespace}/pods", self.table,
                         selector=selector, **kw)

    def counts(self, api_errors: int = 0) -> PodCounts:
        with self.lock:
            return self.table.counts(api_errors)

    def lifecycles(self) -> list:
        """Every pod's lifecycle record now (scaler.pod_lifecycle.lifecycle_of)."""
        with self.lock:
            return list(self.table.lifecycles.values())


class _Fatal(Exception):
    pass


class _Stopped(Exception):
    pass


class _Stale(Exception):
    def __init__(self, counted: bool = True) -> None:
        super().__init__()
        self.counted = counted  # a relist the server asked for (not one of our own choosing)


class _Transient(Exception):
    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable
