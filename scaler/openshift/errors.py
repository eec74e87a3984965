"""What a failed oc/kubectl call means: retry it, start over from a fresh list, or stop the run
with one line for the user.

The clients report API errors as text on stderr ("Error from server (ServiceUnavailable): ...",
the Status object's ``reason`` in brackets); these patterns are the Kubernetes status reasons
(k8s.io/apimachinery/pkg/apis/meta/v1 StatusReason) and client-go's transport errors. Watch
streams report errors as ``ERROR`` events carrying a Status object instead (``status_kind``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TRANSIENT = "transient"
UNREACHABLE = "unreachable"
NOT_FOUND = "not-found"
EXISTS = "exists"
FORBIDDEN = "forbidden"
#: the resourceVersion a list or watch resumed from is unusable: start again from a fresh list
STALE_VERSION = "stale-version"
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
    # kubectl apply/create validate against the server's OpenAPI: a 5xx on /openapi/v3 makes it
    # fall back to /openapi/v2 and print this, whatever the second answer was. Asking again is
    # the cure; only the API server being down for longer than --op-timeout is not.
    "failed to download openapi",
)
_UNREACHABLE = (
    "connection refused", "was refused", "no such host", "network is unreachable",
    "no route to host",
)
_FORBIDDEN = ("(Forbidden)", "forbidden:")
_UNAUTHORIZED = ("(Unauthorized)", "You must be logged in")
# A watch or list from a resourceVersion the server no longer has (410 Expired/Gone, etcd
# compacted it) or does not have yet (504 "Too large resource version": the API server or etcd
# restarted from an older state). client-go's reflector lists again on both (reflector.go
# isExpiredError, isTooLargeResourceVersionError); so do we.
_STALE = ("(Expired)", "(Gone)", "too old resource version", "Too large resource version",
          "continue parameter is too old")
# apimachinery's NewNotFound message, ``<resource>[.<group>] "<name>" not found``: kubectl
# sometimes prints it without the "(NotFound)" reason, e.g. ``error: no objects passed to scale
# namespaces "x" not found`` once the namespace is gone.
_NOT_FOUND_TEXT = re.compile(r'\b[a-z][a-z0-9-]*(\.[a-z0-9.-]+)? "[^"\n]*" not found')


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
    if any(p in stderr for p in _UNAUTHORIZED):
        return Failure(FATAL, msg)
    if any(p in stderr for p in _FORBIDDEN):
        return Failure(FORBIDDEN, msg)
    if any(p in stderr for p in _STALE):
        return Failure(STALE_VERSION, msg)
    if "failed to download openapi" in stderr:  # its text says "could not find": not a 404 of ours
        return Failure(TRANSIENT, msg)
    if "(NotFound)" in stderr or _NOT_FOUND_TEXT.search(stderr):
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


def status_kind(status: dict[str, Any]) -> Failure:
    """What a Status object (a watch stream's ``ERROR`` event, a failed request's body) means.

    410 is Expired (Gone before 1.18); 504 Timeout with the cause ``ResourceVersionTooLarge``
    (or, from API servers 1.17-1.18.5, the message "Too large resource version") is a version
    the server does not have yet. Both are answered by a fresh list, as client-go does.
    """
    code = status.get("code")
    reason = status.get("reason") or ""
    message = str(status.get("message") or reason or f"status {code}")
    causes = ((status.get("details") or {}).get("causes")) or []
    too_large = any(c.get("reason") == "ResourceVersionTooLarge"
                    or c.get("message") == "Too large resource version" for c in causes
                    if isinstance(c, dict)) or "Too large resource version" in message
    line = message.splitlines()[0][:300] if message else ""
    if code == 410 or reason in ("Expired", "Gone") or too_large:
        return Failure(STALE_VERSION, line)
    if code in (401,):
        return Failure(FATAL, line)
    if code == 403:
        return Failure(FORBIDDEN, line)
    if code == 404:
        return Failure(NOT_FOUND, line)
    if code in (400, 422, 405, 415):
        return Failure(FATAL, line)
    return Failure(TRANSIENT, line)
