"""CollectorPool behaviour that needs no SSH server: gaps for unreachable nodes, hand-over, stop."""

import asyncio
import socket
import time

import pytest

from collectors.meminfo import parse_meminfo, render_meminfo
from collectors.node_collector import NodeCollector
from collectors.pool import CollectorPool
from collectors.remote_stream import Frame
from collectors.ssh_connect import Connector
from collectors.ssh_targets import NodeTarget, SSHOptions
from tests.sshd_support import free_port

IV = 0.2
OPTS = SSHOptions(user="core", port=None, known_hosts=None, config_files=(), connect_timeout_s=2.0)


def test_unreachable_node_yields_one_gap_per_interval_never_values():
    target = NodeTarget("gone", "127.0.0.1", free_port())  # nothing listens: refused at once
    pool = CollectorPool([target], OPTS, IV, stall_after_s=IV, backoff_max_s=0.4)
    pool.start()
    try:
        time.sleep(IV * 8)
        first = pool.drain()
        again = pool.drain()
        latest = pool.latest()
    finally:
        pool.stop()
    assert first and all(not s.ok for s in first)
    assert all(not s.ok for s in again)  # drained: at most what arrived in between
    assert all(s.mem_total_mib is None and s.mem_free_mib is None and s.load1 is None for s in first)
    assert latest["gone"].status == "reconnecting"
    assert 4 <= len(first) <= 9  # ~7 intervals after one interval of grace
    spacing = [b.time - a.time for a, b in zip(first, first[1:], strict=False)]
    assert min(spacing) >= 0.5 * IV
    stats = pool.stats()["gone"]
    assert stats.failures >= 2 and stats.connects == 0 and "refused" in stats.last_error.lower()


def test_hung_handshake_does_not_block_the_caller_and_still_yields_gaps():
    with socket.socket() as silent:  # accepts TCP (kernel backlog), never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        target = NodeTarget("mute", "127.0.0.1", silent.getsockname()[1])
        pool = CollectorPool([target], OPTS, IV, stall_after_s=IV)
        pool.start()
        try:
            time.sleep(IV * 5)
            started = time.monotonic()
            samples = pool.drain()
            pool.latest()
            assert time.monotonic() - started < 0.05  # the engine never waits on the network
        finally:
            pool.stop()
    assert len(samples) >= 2 and all(not s.ok for s in samples)


def test_pool_lifecycle():
    pool = CollectorPool([], OPTS, IV)
    pool.stop()  # before start: nothing to do
    pool.start()
    assert pool.drain() == [] and pool.latest() == {}
    pool.stop()
    pool.stop()
    with pytest.raises(RuntimeError):
        pool.start()
    with pytest.raises(ValueError):
        CollectorPool([NodeTarget("a", "h"), NodeTarget("a", "i")], OPTS, IV)
    with pytest.raises(ValueError):
        CollectorPool([], OPTS, 0)


def test_collector_counts_samples_the_node_numbered_but_never_delivered():
    emitted = []
    info = parse_meminfo(render_meminfo({"MemTotal": 1000, "MemFree": 500}))

    async def scenario():
        c = NodeCollector(NodeTarget("n", "h"), Connector(OPTS), IV, emitted.append)
        for seq in (0, 1, 4, 5):
            c._on_frame(Frame(seq=seq, time=100.0 + seq, meminfo=info, load1=0.1))
        c._emit_gap()
        return c.stats

    stats = asyncio.run(scenario())
    assert stats.lost == 2 and stats.frames == 4 and stats.gaps == 1
    assert [s.status for s in emitted] == ["ok"] * 4 + ["reconnecting"]
    assert emitted[-1].time > emitted[-2].time  # a gap never goes back in time


def test_nodes_behind_a_dead_jump_host_share_one_attempt():
    with socket.socket() as silent:  # the jump host accepts TCP and then never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        opts = SSHOptions(user="core", port=None, config_files=(), connect_timeout_s=1.0,
                          jump_host=f"127.0.0.1:{silent.getsockname()[1]}")
        targets = [NodeTarget(f"n{i}", "127.0.0.9", 22) for i in range(4)]
        pool = CollectorPool(targets, opts, IV, stall_after_s=IV, stagger=False)
        pool.start()
        try:
            time.sleep(2.2)
            stats = pool.stats()
        finally:
            pool.stop()
        silent.setblocking(False)
        accepted = 0
        while True:
            try:
                silent.accept()[0].close()
                accepted += 1
            except BlockingIOError:
                break
    # one handshake attempt per retry window, not one per node queued behind it
    assert all(s.failures >= 1 and "jump host" in s.last_error for s in stats.values()), stats
    assert accepted <= 2
