"""The example Kubernetes stack (Pulumi.k8s.yaml): valid config, and the objects it makes validate for every version."""

from pathlib import Path

import pulumi
import pytest
import yaml
from harness import run
from kube import DEPLOYMENT, NAMESPACE, RUNTIME_CLASS, kubernetes_resources, manifest, validate_strict, versions

from components import program
from components.config import load_stack_config
from components.kubernetes import KubernetesWorkspace, shared_resources

ROOT = Path(__file__).resolve().parent.parent
STACK_FILE = ROOT / "Pulumi.k8s.yaml"


def stack_config():
    document = yaml.safe_load(STACK_FILE.read_text())
    raw = {key.split(":", 1)[1]: value for key, value in document["config"].items() if key.startswith(program.PROJECT)}
    return load_stack_config(raw)


def build_like_the_program():
    """What the program does for target kubernetes: shared objects once, then one component per workspace."""
    config = stack_config()

    def body():
        shared = shared_resources({ws.name: ws.resolved.args for ws in config.workspaces})
        outputs = {}
        for name, args in shared.args.items():
            ws = KubernetesWorkspace(name, args, pulumi.ResourceOptions(depends_on=shared.dependencies[name]))
            outputs[name] = {"security": ws.security_level, "pss": ws.pod_security_level}
        return outputs

    return run(body)


def test_the_example_is_a_kubernetes_stack_with_every_strategy():
    config = stack_config()
    assert config.target == "kubernetes"
    assert {ws.workspace.plan.strategy.value for ws in config.workspaces} == {
        "dood",
        "dind",
        "dind-sidecar",
        "dind-rootless",
        "sysbox",
        "envbox",
        "podman",
        "dind-userns",
    }
    # No encrypted values: the example must load without a passphrase.
    assert "'secure'" not in repr(yaml.safe_load(STACK_FILE.read_text()))


def test_the_example_builds_with_one_namespace_and_every_level():
    result = build_like_the_program()
    assert result.value == {
        "alice": {"security": "high", "pss": "baseline"},
        "bob": {"security": "low", "pss": "privileged"},
        "carol": {"security": "medium", "pss": "privileged"},
        "dave": {"security": "low", "pss": "privileged"},
        "erin": {"security": "none", "pss": "privileged"},
        "frank": {"security": "low", "pss": "privileged"},
        "grace": {"security": "high", "pss": "baseline"},
        "heidi": {"security": "medium", "pss": "baseline"},
    }
    ns = result.one(NAMESPACE)
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    # grace's unmasked /proc is baseline only from policy v1.35: the namespace pins at least that version.
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"] == "v1.35"
    assert result.names(RUNTIME_CLASS) == []
    replicas = {d.name: d.inputs["spec"]["replicas"] for d in result.of_type(DEPLOYMENT)}
    assert replicas == {"alice": 1, "bob": 1, "carol": 1, "dave": 1, "erin": 0, "frank": 1, "grace": 1, "heidi": 1}


def test_the_examples_objects_validate_strictly_for_every_version():
    manifests = [manifest(r) for r in kubernetes_resources(build_like_the_program())]
    errors = [error for body in manifests for version in versions() if (error := validate_strict(body, version))]
    assert errors == [], "\n".join(errors)


@pytest.mark.skipif(
    "kubernetes" not in getattr(program, "TARGETS", {}), reason="the program has no kubernetes target yet"
)
def test_the_program_runs_the_example_stack():
    from stacks import run_stack_file

    result = run_stack_file(STACK_FILE)
    assert sorted(result.names(DEPLOYMENT)) == ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
    assert len(result.of_type(NAMESPACE)) <= 1  # never one per workspace
    manifests = [manifest(r) for r in kubernetes_resources(result)]
    errors = [error for body in manifests for version in versions() if (error := validate_strict(body, version))]
    assert errors == [], "\n".join(errors)
