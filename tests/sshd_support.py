"""Helpers for SSH tests: keys, a real OpenSSH sshd on loopback, a stand-in node model.

sshd is started as ``sshd -D -e -f CONFIG`` with absolute paths and ``UsePAM no``/``StrictModes
no`` (it does not start otherwise in a container). Per-connection sshd children leave the listener's
session (setsid), so "killing the node" here kills the listener and every descendant, as a node
dying would; ``pause`` stops them all (a silent hang: TCP stays open, nothing answers).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import asyncssh
import pytest

from collectors.meminfo import render_meminfo

SSHD = "/usr/sbin/sshd"


def require_sshd() -> str:
    """The sshd binary; skip when missing unless SCALER_REQUIRE_SSHD=1 (CI), then fail."""
    if os.access(SSHD, os.X_OK):
        return SSHD
    reason = f"{SSHD} not installed (Debian package openssh-server)"
    if os.environ.get("SCALER_REQUIRE_SSHD") == "1":
        pytest.fail(reason + " but SCALER_REQUIRE_SSHD=1")
    pytest.skip(reason)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def write_key(path: Path) -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    os.chmod(path, 0o600)
    key.write_public_key(str(path) + ".pub")
    return key


def known_hosts_line(host: str, port: int, key: asyncssh.SSHKey) -> str:
    return f"[{host}]:{port} {key.export_public_key().decode().strip()}\n"


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


class Sshd:
    """One sshd on ``host:port`` accepting ``client_pub`` for the current user."""

    def __init__(self, workdir: Path, client_pub: Path, host: str = "127.0.0.1", port: int | None = None,
                 log_level: str = "ERROR") -> None:
        self.binary = require_sshd()
        self.host = host
        self.port = port or free_port(host)
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.host_key_path = self.dir / "ssh_host_ed25519_key"
        self.host_key = write_key(self.host_key_path)
        self.log_path = self.dir / "sshd.log"
        self.config_path = self.dir / "sshd_config"
        self.config_path.write_text(
            f"Port {self.port}\nListenAddress {host}\nHostKey {self.host_key_path}\n"
            f"PidFile {self.dir / 'sshd.pid'}\nAuthorizedKeysFile {client_pub}\n"
            "UsePAM no\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\nAllowTcpForwarding yes\nPrintMotd no\n"
            f"LogLevel {log_level}\n"
        )
        self.proc: subprocess.Popen | None = None
        self.user = getpass.getuser()

    def known_hosts_line(self) -> str:
        return known_hosts_line(self.host, self.port, self.host_key)

    def start(self) -> Sshd:
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [self.binary, "-D", "-e", "-f", str(self.config_path)],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log_path.read_text()[-500:]}")
            try:
                socket.create_connection((self.host, self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("sshd did not listen within 10 s")

    def _signal_all(self, sig: int) -> None:
        if self.proc is None:
            return
        for pid in [self.proc.pid, *_descendants(self.proc.pid)]:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """The node dies: listener and every session process, SIGKILL."""
        if self.proc is None:
            return
        pids = _descendants(self.proc.pid)
        self._signal_all(signal.SIGKILL)
        for pid in pids:  # sessions are not our children: wait until they are gone
            deadline = time.monotonic() + 5
            while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                            break
                except OSError:
                    break
                time.sleep(0.01)
        self.proc.wait(5)
        self.proc = None

    def pause(self) -> None:
        self._signal_all(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_all(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None:
            self.resume()
            self.kill()


class FakeNodeModel:
    """Stand-in for scaler.sim.SimModel's two text methods: MemFree falls by 1 MiB per call."""

    def __init__(self, names, total_kib: int = 16 * 1024 * 1024) -> None:
        self.total_kib = total_kib
        self.calls = dict.fromkeys(names, 0)

    def node_meminfo(self, name: str) -> str:
        self.calls[name] += 1  # KeyError for a node the model does not know: as the real one
        free = self.total_kib // 2 - 1024 * self.calls[name]
        return render_meminfo({"MemTotal": self.total_kib, "MemFree": free,
                               "MemAvailable": free + 1000, "Active": 123456})

    def node_loadavg(self, name: str) -> str:
        return f"0.{len(name)}0 0.05 0.01 1/100 4242\n"


def have(binary: str) -> bool:
    return shutil.which(binary) is not None


class LoopThread:
    """An asyncio loop in a daemon thread, for in-process asyncssh servers beside a CollectorPool."""

    def __init__(self) -> None:
        import asyncio
        import threading

        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro, timeout: float = 30.0):
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def shut(self, server) -> None:
        """Close a server from its own loop: asyncio servers are not thread-safe, and closing
        one from the test thread races with the loop accepting a connection."""

        async def shut():
            server.close()
            await server.wait_closed()

        self.run(shut())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


def sim_addresses(n: int, first: int = 10) -> dict[str, str]:
    """n node names -> distinct loopback addresses 127.0.x.y, starting at 127.0.0.<first>."""
    out = {}
    for i in range(n):
        k = first + i
        out[f"node-{i:03d}"] = f"127.0.{k // 250}.{k % 250 + 1 if k >= 250 else k}"
    return out


def wait_for(predicate, timeout_s, step=0.05):
    """Poll ``predicate`` until it holds or ``timeout_s`` passes; its last answer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
