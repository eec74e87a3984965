"""The one long-lived command a collector runs on a node, and the framed stream it prints.

Cost on the node matters (the tool measures memory near saturation), so the loop uses shell
builtins only when bash is there (RHCOS, every mainstream distribution): ``$EPOCHREALTIME`` for the
node's own timestamp, ``read`` to slurp /proc files, and ``read -t`` on the channel's stdin to
sleep. That last choice also ends the loop as soon as the collector goes away (stdin reaches EOF),
so no orphan is left on the node. Without bash a POSIX loop runs instead, at the price of a
``date`` and a ``sleep`` process per sample.

Each sample is one frame, written with a single ``printf`` (one write, smaller than PIPE_BUF)::

    @@scaler-frame <seq> <epoch microseconds>
    <the /proc/meminfo text>
    @@loadavg <the /proc/loadavg line>
    @@end <seq>

The parser accepts only complete frames whose end matches their start and whose meminfo parses,
so a cut stream or shell noise (motd, rc files) is counted and dropped, never mistaken for data.
The bash loop keeps to a fixed schedule (start + k * interval) rather than sleeping a fixed time
after each sample, so timestamps do not drift by the loop's own run time.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from collectors.meminfo import MemInfo, MemInfoError, parse_meminfo

MARKER = "scaler-collect"  # $0 of the remote loop: findable in `ps` on the node
HEADER = "@@scaler-frame "
LOADAVG = "@@loadavg "
END = "@@end "

_BASH_LOOP = r"""export LC_ALL=C
iv=$1; left=$2; n=0; next=${EPOCHREALTIME//[!0-9]/}
while :; do
t=${EPOCHREALTIME//[!0-9]/}
mi=; IFS= read -r -d '' mi < /proc/meminfo
la=; IFS= read -r la < /proc/loadavg
printf '@@scaler-frame %d %s\n%s@@loadavg %s\n@@end %d\n' "$n" "$t" "$mi" "$la" "$n" || exit 0
n=$((n+1))
if [ "$left" -gt 0 ]; then left=$((left-1)); if [ "$left" -eq 0 ]; then exit 0; fi; fi
next=$((next+iv)); now=${EPOCHREALTIME//[!0-9]/}; d=$((next-now))
if [ "$d" -lt 0 ]; then next=$now; d=0; fi
if [ "$d" -ge 1000 ]; then
printf -v frac '%06d' $((d%1000000))
read -r -t "$((d/1000000)).$frac" _
if [ $? -le 128 ]; then exit 0; fi
fi
done"""

_POSIX_LOOP = r"""iv=$1; left=$2; n=0
s=$((iv/1000000)).$(printf '%06d' $((iv%1000000)))
while :; do
t=$(date +%s%N 2>/dev/null)
case $t in ''|*[!0-9]*) t=$(date +%s)000000000;; esac
t=${t%???}
mi=
while IFS= read -r l; do mi="$mi$l
"; done < /proc/meminfo
la=; IFS= read -r la < /proc/loadavg
printf '@@scaler-frame %d %s\n%s@@loadavg %s\n@@end %d\n' "$n" "$t" "$mi" "$la" "$n" || exit 0
n=$((n+1))
if [ "$left" -gt 0 ]; then left=$((left-1)); if [ "$left" -eq 0 ]; then exit 0; fi; fi
sleep "$s" || exit 0
done"""


def collect_command(interval_s: float, count: int = 0) -> str:
    """The remote command line: sample every ``interval_s``, ``count`` times (0: until stopped).

    Everything variable goes through ``shlex.quote``; the login shell only sees one if/else.
    """
    if interval_s <= 0:
        raise ValueError("interval must be positive")
    args = f"{MARKER} {int(round(interval_s * 1e6))} {int(count)}"
    return (
        "if command -v bash >/dev/null 2>&1; then exec bash -c "
        f"{shlex.quote(_BASH_LOOP)} {args}; else exec sh -c {shlex.quote(_POSIX_LOOP)} {args}; fi"
    )


_COMMAND_ARGS = re.compile(re.escape(MARKER) + r" (\d+) (\d+);")


def parse_collect_command(command: str | None) -> tuple[float, int] | None:
    """(interval_s, count) if ``command`` is a ``collect_command``; for servers that emulate nodes."""
    m = _COMMAND_ARGS.search(command or "")
    if not m or int(m.group(1)) <= 0:
        return None
    return int(m.group(1)) / 1e6, int(m.group(2))


def render_frame(seq: int, time_s: float, meminfo_text: str, loadavg_text: str) -> str:
    """One frame, exactly as the remote loop prints it (used by simulated nodes)."""
    if meminfo_text and not meminfo_text.endswith("\n"):
        meminfo_text += "\n"
    load = loadavg_text.strip().splitlines()[0] if loadavg_text.strip() else ""
    return f"{HEADER}{seq} {int(round(time_s * 1e6))}\n{meminfo_text}{LOADAVG}{load}\n{END}{seq}\n"


@dataclass(frozen=True)
class Frame:
    seq: int
    time: float  # the node's clock, epoch seconds
    meminfo: MemInfo
    load1: float | None


class FrameParser:
    """Incremental parser: ``feed`` text as it arrives, get back the frames it completed.

    ``junk_chars`` and ``bad_frames`` count what was dropped, so a noisy node shows in the stats.
    """

    MAX_BUFFER = 1 << 20  # a frame is ~1.5 KiB; this much without one means garbage

    def __init__(self) -> None:
        self._buf = ""
        self.junk_chars = 0
        self.bad_frames = 0

    def feed(self, text: str) -> list[Frame]:
        self._buf += text
        frames: list[Frame] = []
        while True:
            start = self._find_header(0)
            if start < 0:
                keep = self._partial_header_tail()
                self.junk_chars += len(self._buf) - keep
                self._buf = self._buf[len(self._buf) - keep :]
                break
            if start:
                self.junk_chars += start
                self._buf = self._buf[start:]
            end = self._buf.find("\n" + END)
            nxt = self._find_header(1)
            if 0 <= nxt and (end < 0 or nxt < end):
                # a frame cut short by a new one (the stream restarted): drop the stub
                self.bad_frames += 1
                self._buf = self._buf[nxt:]
                continue
            if end < 0:
                if len(self._buf) > self.MAX_BUFFER:
                    self.bad_frames += 1
                    self.junk_chars += len(self._buf)
                    self._buf = ""
                break
            eol = self._buf.find("\n", end + 1)
            if eol < 0:
                break
            block, self._buf = self._buf[: eol + 1], self._buf[eol + 1 :]
            frame = self._parse_block(block)
            if frame is None:
                self.bad_frames += 1
            else:
                frames.append(frame)
        return frames

    def _find_header(self, after: int) -> int:
        # anywhere, not only at a line start: a frame glued to a cut line is still a frame
        return self._buf.find(HEADER, after)

    def _partial_header_tail(self) -> int:
        """Length of the longest buffer tail that may be a header still arriving."""
        for k in range(min(len(HEADER) - 1, len(self._buf)), 0, -1):
            if self._buf.endswith(HEADER[:k]):
                return k
        return 0

    @staticmethod
    def _parse_block(block: str) -> Frame | None:
        lines = block.split("\n")
        head = lines[0][len(HEADER) :].split()
        end = lines[-2] if len(lines) >= 2 else ""
        if len(head) != 2 or not head[0].isdigit() or not head[1].isdigit():
            return None
        if end != f"{END}{head[0]}" or len(lines) < 4 or not lines[-3].startswith(LOADAVG):
            return None
        try:
            info = parse_meminfo("\n".join(lines[1:-3]))
        except MemInfoError:
            return None
        load_fields = lines[-3][len(LOADAVG) :].split()
        try:
            load1 = float(load_fields[0]) if load_fields else None
        except ValueError:
            load1 = None
        return Frame(seq=int(head[0]), time=int(head[1]) / 1e6, meminfo=info, load1=load1)
