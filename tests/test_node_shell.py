"""scaler.simserve.node_shell: the allow-listed commands a simulated node answers over SSH."""

import asyncio

import pytest

from scaler.simserve import node_shell
from scaler.simserve.node_shell import NotAllowed, parse

LOOP = "while true; do cat /proc/meminfo; sleep 5; done"


@pytest.mark.parametrize("line", [
    "cat /proc/meminfo",
    "cat /proc/meminfo /proc/loadavg",
    LOOP,
    "while :; do cat /proc/loadavg; sleep 0.5; done",
    "while true\ndo\n  cat /proc/meminfo  # the sample\n  sleep 5\ndone\n",
    "date +%s; cat /proc/meminfo && sleep 1 || echo failed",
    "while sleep 5; do date +%s && cat '/proc/meminfo'; done",
    'echo "---" ; cat /proc/stat',
    "sleep 1m; true; false; :",
    "while true; do while true; do cat /proc/loadavg; sleep 1; done; done",
])
def test_allowed(line):
    assert parse(line).items


@pytest.mark.parametrize("line", [
    "cat /etc/passwd",
    "cat /proc/meminfo | grep MemFree",
    "cat /proc/meminfo > /tmp/x",
    "cat /proc/meminfo &",
    "rm -rf /",
    "sleep $((1+1))",
    "echo `id`",
    'echo "$HOME"',
    "sleep",
    "sleep forever",
    "while true; do cat /proc/meminfo; done; reboot",
    "while true; do cat /proc/meminfo",
    "bash -c 'cat /proc/meminfo'",
    "(cat /proc/meminfo)",
    "cat /proc/meminfo;; sleep 1",
    "date -s 2020-01-01",
    "",
    "  ;  ",
    "'unterminated",
    "do cat /proc/meminfo; done",
])
def test_refused_as_a_whole(line):
    with pytest.raises(NotAllowed):
        parse(line)


class FakeNode:
    def __init__(self, has_stat=True, closes_after=None):
        self.out: list[str] = []
        self.err: list[str] = []
        self.slept: list[float] = []
        self.reads = 0
        self.has_stat = has_stat
        self.closes_after = closes_after  # writes before the client "goes away"

    def io(self):
        async def write_out(text):
            if self.closes_after is not None and len(self.out) >= self.closes_after:
                raise node_shell.Closed
            self.out.append(text)

        async def write_err(text):
            self.err.append(text)

        async def wait(seconds):
            self.slept.append(seconds)
            await asyncio.sleep(0)

        def read_file(path):
            self.reads += 1
            if path == "/proc/stat":
                return "cpu  1 2 3 4\n" if self.has_stat else None
            return f"{path} #{self.reads}\n"

        return node_shell.NodeIO(read_file=read_file, write_out=write_out, write_err=write_err,
                                 wait=wait, clock=lambda: 1767225600.75)

    def run(self, line):
        return asyncio.run(node_shell.Interpreter(self.io()).run(parse(line)))


def test_sequences_and_status():
    node = FakeNode()
    assert node.run("cat /proc/meminfo; date +%s && echo a b || echo no") == 0
    assert node.out == ["/proc/meminfo #1\n", "1767225600\n", "a b\n"]
    node = FakeNode()
    assert node.run("false && echo skipped; false || echo ran") == 0
    assert node.out == ["ran\n"]
    assert FakeNode().run("true; false") == 1


def test_proc_stat_without_a_cpu_model_is_a_clear_error():
    node = FakeNode(has_stat=False)
    assert node.run("cat /proc/stat") == 1
    assert node.err == ["cat: /proc/stat: not simulated (this model has no CPU model)\n"]
    assert node.run("cat /proc/stat && echo no; echo yes") == 0 and node.out == ["yes\n"]
    node = FakeNode(has_stat=True)
    assert node.run("cat /proc/stat") == 0 and node.out == ["cpu  1 2 3 4\n"]


def test_loop_runs_until_the_client_goes_away():
    node = FakeNode(closes_after=4)
    with pytest.raises(node_shell.Closed):
        node.run(LOOP)
    assert node.out == [f"/proc/meminfo #{i}\n" for i in range(1, 5)]
    assert node.slept.count(5.0) == 4


def test_a_loop_without_sleep_is_paced():
    node = FakeNode(closes_after=3)
    with pytest.raises(node_shell.Closed):
        node.run("while true; do cat /proc/loadavg; done")
    assert node.slept and all(s <= node_shell.MIN_ITERATION_S for s in node.slept)
    assert any(s > 0 for s in node.slept)


def test_while_condition_status_ends_the_loop():
    node = FakeNode()
    assert node.run("while false; do cat /proc/meminfo; done") == 0
    assert node.out == []


def test_sleep_units():
    assert node_shell.sleep_seconds("1.5") == 1.5
    assert node_shell.sleep_seconds("2m") == 120.0
    assert node_shell.sleep_seconds(".5s") == 0.5
