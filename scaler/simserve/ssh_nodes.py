"""Serve simulated nodes over SSH, so the real collectors can run end to end against the simulator.

Each node gets its own loopback address (127.0.0.10, 127.0.0.11, ...), all on one port, so the
collector dials node addresses exactly as on a real cluster, and the server tells nodes apart by
the local address a connection arrived on. The server speaks the collector's command
(``collectors.remote_stream.collect_command``), answered with the same framed stream the
remote shell loop prints, rendered from the model's /proc/meminfo and /proc/loadavg text; and
the read-only commands a measurement script sends (``scaler.simserve.node_shell``: ``cat
/proc/meminfo``, ``while true; do ...; sleep 5; done``), interpreted, never executed.

Keys are generated per run (or kept, with ``keep_keys``): a host key (its public half written to a
known_hosts file for every node address) and a client key the server accepts for any user,
written to ``workdir``.
"""

from __future__ import annotations

import asyncio
import errno
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import asyncssh

from collectors.pod_frames import model_sections
from collectors.remote_stream import (
    parse_collect_align,
    parse_collect_command,
    parse_collect_extras,
    render_frame,
)
from scaler.simserve import node_shell


class NodeTextModel(Protocol):
    """The node's /proc files as text. A model may also have ``node_stat(name) -> str`` (the
    node's /proc/stat); without it frames carry no CPU section and the node's CPU is unknown.
    And ``node_pods(name) -> Sequence[collectors.pod_sample.PodMemory]``: the pods on the node
    as its loop would read them (``collectors.pod_frames.PodSectionRenderer`` says which fields
    are used); without it frames carry no pod or work sections."""

    def node_meminfo(self, name: str) -> str: ...

    def node_loadavg(self, name: str) -> str: ...


@dataclass
class SimSSHNodes:
    port: int
    known_hosts_path: Path
    client_key_path: Path
    addresses: dict[str, str]
    _acceptors: list = field(default_factory=list, repr=False)

    def close(self) -> None:
        for acceptor in self._acceptors:
            acceptor.close()

    async def wait_closed(self) -> None:
        for acceptor in self._acceptors:
            await acceptor.wait_closed()


HOST_KEY = "sim_nodes_host_key"


def _key(path: Path, keep: bool) -> asyncssh.SSHKey:
    """The key at ``path`` when ``keep`` and it exists, else a new one written there (0600)."""
    if keep and path.exists():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519")
    tmp = path.with_name(path.name + ".tmp")
    key.write_private_key(str(tmp))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    key.write_public_key(str(path) + ".pub")
    return key


def _known_hosts_line(address: str, port: int, public_key: str) -> str:
    host = address if port == 22 else f"[{address}]:{port}"
    return f"{host} {public_key}"


async def start_sim_ssh_nodes(
    model: NodeTextModel,
    nodes: dict[str, str],
    *,
    port: int = 0,
    workdir: Path,
    clock: Callable[[], float] = time.time,
    keep_keys: bool = False,
) -> SimSSHNodes:
    """Listen on every node address (name -> loopback address) on one port; see the module doc.

    ``clock`` stamps the frames (the node's own clock): wall time by default, as a real node's.
    ``keep_keys``: reuse the host and client keys found in ``workdir`` (``sim serve
    --state-dir``: a restarted front keeps its identity, so known_hosts still verifies).
    """
    if not nodes:
        raise ValueError("no nodes to serve")
    by_address: dict[str, str] = {}
    for name, address in nodes.items():
        if address in by_address:
            raise ValueError(f"nodes {by_address[address]} and {name} share address {address}")
        by_address[address] = name
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    client_key_path = workdir / "sim_nodes_id_ed25519"
    host_key = _key(workdir / HOST_KEY, keep_keys)
    client_key = _key(client_key_path, keep_keys)
    authorized = asyncssh.import_authorized_keys(client_key.export_public_key().decode())

    async def handle(process: asyncssh.SSHServerProcess) -> None:
        local = process.get_extra_info("sockname")
        name = by_address.get(local[0]) if local else None
        await _serve_node(model, name, process, clock)

    for _attempt in range(5 if port == 0 else 1):
        acceptors: list = []
        chosen = port
        try:
            for address in nodes.values():
                acceptor = await asyncssh.listen(
                    host=address,
                    port=chosen,
                    server_host_keys=[host_key],
                    authorized_client_keys=authorized,
                    process_factory=handle,
                    allow_scp=False,
                    reuse_address=True,
                )
                acceptors.append(acceptor)
                chosen = acceptor.get_port()
            break
        except OSError as e:
            for acceptor in acceptors:
                acceptor.close()
            if e.errno != errno.EADDRINUSE or port != 0:
                raise
    else:
        raise OSError(errno.EADDRINUSE, "no port free on every node address")

    public = host_key.export_public_key().decode().strip()
    known_hosts_path = workdir / "sim_nodes_known_hosts"
    tmp = known_hosts_path.with_name(known_hosts_path.name + ".tmp")
    tmp.write_text("".join(_known_hosts_line(a, chosen, public) + "\n" for a in nodes.values()))
    os.replace(tmp, known_hosts_path)  # a client reading it never sees half a file
    return SimSSHNodes(
        port=chosen,
        known_hosts_path=known_hosts_path,
        client_key_path=client_key_path,
        addresses=dict(nodes),
        _acceptors=acceptors,
    )


