"""KubernetesWorkspace under mocks: the objects it registers and their decisive settings, per strategy and option."""

import hashlib
import inspect
from enum import Enum

import pulumi
import pulumi_kubernetes as k8s
import pytest
from harness import SECRET_SIG, SIG_KEY, plaintext_strings, run
from kube import (
    COMPONENT,
    CONFIG_MAP,
    DEPLOYMENT,
    IMG,
    NAMESPACE,
    OUTPUT_NAMES,
    PVC,
    RUNTIME_CLASS,
    SECRET,
    build,
    containers,
    env,
    kubernetes_resources,
    mounts,
    pod,
    volumes,
)

from components import Strategy, WorkspaceArgs
from components.kubernetes import (
    CRIO_USERNS_ANNOTATION,
    KubernetesResourcesArgs,
    KubernetesSettingsArgs,
    KubernetesWorkspace,
    KubernetesWorkspaceArgs,
    TolerationArgs,
    UserNamespaceMode,
    namespace_resource,
    pod_security_labels,
    shared_resources,
)
from components.workload import START_SCRIPT_DIR, START_SCRIPT_PATH, start_script

TOKEN = "agent-token-d41d8cd98f00b204"
AGENT = {"url": "https://coder.example.com", "token": TOKEN, "init_script": "echo start-agent"}


def privileged_anywhere(result) -> bool:
    return any(c.get("securityContext", {}).get("privileged") for c in containers(result).values())


# --- per strategy ---------------------------------------------------------------------------------------------


def test_dood_mounts_the_node_socket_with_type_socket_and_adds_its_group():
    result = build(strategy=Strategy.DOOD, docker_socket_gid=998)
    spec = pod(result)
    ws = containers(result)["workspace"]
    socket_volume = mounts(ws)["/var/run/docker.sock"]
    assert volumes(result)[socket_volume]["hostPath"] == {"path": "/var/run/docker.sock", "type": "Socket"}
    assert spec["securityContext"]["supplementalGroups"] == [998]
    assert not privileged_anywhere(result)
    assert env(ws)["DOCKER_HOST"] == "unix:///var/run/docker.sock"
    assert env(ws)["DIW_DOCKERD_MODE"] == "none"
    assert "startupProbe" not in ws and "readinessProbe" not in ws  # the node's daemon, not ours
    assert result.names(PVC) == ["alice-home"]
    assert result.value["security_level"] == "none"
    assert result.value["pod_security_level"] == "privileged"  # hostPath is not allowed by baseline


def test_dood_tells_the_workspace_where_the_node_sees_a_shared_directory_and_its_ports():
    """The node's daemon resolves bind paths on the node, where a PVC's path is unknowable from the pod: an
    emptyDir's is (from the pod's uid). Published ports land on the node: its IP is handed over too."""
    result = build(strategy=Strategy.DOOD, docker_socket_gid=998)
    ws = containers(result)["workspace"]
    variables = env(ws)
    assert variables["DIW_POD_UID"] == ("field", "metadata.uid")
    assert variables["DIW_NODE_IP"] == ("field", "status.hostIP")
    assert variables["DIW_PUBLISHED_PORTS_HOST"] == "$(DIW_NODE_IP)"
    assert variables["DIW_SHARED_DIR"] == "/var/run/docker-in-workspaces/shared"
    assert variables["DIW_SHARED_HOST_DIR"] == (
        "/var/lib/kubelet/pods/$(DIW_POD_UID)/volumes/kubernetes.io~empty-dir/host-shared"
    )
    assert mounts(ws)["/var/run/docker-in-workspaces/shared"] == "host-shared"
    assert "emptyDir" in volumes(result)["host-shared"]
    names = [item["name"] for item in ws["env"]]
    # Kubernetes expands $(VAR) only from entries before it.
    assert names.index("DIW_NODE_IP") < names.index("DIW_PUBLISHED_PORTS_HOST")
    assert names.index("DIW_POD_UID") < names.index("DIW_SHARED_HOST_DIR")


@pytest.mark.parametrize("strategy", [Strategy.DIND, Strategy.DIND_ROOTLESS, Strategy.DIND_SIDECAR, Strategy.SYSBOX])
def test_own_daemon_pods_publish_nested_ports_on_localhost(strategy):
    variables = env(containers(build(strategy=strategy))["workspace"])
    assert variables["DIW_PUBLISHED_PORTS_HOST"] == "127.0.0.1"
    assert "DIW_SHARED_HOST_DIR" not in variables


def test_the_sidecar_daemon_mounts_the_workspace_home_at_the_same_path():
    pods = containers(build(strategy=Strategy.DIND_SIDECAR))
    assert mounts(pods["daemon"])["/home/coder"] == mounts(pods["workspace"])["/home/coder"] == "home"


def test_dood_without_socket_gid_names_the_field_and_registers_nothing():
    with pytest.raises(ValueError, match="docker_socket_gid") as error:
        build(strategy=Strategy.DOOD)
    assert error.value.registered == []


