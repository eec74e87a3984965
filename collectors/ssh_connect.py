"""Turn ``SSHOptions`` into asyncssh connections: one place for user, keys, port, known_hosts,
keepalives, ciphers and the jump host, so the collectors and the probe connect the same way.

Nodes behind one provisioning host share one jump connection (each node is a channel through it),
rather than one extra SSH handshake per node.

Cipher preference: AES-GCM first. asyncssh does every packet's crypto from Python through the
``cryptography`` package; for chacha20-poly1305 (its default first choice) that is three cipher
objects per packet (header, payload, Poly1305 key), for AES-GCM one AEAD call with AES-NI behind
it: 2.7 us vs 17.7 us to encrypt a 320-byte packet here, a few percent of a sample's whole cost
(bench/bench_collectors.py runs both). Any algorithm the server does not offer is skipped by the
negotiation, so this only reorders the choice; a ``Ciphers`` line in ~/.ssh/config wins over it.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
import sys
from typing import Any, TextIO

import asyncssh
from asyncssh.encryption import get_encryption_algs

from collectors.ssh_config import HostSettings, host_settings
from collectors.ssh_targets import DEFAULT_USER, NodeTarget, SSHOptions, parse_jump_host

PREFERRED_CIPHERS: tuple[str, ...] = tuple(
    name
    for name in (
        "aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com",
        "aes128-ctr", "aes192-ctr", "aes256-ctr",
    )
    if name.encode() in get_encryption_algs()  # what this asyncssh/cryptography can do
)

INSECURE_WARNING = (
    "warning: --ssh-insecure: node host keys are not verified; anyone on the path could pose as a "
    "node and feed false memory figures"
)

JUMP_RETRY_S = 1.0  # how long a jump host failure is reused before the jump host is tried again
# Handshakes in flight at once. A thousand nodes connecting together would each be a key
# exchange competing for the same CPU, so all of them finish late and many pass their connect
# timeout; queued, each one finishes in its own few milliseconds. The connect timeout starts
# when a handshake does, not while it waits its turn.
MAX_CONNECTING = 64


class Connector:
    def __init__(
        self,
        options: SSHOptions,
        *,
        keepalive_interval_s: float | None = None,
        warn_to: TextIO | None = None,
    ) -> None:
        """``keepalive_interval_s``: seconds of silence before a keepalive is sent (asyncssh
        restarts that timer on every packet received, so none is sent while samples flow);
        ``options.keepalive_interval_s`` wins when set."""
        self.options = options
        self.keepalive_interval_s = options.keepalive_interval_s or keepalive_interval_s
        self._jump_spec = parse_jump_host(options.jump_host) if options.jump_host else None
        self._jump: asyncssh.SSHClientConnection | None = None
        self._jump_lock: asyncio.Lock | None = None
        self._jump_error: JumpHostError | None = None
        self._jump_failed_at = 0.0
        self._settings: dict[tuple[str, int | None], HostSettings] = {}
        self._connecting: asyncio.Semaphore | None = None
        # Read once: asyncssh would re-read and re-decode the whole file on every connection
        # (200 nodes x 200 entries = 40,000 key decodes at start-up). Errors surface at connect.
        self._known_hosts: asyncssh.SSHKnownHosts | None = None
        if options.known_hosts and not options.insecure:
            try:
                self._known_hosts = asyncssh.read_known_hosts(options.known_hosts)
            except (OSError, ValueError):
                self._known_hosts = None
        if options.insecure:
            print(INSECURE_WARNING, file=warn_to or sys.stderr, flush=True)

    def _common(self) -> dict[str, Any]:
        o = self.options
        kw: dict[str, Any] = {"connect_timeout": o.connect_timeout_s,
                              "login_timeout": o.connect_timeout_s}
        if self.keepalive_interval_s:
            kw["keepalive_interval"] = self.keepalive_interval_s
            kw["keepalive_count_max"] = o.keepalive_count_max
        if o.identity_files:
            kw["client_keys"] = list(o.identity_files)
        if o.insecure:
            kw["known_hosts"] = None  # asyncssh: None means no verification
        elif o.known_hosts:
            kw["known_hosts"] = self._known_hosts if self._known_hosts is not None else o.known_hosts
        if o.config_files is not None:
            kw["config"] = list(o.config_files)
        return kw

    def settings(self, target: NodeTarget) -> HostSettings:
        """User and port for ``target``: command line, then ~/.ssh/config, then core / 22."""
        key = (target.host, target.port)
        found = self._settings.get(key)
        if found is None:
            found = host_settings(
                target.host, user=self.options.user, port=target.port or self.options.port,
                config_files=self.options.config_files, default_user=DEFAULT_USER,
            )
            self._settings[key] = found
        return found

    def connect_kwargs(self, target: NodeTarget) -> dict[str, Any]:
        """asyncssh.connect arguments for ``target`` (raises ValueError for a broken config)."""
        kw = self._common()
        chosen = self.settings(target)
        kw["host"] = target.host
        kw["port"] = chosen.port
        kw["username"] = chosen.user
        if self.options.ciphers:
            kw["encryption_algs"] = list(self.options.ciphers)
        elif not chosen.config_ciphers and PREFERRED_CIPHERS:
            kw["encryption_algs"] = list(PREFERRED_CIPHERS)
        return kw

    def jump_kwargs(self) -> dict[str, Any] | None:
        """As ``ssh -J [user@]host[:port]``: a user or port not in the spec comes from the config
        file's entry for the jump host, else OpenSSH's defaults (the local user, 22)."""
        if self._jump_spec is None:
            return None
        spec = self._jump_spec
        chosen = host_settings(spec.host, user=spec.user, port=spec.port,
                               config_files=self.options.config_files, default_user=_local_user())
        kw = self._common()
        kw["host"] = spec.host
        kw["port"] = chosen.port
        kw["username"] = chosen.user
        # every node's packets cross this one connection too: the cheap cipher matters most here
        if self.options.ciphers:
            kw["encryption_algs"] = list(self.options.ciphers)
        elif not chosen.config_ciphers and PREFERRED_CIPHERS:
            kw["encryption_algs"] = list(PREFERRED_CIPHERS)
        return kw

    async def connect(self, target: NodeTarget) -> asyncssh.SSHClientConnection:
        kw = self.connect_kwargs(target)
        if self._jump_spec is not None:
            kw["tunnel"] = await self._jump_connection()
        if self._connecting is None:
            self._connecting = asyncio.Semaphore(MAX_CONNECTING)
        async with self._connecting:
            try:
                return await asyncio.wait_for(asyncssh.connect(**kw), self.options.connect_timeout_s + 1.0)
            except socket.gaierror as e:
                raise HostNotFound(target.host, e) from e

    async def _jump_connection(self) -> asyncssh.SSHClientConnection:
        if self._jump_lock is None:
            self._jump_lock = asyncio.Lock()
        async with self._jump_lock:
            if self._jump is None or self._jump.is_closed():
                loop = asyncio.get_running_loop()
                # Nodes queued on the lock while the jump host failed share that failure for a
                # moment, rather than each waiting out its own connect timeout in turn.
                if self._jump_error is not None and loop.time() - self._jump_failed_at < JUMP_RETRY_S:
                    raise self._jump_error
                kw = self.jump_kwargs()
                assert kw is not None
                try:
                    self._jump = await asyncio.wait_for(
                        asyncssh.connect(**kw), self.options.connect_timeout_s + 1.0
                    )
                except (TimeoutError, OSError, asyncssh.Error) as e:
                    self._jump_failed_at = loop.time()
                    why = describe_error(e, kw["host"])
                    self._jump_error = JumpHostError(f"jump host {kw['host']}: {why}")
                    raise self._jump_error from e
                self._jump_error = None
            return self._jump

    async def close(self) -> None:
        if self._jump is not None:
            await close_connection(self._jump, 2.0)
            self._jump = None


async def close_connection(conn: asyncssh.SSHClientConnection, timeout_s: float) -> None:
    """Close ``conn`` and wait up to ``timeout_s`` for it to be closed; a peer that is gone or
    slow to answer changes nothing (the connection is closed on our side either way)."""
    conn.close()
    try:
        await asyncio.wait_for(conn.wait_closed(), timeout_s)
    except (TimeoutError, OSError, asyncssh.Error):
        pass


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root"


class JumpHostError(OSError):
    """The jump host could not be reached (the node itself was never tried)."""


class HostNotFound(OSError):
    """A host name that does not resolve; says which, unlike the resolver's bare message."""

    def __init__(self, host: str, error: socket.gaierror) -> None:
        super().__init__(f"cannot resolve host {host!r} ({error.strerror or 'no address'})")
        self.host = host


def describe_error(e: BaseException, host: str | None = None) -> str:
    """One line for a user: asyncssh errors carry a ``reason``; timeouts carry nothing;
    ``host`` names the host for errors that do not (a name that does not resolve)."""
    if isinstance(e, HostNotFound | JumpHostError):
        return str(e)
    if isinstance(e, socket.gaierror):  # errno is negative (EAI_*): os.strerror says "Unknown error -2"
        where = f" {host!r}" if host else ""
        return f"cannot resolve host{where} ({e.strerror or 'no address'})"
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, asyncssh.HostKeyNotVerifiable):
        return f"host key not verifiable ({e.reason}); check known_hosts or use --ssh-insecure"
    if isinstance(e, asyncssh.PermissionDenied):
        return f"permission denied ({e.reason})"
    if isinstance(e, asyncssh.Error):
        return str(e.reason) or type(e).__name__
    if isinstance(e, OSError) and e.errno:
        return os.strerror(e.errno)  # "Connection refused", not asyncio's tuple-laden text
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]