async def _serve_node(
    model: NodeTextModel, name: str | None, process: asyncssh.SSHServerProcess, clock: Callable[[], float]
) -> None:
    parsed = parse_collect_command(process.command)
    if name is None:
        process.stderr.write("simulated node: unknown node address\n")
        process.exit(127)
        return
    if parsed is None:
        await _serve_script(model, name, process, clock)
        return
    interval_s, count = parsed
    node_stat = getattr(model, "node_stat", None)
    extra = model_sections(model, name, *parse_collect_extras(process.command))
    loop = asyncio.get_running_loop()
    # Like the shell loop: stop when the client closes stdin or goes away.
    stdin_closed = loop.create_task(process.stdin.read())
    due = loop.time()
    offset = parse_collect_align(process.command)
    if offset is not None:  # as the bash loop: first sample on the grid (plus the offset)
        now = clock()
        due += (now // interval_s + 1) * interval_s + offset - now
    seq = 0
    try:
        while True:
            if seq == 0 and due > loop.time():
                done, _ = await asyncio.wait({stdin_closed}, timeout=due - loop.time())
                if done:
                    break
            try:
                stat = node_stat(name) if node_stat is not None else None
                now = clock()
                text = render_frame(seq, now, model.node_meminfo(name), model.node_loadavg(name), stat,
                                    extra(seq, now) if extra is not None else "")
            except Exception as e:  # a model failure ends this stream visibly, not the server
                process.stderr.write(f"simulated node {name}: {e}\n")
                process.exit(1)
                return
            process.stdout.write(text)
            seq += 1
            if count and seq >= count:
                break
            due += interval_s
            now = loop.time()
            if due < now:
                due = now
            done, _ = await asyncio.wait({stdin_closed}, timeout=due - now)
            if done:
                break
        process.exit(0)
    except (OSError, asyncssh.Error):
        pass
    finally:
        stdin_closed.cancel()


async def _serve_script(model: NodeTextModel, name: str, process: asyncssh.SSHServerProcess,
                        clock: Callable[[], float]) -> None:
    """Run an allow-listed command line (``node_shell``) against the node's model. Unlike the
    collector's loop, it ignores stdin: a script's ``ssh node 'while ...'`` keeps streaming with
    stdin closed (``ssh -n``, ``< /dev/null``, a backgrounded ``ssh &``), as on a real node,
    until the client goes away."""
    try:
        script = node_shell.parse(process.command or "")
    except node_shell.NotAllowed as e:
        process.stderr.write(f"simulated node {name}: command not allowed ({e}); this node "
                             "answers only: " + node_shell.ALLOWED + "\n")
        process.exit(node_shell.NOT_ALLOWED)
        return
    loop = asyncio.get_running_loop()
    closed = loop.create_task(process.channel.wait_closed())

    def read_file(path: str) -> str | None:
        if path == "/proc/meminfo":
            return model.node_meminfo(name)
        if path == "/proc/loadavg":
            return model.node_loadavg(name)
        node_stat = getattr(model, "node_stat", None)
        return node_stat(name) if node_stat is not None else None

    async def write(stream, text: str) -> None:
        if closed.done():
            raise node_shell.Closed
        stream.write(text)
        await stream.drain()  # a reader that does not keep up slows the script, as a pipe would

    async def wait(seconds: float) -> None:
        done, _ = await asyncio.wait({closed}, timeout=seconds)
        if done:
            raise node_shell.Closed

    io = node_shell.NodeIO(read_file=read_file, write_out=lambda s: write(process.stdout, s),
                           write_err=lambda s: write(process.stderr, s), wait=wait, clock=clock)
    try:
        status = await node_shell.Interpreter(io).run(script)
        process.exit(status)
    except (node_shell.Closed, OSError, asyncssh.Error):
        pass
    except Exception as e:  # a model failure ends this command visibly, not the server
        try:
            process.stderr.write(f"simulated node {name}: {e}\n")
            process.exit(1)
        except (OSError, asyncssh.Error):
            pass
    finally:
        closed.cancel()
