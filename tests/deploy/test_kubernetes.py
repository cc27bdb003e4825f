"""Kubernetes manifests: core objects against the offline schemas, KEDA's object by structure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from cli.parser import build_parser

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
VERSION = kubernetes_validate.latest_version()
CRD_KINDS = {"ScaledObject", "TriggerAuthentication"}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
ALL = {(doc["kind"], doc["metadata"]["name"]): doc for p in MANIFESTS for doc in documents(p)}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_core_objects_validate(path: Path) -> None:
    core = [doc for doc in documents(path) if doc["kind"] not in CRD_KINDS]
    for doc in core:
        kubernetes_validate.validate(doc, VERSION, strict=True)
    assert core or path.name == "keda-scaledobject.yaml"


def test_kustomization_lists_every_manifest() -> None:
    kustomization = documents(K8S / "kustomization.yaml")[0]
    assert sorted(kustomization["resources"]) == [p.name for p in MANIFESTS]


def test_expected_objects() -> None:
    assert set(ALL) == {
        ("ConfigMap", "ffcluster"), ("PersistentVolumeClaim", "ffcluster-media"),
        ("StatefulSet", "redis"), ("Service", "redis"), ("Deployment", "web"),
        ("Service", "web"), ("Deployment", "worker-cpu"), ("Deployment", "worker-gpu"),
        ("Deployment", "flower"), ("Service", "flower"), ("ScaledObject", "worker-cpu"),
        ("TriggerAuthentication", "ffcluster-redis"), ("NetworkPolicy", "redis"),
    }
    assert ALL["PersistentVolumeClaim", "ffcluster-media"]["spec"]["accessModes"] == [
        "ReadWriteMany"]


def _container(name: str) -> dict[str, Any]:
    return dict(ALL["Deployment", name]["spec"]["template"]["spec"]["containers"][0])


def test_gpu_worker_asks_for_a_gpu_node() -> None:
    pod = ALL["Deployment", "worker-gpu"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["nodeSelector"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in \
        pod["tolerations"]


def test_containers_run_real_subcommands() -> None:
    expected = {"web": ("web", None), "worker-cpu": ("worker", "off"),
                "worker-gpu": ("worker", "on")}
    for name, (command, gpu) in expected.items():
        container = _container(name)
        assert "command" not in container  # the image's entrypoint is `ffcluster`
        args = build_parser().parse_args(container["args"])
        assert args.command == command and getattr(args, "gpu", None) == gpu
        assert {"configMapRef": {"name": "ffcluster"}} in container["envFrom"]
    flower = _container("flower")
    assert flower["command"] == ["celery"] and flower["args"][0] == "flower"
    env = {e["name"]: e for e in flower["env"]}
    secret = env["FLOWER_BASIC_AUTH"]["valueFrom"]["secretKeyRef"]
    assert secret["name"] == "ffcluster-flower" and "optional" not in secret
    assert env["CELERY_BROKER_URL"]["value"] == "redis://:$(REDIS_PASSWORD)@redis:6379/0"
    assert not any("auth" in a or "redis://" in a for a in flower["args"])  # no secret in argv


def _pods() -> dict[str, dict[str, Any]]:
    return {name: doc["spec"]["template"]["spec"] for (kind, name), doc in ALL.items()
            if kind in ("Deployment", "StatefulSet")}


def test_redis_needs_a_password_from_a_secret_and_every_client_sends_it() -> None:
    redis_container = ALL["StatefulSet", "redis"]["spec"]["template"]["spec"]["containers"][0]
    assert redis_container["args"][-2:] == ["--requirepass", "$(REDIS_PASSWORD)"]
    for name, pod in _pods().items():
        env = {e["name"]: e for e in pod["containers"][0].get("env", [])}
        ref = env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == ("ffcluster-redis", "password"), name
        names = list(env)
        urls = [e["value"] for e in env.values() if "redis://" in e.get("value", "")]
        assert name == "redis" or urls == ["redis://:$(REDIS_PASSWORD)@redis:6379/0"], name
        users = [n for n, e in env.items() if "$(REDIS_PASSWORD)" in e.get("value", "")]
        assert all(names.index("REDIS_PASSWORD") < names.index(u) for u in users), name
    assert "FFCLUSTER_REDIS_URL" not in ALL["ConfigMap", "ffcluster"]["data"]
    [auth] = ALL["TriggerAuthentication", "ffcluster-redis"]["spec"]["secretTargetRef"]
    assert (auth["name"], auth["key"]) == ("ffcluster-redis", "password")


def test_only_ffcluster_pods_reach_redis() -> None:
    policy = ALL["NetworkPolicy", "redis"]["spec"]
    redis_labels = ALL["StatefulSet", "redis"]["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= redis_labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    [rule] = policy["ingress"]
    [source] = rule["from"]
    allowed = set(source["podSelector"]["matchExpressions"][0]["values"])
    assert allowed == {"web", "worker-cpu", "worker-gpu", "flower"}
    assert rule["ports"] == [{"protocol": "TCP", "port": 6379}]


def test_containers_drop_privileges() -> None:
    for name, pod in _pods().items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        context = pod["containers"][0]["securityContext"]
        assert context == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                           "capabilities": {"drop": ["ALL"]}}, name
        mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert name == "redis" or "/tmp" in mounts, name  # the one writable scratch place


def test_services_select_their_pods() -> None:
    for name in ("web", "flower", "redis"):
        selector = ALL["Service", name]["spec"]["selector"]
        kind = "StatefulSet" if name == "redis" else "Deployment"
        labels = ALL[kind, name]["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
        target = ALL["Service", name]["spec"]["ports"][0]["targetPort"]
        ports = ALL[kind, name]["spec"]["template"]["spec"]["containers"][0]["ports"]
        assert target in [p["name"] for p in ports]


def test_keda_scaled_object_structure() -> None:
    scaled = ALL["ScaledObject", "worker-cpu"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "worker-cpu"
    assert ("Deployment", "worker-cpu") in ALL
    assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    [trigger] = spec["triggers"]
    assert trigger["type"] == "redis"
    metadata = trigger["metadata"]
    assert metadata["listName"] == "cpu"
    assert metadata["address"] == "redis:6379"
    assert all(isinstance(v, str) for v in metadata.values()), "KEDA metadata values are strings"
    assert int(metadata["listLength"]) >= 1


def test_validation_catches_a_typo() -> None:
    broken = yaml.safe_load(yaml.safe_dump(ALL["Deployment", "web"]))
    broken["spec"]["replica"] = broken["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)
