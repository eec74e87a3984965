"""Fan-in through a jump host: every node's sample stream on ONE SSH channel (``--jump-fan-in``).

The persistent collectors (``collectors.pool``) keep one asyncssh connection per node, and at a
few hundred nodes their cost is asyncssh's per-packet Python work: every sample is one packet to
decrypt and dispatch. Here the collector opens one connection to the jump host and runs one
POSIX sh script there (``fanin_command``); the script starts, for each node, the jump host's own
OpenSSH client running the same remote loop the direct path runs (``collect_command``), and
prefixes each of its output lines with the node's index (one ``sed -u`` per node); the nodes'
loops sample on the interval's grid (``collect_command(align=True)``), spread over the first
half-interval (at most 0.5 s), and a coalescer on the jump host (python3 when it has one, else
none) writes what arrived within 50 ms at once, so all the nodes' frames come back interleaved
on the one channel, tens of frames per packet. This side splits the lines by index into per-node frame parsers, so the samples and
pod records are exactly the direct path's (``NodeCollector``'s frame handling is reused).

Security and keys: the hop from the jump host to the nodes is the jump host's ``ssh``, with its
own keys (or agent) and its own ``~/.ssh/known_hosts``: ``StrictHostKeyChecking=yes`` and
``BatchMode=yes`` unless ``--ssh-insecure`` (then ``StrictHostKeyChecking=no`` and no known_hosts
file). ``--jump-ssh-option KEY=VALUE`` adds ``-o KEY=VALUE`` to that ssh (an ``IdentityFile`` or
``UserKnownHostsFile`` on the jump host, say). Every value reaching the remote shell is quoted
with ``shlex.quote``; node names never reach it (only an index), and ``--`` precedes each host so
an address cannot pose as an option. The login user and port per node are those the direct path
would use (``--ssh-user``/``--ssh-port``, local ~/.ssh/config, else core/22).

Failures: a node whose ssh exits is reported by the script (``<i> @@exit <status>``, after its
error lines) and becomes that node's gap at once; the script starts it again after a back-off
(1 s doubling to 8 s, back to 1 s after a run longer than 10 s), the other nodes untouched. A node
silent for the stall period is a gap until its frames come back. Losing the jump connection (or
all data for the stall period) makes every node a gap, and the connection is made again with the
usual capped back-off. Stopping closes the channel: the script sees its stdin end (or SIGHUP,
SIGPIPE, SIGTERM) and kills its process group, every node's ssh and sed included; each node's
loop then ends on its own stdin's end, as on the direct path.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
from collections.abc import Callable
from typing import Any, TextIO

import asyncssh

from collectors.background import BackgroundSource
from collectors.backoff import Backoff
from collectors.node_collector import (
    DEFAULT_BACKOFF_MAX_S,
    CollectorStats,
    NodeCollector,
    StreamSession,
    default_stall_after,
    keepalive_after_silence,
)
from collectors.pod_frames import PodRecords
from collectors.pool import MAX_PENDING_PODS
from collectors.remote_stream import FrameParser, collect_command
from collectors.sample import NodeSample
from collectors.ssh_connect import Connector, close_connection, describe_error
from collectors.ssh_targets import NodeTarget, SSHOptions

log = logging.getLogger("collectors.ssh")

# sshd runs a command as one argument of `sh -c`, and Linux caps one argument at 128 KiB: the
# node list travels inside the command, ~50-60 bytes a node, so about 1,800 nodes per jump host.
MAX_COMMAND_BYTES = 120 * 1024
FANIN_MARKER = "scaler-fanin"  # $0 of the jump host's script: findable in `ps` there
EXIT = "@@exit "
FANIN_LINE = "@@fanin "  # the script's own line, index "-": how it merges
_MEMINFO_LINE = re.compile(r"^[A-Za-z][\w()]*:\d+$")
_OPTION = re.compile(r"^[A-Za-z][A-Za-z0-9]*=.+$")

# The script run on the jump host (arguments: none; everything it needs is inlined, quoted).
# The nodes' ssh must not read the channel's stdin themselves: OpenSSH makes its stdin
# non-blocking, and on a shared descriptor the script's own read would then fail at once. So the
# script alone reads the channel (until it ends), and the nodes' ssh read a pipe from that reader
# (fd 3; a background job's stdin would be /dev/null) that never carries data and ends with it.
# One sed per node prefixes its lines (one write per line), then one coalescer (``_MERGE``)
# passes them on to the channel.
_SCRIPT = r"""trap 'trap "" HUP PIPE TERM INT; kill 0 2>/dev/null; exit 0' HUP PIPE TERM INT
C=@COMMAND@
M=@MERGE@
s() { ssh -T @OPTIONS@ "$@" "o=$o; $C"; }
if printf 'x\n' | sed -u 's/^/0 /' >/dev/null 2>&1; then
p() { sed -u "s/^/$1 /"; }
else
p() { while IFS= read -r l; do printf '%s %s\n' "$1" "$l"; done; }
fi
if python3 -c 'import os, select, time' >/dev/null 2>&1; then m() { python3 -c "$M"; }; k=python3; else m() { cat; }; k=none; fi
echo "- @@fanin merge=$k"
n() {
i=$1; o=$2; shift 2; w=1
while :; do
t=$(date +%s); s "$@" <&3 2>&1; e=$?
echo "@@exit $e"
if [ $(($(date +%s) - t)) -gt 10 ]; then w=1; fi
sleep "$w" || exit 0; w=$((w * 2)); if [ "$w" -gt 8 ]; then w=8; fi
done | p "$i"
}
{ while read -r _; do :; done; trap "" HUP PIPE TERM INT; kill 0 2>/dev/null; } | {
exec 3<&0
@NODES@
wait
} | m
trap "" HUP PIPE TERM INT; kill 0 2>/dev/null; exit 0"""


# The jump host's coalescer (when it has python3): the nodes sample on a shared grid (``align``,
# spread over SPREAD_S), so their frames arrive within a known half-interval; it passes on all
# that arrived within MERGE_WINDOW_S of the first byte in one write, so sshd sends ~10 packets a
# second for all the nodes rather than one (or more) per frame (200 nodes @ 1 Hz: ~20 frames a
# packet; bench/bench_collectors.py --jump). Without a python3 that runs, the lines go straight
# to sshd.
# The prefixing sed writes each line whole (one write, under PIPE_BUF), so the merged output
# never mixes two nodes inside a line.
MERGE_WINDOW_S = 0.05
# The nodes' sampling instants are spread over this much after the grid point (at most half the
# interval): many frames still share a packet, and the jump host (or a test rig serving every
# node from one machine) is not asked to wake hundreds of processes in the same instant. In the
# bench's loaded rig, every node at the same instant sampled ~190 ms late at p99; spread, 5-60 ms.
SPREAD_S = 0.5
_MERGE = """import os, select, time
i, o, w = 0, 1, @WINDOW@
while True:
    b = os.read(i, 1 << 16)
    if not b:
        break
    end = time.monotonic() + w
    while True:
        t = end - time.monotonic()
        if t <= 0 or not select.select([i], [], [], t)[0]:
            break
        c = os.read(i, 1 << 16)
        if not c:
            break
        b += c
    while b:
        b = b[os.write(o, b):]
