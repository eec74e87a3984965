"""What ~/.ssh/config says about one host, read the way OpenSSH reads it.

ssh_config(5): "ssh obtains configuration data from the following sources in the following
order: command-line options, user's configuration file (~/.ssh/config) [...]. For each parameter,
the first obtained value will be used." So a user or port given on our command line wins, then a
``User``/``Port`` from the config file (``Host`` and ``Match`` blocks applied by asyncssh's own
parser, the one ``asyncssh.connect`` uses), then the built-in default: ``core`` for the user (the
login user of OpenShift/RHCOS nodes, where OpenSSH would use the local user) and 22 for the port.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncssh.config import SSHClientConfig, SSHConfig

DEFAULT_PORT = 22


@dataclass(frozen=True)
class HostSettings:
    """The user and port to dial a host with, and whether the config file names ciphers."""

    user: str
    port: int
    config_ciphers: bool


def config_paths(config_files: tuple[str, ...] | None) -> list[str]:
    """The files asyncssh reads: the given ones, or ~/.ssh/config when readable (as ssh does)."""
    if config_files is not None:
        return list(config_files)
    default = Path("~", ".ssh", "config").expanduser()
    return [str(default)] if os.access(default, os.R_OK) else []


def _load(paths: list[str], host: str, user: str | None, port: int | None) -> SSHConfig:
    try:
        local_user = getpass.getuser()
    except (KeyError, OSError):
        local_user = ""
    # asyncssh's "not given" is (): then the file's value applies, as for ssh without -l/-p
    args: list[Any] = [local_user, user if user else (), host, port if port else ()]
    try:  # asyncssh >= 2.15 also passes canonical/final (Match canonical, Match final)
        return SSHClientConfig.load(None, paths, False, False, False, *args)
    except TypeError:  # pragma: no cover - older asyncssh
        return SSHClientConfig.load(None, paths, False, *args)


def host_settings(
    host: str,
    *,
    user: str | None,
    port: int | None,
    config_files: tuple[str, ...] | None,
    default_user: str,
) -> HostSettings:
    """Command line, then the config file, then the default (see the module doc).

    A config file that cannot be parsed raises ``ValueError`` with asyncssh's one-line reason.
    """
    paths = config_paths(config_files)
    if not paths:
        return HostSettings(user or default_user, port or DEFAULT_PORT, False)
    try:
        config = _load(paths, host, user, port)
    except OSError as e:
        raise ValueError(f"ssh config {e.filename or ''}: {e.strerror or e}") from None
    except Exception as e:  # asyncssh's ConfigParseError carries a one-line reason
        raise ValueError(f"ssh config: {e}") from None
    chosen_user = user or config.get("User") or default_user
    chosen_port = port or config.get("Port") or DEFAULT_PORT
    return HostSettings(str(chosen_user), int(str(chosen_port)), config.get("Ciphers") is not None)
