"""``sim serve --state-dir``: the front's state kept across a restart (or a SIGKILL).

What a client holds on to must survive: the API and SSH ports (the kubeconfig's URL, the
known_hosts entries ``[address]:port``), the SSH keys (``ssh_nodes`` keeps them in the state
directory), and the cluster: the model (pods, their memory, virtual time, random state), the
API objects and the resourceVersion counter.

The snapshot is written atomically (a temporary file, fsync, rename, fsync of the directory),
so a kill at any instant leaves the previous or the next snapshot, never a torn one: every
``save_interval_s`` for the model's progress, soon after an API write (a Deployment, Namespace
or RuntimeClass changed: at the next tick for a small state, see GAP_FACTOR), and on
SIGTERM/SIGINT.

Restoring is an API server restart over a restored etcd: objects are as of the last snapshot,
the watch cache is empty (a watch from an older resourceVersion gets 410 Gone and relists), and
resourceVersions stay monotonic even for writes made after the last snapshot: they are handed
out from blocks reserved on disk ahead of use (a high-water mark, rewritten when half a block
is left), and a restart continues above the reserved block. Virtual time continues from the
snapshot plus the downtime (the cluster's nodes keep running while its API server is down).

The snapshot is a pickle, written 0600: a state directory is trusted like a kubeconfig (loading
a pickle someone else could write would run their code), and is only read by the same version
of the front (another format is refused with a reason).
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

SNAPSHOT = "state.pickle"
RESERVED = "rv-reserved"
FRONT = "front.json"
FORMAT = 1
RV_BLOCK = 100_000
# After an API write, the next save waits this many times the last save's duration (at most
# MAX_GAP_S): a small state is saved at the next tick, a big one costs the event loop (which
# serves the API) at most a tenth of its time while a ramp writes every step.
GAP_FACTOR = 10.0
MAX_GAP_S = 1.0
# SimState attributes that are not the cluster's state: the run's clock anchors (rebuilt at
# restore), the truth file handle, the speed (the command line's, which may differ) and the
# store (saved as its objects and counter only).
_NOT_SAVED = frozenset({"_truth_out", "store", "_mono0", "_model0", "speed", "_views", "_slots"})
# Pods are the model's: not saved as objects (most of a snapshot's size and time), rendered
# again from the restored model by the first sync (``_views`` forgotten: every pod is new to
# it), with their uids, names, nodes, IPs and timestamps, under new resourceVersions.
_NOT_SAVED_OBJECTS = frozenset({"pods"})


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    # 0600: the snapshot holds the cluster's objects (and any credentials kept with them)
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class FrontPorts:
    """The ports clients were given; reused on restart so their configuration stays valid."""

    api: int
    ssh: int | None


def read_ports(state_dir: Path) -> FrontPorts | None:
    try:
        data = json.loads((state_dir / FRONT).read_text())
        return FrontPorts(int(data["api_port"]), data.get("ssh_port"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_ports(state_dir: Path, ports: FrontPorts) -> None:
    atomic_write(state_dir / FRONT, json.dumps({"api_port": ports.api,
                                                "ssh_port": ports.ssh}).encode())


class StateError(Exception):
    """A snapshot that cannot be restored (another format, unreadable)."""


class Persister:
    """Saves ``state`` (a ``scaler.simserve.state.SimState``) under ``state_dir``; see the
    module doc. ``restore`` once before serving, ``tick`` every model tick, ``save`` at exit."""

    def __init__(self, state: Any, state_dir: Path, *, save_interval_s: float = 10.0,
                 out: TextIO = sys.stderr) -> None:
        self.state = state
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.save_interval_s = save_interval_s
        self.out = out
        self._last_save = -float("inf")
        self._written_api = self._api_signature()
        self._reserved = 0
        self.saves = 0
        self.failures = 0
        self._unsaved: set[str] = set()
        self._save_s = MAX_GAP_S / GAP_FACTOR  # until a save is timed

    # -- restore --------------------------------------------------------------------------------

    def restore(self) -> bool:
        """Load the snapshot into ``state`` if there is one; True if restored."""
        path = self.dir / SNAPSHOT
        if not path.exists():
            self._reserve(self.state.store.rv)
            return False
        try:
            payload = pickle.loads(path.read_bytes())
        except Exception as e:  # noqa: BLE001 - any unreadable snapshot is refused the same way
            raise StateError(f"cannot read {path}: {e}") from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise StateError(f"{path}: not a snapshot of this version of sim serve")
        state = self.state
        for name, blob in payload["state"].items():
            setattr(state, name, pickle.loads(blob))
        state._views = {}
        state._slots.reset()  # the last sync's pod signatures: every restored pod is new to it
        store = state.store
        store._objects = payload["objects"]
        reserved = self._read_reserved()
        # Above anything handed out before the stop, snapshot or not.
        store.rv = max(int(payload["rv"]), reserved)
        store._log.clear()
        store._oldest = store.rv + 1  # an empty watch cache: older versions get 410 Gone
        downtime = max(0.0, time.time() - float(payload["saved_at"]))
        state._model0 = float(state.model.now) + downtime * float(state.speed)
        state._mono0 = time.monotonic()
        self._reserve(store.rv)
        state.sync()  # the pods, from the restored model (and the model through the downtime)
        self._reserve(store.rv)
        self._written_api = self._api_signature()
        print(f"scaler sim serve: restored from {self.dir}: {len(store._objects.get('pods', {}))} "
              f"pods, {len(store._objects.get('deployments', {}))} deployments, "
              f"{len(state.node_addresses)} nodes, "
              f"resourceVersion {store.rv}, down {downtime:.1f} s", file=self.out, flush=True)
        return True

    # -- save -----------------------------------------------------------------------------------

    def tick(self) -> None:
        """Called every model tick: keeps the resourceVersion reservation ahead, saves when an
        API object changed or the interval has passed."""
        try:
            rv = self.state.store.rv
            if rv > self._reserved - RV_BLOCK // 2:
                self._reserve(rv)
            since = time.monotonic() - self._last_save
            gap = min(MAX_GAP_S, GAP_FACTOR * self._save_s)
            if since >= self.save_interval_s or (since >= gap
                                                 and self._api_signature() != self._written_api):
                self.save()
        except OSError as e:  # a full or read-only disk: say so, keep serving, try again later
            self._last_save = time.monotonic()
            self.failures += 1
            if self.failures == 1 or self.failures % 100 == 0:
                print(f"scaler sim serve: cannot save the state in {self.dir}: "
                      f"{e.strerror or e} ({self.failures} failed saves)", file=self.out,
                      flush=True)

    def save(self) -> None:
        started = time.monotonic()
        state = self.state
        saved: dict[str, bytes] = {}
        for name, value in vars(state).items():
            if name in _NOT_SAVED:
                continue
            try:
                saved[name] = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as e:  # noqa: BLE001 - say what is not kept, keep the rest
                if name not in self._unsaved:
                    self._unsaved.add(name)
                    print(f"scaler sim serve: state {name} not saved ({e})", file=self.out)
        objects = {k: v for k, v in state.store._objects.items() if k not in _NOT_SAVED_OBJECTS}
        payload = {"format": FORMAT, "saved_at": time.time(), "state": saved,
                   "objects": objects, "rv": state.store.rv}
        atomic_write(self.dir / SNAPSHOT, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
        self._last_save = time.monotonic()
        self._save_s = self._last_save - started
        self._written_api = self._api_signature()
        self.saves += 1

    # -- resourceVersion reservation ----------------------------------------------------------

    def _read_reserved(self) -> int:
        try:
            return int((self.dir / RESERVED).read_text().strip())
        except (OSError, ValueError):
            return 0

    def _reserve(self, rv: int) -> None:
        self._reserved = rv + RV_BLOCK
        atomic_write(self.dir / RESERVED, f"{self._reserved}\n".encode())

    def _api_signature(self) -> tuple:
        """What clients write, without what the model changes (pods, nodes, status): uid,
        generation and deletion of every other object, so a write is saved within a tick and
        a Deployment's status moving with its pods is not."""
        objects = self.state.store._objects
        return tuple(
            (resource, key, o["metadata"].get("uid"), o["metadata"].get("generation"),
             o["metadata"].get("deletionTimestamp"))
            for resource in sorted(objects) if resource not in ("pods", "nodes", "events")
            for key, o in sorted(objects[resource].items())
        )
