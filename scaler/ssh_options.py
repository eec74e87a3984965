"""The SSH options of ``scaler run`` and ``scaler nodes probe``.

``ssh_access_options`` (how to reach nodes) is shared, so both commands spell every option the
same way; ``ssh_options`` adds what only sampling means (``--sample-interval``,
``--no-collectors``), for ``scaler run``. ``ssh_access_from`` / ``ssh_settings_from`` turn the
parsed values into collector settings; a bad value becomes ``click.BadParameter`` (one line on
stderr, exit 2). ``--ssh-user``/``--ssh-port`` default to nothing: then ~/.ssh/config decides, else
``core`` and 22 (OpenSSH's order, applied in ``collectors.ssh_config``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import click

from collectors.remote_pods import SUDO_CHOICES, PodReading
from collectors.ssh_targets import (
    NodeTarget,
    SSHOptions,
    parse_jump_host,
    parse_nodes,
)
from scaler.units import Duration

# Keyword names the decorators add, so a command can split them from its own parameters.
SSH_ACCESS_PARAM_NAMES = (
    "ssh_user", "ssh_key", "ssh_port", "jump_host", "ssh_known_hosts", "ssh_insecure", "node",
    "ssh_sudo", "jump_fan_in", "jump_ssh_option",
)
SSH_PARAM_NAMES = (*SSH_ACCESS_PARAM_NAMES, "sample_interval", "no_collectors", "pod_interval")

MIN_INTERVAL_S = 0.05
F = TypeVar("F", bound=Callable[..., Any])


def _access_options():
    path = click.Path(exists=True, dir_okay=False)
    return [
        click.option("--ssh-user", default=None,
                     help="Login user on the nodes [default: ~/.ssh/config, else core]."),
        click.option("-i", "--ssh-key", multiple=True, type=path, help="Identity file (repeatable)."),
        click.option("--ssh-port", type=click.IntRange(1, 65535), default=None,
                     help="SSH port of the nodes [default: ~/.ssh/config, else 22]."),
        click.option("--jump-host", metavar="[USER@]HOST[:PORT]", default=None,
                     help="Reach the nodes through this host (as ssh -J)."),
        click.option("--jump-fan-in", is_flag=True, default=False,
                     help="Sample every node through ONE channel to --jump-host: a script there "
                          "starts each node's loop with the jump host's own ssh (its keys, its "
                          "known_hosts, StrictHostKeyChecking=yes) and sends all frames back "
                          "together; far less collector CPU per sample at hundreds of nodes."),
        click.option("--jump-ssh-option", multiple=True, metavar="KEY=VALUE",
                     help="With --jump-fan-in: an ssh -o option for the jump host's ssh to the "
                          "nodes (repeatable), e.g. UserKnownHostsFile=..., IdentityFile=... "
                          "(paths on the jump host)."),
        click.option("--ssh-known-hosts", type=path, default=None,
                     help="known_hosts file to verify node host keys [default: ~/.ssh/known_hosts]."),
        click.option("--ssh-insecure", is_flag=True, default=False,
                     help="Do not verify host keys (prints a warning)."),
        click.option("--node", multiple=True, metavar="NAME=HOST[:PORT]",
                     help="A node to sample (repeatable); added to the cluster's nodes."),
        click.option("--ssh-sudo", type=click.Choice(SUDO_CHOICES), default="auto",
                     show_default=True,
                     help="Run the one remote sampling loop under 'sudo -n' (root reads every "
                          "process's PSS and the pods' work reports): auto = when it works "
                          "without a password, else as the login user; always = refuse "
                          "without it; never."),
    ]


def _sampling_options():
    return [
        click.option("--sample-interval", type=Duration(), default="1s", show_default=True,
                     help="Per-node memory sampling interval (e.g. 1s, 500ms)."),
        click.option("--no-collectors", is_flag=True, default=False,
                     help="Do not sample node memory over SSH."),
        click.option("--pod-interval", type=Duration(), default="5s", show_default=True,
                     help="Per-pod memory (cgroups, sandbox processes) read on the nodes every "
                          "this long, in whole sample intervals; 0 = not at all."),
    ]


def ssh_access_options(f: F) -> F:
    """Add the options saying how to reach nodes (``scaler nodes probe``)."""
    for option in reversed(_access_options()):
        f = option(f)
    return f


def ssh_options(f: F) -> F:
    """Add every SSH collector option: access and sampling (``scaler run``)."""
    for option in reversed(_access_options() + _sampling_options()):
        f = option(f)
    return f


def ssh_settings_from(kwargs: dict) -> tuple[SSHOptions, list[NodeTarget], float, bool]:
    """(options, explicit node targets, sampling interval in seconds, collectors enabled).

    Reads (does not remove) the keys in ``SSH_PARAM_NAMES``.
    """
    options, targets = ssh_access_from(kwargs)
    interval = float(kwargs.get("sample_interval") if kwargs.get("sample_interval") is not None else 1.0)
    if interval < MIN_INTERVAL_S:
        raise click.BadParameter(
            f"{interval:g}s is too short (at least {MIN_INTERVAL_S * 1000:.0f}ms)",
            param_hint="--sample-interval",
        )
    pods = kwargs.get("pod_interval")
    pod_interval = 5.0 if pods is None else float(pods)
    if 0 < pod_interval < interval:
        raise click.BadParameter(
            f"{pod_interval:g}s is shorter than --sample-interval ({interval:g}s); 0 turns it off",
            param_hint="--pod-interval",
        )
    options = replace(options, reading=replace(options.reading, pod_interval_s=pod_interval))
    return options, targets, interval, not kwargs.get("no_collectors")


def ssh_access_from(kwargs: dict) -> tuple[SSHOptions, list[NodeTarget]]:
    """(options, explicit node targets); reads the keys in ``SSH_ACCESS_PARAM_NAMES``."""
    try:
        targets = parse_nodes(kwargs.get("node") or ())
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--node") from None
    jump = kwargs.get("jump_host")
    if jump:
        try:
            parse_jump_host(jump)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--jump-host") from None
    fan_in = bool(kwargs.get("jump_fan_in"))
    if fan_in and not jump:
        raise click.BadParameter("needs --jump-host (the host whose ssh reaches the nodes)",
                                 param_hint="--jump-fan-in")
    jump_ssh = tuple(kwargs.get("jump_ssh_option") or ())
    for option in jump_ssh:
        if not re.match(r"^[A-Za-z][A-Za-z0-9]*=.+$", option):
            raise click.BadParameter(f"{option!r}: expected KEY=VALUE", param_hint="--jump-ssh-option")
    if jump_ssh and not fan_in:
        raise click.BadParameter("only with --jump-fan-in (without it, this machine's ssh "
                                 "settings reach the nodes)", param_hint="--jump-ssh-option")
    user = kwargs.get("ssh_user")
    options = SSHOptions(
        user=user if user else None,
        identity_files=tuple(kwargs.get("ssh_key") or ()),
        port=kwargs.get("ssh_port"),
        jump_host=jump or None,
        known_hosts=kwargs.get("ssh_known_hosts"),
        insecure=bool(kwargs.get("ssh_insecure")),
        reading=PodReading(sudo=kwargs.get("ssh_sudo") or "auto"),
        jump_fan_in=fan_in,
        jump_ssh_options=jump_ssh,
    )
    return options, targets
