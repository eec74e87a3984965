"""Kubernetes name rules, checked before anything is sent to a cluster (or to the simulator, so a
name that a real cluster would refuse is refused there too).

Sources: Kubernetes "Object Names and IDs" (DNS-1123 label: namespaces, Deployment names; DNS-1123
subdomain: RuntimeClass names) and "Labels and Selectors" (label values).
"""

from __future__ import annotations

import re

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def dns_label_problem(name: str) -> str | None:
    """Why ``name`` is not a DNS-1123 label (e.g. a namespace), or None if it is one."""
    if DNS_LABEL.match(name):
        return None
    return (f"{name!r} is not a valid name: at most 63 characters, lower-case letters, digits "
            "and '-', starting and ending with a letter or digit (RFC 1123 label)")


def dns_subdomain_problem(name: str) -> str | None:
    """Why ``name`` is not a DNS-1123 subdomain (e.g. a RuntimeClass), or None if it is one."""
    if DNS_SUBDOMAIN.match(name):
        return None
    return (f"{name!r} is not a valid name: at most 253 characters, lower-case letters, digits, "
            "'-' and '.', starting and ending with a letter or digit (RFC 1123 subdomain)")