def test_dind_is_privileged_with_its_data_root_on_a_pvc():
    result = build(strategy=Strategy.DIND)
    ws = containers(result)["workspace"]
    assert list(containers(result)) == ["workspace"]
    assert ws["securityContext"]["privileged"] is True
    assert "runAsUser" not in ws["securityContext"]
    assert mounts(ws)["/var/lib/docker"] == "docker"
    assert volumes(result)["docker"]["persistentVolumeClaim"] == {"claimName": "alice-docker"}
    assert env(ws)["DIW_DOCKERD_MODE"] == "rootful"
    assert env(ws)["DIW_DOCKERD_DATA_ROOT"] == "/var/lib/docker"
    assert result.value == {
        "strategy": "dind",
        "docker_host": "unix:///var/run/docker.sock",
        "security_level": "low",
        "pod_security_level": "privileged",
        "privileged_containers": ["workspace"],
        "host_sockets": [],
        "running": True,
        "namespace": "workspaces",
        "deployment_name": "alice",
    }


def test_dind_sidecar_runs_the_daemon_as_a_native_sidecar_by_default():
    result = build(strategy=Strategy.DIND_SIDECAR)
    spec = pod(result)
    assert [c["name"] for c in spec["initContainers"]] == ["daemon"]
    assert [c["name"] for c in spec["containers"]] == ["workspace"]
    daemon, ws = spec["initContainers"][0], spec["containers"][0]
    assert daemon["restartPolicy"] == "Always"
    assert daemon["image"] == "docker:27.5.1-dind"
    assert daemon["securityContext"]["privileged"] is True
    assert mounts(daemon)["/var/lib/docker"] == "docker"
    # The socket is shared through an emptyDir, mounted in both.
    assert volumes(result)["socket"] == {"name": "socket", "emptyDir": {}}
    assert mounts(daemon)["/var/run/dind"] == mounts(ws)["/var/run/dind"] == "socket"
    # The workspace: non-root, unprivileged, in the daemon's socket group.
    assert ws["securityContext"] == {"privileged": False, "runAsUser": 1000, "runAsNonRoot": True}
    assert spec["securityContext"]["supplementalGroups"] == [1000]
    assert env(daemon)["DIW_DOCKERD_GROUP"] == "1000"
    assert env(ws)["DOCKER_HOST"] == env(daemon)["DOCKER_HOST"] == "unix:///var/run/dind/docker.sock"
    assert env(ws)["DIW_DOCKERD_MODE"] == "wait"
    assert "/var/lib/docker" not in mounts(ws)
    # Probes on the container that runs the daemon only.
    assert daemon["startupProbe"]["exec"]["command"] == ["docker", "info"]
    assert "readinessProbe" in daemon
    assert "startupProbe" not in ws and "readinessProbe" not in ws
    assert result.value["security_level"] == "low"
    assert result.value["pod_security_level"] == "privileged"


def test_dind_sidecar_group_follows_daemon_socket_gid():
    result = build(strategy=Strategy.DIND_SIDECAR, daemon_socket_gid=2375)
    assert pod(result)["securityContext"]["supplementalGroups"] == [2375]
    assert env(containers(result)["daemon"])["DIW_DOCKERD_GROUP"] == "2375"


def test_dind_sidecar_without_native_sidecar_is_a_plain_second_container():
    result = build(strategy=Strategy.DIND_SIDECAR, native_sidecar=False)
    spec = pod(result)
    assert "initContainers" not in spec
    assert [c["name"] for c in spec["containers"]] == ["workspace", "daemon"]
    daemon = spec["containers"][1]
    assert "restartPolicy" not in daemon
    assert daemon["securityContext"]["privileged"] is True
    assert daemon["startupProbe"]["failureThreshold"] == 25
    assert mounts(daemon)["/var/run/dind"] == mounts(spec["containers"][0])["/var/run/dind"] == "socket"


def test_dind_rootless_is_privileged_as_uid_1000_with_the_rootless_socket_and_data_root():
    result = build(strategy=Strategy.DIND_ROOTLESS)
    ws = containers(result)["workspace"]
    assert ws["securityContext"]["privileged"] is True
    assert ws["securityContext"]["runAsUser"] == 1000
    assert env(ws)["DOCKER_HOST"] == "unix:///run/user/1000/docker.sock"
    assert env(ws)["XDG_RUNTIME_DIR"] == "/run/user/1000"
    assert env(ws)["DIW_DOCKERD_MODE"] == "rootless"
    assert mounts(ws)["/home/coder/.local/share/docker"] == "docker"
    assert mounts(ws)["/home/coder"] == "home"
    assert result.value["security_level"] == "medium"
    assert result.value["pod_security_level"] == "privileged"


def test_sysbox_uses_its_runtime_class_and_the_crio_annotation_by_default():
    result = build(strategy=Strategy.SYSBOX)
    spec = pod(result)
    template = result.one(DEPLOYMENT).inputs["spec"]["template"]
    assert spec["runtimeClassName"] == "sysbox-runc"
    assert template["metadata"]["annotations"][CRIO_USERNS_ANNOTATION] == "auto:size=65536"
    assert "hostUsers" not in spec
    assert not privileged_anywhere(result)
    assert not {"hostNetwork", "hostPID", "hostIPC"} & set(spec)
    assert mounts(containers(result)["workspace"])["/var/lib/docker"] == "docker"
    assert result.names(RUNTIME_CLASS) == []  # sysbox-deploy-k8s usually installs it
    assert result.value["security_level"] == "high"
    assert result.value["pod_security_level"] == "baseline"


