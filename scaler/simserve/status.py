"""The ``Status`` object the API server answers errors with (and sends in watch ERROR events)."""

from __future__ import annotations


def status_body(code: int, reason: str, message: str, details: dict | None = None,
                list_meta: dict | None = None) -> dict:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": list_meta or {},
            "status": "Failure", "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    """An error answer: HTTP code, Kubernetes reason and message."""

    def __init__(self, code: int, reason: str, message: str, *, details: dict | None = None,
                 headers: dict | None = None, list_meta: dict | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = details
        self.headers = headers
        self.list_meta = list_meta


def too_large_resource_version(rv: int, current: int) -> ApiError:
    """504 with the cause ResourceVersionTooLarge, as kube-apiserver answers a list or watch from
    a version it does not have yet (storage.NewTooLargeResourceVersionError): clients relist."""
    return ApiError(504, "Timeout", f"Too large resource version: {rv}, current: {current}",
                    details={"causes": [{"reason": "ResourceVersionTooLarge",
                                         "message": "Too large resource version"}],
                             "retryAfterSeconds": 1},
                    headers={"Retry-After": "1"})
