"""Turn ``SSHOptions`` into asyncssh connections: one place for user, keys, port, known_hosts,
keepalives and the jump host, so the collectors and the probe connect the same way.

Nodes behind one provisioning host share one jump connection (each node is a channel through it),
rather than one extra SSH handshake per node.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any, TextIO

import asyncssh

from collectors.ssh_targets import NodeTarget, SSHOptions, parse_jump_host

INSECURE_WARNING = (
    "warning: --ssh-insecure: node host keys are not verified; anyone on the path could pose as a "
    "node and feed false memory figures"
)

JUMP_RETRY_S = 1.0  # how long a jump host failure is reused before the jump host is tried again


class Connector:
    def __init__(
        self,
        options: SSHOptions,
        *,
        keepalive_interval_s: float | None = None,
        warn_to: TextIO | None = None,
    ) -> None:
        self.options = options
        self.keepalive_interval_s = options.keepalive_interval_s or keepalive_interval_s
        self._jump_spec = parse_jump_host(options.jump_host) if options.jump_host else None
        self._jump: asyncssh.SSHClientConnection | None = None
        self._jump_lock: asyncio.Lock | None = None
        self._jump_error: JumpHostError | None = None
        self._jump_failed_at = 0.0
        # Read once: asyncssh would re-read and re-decode the whole file on every connection
        # (200 nodes x 200 entries = 40,000 key decodes at start-up). Errors surface at connect.
        self._known_hosts = None
        if options.known_hosts and not options.insecure:
            try:
                self._known_hosts = asyncssh.read_known_hosts(options.known_hosts)
            except (OSError, ValueError):
                self._known_hosts = None
        if options.insecure:
            print(INSECURE_WARNING, file=warn_to or sys.stderr, flush=True)

    def _common(self) -> dict[str, Any]:
        o = self.options
        kw: dict[str, Any] = {"connect_timeout": o.connect_timeout_s, "login_timeout": o.connect_timeout_s}
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

    def connect_kwargs(self, target: NodeTarget) -> dict[str, Any]:
        """asyncssh.connect arguments for ``target``; unset values are left to ~/.ssh/config."""
        kw = self._common()
        kw["host"] = target.host
        port = target.port or self.options.port
        if port:
            kw["port"] = port
        if self.options.user:
            kw["username"] = self.options.user
        return kw

    def jump_kwargs(self) -> dict[str, Any] | None:
        if self._jump_spec is None:
            return None
        kw = self._common()
        kw["host"] = self._jump_spec.host
        if self._jump_spec.port:
            kw["port"] = self._jump_spec.port
        user = self._jump_spec.user or self.options.user
        if user:
            kw["username"] = user
        return kw

    async def connect(self, target: NodeTarget) -> asyncssh.SSHClientConnection:
        kw = self.connect_kwargs(target)
        if self._jump_spec is not None:
            kw["tunnel"] = await self._jump_connection()
        return await asyncio.wait_for(asyncssh.connect(**kw), self.options.connect_timeout_s + 1.0)

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
                assert kw is not None  # only called with a jump host
                try:
                    self._jump = await asyncio.wait_for(
                        asyncssh.connect(**kw), self.options.connect_timeout_s + 1.0
                    )
                except (TimeoutError, OSError, asyncssh.Error) as e:
                    self._jump_failed_at = loop.time()
                    self._jump_error = JumpHostError(f"jump host {kw['host']}: {describe_error(e)}")
                    raise self._jump_error from e
                self._jump_error = None
            assert self._jump is not None
            return self._jump

    async def close(self) -> None:
        if self._jump is not None:
            self._jump.close()
            try:
                await asyncio.wait_for(self._jump.wait_closed(), 2.0)
            except (TimeoutError, OSError, asyncssh.Error):
                pass
            self._jump = None


class JumpHostError(OSError):
    """The jump host could not be reached (the node itself was never tried)."""


def describe_error(e: BaseException) -> str:
    """One line for a user: asyncssh errors carry a ``reason``; timeouts carry nothing."""
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, asyncssh.HostKeyNotVerifiable):
        return f"host key not verifiable ({e.reason}); check known_hosts or use --ssh-insecure"
    if isinstance(e, asyncssh.PermissionDenied):
        return f"permission denied ({e.reason})"
    if isinstance(e, asyncssh.Error):
        return e.reason or type(e).__name__
    if isinstance(e, OSError) and e.errno:
        return os.strerror(e.errno)  # "Connection refused", not asyncio's tuple-laden text
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]
