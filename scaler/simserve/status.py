"""The ``Status`` object the API server answers errors with (and sends in watch ERROR events)."""

from __future__ import annotations


def status_body(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