def test_sysbox_with_host_users_mode_sets_host_users_false_instead_of_the_annotation():
    result = build(strategy=Strategy.SYSBOX, user_namespace_mode="hostUsers")
    template = result.one(DEPLOYMENT).inputs["spec"]["template"]
    assert template["spec"]["hostUsers"] is False
    assert CRIO_USERNS_ANNOTATION not in template["metadata"].get("annotations", {})


def test_sysbox_runtime_class_name_is_settable_and_can_be_created():
    result = build(strategy=Strategy.SYSBOX, runtime="sysbox-custom", create_runtime_class=True)
    assert pod(result)["runtimeClassName"] == "sysbox-custom"
    rc = result.one(RUNTIME_CLASS).inputs
    assert rc["metadata"]["name"] == "sysbox-custom"
    assert rc["handler"] == "sysbox-runc"
    assert rc["scheduling"] == {"nodeSelector": {"sysbox-runtime": "running"}}
    deployment = result.one(DEPLOYMENT)
    assert result.one(RUNTIME_CLASS).urn in deployment.dependencies


@pytest.mark.parametrize("strategy", [s for s in Strategy if s not in (Strategy.SYSBOX, Strategy.DIND_USERNS)])
def test_sysbox_only_settings_do_nothing_for_other_strategies(strategy):
    result = build(strategy=strategy, docker_socket_gid=999, create_runtime_class=True, user_namespace_mode="hostUsers")
    spec = pod(result)
    assert result.names(RUNTIME_CLASS) == []
    assert not {"runtimeClassName", "hostUsers"} & set(spec)
    assert CRIO_USERNS_ANNOTATION not in result.one(DEPLOYMENT).inputs["spec"]["template"]["metadata"].get(
        "annotations", {}
    )


# --- readiness ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "daemon_container"),
    [
        (Strategy.DIND, "workspace"),
        (Strategy.DIND_ROOTLESS, "workspace"),
        (Strategy.SYSBOX, "workspace"),
        (Strategy.DIND_SIDECAR, "daemon"),
    ],
)
def test_startup_probe_is_docker_info_24_times_5s_and_readiness_on_the_daemon_container(strategy, daemon_container):
    result = build(strategy=strategy)
    container = containers(result)[daemon_container]
    startup, readiness = container["startupProbe"], container["readinessProbe"]
    assert startup["exec"]["command"] == ["docker", "info"]
    assert (startup["failureThreshold"], startup["periodSeconds"]) == (25, 5)  # 120 s after the first
    assert readiness["exec"]["command"] == ["docker", "info"]
    others = [c for name, c in containers(result).items() if name != daemon_container]
    assert all("startupProbe" not in c and "readinessProbe" not in c for c in others)


def test_startup_probe_budget_follows_daemon_ready_timeout():
    result = build(strategy=Strategy.DIND, daemon_ready_timeout=300)
    assert containers(result)["workspace"]["startupProbe"]["failureThreshold"] == 61


# --- workload shape -------------------------------------------------------------------------------------------


