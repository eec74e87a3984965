"""The one long-lived command a collector runs on a node, and the framed stream it prints.

Cost on the node matters (the tool measures memory near saturation), so the loop uses shell
builtins only when bash is there (RHCOS, every mainstream distribution): ``$EPOCHREALTIME`` for the
node's own timestamp, ``read`` to slurp /proc files, ``[[ =~ ]]`` to pick fields, and ``read -t``
on the channel's stdin to sleep. That last choice also ends the loop as soon as the collector goes
away (stdin reaches EOF), so no orphan is left on the node. Without bash a POSIX loop runs instead,
at the price of a ``date`` and a ``sleep`` process per sample.

Each sample is one frame, written with a single write (smaller than PIPE_BUF), so sshd sends it
as one SSH packet: bash's ``printf`` builtin writes line by line (5 writes, 2-3 packets a frame),
so the bash loop formats with ``printf -v`` and writes with one ``echo -nE``; dash's ``printf``
writes once by itself::

    @@scaler-frame <seq> <epoch microseconds>
    MemTotal:<kB>            only the /proc/meminfo fields in MEMINFO_FIELDS, as Name:value
    ...
    @@cpu <online CPUs> <the aggregate "cpu" line of /proc/stat, without its label>
    @@work ...               the pods' work, every frame when asked (collectors.pod_frames)
    @@pods ...               per-pod memory, one line per pod, every pod interval when asked
    @@access ...             what the loop could read, with each @@pods
    @@loadavg <the /proc/loadavg line>
    @@end <seq>

After the meminfo lines come sections, one ``@@<name> <payload>`` line each (a later section may
continue on lines that do not start with ``@@``); the parser ignores sections it does not know, so
a section can be added (per-node work, say) without breaking an older reader. Only the fields
used are sent: ~250 bytes a frame instead of ~1.5 KiB of full meminfo, which is less to encrypt,
decrypt and parse per sample for every node. The CPU count is read once per stream (from the
``cpuN`` lines of /proc/stat); the counters every sample.

The parser accepts only complete frames whose end matches their start and whose meminfo lines
hold MemTotal and MemFree, so a cut stream or shell noise (motd, rc files) is counted and dropped,
never mistaken for data. The bash loop keeps to a fixed schedule (start + k * interval) rather than
sleeping a fixed time after each sample, so timestamps do not drift by the loop's own run time.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import NamedTuple

from collectors.cpustat import CpuTimes, parse_cpu_fields
from collectors.meminfo import MemInfo, MemInfoError, parse_meminfo_lines
from collectors.remote_pods import NO_PODS, PodReading, bash_pods

MARKER = "scaler-collect"  # $0 of the remote loop: findable in `ps` on the node
HEADER = "@@scaler-frame "
SECTION = "@@"
CPU = "cpu"
LOADAVG = "loadavg"
END = "@@end "

# What NodeSample records. Shmem and Cached show a kata guest's memory (its RAM is a shared
# mapping in /dev/shm on the host, counted as Shmem and inside Cached, not as process memory).
MEMINFO_FIELDS = ("MemTotal", "MemFree", "MemAvailable", "Active", "Inactive", "Shmem", "Cached")

# Bash: the field regexes are anchored on the newline before the name, so "Cached:" never
# matches "SwapCached:" nor "Active:" "Active(anon):". The CPU count is the number of cpuN lines
# (everything before the "intr" line, minus the aggregate line): read once, not per sample.
_BASH_LOOP = r"""export LC_ALL=C
exec 2>/dev/null
iv=$1; left=$2; n=0; next=${EPOCHREALTIME//[!0-9]/}; nl=$'\n'
@PODS@st=; IFS= read -r -d '' st < /proc/stat; c=0
case $st in *"${nl}intr"*) st=${st%%"${nl}intr"*}; c=${st//[!$nl]/}; c=${#c};; esac
if [ "${align:-0}" = 1 ]; then
next=$(( (next/iv+1)*iv + ${11:-0} )); d=$((next-${EPOCHREALTIME//[!0-9]/}))
if [ "$d" -ge 1000 ]; then
printf -v frac '%06d' $((d%1000000))
read -r -t "$((d/1000000)).$frac" _
if [ $? -le 128 ]; then exit 0; fi
fi
fi
while :; do
t=${EPOCHREALTIME//[!0-9]/}
mi=; IFS= read -r -d '' mi < /proc/meminfo; mi=$nl$mi; m=
for f in @FIELDS@; do
[[ $mi =~ $nl$f:\ *([0-9]+) ]] && m+=$f:${BASH_REMATCH[1]}$nl
done
cl=; IFS= read -r cl < /proc/stat
la=; IFS= read -r la < /proc/loadavg
ws=; if (( wk )); then work; ws="@@work $wrate $wn $wst $wsk $kla$nl"; fi
po=; if (( pe > 0 && n % pe == 0 )); then podsample; fi
printf -v fr '@@scaler-frame %d %s\n%s@@cpu %s %s\n%s%s@@loadavg %s\n@@end %d\n' "$n" "$t" "$m" "$c" "${cl#cpu}" "$ws" "$po" "$la" "$n"
echo -nE "$fr" || exit 0
n=$((n+1))
if [ "$left" -gt 0 ]; then left=$((left-1)); if [ "$left" -eq 0 ]; then exit 0; fi; fi
next=$((next+iv)); now=${EPOCHREALTIME//[!0-9]/}; d=$((next-now))
if [ "$d" -lt 0 ]; then next=$now; d=0; fi
if [ "$d" -ge 1000 ]; then
printf -v frac '%06d' $((d%1000000))
read -r -t "$((d/1000000)).$frac" _
if [ $? -le 128 ]; then exit 0; fi
fi
done""".replace("@FIELDS@", " ".join(MEMINFO_FIELDS)).replace("@PODS@", bash_pods())

_POSIX_LOOP = r"""iv=$1; left=$2; n=0
s=$((iv/1000000)).$(printf '%06d' $((iv%1000000)))
c=0
while IFS= read -r l; do case $l in cpu[0-9]*) c=$((c+1));; esac; done < /proc/stat
while :; do
t=$(date +%s%N 2>/dev/null)
case $t in ''|*[!0-9]*) t=$(date +%s)000000000;; esac
t=${t%???}
m=
while IFS=': ' read -r k v _; do case $k in @FIELDS@) m="$m$k:$v
";; esac; done < /proc/meminfo
cl=; IFS= read -r cl < /proc/stat
la=; IFS= read -r la < /proc/loadavg
printf '@@scaler-frame %d %s\n%s@@cpu %s %s\n@@loadavg %s\n@@end %d\n' "$n" "$t" "$m" "$c" "${cl#cpu}" "$la" "$n" || exit 0
n=$((n+1))
if [ "$left" -gt 0 ]; then left=$((left-1)); if [ "$left" -eq 0 ]; then exit 0; fi; fi
sleep "$s" || exit 0
done""".replace("@FIELDS@", "|".join(MEMINFO_FIELDS))


def collect_command(interval_s: float, count: int = 0, reading: PodReading = NO_PODS, *,
                    align: bool = False) -> str:
    """The remote command line: sample every ``interval_s``, ``count`` times (0: until stopped),
    with the per-pod and work reading of ``reading`` (none by default).

    ``align``: the bash loop takes its first sample at the next multiple of the interval on the
    node's clock (epoch time), plus ``$o`` microseconds when the command is run as ``o=N;
    <command>`` (``N`` below the interval), so the nodes of a fan-in sample together and their frames cross
    the jump host's one channel together, many per packet (``collectors.jump_pool``); the direct
    path leaves it off (its nodes start spread over an interval, spreading the collector's work).

    The bash loop's text is assigned once to ``S`` and started by one of the branches below, so
    the command carries it once. ``reading.sudo``: ``never`` runs it as the login user; ``auto``
    runs it under ``sudo -n`` when the user is not root and sudo works without a password, else
    as the user; ``always`` refuses to start without root (one line on stderr, exit 126). The
    way it started is the loop's last argument, reported in its ``@@access`` line. The
    ``id`` and ``sudo -n true`` processes run once per connection, never per sample.
    Everything variable goes through ``shlex.quote``.
    """
    if interval_s <= 0:
        raise ValueError("interval must be positive")
    iv = int(round(interval_s * 1e6))
    args = " ".join([
        MARKER, str(iv), str(int(count)), str(reading.pod_every(interval_s)),
        "1" if reading.work else "0", shlex.quote(reading.cgroup_root),
        shlex.quote(reading.kubelet_root), str(int(round(reading.pss_budget_ms * 1000))),
        str(reading.rescan_every), str(reading.full_rescan_every),
    ])
    run = f'bash -c "$S" {args}'
    # aligned: the first sample ${11} microseconds after the grid point, from a variable the
    # caller sets in front of this command (``o=N; ...``; fan-in: nodes spread over a few ms)
    tail = ' "${o:-0}"' if align else ""
    root = '[ "$(id -u 2>/dev/null)" = 0 ]'
    if reading.sudo == "never":
        start = f"exec {run} user{tail}"
    elif reading.sudo == "auto":
        start = (f"if {root} || ! command -v sudo >/dev/null 2>&1; then "
                 f"if {root}; then exec {run} user{tail}; fi; exec {run} nosudo{tail}; fi; "
                 f"if sudo -n true 2>/dev/null; then exec sudo -n {run} sudo{tail}; fi; exec {run} refused{tail}")
    else:
        start = (f"if {root}; then exec {run} user{tail}; fi; "
                 f"if sudo -n true 2>/dev/null; then exec sudo -n {run} sudo{tail}; fi; "
                 f"echo {shlex.quote(SUDO_REFUSED)} >&2; exit 126")
    loop = (_ALIGN if align else "") + _BASH_LOOP
    return (
        f"S={shlex.quote(loop)}; if command -v bash >/dev/null 2>&1; then {start}; "
        f"else exec sh -c {shlex.quote(_POSIX_LOOP)} {MARKER} {iv} {int(count)}; fi"
    )


_ALIGN = "align=1\n"  # the first line of an aligned loop (what parse_collect_align looks for)

SUDO_REFUSED = "scaler-collect: --ssh-sudo always: sudo -n did not run (not installed, or it asks a password)"

_COMMAND_ARGS = re.compile(re.escape(MARKER) + r" (\d+) (\d+)(?: (\d+) ([01]))?[ ;]")


def parse_collect_command(command: str | None) -> tuple[float, int] | None:
    """(interval_s, count) if ``command`` is a ``collect_command``; for servers that emulate nodes."""
    m = _COMMAND_ARGS.search(command or "")
    if not m or int(m.group(1)) <= 0:
        return None
    return int(m.group(1)) / 1e6, int(m.group(2))


def parse_collect_extras(command: str | None) -> tuple[int, bool]:
    """(pod sample every N frames, read work) asked by a ``collect_command``; (0, False) if none."""
    m = _COMMAND_ARGS.search(command or "")
    if not m or m.group(3) is None:
        return 0, False
    return int(m.group(3)), m.group(4) == "1"


_ALIGNED = re.compile(r"^(?:o=(\d+); )?S='" + re.escape(_ALIGN))


def parse_collect_align(command: str | None) -> float | None:
    """The offset after the interval's grid point (seconds) at which a ``collect_command``
    asks to sample (``align``, ``o=N; `` in front), None if it does not ask to align."""
    m = _ALIGNED.match(command or "")
    return None if m is None else int(m.group(1) or 0) / 1e6


def filter_meminfo(meminfo_text: str) -> str:
    """The MEMINFO_FIELDS lines of /proc/meminfo text as the loop prints them (``Name:kB``)."""
    values: dict[str, str] = {}
    for line in meminfo_text.splitlines():
        name, sep, rest = line.partition(":")
        parts = rest.split()
        if sep and parts and name in MEMINFO_FIELDS and parts[0].isdigit():
            values.setdefault(name, parts[0])
    return "".join(f"{n}:{values[n]}\n" for n in MEMINFO_FIELDS if n in values)


_CPU_N = re.compile(r"^cpu\d+ ", re.MULTILINE)


def render_frame(
    seq: int, time_s: float, meminfo_text: str, loadavg_text: str, stat_text: str | None = None,
    sections: str = "",
) -> str:
    """One frame, exactly as the remote loop prints it (used by simulated nodes).

    ``meminfo_text``, ``loadavg_text`` and ``stat_text`` are the node's whole /proc/meminfo,
    /proc/loadavg and /proc/stat; without ``stat_text`` the frame has no ``@@cpu`` section (the
    node's CPU is then unknown, not zero). ``sections``: further sections' text, each line
    ending in a newline (``@@work``, ``@@pods``, ``@@access``: ``collectors.pod_frames``).
    """
    if sections and (not sections.startswith(SECTION) or not sections.endswith("\n")
                     or "\n" + END in "\n" + sections):
        raise ValueError("sections must be whole @@ lines and must not end the frame")
    load = loadavg_text.strip().splitlines()[0] if loadavg_text.strip() else ""
    cpu = ""
    if stat_text is not None:
        first = stat_text.split("\n", 1)[0]
        counters = first[len(CPU):] if first.startswith(CPU + " ") else ""
        cpu = f"{SECTION}{CPU} {len(_CPU_N.findall(stat_text))} {counters}\n"
    return (
        f"{HEADER}{seq} {int(round(time_s * 1e6))}\n{filter_meminfo(meminfo_text)}{cpu}"
        f"{sections}{SECTION}{LOADAVG} {load}\n{END}{seq}\n"
    )


_NO_SECTIONS: Mapping[str, str] = {}


class Frame(NamedTuple):
    seq: int
    time: float  # the node's clock, epoch seconds
    meminfo: MemInfo
    load1: float | None
    cpu: CpuTimes | None = None  # cumulative counters of all CPUs
    cpus: int | None = None  # online CPUs
    sections: Mapping[str, str] = _NO_SECTIONS  # every section's text, by name


class FrameParser:
    """Incremental parser: ``feed`` text as it arrives, get back the frames it completed.

    ``junk_chars`` and ``bad_frames`` count what was dropped, so a noisy node shows in the stats.
    """

    # a frame is ~250 bytes (~100 more per pod in a pod sample: 25 KiB at 250 pods); this much
    # without one means garbage
    MAX_BUFFER = 1 << 20

    def __init__(self) -> None:
        self._buf = ""
        self.junk_chars = 0
        self.bad_frames = 0

    def feed(self, text: str) -> list[Frame]:
        buf = self._buf + text if self._buf else text
        frames: list[Frame] = []
        while True:
            start = buf.find(HEADER)  # anywhere: a frame glued to a cut line is still a frame
            if start < 0:
                keep = _partial_header_tail(buf)
                self.junk_chars += len(buf) - keep
                buf = buf[len(buf) - keep :]
                break
            if start:
                self.junk_chars += start
                buf = buf[start:]
            end = buf.find("\n" + END)
            nxt = buf.find(HEADER, 1)
            if 0 <= nxt and (end < 0 or nxt < end):
                # a frame cut short by a new one (the stream restarted): drop the stub
                self.bad_frames += 1
                buf = buf[nxt:]
                continue
            if end < 0:
                if len(buf) > self.MAX_BUFFER:
                    self.bad_frames += 1
                    self.junk_chars += len(buf)
                    buf = ""
                break
            eol = buf.find("\n", end + 1)
            if eol < 0:
                break
            frame = _parse_block(buf[: eol + 1])
            buf = buf[eol + 1 :]
            if frame is None:
                self.bad_frames += 1
            else:
                frames.append(frame)
        self._buf = buf
        return frames


def _partial_header_tail(buf: str) -> int:
    """Length of the longest buffer tail that may be a header still arriving."""
    for k in range(min(len(HEADER) - 1, len(buf)), 0, -1):
        if buf.endswith(HEADER[:k]):
            return k
    return 0


def _parse_block(block: str) -> Frame | None:
    lines = block.split("\n")  # ends with "" after the final newline
    seq_text, _, time_text = lines[0][len(HEADER) :].partition(" ")
    if not seq_text.isdigit() or not time_text.isdigit():
        return None
    if len(lines) < 3 or lines[-2] != END + seq_text:
        return None
    body = lines[1:-2]
    first_section = len(body)
    for i, line in enumerate(body):
        if line.startswith(SECTION):
            first_section = i
            break
    try:
        info = parse_meminfo_lines(body[:first_section])
    except MemInfoError:
        return None
    sections: dict[str, str] = {}
    name = ""
    for line in body[first_section:]:
        if line.startswith(SECTION):
            name, _, payload = line[len(SECTION) :].partition(" ")
            sections[name] = payload
        elif name:
            sections[name] += "\n" + line
    load1 = None
    load = sections.get(LOADAVG)
    if load:
        try:
            load1 = float(load.split(None, 1)[0])
        except ValueError:
            load1 = None
    cpu, cpus = None, None
    cpu_fields = sections.get(CPU, "").split()
    if cpu_fields:
        cpus = int(cpu_fields[0]) if cpu_fields[0].isdigit() and int(cpu_fields[0]) > 0 else None
        cpu = parse_cpu_fields(cpu_fields[1:])
    return Frame(int(seq_text), int(time_text) / 1e6, info, load1, cpu, cpus, sections)
