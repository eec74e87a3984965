"""The kubelet's stats over HTTP through the API server: the URLs, one bounded GET, one line
saying why an answer is not a Summary, and a one-off probe. ``collectors.kubelet_source`` polls
with these; a caller checks access with ``probe`` before a run."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp
import yarl

from collectors.kubelet_summary import SummaryError, load_payload, parse_summary

SUMMARY_PATH = "/api/v1/nodes/{node}/proxy/stats/summary"
# The kubelet's own switch (metrics-server uses it): node and pod CPU and memory only.
SUMMARY_QUERY = {"only_cpu_and_memory": "true"}
NODE_PATH = "/api/v1/nodes/{node}"
MAX_BODY_BYTES = 64 * 1024 * 1024  # 250 pods are under 1 MB; anything near this is not a Summary


def summary_url(base_url: str, node: str) -> yarl.URL:
    return yarl.URL(base_url.rstrip("/") + SUMMARY_PATH.format(node=quote(node, safe="")))


def node_url(base_url: str, node: str) -> yarl.URL:
    return yarl.URL(base_url.rstrip("/") + NODE_PATH.format(node=quote(node, safe="")))


def check_base_url(base_url: str) -> str:
    """The base URL unchanged, or ValueError naming what is wrong with it."""
    url = yarl.URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"not an http(s) URL: {base_url!r}")
    return base_url


@dataclass(frozen=True)
class Answer:
    """One GET: ``error`` is None for a 200 whose whole body was read within the size limit,
    else one line saying what went wrong (then ``body`` may be partial or empty)."""

    status: int | None
    body: bytes
    error: str | None
    seconds: float


async def get(session: aiohttp.ClientSession, url: yarl.URL, params: dict[str, str] | None = None,
              *, timeout_s: float, limit: int | None = None) -> Answer:
    """GET with a deadline for the whole exchange, reading at most ``limit`` bytes (default
    MAX_BODY_BYTES) of body; never raises for network or HTTP failures."""
    limit = MAX_BODY_BYTES if limit is None else limit
    t0 = time.monotonic()
    status: int | None = None
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async with session.get(url, params=params, allow_redirects=False) as resp:
                status = resp.status
                while size <= limit:  # StreamReader.read gives what has arrived, not all
                    chunk = await resp.content.read(1024 * 1024)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
    except (TimeoutError, aiohttp.ClientError, OSError) as e:
        return Answer(None, b"", describe_failure(None, error=e, timeout_s=timeout_s),
                      time.monotonic() - t0)
    body, took = b"".join(chunks), time.monotonic() - t0
    if size > limit:
        return Answer(status, body, f"answer larger than {limit:,} bytes", took)
    if status != 200:
        return Answer(status, body, describe_failure(status, body), took)
    return Answer(status, body, None, took)


def describe_failure(status: int | None, body: bytes = b"", error: BaseException | None = None,
                     timeout_s: float | None = None) -> str:
    """One line saying why a request gave no Summary."""
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"cannot connect to {error.host}:{error.port} ({error.os_error.strerror or error})"
    if error is not None:
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]
    text = body[:2000].decode("utf-8", "replace")
    message = ""
    try:
        doc = load_payload(text)
        message = str(doc.get("message") or "")
    except SummaryError:
        message = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if status in (401, 403):
        return (f"HTTP {status}: not allowed to read the kubelet's stats through the API server "
                f"(needs get on nodes/proxy){': ' + message[:200] if message else ''}")
    return f"HTTP {status}{': ' + message[:200] if message else ''}"


async def _probe(base_url: str, node: str, timeout_s: float) -> str | None:
    async with aiohttp.ClientSession() as session:
        answer = await get(session, summary_url(base_url, node), SUMMARY_QUERY,
                           timeout_s=timeout_s)
    if answer.error is not None:
        return answer.error
    try:
        parse_summary(answer.body, node=node)
    except SummaryError as e:
        return f"not a kubelet Summary: {e}"
    return None


def probe(base_url: str, node: str, timeout_s: float = 10.0) -> str | None:
    """Ask one node's Summary once (from a thread with no running event loop): None if it is
    readable, else one line saying why not, e.g. for ``--node-source auto`` or a clear exit-2
    error before a run starts."""
    check_base_url(base_url)
    return asyncio.run(_probe(base_url, node, timeout_s))
