"""The shipped manifests, fitted to a run as data, and the checks run before applying them."""

import copy

import pytest
import yaml

from manifests import DIRECTORY
from scaler.kube_objects import (
    RUN_LABEL,
    ManifestError,
    build,
    load_templates,
    validate_deployment,
    workload_spec_from_deployment,
)
from scaler.quantity import QuantityError, cpu_millis, memory_mib
from scaler.workload_spec import SCENARIOS, WorkloadSpec


def test_kustomization_lists_every_shipped_file():
    listed = yaml.safe_load((DIRECTORY / "kustomization.yaml").read_text())["resources"]
    shipped = {p.name for p in DIRECTORY.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == shipped


def test_runc_deployment_has_no_runtime_class_and_no_resources():
    m = build(SCENARIOS["capacity"], run_id="run-1")
    pod = m.deployment["spec"]["template"]["spec"]
    assert "runtimeClassName" not in pod
    assert pod["containers"][0]["resources"] == {}
    assert m.runtime_class is None
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env == {"CPU": "5", "MEMORY": "500", "INCREMENT": "256",
                   "REPORT": "/var/run/scaler/report"}


def test_workload_reports_its_work_on_the_scaler_report_empty_dir():
    # Team contract 11: the emptyDir scaler-report at /var/run/scaler, REPORT the file on it, in
    # the shipped YAML itself (usable with `oc apply -k manifests/`) and in what scaler applies.
    shipped = load_templates()["Deployment"]["spec"]["template"]["spec"]
    built = build(SCENARIOS["capacity"].with_(runtime="kata"), run_id="r").deployment
    for pod in (shipped, built["spec"]["template"]["spec"]):
        assert pod["volumes"] == [{"name": "scaler-report", "emptyDir": {}}]
        container = pod["containers"][0]
        assert container["volumeMounts"] == [{"name": "scaler-report",
                                              "mountPath": "/var/run/scaler"}]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["REPORT"] == "/var/run/scaler/report"


def test_a_template_without_the_report_volume_gets_it():
    templates = load_templates()
    pod = templates["Deployment"]["spec"]["template"]["spec"]
    del pod["volumes"], pod["containers"][0]["volumeMounts"]
    built = build(WorkloadSpec(), templates=templates, run_id="r").deployment
    assert built["spec"]["template"]["spec"]["volumes"][0]["name"] == "scaler-report"


@pytest.mark.parametrize("mutate, words", [
    (lambda p: p.__setitem__("volumes", [{"name": "scaler-report",
                                          "emptyDir": {"medium": "Memory"}}]), "medium: Memory"),
    (lambda p: p["containers"][0]["volumeMounts"][0].__setitem__("mountPath", "/tmp/x"),
     "must be the file 'report'"),
    (lambda p: p.__setitem__("volumes", []), "must mount the scaler-report emptyDir"),
])
def test_report_volume_checked_with_one_line(mutate, words):
    dep = build(WorkloadSpec(), run_id="r").deployment
    mutate(dep["spec"]["template"]["spec"])
    with pytest.raises(ManifestError) as e:
        validate_deployment(dep)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_kata_restricted_deployment_round_trips_to_the_same_spec():
    spec = SCENARIOS["restricted"].with_(runtime="kata", cpu_request_m=100)
    m = build(spec, namespace="density", deployment="w", run_id="abc", image="example/w:1")
    dep = m.deployment
    assert dep["metadata"]["namespace"] == "density"
    assert dep["metadata"]["labels"][RUN_LABEL] == "abc"
    assert dep["spec"]["template"]["metadata"]["labels"][RUN_LABEL] == "abc"
    assert dep["spec"]["template"]["spec"]["runtimeClassName"] == "kata"
    assert dep["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"memory": "256Mi", "cpu": "100m"},
        "limits": {"memory": "512Mi"},
    }
    assert m.runtime_class["handler"] == "kata"
    assert m.runtime_class["overhead"]["podFixed"]["memory"] == "350Mi"
    assert workload_spec_from_deployment(dep) == spec.with_(image="example/w:1")
    assert [d["kind"] for d in m.documents()] == ["Namespace", "RuntimeClass", "Deployment"]


def test_build_does_not_mutate_templates():
    templates = load_templates()
    before = copy.deepcopy(templates)
    build(SCENARIOS["restricted"].with_(runtime="kata"), templates=templates, run_id="x")
    assert templates == before


def test_pod_level_resources_rejected_with_one_clear_line():
    dep = build(WorkloadSpec(), run_id="r").deployment
    dep["spec"]["template"]["spec"]["resources"] = {"limits": {"memory": "512Mi"}}
    with pytest.raises(ManifestError) as e:
        validate_deployment(dep)
    msg = str(e.value)
    assert "pod level" in msg and "containers[].resources" in msg and "\n" not in msg


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda d: d["spec"].__setitem__("resources", {}), "spec.resources"),
        (lambda d: d["spec"]["template"]["spec"].__setitem__("containers", []), "no containers"),
        (lambda d: d["spec"]["selector"]["matchLabels"].__setitem__("x", "y"), "selector"),
        (lambda d: d["spec"].__setitem__("replicas", -1), "replicas"),
        (lambda d: _container(d)["env"].pop(2), "INCREMENT"),
        (lambda d: _container(d)["env"][0].__setitem__("value", "lots"), "CPU"),
        (lambda d: _container(d).__setitem__("resources", {"request": {}}), "unknown key"),
        (
            lambda d: _container(d).__setitem__("resources", {"limits": {"memory": "12 Mi"}}),
            "not a quantity",
        ),
        (
            lambda d: _container(d).__setitem__(
                "resources", {"requests": {"memory": "1Gi"}, "limits": {"memory": "512Mi"}}
            ),
            "than its limit",
        ),
        (lambda d: d["spec"]["template"]["spec"].__setitem__("runtimeClassName", "Kata!"), "runtimeClassName"),
        (lambda d: d.__setitem__("apiVersion", "extensions/v1beta1"), "apps/v1"),
    ],
)
def test_invalid_deployments_rejected(mutate, words):
    dep = build(WorkloadSpec(), run_id="r").deployment
    validate_deployment(dep)
    mutate(dep)
    with pytest.raises(ManifestError, match=words):
        validate_deployment(dep)


