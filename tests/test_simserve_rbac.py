"""``sim serve --users``: bearer tokens, RBAC and SelfSubjectAccessReview, as the real kubectl and
the official Python client meet them."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.simserve_support import KUBECTL, REPO, kube_client, needs_kubectl, start_server

pytestmark = needs_kubectl

USERS = ("users:\n  - name: admin\n    admin: true\n"
         "  - name: developer\n    namespaces: [dev]\n"
         "  - name: carol\n    namespaces: [carol]\n    clusterRules:\n"
         "      - {apiGroups: [''], resources: [nodes], verbs: [get, list, watch]}\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("rbac")
    (work / "users.yaml").write_text(USERS)
    srv = start_server(work / "srv", "--speed", "8", "--no-ssh", "--workers", "1",
                       "--users", str(work / "users.yaml"))
    for ns in ("dev", "carol"):
        srv.kubectl("apply", "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
    yield srv
    srv.stop()


def kubeconfig(server, user: str):
    if user == "admin":
        return server.kubeconfig
    return server.kubeconfig.with_name(f"{server.kubeconfig.name}-{user}")


def as_user(server, user: str, *args: str, input: str | None = None):
    return subprocess.run([KUBECTL, f"--kubeconfig={kubeconfig(server, user)}", *args],
                          env=server.env, capture_output=True, text=True, timeout=30,
                          input=input)


def test_each_user_has_a_kubeconfig_with_a_bearer_token(server):
    import yaml

    for user in ("developer", "carol"):
        doc = yaml.safe_load(kubeconfig(server, user).read_text())
        assert doc["users"][0]["user"]["token"]
    admin = yaml.safe_load(server.kubeconfig.read_text())
    assert admin["users"][0]["user"]["token"]
    assert server.url.startswith("https://")  # client-go sends tokens only over TLS
    assert any("user developer:" in line for line in server.output)


def test_no_or_a_wrong_token_is_401(server):
    for headers in ({}, {"Authorization": "Bearer nope"}):
        req = urllib.request.Request(f"{server.url}/api/v1/namespaces", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5, context=server.ssl_context())
        assert e.value.code == 401
        assert json.load(e.value)["reason"] == "Unauthorized"


def test_a_namespace_user_may_not_write_cluster_scoped_objects(server):
    ns = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mine"}})
    proc = as_user(server, "developer", "apply", "-f", "-", input=ns)
    assert proc.returncode != 0
    assert ('Error from server (Forbidden)' in proc.stderr
            and 'User "developer" cannot create resource "namespaces" in API group "" at the '
                'cluster scope' in proc.stderr), proc.stderr
    rc = json.dumps({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                     "metadata": {"name": "x"}, "handler": "x"})
    proc = as_user(server, "developer", "apply", "-f", "-", input=rc)
    assert proc.returncode != 0 and "(Forbidden)" in proc.stderr
    # ... but may read them, and work in their namespace
    assert as_user(server, "developer", "get", "runtimeclass", "kata").returncode == 0
    assert as_user(server, "developer", "get", "namespace", "dev").returncode == 0
    assert as_user(server, "developer", "get", "pods", "-n", "dev").returncode == 0
    proc = as_user(server, "developer", "get", "pods", "-n", "carol")
    assert proc.returncode != 0 and 'in the namespace "carol"' in proc.stderr

    from kubernetes import client
    from kubernetes.client.rest import ApiException

    api = client.NodeV1Api(kube_client(kubeconfig(server, "developer")))
    with pytest.raises(ApiException) as e:
        api.create_runtime_class({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                                  "metadata": {"name": "x"}, "handler": "x"})
    assert e.value.status == 403
    status = json.loads(e.value.body)
    assert status["kind"] == "Status" and status["reason"] == "Forbidden"
    assert status["details"] == {"name": "", "group": "node.k8s.io", "kind": "runtimeclasses"}


def test_cluster_rules_replace_the_default_read_access(server):
    proc = as_user(server, "carol", "get", "runtimeclass", "kata")
    assert proc.returncode != 0 and "(Forbidden)" in proc.stderr
    assert 'runtimeclasses.node.k8s.io "kata" is forbidden' in proc.stderr
    assert as_user(server, "carol", "get", "nodes").returncode == 0


def test_auth_can_i_and_access_reviews(server):
    def can_i(user: str, *args: str) -> str:
        return as_user(server, user, "auth", "can-i", *args).stdout.strip()

    assert can_i("developer", "create", "deployments.apps", "-n", "dev") == "yes"
    assert can_i("developer", "patch", "deployments.apps", "--subresource=scale", "-n",
                 "dev") == "yes"
    assert can_i("developer", "create", "namespaces") == "no"
    assert can_i("developer", "delete", "runtimeclasses.node.k8s.io") == "no"
    assert can_i("developer", "list", "nodes") == "yes"
    assert can_i("carol", "list", "runtimeclasses.node.k8s.io") == "no"
    assert can_i("admin", "create", "namespaces") == "yes"

    from kubernetes import client

    api = client.AuthorizationV1Api(kube_client(kubeconfig(server, "developer")))
    review = api.create_self_subject_access_review({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "watch", "resource": "events",
                                        "namespace": "dev"}}})
    assert review.status.allowed is True and "RoleBinding" in review.status.reason


def test_the_users_file_is_checked(tmp_path):
    bad = tmp_path / "users.yaml"
    bad.write_text("users:\n  - name: dev\n    namespaces: [dev]\n")
    proc = subprocess.run([sys.executable, "-c", "from scaler.cli_sim import sim; sim()", "serve",
                           "--users", str(bad), "--workdir", str(tmp_path / "w")], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "no user is an admin" in proc.stderr and "Traceback" not in proc.stderr


def test_the_kubelet_summary_needs_nodes_proxy(server):
    path = "/api/v1/nodes/worker-0/proxy/stats/summary"
    proc = as_user(server, "developer", "get", "--raw", path)
    assert proc.returncode != 0 and 'cannot get resource "nodes/proxy"' in proc.stderr
    admin = as_user(server, "admin", "get", "--raw", path)
    assert admin.returncode == 0 and json.loads(admin.stdout)["node"]["nodeName"] == "worker-0"
