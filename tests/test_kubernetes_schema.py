"""Every Kubernetes object KubernetesWorkspace registers validates against the official OpenAPI schemas.

kubernetes-validate (strict: unknown fields are errors) for each Kubernetes version it ships
from 1.29 (native sidecars) to the newest. The cases cover every strategy and option.
"""

import pulumi
import pytest
from harness import run
from kube import IMG, build, kubernetes_resources, manifest, validate_strict, versions

from components import Strategy
from components.kubernetes import KubernetesWorkspace, shared_resources

VERSIONS = versions()
AGENT = {"url": "https://coder.example.com", "token": "tok", "init_script": "echo agent"}
SCHEDULING = {
    "node_selector": {"kubernetes.io/arch": "amd64"},
    "tolerations": [
        {"key": "workspaces", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
        {"operator": "Exists"},
    ],
    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
}
CASES = {
    "dood": {"strategy": Strategy.DOOD, "docker_socket_gid": 999},
    "dood-stopped": {"strategy": Strategy.DOOD, "docker_socket_gid": 999, "running": False},
    "dind": {"strategy": Strategy.DIND, "create_namespace": True, "mtu": 1460},
    "dind-agent-env": {"strategy": Strategy.DIND, "coder_agent": AGENT, "env": {"A": "b"}, **SCHEDULING},
    "dind-envbuilder": {
        "strategy": Strategy.DIND,
        "image": None,
        "envbuilder": {"git_url": "https://example.com/r.git", "docker_config_base64": "e30="},
        "coder_agent": AGENT,
    },
    "dind-sidecar-native": {"strategy": Strategy.DIND_SIDECAR, **SCHEDULING},
    "dind-sidecar-plain": {"strategy": Strategy.DIND_SIDECAR, "native_sidecar": False, **SCHEDULING},
    "dind-sidecar-envbuilder": {
        "strategy": Strategy.DIND_SIDECAR,
        "image": None,
        "envbuilder": {"git_url": "https://example.com/r.git"},
    },
    "dind-rootless": {
        "strategy": Strategy.DIND_ROOTLESS,
        "storage_class": "fast",
        "data_root_size": "50Gi",
        "home_size": "1Gi",
        "mount_service_account_token": True,
    },
    "sysbox-annotation": {"strategy": Strategy.SYSBOX, "create_namespace": True, "create_runtime_class": True},
    "sysbox-host-users": {
        "strategy": Strategy.SYSBOX,
        "user_namespace_mode": "hostUsers",
        "runtime": "sysbox-custom",
        "create_runtime_class": True,
        "command": ["sleep", "infinity"],
    },
    "podman": {"strategy": Strategy.PODMAN, "tun_device_resource": "example.com/tun", **SCHEDULING},
    "dind-userns": {"strategy": Strategy.DIND_USERNS, "create_namespace": True},
    "envbox-agent": {"strategy": Strategy.ENVBOX, "coder_agent": AGENT, "env": {"A": "b"}, **SCHEDULING},
    "envbox-options": {
        "strategy": Strategy.ENVBOX,
        "envbox_image": "registry.example/envbox:0.6.7",
        "envbox_inner_username": "dev",
        "home_path": "/home/dev",
        "envbox_add_fuse": True,
        "envbox_add_tun": True,
        "command": ["sleep", "infinity"],
    },
}


def manifests_of(case: str) -> list[dict]:
    return [manifest(r) for r in kubernetes_resources(build(**CASES[case]))]


def test_versions_cover_1_29_to_the_newest_shipped():
    import kubernetes_validate

    newest = kubernetes_validate.utils.major_minor(kubernetes_validate.utils.latest_version())
    assert VERSIONS[0] == "1.29"
    assert VERSIONS[-1] == newest
    print(f"\nkubernetes-validate {kubernetes_validate.__version__}: validating against {', '.join(VERSIONS)}")


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_object_validates_strictly_for_every_version(case):
    manifests = manifests_of(case)
    kinds = sorted({m["kind"] for m in manifests})
    assert "Deployment" in kinds and "PersistentVolumeClaim" in kinds
    errors = [error for body in manifests for version in VERSIONS if (error := validate_strict(body, version))]
    assert errors == [], "\n".join(errors)


def test_the_cases_cover_every_kind_the_component_registers():
    kinds = {m["kind"] for case in CASES for m in manifests_of(case)}
    assert kinds == {"Deployment", "PersistentVolumeClaim", "ConfigMap", "Secret", "Namespace", "RuntimeClass"}


def test_shared_resources_validate_too():
    def program():
        shared = shared_resources(
            {
                "a": {
                    "strategy": Strategy.SYSBOX,
                    "image": IMG,
                    "create_namespace": True,
                    "create_runtime_class": True,
                },
                "b": {"strategy": Strategy.DIND, "image": IMG, "create_namespace": True, "allow_insecure": True},
            }
        )
        for name, args in shared.args.items():
            KubernetesWorkspace(name, args, pulumi.ResourceOptions(depends_on=shared.dependencies[name]))

    manifests = [manifest(r) for r in kubernetes_resources(run(program))]
    errors = [error for body in manifests for version in VERSIONS if (error := validate_strict(body, version))]
    assert errors == [], "\n".join(errors)


def test_strict_validation_would_catch_a_wrong_field():
    """The check has teeth: a misspelt field or a wrong type fails for every version."""
    body = manifests_of("dind-sidecar-native")
    deployment = next(m for m in body if m["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["initContainers"][0]["restartPolicyy"] = "Always"
    assert all(validate_strict(deployment, v) for v in VERSIONS)
    deployment = next(m for m in manifests_of("sysbox-host-users") if m["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["hostUsers"] = "false"
    assert all(validate_strict(deployment, v) for v in VERSIONS)


def test_an_unconfined_apparmor_profile_needs_the_field_kubernetes_added_in_1_30():
    """No strategy asks for it, but the adapter can say it: `appArmorProfile` exists from 1.30, so a 1.29 API
    server would refuse such a pod (docs/kubernetes.md names 1.30 as its minimum)."""
    import dataclasses

    from components.kubernetes import resolve_kubernetes
    from components.strategies.spec import AppArmor

    resolved = resolve_kubernetes("alice", {"strategy": Strategy.PODMAN, "image": IMG})
    plan = resolved.plan
    workspace = dataclasses.replace(plan.workspace, apparmor=AppArmor.UNCONFINED)
    unconfined = dataclasses.replace(
        resolved,
        workspace=dataclasses.replace(resolved.workspace, plan=dataclasses.replace(plan, containers=(workspace,))),
    )
    result = run(lambda: KubernetesWorkspace("alice", {"strategy": Strategy.PODMAN, "image": IMG}, resolved=unconfined))
    [deployment] = [manifest(r) for r in kubernetes_resources(result) if r.type.endswith("Deployment")]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["appArmorProfile"] == {"type": "Unconfined"}
    assert validate_strict(deployment, "1.29")  # an error: the field is unknown there
    assert [v for v in VERSIONS if validate_strict(deployment, v)] == ["1.29"]
