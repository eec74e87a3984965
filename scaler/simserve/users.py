"""``sim serve --users FILE``: the users, their bearer tokens and their kubeconfig files.

The file (YAML)::

    users:
      - name: admin
        admin: true                 # cluster-admin
      - name: developer
        namespaces: [scaler]        # the admin role in these namespaces
      - name: carol
        namespaces: [carol]
        clusterRules:               # cluster-wide rules (rbac/v1 PolicyRules); default: read
          - {apiGroups: [''], resources: [nodes], verbs: [get, list, watch]}
        token: optional-fixed-token # default: a random one per start

Each user gets a bearer token (``Authorization: Bearer ...``, as a ServiceAccount token or
OpenShift's ``oc login`` token is sent) and a kubeconfig: the first admin's is the one
``--kubeconfig`` names, every other user's sits beside it as ``<kubeconfig>-<user>``.
Without ``--users`` there is no authentication at all and every request acts as an admin.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

from scaler.simserve.kubeconfig import write_kubeconfig
from scaler.simserve.rbac import DEFAULT_CLUSTER_RULES, Rule, Subject

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
ANONYMOUS_ADMIN = Subject("admin", admin=True)


class UsersError(ValueError):
    pass


@dataclass(frozen=True)
class User:
    subject: Subject
    token: str

    @property
    def name(self) -> str:
        return self.subject.name


def parse_users(doc: object) -> list[User]:
    if not isinstance(doc, dict) or not isinstance(doc.get("users"), list) or not doc["users"]:
        raise UsersError("expected a mapping with a non-empty list 'users'")
    out: list[User] = []
    for i, entry in enumerate(doc["users"]):
        where = f"users[{i}]"
        if not isinstance(entry, dict):
            raise UsersError(f"{where}: expected a mapping")
        unknown = set(entry) - {"name", "admin", "namespaces", "clusterRules", "token"}
        if unknown:
            raise UsersError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise UsersError(f"{where}: name must be a lowercase DNS-style name")
        if any(u.name == name for u in out):
            raise UsersError(f"{where}: user {name} is named twice")
        namespaces = entry.get("namespaces") or []
        if not isinstance(namespaces, list) or not all(isinstance(n, str) for n in namespaces):
            raise UsersError(f"{where}: namespaces must be a list of names")
        rules: tuple[Rule, ...] = DEFAULT_CLUSTER_RULES
        if "clusterRules" in entry:
            raw = entry.get("clusterRules") or []
            if not isinstance(raw, list):
                raise UsersError(f"{where}: clusterRules must be a list of rules")
            try:
                rules = tuple(Rule.from_dict(r if isinstance(r, dict) else {}) for r in raw)
            except ValueError as e:
                raise UsersError(f"{where}: clusterRules: {e}") from None
        token = entry.get("token") or secrets.token_urlsafe(32)
        if not isinstance(token, str):
            raise UsersError(f"{where}: token must be a string")
        subject = Subject(name, admin=bool(entry.get("admin")), namespaces=tuple(namespaces),
                          cluster_rules=rules)
        out.append(User(subject, token))
    if not any(u.subject.admin for u in out):
        raise UsersError("no user is an admin (admin: true): the front needs one for its "
                         "kubeconfig")
    return out


def load_users(path: Path) -> list[User]:
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as e:
        raise UsersError(f"cannot read {path}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise UsersError(f"{path} is not YAML: {e}") from None
    try:
        return parse_users(doc)
    except UsersError as e:
        raise UsersError(f"{path}: {e}") from None


def kubeconfig_paths(users: list[User], admin_path: Path) -> dict[str, Path]:
    """user name -> kubeconfig: the first admin's at ``admin_path``, the others beside it."""
    first_admin = next(u.name for u in users if u.subject.admin)
    return {u.name: admin_path if u.name == first_admin
            else admin_path.with_name(f"{admin_path.name}-{u.name}") for u in users}


def write_kubeconfigs(users: list[User], admin_path: Path, server: str,
                      ca_pem: bytes) -> dict[str, Path]:
    paths = kubeconfig_paths(users, admin_path)
    for u in users:
        namespace = u.subject.namespaces[0] if u.subject.namespaces else "scaler"
        write_kubeconfig(paths[u.name], server, namespace, user=u.name, token=u.token,
                         ca_pem=ca_pem)
    return paths


class Authenticator:
    """Bearer token -> Subject; without users, everyone is the anonymous admin."""

    def __init__(self, users: list[User] | None) -> None:
        self.users = users
        self._by_token = {u.token: u.subject for u in users or []}

    @property
    def enabled(self) -> bool:
        return self.users is not None

    def subject(self, authorization: str | None) -> Subject | None:
        if self.users is None:
            return ANONYMOUS_ADMIN
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self._by_token.get(token.strip())
