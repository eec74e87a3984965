"""What to connect to and how: SSH options as OpenSSH users expect them, and node targets.

Parsing lives here (pure functions raising ``ValueError`` with a one-line message) so the CLI, the
probe and the pool all read ``--node`` and ``--jump-host`` the same way.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from collectors.remote_pods import PodReading

DEFAULT_USER = "core"  # the login user of OpenShift (RHCOS) nodes


@dataclass(frozen=True)
class JumpHost:
    host: str
    user: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class SSHOptions:
    """How to reach nodes.

    ``user=None`` and ``port=None`` mean "not on the command line": then ~/.ssh/config decides,
    else ``core`` and 22 (``collectors.ssh_config``: OpenSSH's order). ``known_hosts=None``
    verifies host keys against the default ~/.ssh/known_hosts; ``insecure`` skips verification
    altogether. ``config_files=None`` reads ~/.ssh/config (incl. ProxyJump); ``()`` reads none.
    ``keepalive_interval_s=None`` sends a keepalive only after a silent stretch a little longer
    than the sampling interval (a flowing stream proves the connection alive by itself), so a
    silent hang is noticed in a few intervals rather than after TCP's minutes. ``ciphers=None``
    prefers AES-GCM (the cheapest per packet here, see bench/bench_collectors.py) among what
    the server offers, unless the config file names ``Ciphers``. ``reading``: what the remote
    loop reads besides node memory (per-pod figures, work reports) and whether it may use
    ``sudo -n`` (``collectors.remote_pods.PodReading``). ``jump_fan_in``: every node through one
    channel to the jump host, whose own ssh reaches the nodes (``collectors.jump_pool``), with
    ``jump_ssh_options`` (``KEY=VALUE``) added to that ssh as ``-o``.
    """

    user: str | None = None
    identity_files: tuple[str, ...] = ()
    port: int | None = None
    jump_host: str | None = None
    known_hosts: str | None = None
    insecure: bool = False
    connect_timeout_s: float = 10.0
    keepalive_interval_s: float | None = None
    keepalive_count_max: int = 3
    config_files: tuple[str, ...] | None = None
    ciphers: tuple[str, ...] | None = None
    reading: PodReading = field(default_factory=PodReading)
    jump_fan_in: bool = False
    jump_ssh_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeTarget:
    """A node to sample: its name (as the cluster calls it) and the address SSH should dial."""

    name: str
    host: str
    port: int | None = None


_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9._-]*[A-Za-z0-9_])?$")


def _parse_port(text: str, what: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"bad port {text!r} in {what} (1-65535)")
    return int(text)


def parse_host_port(text: str, what: str) -> tuple[str, int | None]:
    """Split ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``; a bare IPv6 address has no port."""
    s = text.strip()
    if not s:
        raise ValueError(f"empty host in {what}")
    if s.startswith("["):
        end = s.find("]")
        if end < 0:
            raise ValueError(f"unclosed '[' in {what} {text!r}")
        host, rest = s[1:end], s[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"unexpected {rest!r} after ']' in {what} {text!r}")
        port = _parse_port(rest[1:], what) if rest else None
        _check_host(host, what, ipv6=True)
        return host, port
    if s.count(":") > 1:
        _check_host(s, what, ipv6=True)
        return s, None
    host, sep, port_text = s.partition(":")
    port = _parse_port(port_text, what) if sep else None
    _check_host(host, what)
    return host, port


def _check_host(host: str, what: str, ipv6: bool = False) -> None:
    if ipv6:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"bad IPv6 address {host!r} in {what}") from None
        return
    if not _HOSTNAME.match(host) or ".." in host:
        raise ValueError(f"bad host {host!r} in {what}")


def parse_node(text: str) -> NodeTarget:
    """``NAME=HOST[:PORT]`` (``--node`` option) -> NodeTarget."""
    name, sep, address = text.partition("=")
    name = name.strip()
    if not sep:
        raise ValueError(f"--node {text!r}: expected NAME=HOST[:PORT]")
    if not _NAME.match(name):
        raise ValueError(f"--node {text!r}: bad node name {name!r}")
    host, port = parse_host_port(address, f"--node {text!r}")
    return NodeTarget(name=name, host=host, port=port)


def parse_nodes(texts: Iterable[str]) -> list[NodeTarget]:
    targets = [parse_node(t) for t in texts]
    seen: set[str] = set()
    for t in targets:
        if t.name in seen:
            raise ValueError(f"--node {t.name!r} given twice")
        seen.add(t.name)
    return targets


def parse_jump_host(text: str) -> JumpHost:
    """``[user@]host[:port]`` (``--jump-host``, as ssh -J with one hop)."""
    s = text.strip()
    user, sep, rest = s.rpartition("@")
    if sep and not user:
        raise ValueError(f"--jump-host {text!r}: empty user before '@'")
    if sep and not re.match(r"^[A-Za-z0-9._-]+$", user):
        raise ValueError(f"--jump-host {text!r}: bad user {user!r}")
    host, port = parse_host_port(rest, f"--jump-host {text!r}")
    return JumpHost(host=host, user=user or None, port=port)
