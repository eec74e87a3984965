"""Check access to every node once before a long run: reachable, how fast, memory and CPUs, and
what the loop can read there (pod cgroups, processes' PSS, work reports; as root via sudo?).

It uses the collectors' own connection path and remote command (one frame with a pod sample,
then the loop exits), so a node that passes the probe is a node the collectors can sample.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import TextIO

from collectors.pod_frames import ACCESS, PODS, parse_access, parse_pods
from collectors.remote_stream import Frame, FrameParser, collect_command
from collectors.ssh_connect import Connector, describe_error
from collectors.ssh_targets import NodeTarget, SSHOptions


@dataclass(frozen=True)
class ProbeResult:
    node: str
    address: str
    reachable: bool
    latency_ms: float | None = None  # connect + authenticate + one sample
    mem_total_mib: float | None = None
    error: str | None = None
    cpus: int | None = None
    pods: int | None = None  # pods the node's loop found (cgroups, or reports alone)
    access: str | None = None  # how the loop ran and what it could read


def _address(target: NodeTarget, connector: Connector) -> str:
    """host:port as dialled: the port from the command line, else ~/.ssh/config, else 22."""
    try:
        port: int | None = connector.settings(target).port
    except ValueError:  # a broken config file: the connection attempt will say so
        port = target.port or connector.options.port
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"{host}:{port}" if port else host


async def _probe_one(connector: Connector, target: NodeTarget, timeout_s: float) -> ProbeResult:
    address = _address(target, connector)
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            async with await connector.connect(target) as conn:
                reading = replace(connector.options.reading, pod_interval_s=1.0, work=True)
                result = await conn.run(collect_command(1.0, count=1, reading=reading),
                                        check=False)
    except Exception as e:  # every failure is a row in the table, not a traceback
        return ProbeResult(target.name, address, False, error=describe_error(e, target.host))
    latency_ms = (time.monotonic() - started) * 1000.0
    stdout = result.stdout if isinstance(result.stdout, str) else ""
    frames = FrameParser().feed(stdout)
    if not frames:
        stderr = (result.stderr or "").strip() if isinstance(result.stderr, str) else ""
        why = stderr.splitlines()[-1] if stderr else f"no sample (exit status {result.exit_status})"
        return ProbeResult(target.name, address, False, latency_ms, error=why)
    pods, access = _access(frames[0])
    return ProbeResult(target.name, address, True, latency_ms, frames[0].meminfo.total_mib,
                       cpus=frames[0].cpus, pods=pods, access=access)


def _access(frame: Frame) -> tuple[int | None, str | None]:
    """(pods seen, one word per thing read) from the frame's pod and access sections, e.g.
    ``uid=0,via=sudo,cgroup=v2/systemd,pss=ok,reports=ok,kata=overhead`` (one word: a table
    column scripts can split on blanks)."""
    parsed = parse_pods(frame.sections.get(PODS))
    a = parse_access(frame.sections.get(ACCESS))
    if parsed is None or not a:
        return None, None
    header, _ = parsed
    words = [f"uid={a.get('euid', '?')}", f"via={a.get('via', '?')}",
             f"cgroup={header.cgroup}/{header.driver}", f"pss={a.get('smaps', '-')}",
             f"reports={a.get('kubelet', '-')}"]
    if header.kata_mode != "-":
        words.append(f"kata={header.kata_mode}")
    return header.pods, ",".join(words)


async def probe_async(
    targets: list[NodeTarget], options: SSHOptions, timeout_s: float | None = None,
    warn_to: TextIO | None = None,
) -> list[ProbeResult]:
    connector = Connector(options, warn_to=warn_to)
    timeout = timeout_s if timeout_s is not None else options.connect_timeout_s + 5.0
    try:
        return list(await asyncio.gather(*(_probe_one(connector, t, timeout) for t in targets)))
    finally:
        await connector.close()


def probe(targets: list[NodeTarget], options: SSHOptions, timeout_s: float | None = None,
          warn_to: TextIO | None = None) -> list[ProbeResult]:
    return asyncio.run(probe_async(targets, options, timeout_s, warn_to))


def format_probe_table(results: list[ProbeResult]) -> str:
    header = ("NODE", "ADDRESS", "REACHABLE", "LATENCY_MS", "MEMTOTAL_MIB", "CPUS", "PODS", "ACCESS",
              "ERROR")
    rows = [
        (
            r.node,
            r.address,
            "yes" if r.reachable else "no",
            "" if r.latency_ms is None else f"{r.latency_ms:.0f}",
            "" if r.mem_total_mib is None else f"{r.mem_total_mib:.0f}",
            "" if r.cpus is None else str(r.cpus),
            "" if r.pods is None else str(r.pods),
            r.access or "",
            r.error or "",
        )
        for r in results
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in (header, *rows)]
    return "\n".join(lines) + "\n"