"""


def node_ssh_options(options: SSHOptions, interval_s: float) -> list[str]:
    """The ``-o`` options of the jump host's ssh to every node (see the module doc)."""
    alive = max(1, int(round(keepalive_after_silence(interval_s))))
    opts = ["BatchMode=yes", f"ConnectTimeout={max(1, int(round(options.connect_timeout_s)))}",
            f"ServerAliveInterval={alive}", "ServerAliveCountMax=3", "LogLevel=ERROR"]
    if options.insecure:
        opts += ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null"]
    else:
        opts.append("StrictHostKeyChecking=yes")
    for extra in options.jump_ssh_options:
        if not _OPTION.match(extra):
            raise ValueError(f"--jump-ssh-option {extra!r}: expected KEY=VALUE")
        opts.append(extra)
    return opts


def fanin_command(
    hops: list[tuple[str, int | None, str]], options: SSHOptions, interval_s: float,
) -> str:
    """The one command run on the jump host: node ``i`` is ``hops[i]`` = (host, port, user)."""
    if not hops:
        raise ValueError("no nodes to reach")
    opts = " ".join(f"-o {shlex.quote(o)}" for o in node_ssh_options(options, interval_s))
    lines = []
    spread_us = int(min(SPREAD_S, interval_s / 2) * 1e6)
    for i, (host, port, user) in enumerate(hops):
        args = [str(i * spread_us // len(hops)), "-l", shlex.quote(user)]
        if port:
            args += ["-p", str(int(port))]
        lines.append(f"n {i} {' '.join(args)} -- {shlex.quote(host)} &")
    node_command = collect_command(interval_s, reading=options.reading, align=True)
    merge = _MERGE.replace("@WINDOW@", repr(MERGE_WINDOW_S))
    script = (_SCRIPT.replace("@COMMAND@", shlex.quote(node_command))
              .replace("@OPTIONS@", opts)
              .replace("@MERGE@", shlex.quote(merge))
              .replace("@NODES@", "\n".join(lines)))
    return f"exec sh -c {shlex.quote(script)} {FANIN_MARKER}"


class _FanInNode(NodeCollector):
    """One node's frames and gaps (``NodeCollector``'s), fed from the shared channel."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parser = FrameParser()
        self.error_tail = ""

    def new_stream(self) -> None:
        """The node's loop starts again (its frames count from 0)."""
        self._next_seq = 0
        self._prev_cpu = None
        self._pods = PodRecords(self.target.name)
        self.parser = FrameParser()

    def feed(self, text: str) -> None:
        for frame in self.parser.feed(text):
            if not self.stats.connected:
                self.stats.connected = True
                self.stats.connects += 1
            self._on_frame(frame)
        self.stats.bad_frames += self.parser.bad_frames
        self.stats.junk_chars += self.parser.junk_chars
        self.parser.bad_frames = self.parser.junk_chars = 0

    def lost(self, why: str, *, quiet: bool = False) -> None:
        self.stats.connected = False
        self.stats.failures += 1
        if self.stats.last_error != why and not quiet:
            log.warning("node %s (%s): %s; retried by the jump host", self.target.name,
                        self.target.host, why)
        self.stats.last_error = why
        self._start_gaps(0.0)

    def start_waiting(self, delay_s: float) -> None:
        self._start_gaps(delay_s)

    def stop_gaps(self) -> None:
        if self._gap_task is not None:
            self._gap_task.cancel()
            self._gap_task = None


class _FanInSession(StreamSession):
    def __init__(self, pool: JumpFanInPool) -> None:
        super().__init__()
        self._pool = pool
        self._rest = ""

    def stdout_received(self, data: str) -> None:
        self._pool._data_at = asyncio.get_running_loop().time()
        text = self._rest + data if self._rest else data
        cut = text.rfind("\n") + 1
        self._rest = text[cut:]
        if len(self._rest) > FrameParser.MAX_BUFFER:
            self._rest = ""
        if cut:
            self._pool._on_lines(text[:cut])


class JumpFanInPool(BackgroundSource):
    """``collectors.sample.NodeSource``: every node through one fan-in channel on the jump host
    (``options.jump_host``); see the module doc."""

    thread_name = "scaler-fanin"

    def __init__(
        self,
        targets: list[NodeTarget],
        options: SSHOptions,
        interval_s: float = 1.0,
        *,
        backoff_max_s: float = DEFAULT_BACKOFF_MAX_S,
        stall_after_s: float | None = None,
        warn_to: TextIO | None = None,
        on_sample: Callable[[NodeSample], None] | None = None,
    ) -> None:
        super().__init__([t.name for t in targets], interval_s, MAX_PENDING_PODS, on_sample)
        if not options.jump_host:
            raise ValueError("a fan-in needs a jump host")
        self.targets = list(targets)
        self.options = options
        self.stall_after_s = stall_after_s or default_stall_after(interval_s)
        self._backoff = Backoff(min(max(interval_s, 0.2), 1.0), backoff_max_s)
        self._warn_to = warn_to
        self._connector = Connector(options, keepalive_interval_s=keepalive_after_silence(interval_s),
                                    warn_to=warn_to)
        self._nodes: list[_FanInNode] = []
        self._data_at = 0.0
        self.jump_stats = CollectorStats(node=f"jump {options.jump_host}")
        # built here: a bad --jump-ssh-option, a broken ssh config or too many nodes fail now
        self._command = fanin_command(self._hops(), options, interval_s)
        if len(self._command.encode()) > MAX_COMMAND_BYTES:
            raise ValueError(
                f"{len(targets)} nodes make a {len(self._command.encode()) // 1024} KiB fan-in "
                f"command, over the {MAX_COMMAND_BYTES // 1024} KiB one remote command may be "
                "(Linux takes at most 128 KiB per argument); split the nodes over several runs "
                "or jump hosts, or sample them directly")

    def stats(self) -> dict[str, CollectorStats]:
        """Per-node counters, as ``CollectorPool.stats``."""
        with self._lock:
            return {n.target.name: CollectorStats(**vars(n.stats)) for n in self._nodes}

    # -- the loop thread ------------------------------------------------------------------

    def _on_lines(self, text: str) -> None:
        nodes = self._nodes
        chunks: dict[int, list[str]] = {}
        for line in text.split("\n")[:-1]:
            index, _, payload = line.partition(" ")
            if index == "-" and payload.startswith(FANIN_LINE):
                self._on_fanin_line(payload[len(FANIN_LINE):])
                continue
            if not index.isdigit() or int(index) >= len(nodes):
                self.jump_stats.junk_chars += len(line) + 1
                continue
            i = int(index)
            if payload.startswith(EXIT):
                node = nodes[i]
                if i in chunks:
                    node.feed("".join(chunks.pop(i)))
                why = f"ssh from the jump host exited (status {payload[len(EXIT):].strip()})"
                if node.error_tail:
                    why += ": " + node.error_tail
                node.error_tail = ""
                node.new_stream()
                node.lost(why)
                continue
            if not payload.startswith("@@") and not _MEMINFO_LINE.match(payload) and payload:
                nodes[i].error_tail = payload.strip()[:200]
            chunks.setdefault(i, []).append(payload + "\n")
        for i, lines in chunks.items():
            nodes[i].feed("".join(lines))

    def _on_fanin_line(self, text: str) -> None:
        """The script's own report (``- @@fanin merge=python3|none``), kept in ``jump_stats``."""
        info = dict(kv.partition("=")[::2] for kv in text.split())
        if info != self.jump_stats.access:
            self.jump_stats.access = info
            if info.get("merge") == "none":
                log.warning("jump host %s has no python3: the nodes' frames are not merged "
                            "(about one packet per sample; more collector CPU)",
                            self.options.jump_host)

    def _tasks(self, loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[None]]:
        nodes = [
            _FanInNode(t, self._connector, self.interval_s, self._emit,
                       stall_after_s=self.stall_after_s, reading=self.options.reading,
                       emit_pods=self._emit_pods)
            for t in self.targets
        ]
        with self._lock:
            self._nodes = nodes
        return [loop.create_task(self._run(), name="fan-in")]

    def _hops(self) -> list[tuple[str, int | None, str]]:
        hops: list[tuple[str, int | None, str]] = []
        for t in self.targets:
            chosen = self._connector.settings(t)
            hops.append((t.host, chosen.port, chosen.user))
        return hops

    async def _run(self) -> None:
        command = self._command
        for node in self._nodes:
            node.start_waiting(self.stall_after_s + self.options.connect_timeout_s)
        try:
            while True:
                try:
                    await self._stream_once(command)
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # any failure is every node's gap, never a dead pool
                    self._jump_lost(describe_error(e, self.options.jump_host))
                await asyncio.sleep(self._backoff.next_delay())
        finally:
            for node in self._nodes:
                node.stats.connected = False
                node.stop_gaps()

    def _jump_lost(self, why: str) -> None:
        s = self.jump_stats
        s.connected = False
        s.failures += 1
        if s.last_error != why:
            log.warning("jump host %s: %s; every node is a gap until it is back",
                        self.options.jump_host, why)
        s.last_error = why
        for node in self._nodes:
            node.new_stream()
            node.lost(f"jump host: {why}", quiet=True)

    async def _stream_once(self, command: str) -> None:
        kw = self._connector.jump_kwargs()
        assert kw is not None
        conn = await asyncio.wait_for(asyncssh.connect(**kw), self.options.connect_timeout_s + 1.0)
        try:
            session = _FanInSession(self)
            await conn.create_session(lambda: session, command)
            self.jump_stats.connects += 1
            self.jump_stats.connected = True
            loop = asyncio.get_running_loop()
            started = self._data_at = loop.time()
            # the nodes' own connections take a while: a node is a gap only after that
            grace = started + self.options.connect_timeout_s
            while True:
                done, _ = await asyncio.wait({session.closed}, timeout=self.interval_s)
                if done:
                    raise StreamLostError(session.why_closed(self.options.jump_host,
                                                             "fan-in script"))
                now = loop.time()
                if now - self._data_at > self.stall_after_s and now > grace:
                    raise StreamLostError(f"no data from the jump host for {self.stall_after_s:.1f}s")
                if self._data_at > started:
                    self._backoff.reset()
                for node in self._nodes:  # a node silent for the stall period is a gap
                    if (node.stats.connected
                            and now - node._last_frame_at > node.stall_after_s):
                        node.lost(f"no sample for {node.stall_after_s:.1f}s")
        finally:
            await close_connection(conn, 1.0)

    async def _close(self) -> None:
        await self._connector.close()


class StreamLostError(Exception):
    """The fan-in channel ended or went silent."""