def test_deployment_names_labels_strategy_and_replicas():
    result = build(strategy=Strategy.DIND)
    deployment = result.one(DEPLOYMENT, "alice").inputs
    assert deployment["metadata"]["name"] == "alice"
    assert deployment["metadata"]["namespace"] == "workspaces"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "docker-in-workspaces", "app.kubernetes.io/instance": "alice"}
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    for resource in kubernetes_resources(result):
        labels = resource.inputs["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "docker-in-workspaces", resource.name
        assert labels["app.kubernetes.io/instance"] == "alice", resource.name
        assert labels["app.kubernetes.io/managed-by"] == "pulumi", resource.name
        assert resource.inputs["metadata"]["namespace"] == "workspaces", resource.name
    assert sorted(r.inputs["metadata"]["name"] for r in kubernetes_resources(result)) == [
        "alice",
        "alice-docker",
        "alice-home",
        "alice-start-docker",
    ]


def test_stopped_workspace_has_zero_replicas_and_keeps_its_pvcs():
    result = build(strategy=Strategy.DIND, running=False)
    assert result.one(DEPLOYMENT).inputs["spec"]["replicas"] == 0
    assert sorted(result.names(PVC)) == ["alice-docker", "alice-home"]


def test_pvcs_are_retained_with_default_sizes_and_the_cluster_default_storage_class():
    result = build(strategy=Strategy.DIND)
    pvcs = {r.name: r for r in result.of_type(PVC)}
    assert sorted(pvcs) == ["alice-docker", "alice-home"]
    assert all(p.retain_on_delete for p in pvcs.values())
    assert pvcs["alice-docker"].inputs["spec"]["resources"]["requests"] == {"storage": "20Gi"}
    assert pvcs["alice-home"].inputs["spec"]["resources"]["requests"] == {"storage": "10Gi"}
    assert all(p.inputs["spec"]["accessModes"] == ["ReadWriteOnce"] for p in pvcs.values())
    assert all("storageClassName" not in p.inputs["spec"] for p in pvcs.values())
    deployment = result.one(DEPLOYMENT)
    assert {p.urn for p in pvcs.values()} <= set(deployment.dependencies)
    assert not deployment.retain_on_delete


def test_pvc_storage_class_and_sizes_are_settable_and_storage_class_may_be_an_output():
    result = build(
        strategy=Strategy.DIND_ROOTLESS,
        storage_class=pulumi.Output.from_input("fast-ssd"),
        data_root_size="50Gi",
        home_size="5Gi",
    )
    pvcs = {r.name: r.inputs["spec"] for r in result.of_type(PVC)}
    assert pvcs["alice-docker"]["resources"]["requests"]["storage"] == "50Gi"
    assert pvcs["alice-home"]["resources"]["requests"]["storage"] == "5Gi"
    assert {p["storageClassName"] for p in pvcs.values()} == {"fast-ssd"}


def test_start_script_comes_from_a_config_map_mounted_as_the_entrypoint():
    result = build(strategy=Strategy.DIND)
    cm = result.one(CONFIG_MAP, "alice-start-docker").inputs
    assert cm["metadata"]["name"] == "alice-start-docker"
    assert cm["data"] == {"start-docker.sh": start_script()}
    assert volumes(result)["start-script"]["configMap"]["name"] == "alice-start-docker"
    ws = containers(result)["workspace"]
    assert mounts(ws)[START_SCRIPT_DIR] == "start-script"
    assert ws["command"] == ["/bin/sh", START_SCRIPT_PATH]
    assert ws["args"] == ["sleep", "infinity"]
    annotations = result.one(DEPLOYMENT).inputs["spec"]["template"]["metadata"]["annotations"]
    assert (
        annotations["docker-in-workspaces/start-script-sha256"] == hashlib.sha256(start_script().encode()).hexdigest()
    )


def test_command_becomes_the_start_scripts_arguments():
    result = build(strategy=Strategy.SYSBOX, command=["code-server", "--bind-addr", "0.0.0.0:8080"])
    assert containers(result)["workspace"]["args"] == ["code-server", "--bind-addr", "0.0.0.0:8080"]


def test_service_account_token_is_not_mounted_unless_asked():
    assert pod(build(strategy=Strategy.SYSBOX))["automountServiceAccountToken"] is False
    assert pod(build(strategy=Strategy.SYSBOX, mount_service_account_token=True))["automountServiceAccountToken"]


def test_resources_node_selector_and_tolerations_pass_through():
    result = build(
        strategy=Strategy.DIND_SIDECAR,
        resources={"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
        node_selector={"kubernetes.io/arch": "amd64", "pool": "workspaces"},
        tolerations=[
            {"key": "workspaces", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
            {"operator": "Exists", "effect": "NoExecute"},
        ],
    )
    spec = pod(result)
    assert spec["nodeSelector"] == {"kubernetes.io/arch": "amd64", "pool": "workspaces"}
    assert spec["tolerations"] == [
        {"key": "workspaces", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
        {"operator": "Exists", "effect": "NoExecute"},
    ]
    expected = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
    for container in containers(result).values():  # the daemon too: nested containers run in its cgroup
        assert container["resources"] == expected


def test_no_scheduling_settings_unless_given():
    spec = pod(build(strategy=Strategy.DIND))
    assert not {"nodeSelector", "tolerations"} & set(spec)
    assert "resources" not in spec["containers"][0]


def test_pod_has_fs_group_1000_without_recursive_chown_and_no_service_links():
    spec = pod(build(strategy=Strategy.DIND_ROOTLESS))
    assert spec["securityContext"]["fsGroup"] == 1000
    assert spec["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"
    assert spec["enableServiceLinks"] is False


# --- secrets, Envbuilder, Coder agent -------------------------------------------------------------------------


def test_coder_agent_token_goes_into_a_secret_referenced_by_secret_key_ref_never_plaintext():
    result = build(strategy=Strategy.DIND, coder_agent=AGENT)
    ws = containers(result)["workspace"]
    assert env(ws)["CODER_AGENT_TOKEN"] == ("secret", "alice-secrets", "CODER_AGENT_TOKEN")
    assert env(ws)["CODER_AGENT_URL"] == "https://coder.example.com"
    assert ws["args"] == ["/bin/sh", "-c", "echo start-agent"]
    secret = result.one(SECRET, "alice-secrets")
    assert secret.inputs["metadata"]["name"] == "alice-secrets"
    assert secret.inputs["stringData"] == {"CODER_AGENT_TOKEN": TOKEN}
    assert secret.urn in result.one(DEPLOYMENT).dependencies
    for resource in result.resources:
        assert not [s for s in plaintext_strings(resource.raw_inputs) if TOKEN in s], resource.name
    # The token itself is nowhere in the Deployment, not even as a secret.
    assert TOKEN not in repr(result.one(DEPLOYMENT).inputs)
    for outputs in result.outputs.values():
        assert TOKEN not in repr(outputs)


def secret_paths(value, path=""):
    """Where the engine would see a secret in `value` (the whole property around a nested secret)."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return [path]
        return [p for k, v in value.items() for p in secret_paths(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in secret_paths(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("strategy", list(Strategy))
def test_deployment_holds_no_secret_so_previews_show_its_diff(strategy):
    result = build(
        strategy=strategy,
        docker_socket_gid=999,
        coder_agent=AGENT,
        env={"API_KEY": pulumi.Output.secret("k")},
    )
    deployment = result.one(DEPLOYMENT)
    assert secret_paths(deployment.raw_inputs) == []
    # A new Secret version (after a change) rolls the pod; the mocks report no resourceVersion.
    annotations = deployment.inputs["spec"]["template"]["metadata"]["annotations"]
    assert annotations["docker-in-workspaces/secrets-version"] == ""
    assert secret_paths(result.one(SECRET).raw_inputs) == [".stringData"]


def test_no_secret_without_secret_values():
    result = build(strategy=Strategy.DIND, env={"EDITOR": "vim"})
    assert result.names(SECRET) == []
    assert env(containers(result)["workspace"])["EDITOR"] == "vim"


def test_env_values_given_as_outputs_go_into_the_secret():
    result = build(strategy=Strategy.DIND, env={"API_KEY": pulumi.Output.secret("s3cr3t-value"), "PLAIN": "x"})
    ws = containers(result)["workspace"]
    assert env(ws)["API_KEY"] == ("secret", "alice-secrets", "API_KEY")
    assert env(ws)["PLAIN"] == "x"
    assert result.one(SECRET).inputs["stringData"] == {"API_KEY": "s3cr3t-value"}
    assert not [s for r in result.resources for s in plaintext_strings(r.raw_inputs) if "s3cr3t-value" in s]


def test_envbuilder_wraps_the_daemon_start_and_keeps_credentials_in_the_secret():
    result = build(
        strategy=Strategy.DIND,
        image=None,
        envbuilder={
            "git_url": "https://github.com/coder/envbuilder",
            "devcontainer_dir": "examples/docker/02_dind",
            "docker_config_base64": "eyJhdXRocyI6IHsici5leGFtcGxlIjoge319fQ==",
        },
        coder_agent=AGENT,
    )
    ws = containers(result)["workspace"]
    assert ws["image"] == "ghcr.io/coder/envbuilder:1.1.0"
    assert "command" not in ws and "args" not in ws  # Envbuilder's own entrypoint
    variables = env(ws)
    assert variables["ENVBUILDER_GIT_URL"] == "https://github.com/coder/envbuilder"
    assert variables["ENVBUILDER_DOCKER_CONFIG_BASE64"] == (
        "secret",
        "alice-secrets",
        "ENVBUILDER_DOCKER_CONFIG_BASE64",
    )
    assert variables["CODER_AGENT_TOKEN"] == ("secret", "alice-secrets", "CODER_AGENT_TOKEN")
    data = result.one(SECRET).inputs["stringData"]
    # Only the secrets are in the Secret; the init script (the component's own) stays readable in the pod spec.
    assert sorted(data) == ["CODER_AGENT_TOKEN", "ENVBUILDER_DOCKER_CONFIG_BASE64"]
    init_script = variables["ENVBUILDER_INIT_SCRIPT"]
    assert "export DIW_DOCKERD_MODE=rootful" in init_script
    assert start_script() in init_script
    assert init_script.rstrip().endswith("echo start-agent'")
    # The script is inlined: no ConfigMap to mount; the build comes before the daemon, so no startupProbe.
    assert result.names(CONFIG_MAP) == []
    assert "start-script" not in volumes(result)
    assert "startupProbe" not in ws and ws["readinessProbe"]["exec"]["command"] == ["docker", "info"]
    for secret_text in (TOKEN, "eyJhdXRocyI6IHsici5leGFtcGxlIjoge319fQ=="):
        assert not [s for r in result.resources for s in plaintext_strings(r.raw_inputs) if secret_text in s]


def test_envbuilder_with_a_sidecar_still_mounts_the_start_script_in_the_daemon():
    result = build(strategy=Strategy.DIND_SIDECAR, image=None, envbuilder={"git_url": "https://example.com/r.git"})
    daemon = containers(result)["daemon"]
    assert mounts(daemon)[START_SCRIPT_DIR] == "start-script"
    assert daemon["startupProbe"]["failureThreshold"] == 25
    assert START_SCRIPT_DIR not in mounts(containers(result)["workspace"])
    assert result.names(CONFIG_MAP) == ["alice-start-docker"]


# --- namespace, component shape -------------------------------------------------------------------------------


def test_namespace_is_not_created_by_default_but_is_an_output():
    result = build(strategy=Strategy.SYSBOX, namespace="team-a")
    assert result.names(NAMESPACE) == []
    assert result.value["namespace"] == "team-a"
    assert result.value["pod_security_level"] == "baseline"
    assert all(r.inputs["metadata"]["namespace"] == "team-a" for r in kubernetes_resources(result))


@pytest.mark.parametrize(
    ("strategy", "level"),
    [
        (Strategy.DOOD, "privileged"),
        (Strategy.DIND, "privileged"),
        (Strategy.DIND_SIDECAR, "privileged"),
        (Strategy.DIND_ROOTLESS, "privileged"),
        (Strategy.SYSBOX, "baseline"),
    ],
)
def test_created_namespace_enforces_the_least_pod_security_level_and_warns_restricted(strategy, level):
    result = build(strategy=strategy, docker_socket_gid=999, create_namespace=True)
    ns = result.one(NAMESPACE)
    labels = ns.inputs["metadata"]["labels"]
    assert ns.inputs["metadata"]["name"] == "workspaces"
    assert labels["pod-security.kubernetes.io/enforce"] == level
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"
    assert ns.retain_on_delete  # deleting it would delete the retained PVCs
    assert result.value["pod_security_level"] == level
    for resource in kubernetes_resources(result):
        if resource is not ns:
            assert ns.urn in resource.dependencies, resource.name


def test_component_token_parents_outputs_and_provider_from_opts():
    def program():
        provider = k8s.Provider("cluster", context="kind-workspaces")
        ws = KubernetesWorkspace(
            "alice", {"strategy": Strategy.SYSBOX, "image": IMG}, pulumi.ResourceOptions(provider=provider)
        )
        return ws.docker_host

    result = run(program)
    component = result.one(COMPONENT, "alice")
    children = [r for r in result.resources if r.parent == component.urn]
    assert children and len(children) == len(result.resources) - 2  # all but the provider and the component
    assert [r.name for r in result.resources if r.type == "pulumi:providers:kubernetes"] == ["cluster"]
    assert all(r.provider.startswith(f"{result.one('pulumi:providers:kubernetes').urn}::") for r in children)
    assert sorted(result.outputs[component.urn]) == sorted(OUTPUT_NAMES)


def test_depends_on_of_the_component_reaches_every_child():
    def program():
        ns = namespace_resource("shared-ns", "workspaces", "privileged")
        KubernetesWorkspace(
            "alice",
            {"strategy": Strategy.DIND, "image": IMG, "allow_insecure": True},
            pulumi.ResourceOptions(depends_on=[ns]),
        )

    result = run(program)
    ns = result.one(NAMESPACE)
    for resource in kubernetes_resources(result):
        if resource is not ns:
            assert ns.urn in resource.dependencies, resource.name


def test_pod_security_labels_helper():
    assert pod_security_labels("baseline") == {
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }


# --- shared_resources(): what a program with many workspaces calls once ----------------------------------------


def test_shared_resources_create_one_namespace_at_the_least_restrictive_level_and_one_runtime_class():
    common = {"create_namespace": True, "create_runtime_class": True}
    workspaces = {
        "alice": {"strategy": Strategy.SYSBOX, "image": IMG, **common},
        "bob": {"strategy": Strategy.SYSBOX, "image": IMG, **common},
        "carol": {"strategy": Strategy.DIND, "image": IMG, "allow_insecure": True, **common},
    }

    def program():
        shared = shared_resources(workspaces)
        for name, args in shared.args.items():
            KubernetesWorkspace(name, args, pulumi.ResourceOptions(depends_on=shared.dependencies[name]))
        return {ns: level.value for ns, level in shared.pod_security_levels.items()}

    result = run(program)
    ns = result.one(NAMESPACE)
    assert ns.name == "workspaces"
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"  # carol's dind
    assert result.value == {"workspaces": "privileged"}
    rc = result.one(RUNTIME_CLASS)
    assert rc.inputs["handler"] == "sysbox-runc"
    assert sorted(result.names(DEPLOYMENT)) == ["alice", "bob", "carol"]
    for deployment in result.of_type(DEPLOYMENT):
        assert ns.urn in deployment.dependencies
        assert (rc.urn in deployment.dependencies) == (deployment.name != "carol")
    assert COMPONENT not in ns.parent and COMPONENT not in rc.parent  # shared: not any workspace's child


def test_shared_resources_only_sysbox_namespace_is_baseline_and_nothing_created_unless_asked():
    def program():
        shared = shared_resources({"alice": {"strategy": Strategy.SYSBOX, "image": IMG}})
        assert shared.namespaces == {} and shared.runtime_classes == {}
        assert shared.dependencies == {"alice": []}
        created = shared_resources({"alice": {"strategy": Strategy.SYSBOX, "image": IMG, "create_namespace": True}})
        assert list(created.namespaces) == ["workspaces"]

    result = run(program)
    assert result.one(NAMESPACE).inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"


def test_shared_resources_name_the_workspace_in_errors():
    with pytest.raises(ValueError, match=r"^bob: namespace: must be a DNS-1123 label"):
        shared_resources({"alice": {"image": IMG}, "bob": {"image": IMG, "namespace": "Team"}})


# --- validation -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"namespace": "Team_A"}, "namespace: must be a DNS-1123 label"),
        ({"create_namespace": "yes"}, "create_namespace: must be true or false"),
        ({"native_sidecar": 1}, "native_sidecar: must be true or false"),
        ({"mount_service_account_token": "no"}, "mount_service_account_token: must be true or false"),
        ({"data_root_size": "20 GB"}, "data_root_size: must be a Kubernetes quantity"),
        ({"home_size": 10}, "home_size: must be a Kubernetes quantity"),
        ({"storage_class": " "}, "storage_class: must be a non-empty string"),
        ({"user_namespace_mode": "hostusers"}, "user_namespace_mode: 'hostusers' is not one of: annotation, hostUsers"),
        ({"node_selector": {"pool": 1}}, "node_selector.pool: must be a string"),
        ({"node_selector": {"bad key!": "x"}}, "node_selector['bad key!']: must be a label key"),
        ({"tolerations": [{"key": "a", "operator": "In"}]}, "tolerations[0].operator: must be 'Equal' or 'Exists'"),
        ({"tolerations": [{"operator": "Exists", "value": "x"}]}, "tolerations[0].value: must be empty"),
        ({"tolerations": [{"value": "x"}]}, "tolerations[0].key: required with operator 'Equal'"),
        (
            {"tolerations": [{"key": "a", "effect": "NoRun"}]},
            "tolerations[0].effect: must be NoSchedule, PreferNoSchedule or NoExecute",
        ),
        ({"tolerations": [{"key": "a", "tolerationSeconds": 3}]}, "tolerations[0].tolerationSeconds: unknown key"),
        ({"resources": {"limits": {"cpu": "two"}}}, "resources.limits.cpu: must be a Kubernetes quantity"),
        ({"resources": {"request": {}}}, "resources.request: unknown key"),
        ({"namepsace": "x"}, "namepsace: unknown key; did you mean namespace?"),
        ({"strategy": "dindd"}, "strategy: 'dindd' is not one of: dood, dind"),
        ({"image": None}, "image: required unless envbuilder is given"),
    ],
)
def test_bad_args_raise_naming_the_field_before_anything_is_registered(args, message):
    with pytest.raises(ValueError) as error:
        build(**args)
    assert message in str(error.value)
    assert error.value.registered == []


# --- schema inputs for other languages ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls", [KubernetesSettingsArgs, TolerationArgs, KubernetesResourcesArgs, UserNamespaceMode, KubernetesWorkspace]
)
def test_every_field_and_output_has_a_docstring_pulumis_analyzer_can_read(cls):
    from pulumi.provider.experimental.analyzer import Analyzer

    if issubclass(cls, Enum):
        fields = [m.name for m in cls]
    else:  # only what this module declares (WorkspaceArgs' fields are args.py's)
        fields = [k for k in inspect.get_annotations(cls) if k not in WorkspaceArgs.__annotations__]
    assert fields
    analyzer = Analyzer("docker-in-workspaces")
    missing = [name for name in fields if not analyzer.get_docstring(cls, name)]
    assert missing == []


def test_component_args_annotation_is_a_real_type_for_the_analyzer():
    assert inspect.get_annotations(KubernetesWorkspace.__init__)["args"] is KubernetesWorkspaceArgs


def test_a_single_depends_on_resource_reaches_the_children_too():
    def program():
        ns = namespace_resource("shared-ns", "workspaces", "privileged")
        KubernetesWorkspace("alice", {"strategy": Strategy.SYSBOX, "image": IMG}, pulumi.ResourceOptions(depends_on=ns))

    result = run(program)
    ns = result.one(NAMESPACE)
    assert all(ns.urn in r.dependencies for r in kubernetes_resources(result) if r is not ns)


# --- no privileged container: podman and dind-userns ------------------------------------------------------------


def _workspace_container(spec: dict) -> dict:
    return next(c for c in spec["containers"] if c["name"] == "workspace")


def test_podman_pod_is_unprivileged_with_a_localhost_seccomp_profile_and_the_tun_device_plugin():
    result = build(strategy=Strategy.PODMAN, allow_insecure=False)
    spec = pod(result)
    workspace = _workspace_container(spec)
    context = workspace["securityContext"]
    assert context["privileged"] is False and context["runAsUser"] == 1000 and "capabilities" not in context
    assert context["seccompProfile"] == {
        "type": "Localhost",
        "localhostProfile": "docker-in-workspaces/rootless-engines.json",
    }
    assert "procMount" not in context and "hostUsers" not in spec
    assert workspace["resources"]["limits"] == {"squat.ai/tun": "1"}
    assert result.value["pod_security_level"] == "baseline"


def test_the_device_plugin_resource_is_configurable_and_merges_with_the_limits():
    result = build(
        strategy=Strategy.PODMAN, tun_device_resource="example.com/tun", resources={"limits": {"memory": "4Gi"}}
    )
    limits = _workspace_container(pod(result))["resources"]["limits"]
    assert limits == {"memory": "4Gi", "example.com/tun": "1"}


def test_dind_userns_pod_has_its_own_user_namespace_and_an_unmasked_proc():
    result = build(strategy=Strategy.DIND_USERNS, user_namespace_mode="annotation", create_namespace=True)
    spec = pod(result)
    assert spec["hostUsers"] is False  # whatever userNamespaceMode says: the API admits Unmasked only so
    context = _workspace_container(spec)["securityContext"]
    assert context["procMount"] == "Unmasked" and context["privileged"] is False
    assert context["seccompProfile"]["type"] == "Localhost"
    assert CRIO_USERNS_ANNOTATION not in result.one(DEPLOYMENT).inputs["spec"]["template"]["metadata"].get(
        "annotations", {}
    )
    labels = result.one(NAMESPACE).inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.35"  # baseline admits Unmasked from v1.35
    assert result.value["security_level"] == "medium"


def test_an_unconfined_apparmor_profile_is_the_field_and_makes_the_pod_privileged_for_pod_security():
    result = build(strategy=Strategy.PODMAN, app_armor_profile="Unconfined")
    context = _workspace_container(pod(result))["securityContext"]
    assert context["appArmorProfile"] == {"type": "Unconfined"}
    assert (result.value["security_level"], result.value["pod_security_level"]) == ("medium", "privileged")


# --- envbox: as Coder's envbox template ---------------------------------------------------------------------------


def test_envbox_is_coder_s_template_a_privileged_outer_container_with_the_settings_envbox_requires():
    resources = {"limits": {"cpu": "4", "memory": "8Gi"}, "requests": {"cpu": "500m", "memory": "2Gi"}}
    result = build(strategy=Strategy.ENVBOX, coder_agent=AGENT, resources=resources, env={"EDITOR": "vim"})
    spec = pod(result)
    ws = containers(result)["workspace"]
    assert list(containers(result)) == ["workspace"]
    assert ws["image"] == "ghcr.io/coder/envbox:0.6.7"
    assert ws["args"] == ["/envbox", "docker"] and ws["command"][:2] == ["/bin/sh", "-c"]
    assert ws["securityContext"] == {"privileged": True}
    assert ws["resources"] == resources
    variables = env(ws)
    assert variables["CODER_INNER_IMAGE"] == IMG and variables["CODER_INNER_USERNAME"] == "coder"
    assert variables["CODER_INNER_HOSTNAME"] == "alice"
    assert variables["CODER_MOUNTS"] == "/home/coder:/home/coder"
    assert variables["CODER_INNER_ENVS"] == "DIW_*,EDITOR,CODER_AGENT_URL"
    assert variables["CODER_AGENT_URL"] == "https://coder.example.com"
    assert variables["CODER_BOOTSTRAP_SCRIPT"].endswith("/bin/sh -c 'echo start-agent'\n")
    # The agent token from the Secret, CPU and memory from the container's own limits (Downward API).
    assert variables["CODER_AGENT_TOKEN"] == ("secret", "alice-secrets", "CODER_AGENT_TOKEN")
    assert variables["CODER_CPUS"] == ("resource", "workspace", "limits.cpu")
    assert variables["CODER_MEMORY"] == ("resource", "workspace", "limits.memory")
    assert TOKEN not in plaintext_strings(result.one(DEPLOYMENT).raw_inputs)
    assert mounts(ws) == {
        "/var/lib/coder/docker": "docker",
        "/var/lib/coder/containers": "containers",
        "/var/lib/docker": "envbox",
        "/var/lib/sysbox": "sysbox",
        "/home/coder": "home",
        "/usr/src": "host-usr-src",
        "/lib/modules": "host-lib-modules",
    }
    read_only = {m["mountPath"] for m in ws["volumeMounts"] if m.get("readOnly")}
    assert read_only == {"/usr/src", "/lib/modules"}
    pod_volumes = volumes(result)
    assert pod_volumes["host-usr-src"] == {"name": "host-usr-src", "hostPath": {"path": "/usr/src"}}
    assert pod_volumes["host-lib-modules"]["hostPath"] == {"path": "/lib/modules"}
    assert "emptyDir" in pod_volumes["sysbox"]
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod_volumes.values() if "persistentVolumeClaim" in v}
    assert claims == {"alice-docker", "alice-containers", "alice-envbox", "alice-home"} == set(result.names(PVC))
    assert "fsGroup" not in spec["securityContext"]  # envbox chowns the home for its inner user itself
    assert not {"runtimeClassName", "hostUsers"} & set(spec) and result.names(CONFIG_MAP) == []
    probe = ["docker", "exec", "workspace_cvm", "docker", "info"]
    assert ws["startupProbe"]["exec"]["command"] == ws["readinessProbe"]["exec"]["command"] == probe
    assert result.value["security_level"] == "low"
    assert result.value["pod_security_level"] == "privileged"


def test_envbox_without_agent_has_no_secret_and_runs_the_command_after_the_inner_daemon():
    result = build(strategy=Strategy.ENVBOX, command=["make", "serve"])
    variables = env(containers(result)["workspace"])
    assert "CODER_AGENT_TOKEN" not in variables and result.names(SECRET) == []
    assert variables["CODER_BOOTSTRAP_SCRIPT"].endswith("/bin/sh -c 'make serve'\n")
    assert variables["CODER_INNER_ENVS"] == "DIW_*"
