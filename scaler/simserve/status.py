"""The ``Status`` object the API server answers errors with (and sends in watch ERROR events)."""

from __future__ import annotations


def status_body(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    """An error answer: HTTP code, Kubernetes reason and message."""

    def __init__(self, code: int, reason: str, message: str, *, details: dict | None = None,
                 headers: dict | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = details
        self.headers = headers
