"""What a failed oc/kubectl call means: retry it, or stop the run with one line for the user.

The clients report API errors as text on stderr ("Error from server (ServiceUnavailable): ...");
these patterns are the Kubernetes status reasons and client-go's transport errors.
"""

from __future__ import annotations

from dataclasses import dataclass

TRANSIENT = "transient"
UNREACHABLE = "unreachable"
NOT_FOUND = "not-found"
EXISTS = "exists"
FATAL = "fatal"

_TRANSIENT = (
    "(InternalError)", "(ServiceUnavailable)", "(TooManyRequests)", "(Timeout)",
    "(ServerTimeout)", "(Conflict)", "the server is currently unable to handle the request",
    "the server has received too many requests", "Internal error occurred",
    "an error on the server", "etcdserver", "connection reset by peer", "unexpected EOF",
    "http2:", "TLS handshake timeout", "context deadline exceeded", "Client.Timeout",
    "the object has been modified", "couldn't get current server API group list",
    "unable to retrieve the complete list of server APIs", "stream error",
    "the server was unable to return a response", "injected fault", "i/o timeout",
    "request canceled", "net/http: timeout", "Gateway Timeout", "Bad Gateway", ": EOF",
)
_UNREACHABLE = (
    "connection refused", "was refused", "no such host", "network is unreachable",
    "no route to host",
)


@dataclass(frozen=True)
class Failure:
    kind: str
    message: str  # one line


def first_line(text: str, limit: int = 300) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("I1", "W1", "E1")):  # skip klog-formatted noise
            return line[:limit]
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    return lines[-1][:limit] if lines else ""


def classify(returncode: int, stderr: str) -> Failure:
    msg = first_line(stderr) or f"client exited with status {returncode}"
    if "(Forbidden)" in stderr or "(Unauthorized)" in stderr or "You must be logged in" in stderr \
            or "forbidden:" in stderr:
        return Failure(FATAL, msg)
    if "(NotFound)" in stderr or "NotFound" in stderr and "not found" in stderr:
        return Failure(NOT_FOUND, msg)
    if "(AlreadyExists)" in stderr:
        return Failure(EXISTS, msg)
    # before the transient patterns: kubectl reports a refused connection after discovery
    # errors ("couldn't get current server API group list") that alone would read as transient
    if any(p in stderr for p in _UNREACHABLE):
        return Failure(UNREACHABLE, msg)
    if any(p in stderr for p in _TRANSIENT):
        return Failure(TRANSIENT, msg)
    if returncode < 0:  # killed by a signal: an interrupted call, worth one more try
        return Failure(TRANSIENT, msg)
    return Failure(FATAL, msg)
