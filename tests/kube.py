"""Helpers for KubernetesWorkspace tests: build under mocks, read the pod, turn records into manifests."""

from __future__ import annotations

from typing import Any, Optional

import kubernetes_validate
from harness import Registered, Run, run
from packaging.version import Version

from components.kubernetes import KubernetesWorkspace
from components.outputs import SHARED_OUTPUTS
from components.render import ints  # the mocks hand numbers back as floats; Kubernetes wants integers

IMG = "codercom/enterprise-base:ubuntu"
COMPONENT = "docker-in-workspaces:index:KubernetesWorkspace"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
NAMESPACE = "kubernetes:core/v1:Namespace"
RUNTIME_CLASS = "kubernetes:node.k8s.io/v1:RuntimeClass"
OUTPUT_NAMES = (*SHARED_OUTPUTS, "namespace", "deployment_name")
MIN_VERSION = Version("1.29")


def build(name: str = "alice", opts=None, **args: Any) -> Run:
    args.setdefault("image", IMG)
    args.setdefault("allow_insecure", True)  # the guard is tested in test_docker_host.py (shared resolve())

    def program():
        ws = KubernetesWorkspace(name, args, opts)
        return {key: getattr(ws, key) for key in OUTPUT_NAMES}

    return run(program)


def pod(result: Run, name: str = "alice") -> dict:
    return result.one(DEPLOYMENT, name).inputs["spec"]["template"]["spec"]


def containers(result: Run, name: str = "alice") -> dict[str, dict]:
    spec = pod(result, name)
    return {c["name"]: c for c in [*spec.get("initContainers", []), *spec["containers"]]}


def env(container: dict) -> dict[str, Any]:
    """name -> value, ('secret', secret name, key) for secretKeyRef entries, ('field', path) for fieldRef ones,
    ('resource', container, resource) for resourceFieldRef ones."""
    out: dict[str, Any] = {}
    for item in container.get("env", []):
        if "valueFrom" in item and "fieldRef" in item["valueFrom"]:
            out[item["name"]] = ("field", item["valueFrom"]["fieldRef"]["fieldPath"])
        elif "valueFrom" in item and "resourceFieldRef" in item["valueFrom"]:
            ref = item["valueFrom"]["resourceFieldRef"]
            out[item["name"]] = ("resource", ref["containerName"], ref["resource"])
        elif "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            out[item["name"]] = ("secret", ref["name"], ref["key"])
        else:
            out[item["name"]] = item["value"]
    return out


def mounts(container: dict) -> dict[str, str]:
    """mountPath -> volume name."""
    return {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}


def volumes(result: Run, name: str = "alice") -> dict[str, dict]:
    return {v["name"]: v for v in pod(result, name)["volumes"]}


def manifest(resource: Registered) -> dict:
    """The object the provider would send to the API server (the mocks record camelCase inputs)."""
    body = ints(resource.inputs)
    assert body.get("apiVersion") and body.get("kind"), resource.type
    return body


def kubernetes_resources(result: Run) -> list[Registered]:
    return [r for r in result.resources if r.type.startswith("kubernetes:") and r.custom]


def versions() -> list[str]:
    """Every Kubernetes version kubernetes-validate ships a schema for, from 1.29 up."""
    found = {kubernetes_validate.utils.major_minor(v) for v in kubernetes_validate.utils.all_versions()}
    return sorted((v for v in found if Version(v) >= MIN_VERSION), key=Version)


def validate_strict(body: dict, version: str) -> Optional[str]:
    """None when valid; otherwise the error. Checks that the schema of `version` itself was used."""
    try:
        used = kubernetes_validate.validate(body, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        return f"{body['kind']}/{body['metadata']['name']} @ {version}: {path}: {exc.message}"
    assert used == version, f"asked for the {version} schema, kubernetes-validate used {used}"
    return None