def _container(dep):
    return dep["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("bad", [("namespace", "Bad_NS"), ("run_id", "a b"), ("deployment", "x" * 70)])
def test_invalid_names_rejected(bad):
    with pytest.raises(ManifestError, match="invalid"):
        build(WorkloadSpec(), **{bad[0]: bad[1]})


def test_missing_manifest_directory_is_a_manifest_error(tmp_path):
    with pytest.raises(ManifestError, match="cannot load"):
        load_templates(tmp_path)


def test_quantities():
    assert memory_mib("512Mi") == 512
    assert memory_mib("1Gi") == 1024
    assert memory_mib("16266816Ki") == pytest.approx(15885.56, abs=0.01)
    assert memory_mib(2**20) == 1
    assert cpu_millis("250m") == 250
    assert cpu_millis("8") == 8000
    assert cpu_millis("1.5") == 1500
    with pytest.raises(QuantityError):
        memory_mib("12 Mi")


def test_kustomize_build_with_the_real_kubectl_gives_valid_objects():
    import shutil
    import subprocess

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed")
    out = subprocess.run([kubectl, "kustomize", str(DIRECTORY)], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    docs = {d["kind"]: d for d in yaml.safe_load_all(out)}
    assert set(docs) == {"Namespace", "RuntimeClass", "Deployment"}
    validate_deployment(docs["Deployment"])
    assert docs["Deployment"]["metadata"]["namespace"] == docs["Namespace"]["metadata"]["name"]
