"""The real OpenSSH client against ``scaler sim serve``'s nodes: an ``ssh -F`` config naming
every node by its Kubernetes name, with the key and known_hosts the server writes."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SSH = shutil.which("ssh")
needs_ssh = pytest.mark.skipif(SSH is None, reason="OpenSSH client not installed")


@dataclass(frozen=True)
class SimNodesSSH:
    config: Path
    nodes: dict[str, str]  # name -> loopback address
    port: int
    key: Path
    known_hosts: Path

    def argv(self, node: str, command: str, *options: str) -> list[str]:
        return [str(SSH), "-F", str(self.config), *options, node, command]

    def run(self, node: str, command: str, *options: str, timeout: float = 30,
            stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(node, command, *options), capture_output=True, text=True,
                              timeout=timeout, stdin=stdin)


def sim_nodes_ssh(output: list[str], workdir: Path, user: str = "core") -> SimNodesSSH:
    """Read the nodes, port, key and known_hosts from sim serve's start-up lines and write a
    config with one Host entry per node (strict host key checking: a changed key fails)."""
    text = "\n".join(output)
    m = re.search(r"SSH nodes on port (\d+): (.+)", text)
    k = re.search(r"--ssh-key (\S+) --ssh-known-hosts (\S+)", text)
    if m is None or k is None:
        raise AssertionError("sim serve printed no SSH nodes:\n" + text)
    port = int(m.group(1))
    nodes = dict(pair.split("=", 1) for pair in m.group(2).split(", "))
    key, known_hosts = Path(k.group(1)), Path(k.group(2))
    config = workdir / "ssh_config"
    entries = [
        f"Host {name}\n  HostName {address}\n  Port {port}\n  User {user}\n"
        f"  IdentityFile {key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {known_hosts}\n"
        "  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n"
        "  LogLevel ERROR\n  ConnectTimeout 10\n"
        for name, address in nodes.items()
    ]
    config.write_text("".join(entries))
    config.chmod(0o600)
    return SimNodesSSH(config, nodes, port, key, known_hosts)
