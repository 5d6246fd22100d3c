"""The policy pack (policy/), fed with the resources our components register under mocks.

Each registered resource is turned into a real `ResourceValidationArgs` the way pulumi-policy's own
analyzer does it: inputs on the wire (a protobuf Struct, secrets marked), `json_format.MessageToDict`,
`deserialize_properties` (with `proxy_secrets` only for remediations), `unknown_checking_proxy`.
A few tests go through pulumi-policy's analyzer servicer itself (Configure/Analyze/Remediate).
"""

from __future__ import annotations

import copy
import json
import os
import runpy
import subprocess
import sys
from typing import Any, Optional

import pulumi
import pulumi_docker as docker
import pytest
from google.protobuf import json_format, struct_pb2
from harness import SECRET_SIG, SIG_KEY, Registered, run
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ResourceValidationArgs,
    Secret,
)
from pulumi_policy.deserialize import deserialize_properties, serialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy
from stacks import ROOT, run_stack_file

from components import DockerHostWorkspace, DockerHostWorkspaceArgs, Strategy
from components.strategies.spec import DaemonKind
from components.workload import DaemonSettings, envbuilder_init_script, start_env
from policy import workspace_policies as wp
from policy.workspace_policies import daemons, secret_env, shapes

CONTAINER = "docker:index/container:Container"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
IMG = "codercom/enterprise-base:ubuntu"
SOCKET = "no-host-docker-socket"
PRIVILEGED = "no-privileged-container"
SYSBOX = "sysbox-isolation"
DATA_ROOT = "daemon-data-root-on-volume"
CONFINEMENT = "no-weakened-confinement"
SECRET_ENV = "no-secret-in-plain-env"
POLICY_NAMES = {p.name for p in wp.POLICIES}


# --- turning registered resources into what pulumi-policy hands a policy ------------------------------------------


def wire(raw_inputs: dict) -> struct_pb2.Struct:
    """Inputs as the engine sends them to an analyzer (KeepSecrets: secrets keep their signature)."""
    struct = struct_pb2.Struct()
    struct.update(raw_inputs)
    return struct


def validation_args(
    typ: str,
    name: str,
    raw_inputs: dict,
    config: Optional[dict] = None,
    *,
    remediation: bool = False,
    urn: str = "",
) -> ResourceValidationArgs:
    """What pulumi-policy's Analyze (or, with remediation, Remediate) builds from an AnalyzeRequest."""
    props = unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(wire(raw_inputs)), remediation))
    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    return ResourceValidationArgs(typ, props, urn or f"urn:pulumi:test::test::{typ}::{name}", name, opts, None, config)


def of(resource: Registered, config: Optional[dict] = None, **kwargs) -> ResourceValidationArgs:
    return validation_args(resource.type, resource.name, resource.raw_inputs, config, urn=resource.urn, **kwargs)


def violations(resources, config: Optional[dict] = None) -> set[tuple[str, str]]:
    """(policy, resource name) of every violation, each policy given its own config like the analyzer does."""
    found = set()
    for resource in resources:
        typ, name, raw = (
            (resource.type, resource.name, resource.raw_inputs) if isinstance(resource, Registered) else resource
        )
        for policy in wp.POLICIES:
            messages: list[str] = []
            args = validation_args(typ, name, raw, (config or {}).get(policy.name))
            policy.validate(args, lambda message, urn=None, messages=messages: messages.append(message))
            found |= {(policy.name, name) for _ in messages}
    return found


def messages_of(policy_name: str, typ: str, name: str, raw: dict, config: Optional[dict] = None) -> list[str]:
    policy = next(p for p in wp.POLICIES if p.name == policy_name)
    messages: list[str] = []
    policy.validate(validation_args(typ, name, raw, config), lambda m, urn=None: messages.append(m))
    return messages


def acknowledged(args_type) -> dict:
    """`allow_insecure=True` once the component has it: these tests judge the policy, not the component's guard."""
    return {"allow_insecure": True} if "allow_insecure" in args_type.__annotations__ else {}


def docker_workspace(strategy: Strategy, name: str = "alice", **args):
    args.setdefault("image", IMG)
    args.update(acknowledged(DockerHostWorkspaceArgs))
    if strategy == Strategy.DOOD:
        args.setdefault("docker_socket_gid", 998)
    return run(lambda: DockerHostWorkspace(name, {"strategy": strategy, **args}))


def container_raw(result, name: str = "alice") -> dict:
    return copy.deepcopy(result.one(CONTAINER, name).raw_inputs)


# --- the module itself --------------------------------------------------------------------------------------------


def test_policy_names_and_schemas():
    assert POLICY_NAMES == {SOCKET, PRIVILEGED, CONFINEMENT, SYSBOX, DATA_ROOT, SECRET_ENV}
    for policy in wp.POLICIES:
        assert policy.config_schema is not None
        for spec in policy.config_schema.properties.values():
            assert spec["type"] in {"boolean", "array"} and "default" in spec and spec["description"]


def test_each_policy_is_declared_beside_its_check_and_registered_once():
    import importlib
    import pkgutil

    names = [module.POLICY.name for module in wp.POLICY_MODULES]
    assert len(set(names)) == len(names) == len(wp.POLICIES)
    for module in wp.POLICY_MODULES:
        # The check is named after its policy and is what the policy object runs (pulumi-policy keeps the
        # functions in private attributes: its public validate/remediate are wrappers).
        check = getattr(module, module.POLICY.name.replace("-", "_"))
        assert vars(module.POLICY)["_ResourceValidationPolicy__validate"] is check, module.__name__
        remediate = vars(module.POLICY)["_ResourceValidationPolicy__remediate"]
        assert remediate is None or remediate.__module__ == module.__name__, module.__name__
    # A policy module the registry does not name would never be served.
    with_policy = {
        f"{wp.__name__}.{info.name}"
        for info in pkgutil.iter_modules(wp.__path__)
        if hasattr(importlib.import_module(f"{wp.__name__}.{info.name}"), "POLICY")
    }
    assert with_policy == {module.__name__ for module in wp.POLICY_MODULES}


def test_policy_knows_the_start_script_knobs_the_components_use():
    from components.strategies import plan

    for strategy in (Strategy.DIND, Strategy.DIND_ROOTLESS, Strategy.SYSBOX):
        spec = plan(strategy).daemon_container
        env = start_env(spec, DaemonSettings())
        assert env[daemons.MODE_ENV] == spec.daemon.kind.value
        assert env[daemons.DATA_ROOT_ENV] == spec.daemon.data_root
    # The pack cannot import components: a new kind of daemon must be added to its modes too.
    assert {kind.value for kind in DaemonKind} == set(daemons.DAEMON_MODES)
    assert plan(Strategy.DIND).daemon_container.daemon.data_root == daemons.ROOTFUL_DATA_ROOT
    assert plan(Strategy.DIND_ROOTLESS).daemon_container.daemon.data_root.endswith(daemons.ROOTLESS_DATA_ROOT_SUFFIX)
    from components.strategies.spec import DEFAULT_DIND_IMAGE

    assert any(__import__("fnmatch").fnmatchcase(DEFAULT_DIND_IMAGE, p) for p in daemons.DEFAULT_DAEMON_IMAGES)


def test_importing_the_policies_does_not_start_a_policy_pack():
    code = (
        "import sys, pulumi_policy\n"
        "def boom(*a, **k): raise SystemExit('PolicyPack constructed on import')\n"
        "pulumi_policy.PolicyPack.__init__ = boom\n"
        "import policy, policy.workspace_policies\n"
        "assert 'policy.__main__' not in sys.modules and '__main__' != policy.__name__\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'components'], 'the pack imports components'\n"
        "print(len(policy.workspace_policies.POLICIES))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(wp.POLICIES))
    assert "policy.__main__" not in sys.modules


def test_main_builds_the_pack_from_every_policy(monkeypatch):
    import pulumi_policy

    built: dict[str, Any] = {}

    class Recorder:
        def __init__(self, **kwargs):
            built.update(kwargs)

    monkeypatch.setattr(pulumi_policy, "PolicyPack", Recorder)
    monkeypatch.setattr(sys, "path", list(sys.path))
    runpy.run_path(str(ROOT / "policy" / "__main__.py"), run_name="__main__")
    assert built["name"] == "docker-in-workspaces"
    assert [p.name for p in built["policies"]] == [p.name for p in wp.POLICIES]
    for name in [m for m in sys.modules if m == "workspace_policies" or m.startswith("workspace_policies.")]:
        del sys.modules[name]  # the pack's own import, not ours


def test_pack_files():
    yaml = __import__("yaml")
    manifest = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    requirements = (ROOT / "policy" / "requirements.txt").read_text().split()
    assert "pulumi-policy==1.21.0" in requirements
    dev = json.loads((ROOT / "policy" / "config.dev.json").read_text())
    schemas = {p.name: p.config_schema.properties for p in wp.POLICIES}
    for policy_name, config in dev.items():
        assert set(config) <= set(schemas[policy_name]) | {"enforcementLevel"}, policy_name


# --- every strategy on a Docker host ------------------------------------------------------------------------------

EXPECTED = {
    Strategy.DOOD: {(SOCKET, "alice"), (SOCKET, "alice-preflight")},  # the check mounts what the workspace does
    Strategy.DIND: {(PRIVILEGED, "alice")},
    Strategy.DIND_SIDECAR: {(PRIVILEGED, "alice-daemon")},
    Strategy.DIND_ROOTLESS: {(PRIVILEGED, "alice")},
    Strategy.SYSBOX: set(),
    Strategy.PODMAN: set(),  # its seccomp profile is a filter, not unconfined
    Strategy.ENVBOX: {(PRIVILEGED, "alice")},  # the outer container; the nested one is not a resource
}
K8S_EXPECTED = {**EXPECTED, Strategy.DIND_USERNS: {(CONFINEMENT, "alice")}}  # procMount: Unmasked
DOCKER_HOST_STRATEGIES = list(EXPECTED)
"""dind-userns is refused on a Docker host (tests/test_docker_host.py)."""


@pytest.mark.parametrize("strategy", DOCKER_HOST_STRATEGIES, ids=str)
def test_docker_host_strategies_are_denied_exactly_where_they_are_insecure(strategy):
    result = docker_workspace(strategy)
    assert violations(result.resources) == EXPECTED[strategy]


@pytest.mark.parametrize("strategy", DOCKER_HOST_STRATEGIES, ids=str)
def test_docker_host_strategies_pass_when_acknowledged(strategy):
    result = docker_workspace(strategy)
    allow_all = {SOCKET: {"allowHostDockerSocket": True}, PRIVILEGED: {"allowPrivileged": True}}
    assert violations(result.resources, allow_all) == set()
    exempt = {SOCKET: {"exemptResources": ["alice*"]}, PRIVILEGED: {"exemptResources": ["alice*"]}}
    assert violations(result.resources, exempt) == set()
    other = {SOCKET: {"exemptResources": ["bob"]}, PRIVILEGED: {"exemptResources": ["bob"], "allowPrivileged": False}}
    assert violations(result.resources, other) == EXPECTED[strategy]


@pytest.mark.parametrize("strategy", DOCKER_HOST_STRATEGIES, ids=str)
def test_envbuilder_and_coder_agent_workspaces(strategy):
    builder = {"git_url": "https://example.com/r", "docker_config_base64": "eyJhdXRocyI6IHsici5leGFtcGxlIjoge319fQ=="}
    agent = {"url": "https://coder", "token": "tok", "init_script": "run-agent"}
    # Envbuilder runs as root: the component refuses rootless with it; envbox runs the image unbuilt: refused too.
    if strategy not in (Strategy.DIND_ROOTLESS, Strategy.ENVBOX, Strategy.PODMAN):
        with_builder = docker_workspace(strategy, image=None, envbuilder=builder)
        # No preflight container: Envbuilder builds the image at start, the inlined script checks it then.
        expected = {(policy, name) for policy, name in EXPECTED[strategy] if not name.endswith("-preflight")}
        assert violations(with_builder.resources) == expected
    with_agent = docker_workspace(strategy, coder_agent=agent)
    assert violations(with_agent.resources) == EXPECTED[strategy]


def test_envbuilder_daemon_knobs_are_read_from_the_init_script():
    result = docker_workspace(Strategy.DIND, image=None, envbuilder={"git_url": "https://example.com/repo"})
    raw = container_raw(result)
    env = shapes.docker_env(shapes.plain(raw))
    assert daemons.MODE_ENV not in env  # inlined into ENVBUILDER_INIT_SCRIPT, not container env
    assert daemons.with_init_script_knobs(env)[daemons.DATA_ROOT_ENV] == "/var/lib/docker"
    raw["mounts"] = [m for m in raw["mounts"] if m["target"] != "/var/lib/docker"]
    assert violations([(CONTAINER, "alice", raw)]) == {(PRIVILEGED, "alice"), (DATA_ROOT, "alice")}


def test_stopped_workspace_registers_nothing_to_deny():
    assert violations(docker_workspace(Strategy.DOOD, running=False).resources) == set()


def test_dev_stack_with_its_example_pack_config_passes_and_without_it_is_denied():
    result = run_stack_file(ROOT / "Pulumi.dev.yaml")
    assert violations(result.resources) == {
        (PRIVILEGED, "bob"),
        (PRIVILEGED, "carol"),
        (PRIVILEGED, "dave-daemon"),
    }
    dev_config = json.loads((ROOT / "policy" / "config.dev.json").read_text())
    assert violations(result.resources, dev_config) == set()


# --- hand-modified containers -------------------------------------------------------------------------------------


def test_sysbox_container_made_privileged_is_denied_even_when_privileged_is_allowed():
    raw = container_raw(docker_workspace(Strategy.SYSBOX))
    assert raw["runtime"] == "sysbox-runc"
    raw["privileged"] = True
    assert violations([(CONTAINER, "alice", raw)]) == {(SYSBOX, "alice"), (PRIVILEGED, "alice")}
    assert violations([(CONTAINER, "alice", raw)], {PRIVILEGED: {"allowPrivileged": True}}) == {(SYSBOX, "alice")}


def test_sysbox_container_on_host_namespaces_is_denied():
    def program():
        docker.Container(
            "box",
            image="img",
            runtime="sysbox-runc",
            network_mode="host",
            pid_mode="host",
            ipc_mode="host",
            userns_mode="host",
        )
        docker.Container("plain", image="img", network_mode="host", pid_mode="host")

    result = run(program)
    box = result.one(CONTAINER, "box")
    assert len(messages_of(SYSBOX, CONTAINER, "box", box.raw_inputs)) == 4
    assert violations(result.resources) == {(SYSBOX, "box")}  # host namespaces are sysbox's concern only
    # The runtime names that count as sysbox are configurable.
    assert messages_of(SYSBOX, CONTAINER, "box", box.raw_inputs, {"sysboxRuntimes": ["kata*"]}) == []


@pytest.mark.parametrize(
    ("strategy", "container", "data_root"),
    [
        (Strategy.DIND, "alice", "/var/lib/docker"),
        (Strategy.DIND_SIDECAR, "alice-daemon", "/var/lib/docker"),
        (Strategy.DIND_ROOTLESS, "alice", "/home/coder/.local/share/docker"),
        (Strategy.SYSBOX, "alice", "/var/lib/docker"),
        (Strategy.ENVBOX, "alice", "/var/lib/docker"),  # envbox's own daemon
        (Strategy.ENVBOX, "alice", "/var/lib/coder/docker"),  # the nested workspace's, as envbox keeps it
    ],
    ids=str,
)
def test_daemon_without_its_data_root_volume_is_denied(strategy, container, data_root):
    raw = container_raw(docker_workspace(strategy), container)
    allow = {PRIVILEGED: {"allowPrivileged": True}}
    assert violations([(CONTAINER, container, raw)], allow) == set()
    without = copy.deepcopy(raw)
    without["mounts"] = [m for m in raw["mounts"] if m["target"] != data_root]
    assert len(without["mounts"]) == len(raw["mounts"]) - 1
    assert violations([(CONTAINER, container, without)], allow) == {(DATA_ROOT, container)}
    [message] = messages_of(DATA_ROOT, CONTAINER, container, without)
    assert data_root in message
    # A bind mount of a host directory is not the daemon's own volume.
    as_bind = copy.deepcopy(without)
    as_bind["mounts"].append({"type": "bind", "source": "/srv/docker", "target": data_root})
    assert violations([(CONTAINER, container, as_bind)], allow) == {(DATA_ROOT, container)}
    # The legacy `volumes` input with a named volume counts.
    legacy = copy.deepcopy(without)
    legacy["volumes"] = [{"volumeName": "alice-docker", "containerPath": data_root}]
    assert violations([(CONTAINER, container, legacy)], allow) == set()


def test_other_daemon_containers_are_recognised():
    def program():
        docker.Container("dind", image="docker:27.5.1-dind", privileged=True)
        docker.Container("rootless", image="docker:dind-rootless", privileged=True)
        docker.Container("cmd", image="sha256:abc", command=["dockerd", "--data-root=/data"], privileged=True)
        docker.Container(
            "ok",
            image="docker:dind",
            privileged=True,
            mounts=[docker.ContainerMountArgs(type="volume", source="v", target="/var/lib/docker")],
        )
        docker.Container("web", image="nginx")

    result = run(program)
    allow = {PRIVILEGED: {"allowPrivileged": True}}
    assert violations(result.resources, allow) == {(DATA_ROOT, "dind"), (DATA_ROOT, "rootless"), (DATA_ROOT, "cmd")}
    assert (
        "/home/rootless/.local/share/docker"
        in messages_of(DATA_ROOT, CONTAINER, "rootless", result.one(CONTAINER, "rootless").raw_inputs)[0]
    )
    assert "/data" in messages_of(DATA_ROOT, CONTAINER, "cmd", result.one(CONTAINER, "cmd").raw_inputs)[0]


@pytest.mark.parametrize(
    ("mount", "denied"),
    [
        ({"type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock"}, True),
        ({"type": "bind", "source": "/run/docker.sock", "target": "/docker.sock"}, True),
        ({"type": "bind", "source": "/srv/sockets/my-docker.sock", "target": "/var/run/docker.sock"}, True),
        ({"type": "bind", "source": "/var/run//./docker.sock", "target": "/x"}, True),
        ({"type": "bind", "source": "/var/run", "target": "/host-run"}, True),
        ({"type": "bind", "source": "/", "target": "/host"}, True),
        ({"type": "bind", "source": "/run/user/1000/docker.sock", "target": "/d.sock"}, True),
        ({"type": "bind", "source": "/run/user/1000", "target": "/xdg"}, True),
        ({"type": "bind", "source": "/home/me/src", "target": "/src"}, False),
        ({"type": "volume", "source": "docker.sock", "target": "/var/run/docker.sock"}, False),
        ({"type": "bind", "source": UNKNOWN_STRING_VALUE, "target": "/x"}, False),  # preview: checked at `up`
    ],
)
def test_host_socket_mount_shapes(mount, denied):
    raw = {"image": "img", "mounts": [mount]}
    assert bool(messages_of(SOCKET, CONTAINER, "c", raw)) == denied


def test_host_socket_through_legacy_volumes_is_denied():
    def program():
        docker.Container(
            "c",
            image="img",
            volumes=[
                docker.ContainerVolumeArgs(host_path="/var/run/docker.sock", container_path="/var/run/docker.sock")
            ],
        )

    result = run(program)
    assert violations(result.resources) == {(SOCKET, "c")}


def test_unknown_values_in_preview_do_not_break_the_policies():
    raw = container_raw(docker_workspace(Strategy.SYSBOX))
    raw["networkMode"] = UNKNOWN_STRING_VALUE
    raw["mounts"][1]["source"] = UNKNOWN_STRING_VALUE
    raw["envs"].append(UNKNOWN_STRING_VALUE)
    assert violations([(CONTAINER, "alice", raw)]) == set()
    raw["privileged"] = True
    assert (SYSBOX, "alice") in violations([(CONTAINER, "alice", raw)])


# --- secrets in env -----------------------------------------------------------------------------------------------


def remediate(typ: str, name: str, raw: dict, config: Optional[dict] = None):
    policy = next(p for p in wp.POLICIES if p.name == SECRET_ENV)
    return policy.remediate(validation_args(typ, name, raw, config, remediation=True))


def test_validation_cannot_see_pulumi_secrets_but_remediation_can():
    result = docker_workspace(Strategy.SYSBOX, env={"API_KEY": pulumi.Output.secret("tok")})
    raw = result.one(CONTAINER, "alice").raw_inputs
    assert raw["envs"][SIG_KEY] == SECRET_SIG  # one secret entry: the SDK registers the whole env as a secret
    seen = validation_args(CONTAINER, "alice", raw).props["envs"]
    assert "API_KEY=tok" in list(seen)  # plaintext, and nothing says it was secret
    remediation_view = validation_args(CONTAINER, "alice", raw, remediation=True).props["__target"]["envs"]
    assert isinstance(remediation_view, Secret)
    assert remediate(CONTAINER, "alice", raw) is None  # already a secret: nothing to do


def test_plain_sensitive_docker_env_is_turned_into_a_secret():
    result = docker_workspace(Strategy.SYSBOX, env={"GITHUB_TOKEN": "ghp_plain", "EDITOR": "vim"})
    raw = result.one(CONTAINER, "alice").raw_inputs
    assert isinstance(raw["envs"], list) and "GITHUB_TOKEN=ghp_plain" in raw["envs"]  # not a secret
    new = serialize_properties(remediate(CONTAINER, "alice", raw))
    entries = new["envs"]
    secret_entries = [e for e in entries if isinstance(e, dict)]
    assert secret_entries == [{SIG_KEY: SECRET_SIG, "value": "GITHUB_TOKEN=ghp_plain"}]
    assert "EDITOR=vim" in entries and "DIW_DOCKERD_MODE=rootful" in entries
    assert {k for k in new if k != "envs"} == {k for k in raw if k != "envs"}  # everything else untouched
    assert remediate(CONTAINER, "alice", raw, {"allowedNames": ["GITHUB_TOKEN"]}) is None
    # Validation on a Docker host cannot tell (and so does not judge).
    assert messages_of(SECRET_ENV, CONTAINER, "alice", raw) == []


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("CODER_AGENT_TOKEN", True),
        ("ENVBUILDER_DOCKER_CONFIG_BASE64", True),
        ("DB_PASSWORD", True),
        ("aws_secret_access_key", True),
        ("OPENAI_API_KEY", True),
        ("REGISTRY_CREDENTIALS", True),
        ("DOCKER_HOST", False),
        ("DIW_DOCKERD_DATA_ROOT", False),
        ("ENVBUILDER_INIT_SCRIPT", False),
        ("CODER_AGENT_URL", False),
    ],
)
def test_sensitive_names(name, sensitive):
    assert secret_env.is_sensitive_name(name, {}) == sensitive


# --- Kubernetes ---------------------------------------------------------------------------------------------------


def deployment(containers: list[dict], volumes: Optional[list] = None, **pod) -> dict:
    """A Deployment's inputs as pulumi-kubernetes registers them (camelCase)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ws", "namespace": "workspaces"},
        "spec": {
            "selector": {"matchLabels": {"app": "ws"}},
            "template": {
                "metadata": {"labels": {"app": "ws"}},
                "spec": {"containers": containers, "volumes": volumes or [], **pod},
            },
        },
    }


def workspace_container(**extra) -> dict:
    return {"name": "workspace", "image": IMG, **extra}


def test_k8s_sensitive_env_value_is_denied_and_secret_key_ref_passes():
    plain_value = deployment([workspace_container(env=[{"name": "CODER_AGENT_TOKEN", "value": "tok"}])])
    assert violations([(DEPLOYMENT, "ws", plain_value)]) == {(SECRET_ENV, "ws")}
    # Even a Pulumi secret written as `value` lands in plaintext in the pod spec.
    secret_value = copy.deepcopy(plain_value)
    env = secret_value["spec"]["template"]["spec"]["containers"][0]["env"][0]
    env["value"] = {SIG_KEY: SECRET_SIG, "value": "tok"}
    assert violations([(DEPLOYMENT, "ws", secret_value)]) == {(SECRET_ENV, "ws")}
    ref = {"secretKeyRef": {"name": "ws-secrets", "key": "CODER_AGENT_TOKEN"}}
    from_secret = deployment([workspace_container(env=[{"name": "CODER_AGENT_TOKEN", "valueFrom": ref}])])
    assert violations([(DEPLOYMENT, "ws", from_secret)]) == set()
    config_map = {"configMapKeyRef": {"name": "cm", "key": "k"}}
    from_config_map = deployment([workspace_container(env=[{"name": "DB_PASSWORD", "valueFrom": config_map}])])
    assert violations([(DEPLOYMENT, "ws", from_config_map)]) == {(SECRET_ENV, "ws")}
    harmless = deployment([workspace_container(env=[{"name": "DOCKER_HOST", "value": "unix:///var/run/docker.sock"}])])
    assert violations([(DEPLOYMENT, "ws", harmless)]) == set()
    init = deployment(
        [workspace_container()], initContainers=[{"name": "i", "env": [{"name": "X_TOKEN", "value": "t"}]}]
    )
    assert violations([(DEPLOYMENT, "ws", init)]) == {(SECRET_ENV, "ws")}
    config = {SECRET_ENV: {"allowedNames": ["X_TOKEN"]}}
    assert violations([(DEPLOYMENT, "ws", init)], config) == set()
    custom = deployment([workspace_container(env=[{"name": "GH_PAT", "value": "t"}])])
    assert violations([(DEPLOYMENT, "ws", custom)]) == set()
    assert violations([(DEPLOYMENT, "ws", custom)], {SECRET_ENV: {"sensitiveNamePatterns": ["_PAT$"]}}) == {
        (SECRET_ENV, "ws")
    }


def test_k8s_privileged_and_socket_and_sysbox_shapes():
    privileged_init = deployment(
        [workspace_container()], initContainers=[{"name": "daemon", "securityContext": {"privileged": True}}]
    )
    assert violations([(DEPLOYMENT, "ws", privileged_init)]) == {(PRIVILEGED, "ws")}
    assert violations([(DEPLOYMENT, "ws", privileged_init)], {PRIVILEGED: {"allowPrivileged": True}}) == set()

    socket = deployment(
        [workspace_container(volumeMounts=[{"name": "sock", "mountPath": "/var/run/docker.sock"}])],
        [{"name": "sock", "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"}}],
    )
    assert violations([(DEPLOYMENT, "ws", socket)]) == {(SOCKET, "ws")}
    assert violations([(DEPLOYMENT, "ws", socket)], {SOCKET: {"allowHostDockerSocket": True}}) == set()

    pvc = [{"name": "docker", "persistentVolumeClaim": {"claimName": "ws-docker"}}]
    mounts = [{"name": "docker", "mountPath": "/var/lib/docker"}]
    env = [{"name": "DIW_DOCKERD_MODE", "value": "rootful"}]
    sysbox = deployment([workspace_container(env=env, volumeMounts=mounts)], pvc, runtimeClassName="sysbox-runc")
    assert violations([(DEPLOYMENT, "ws", sysbox)]) == set()
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        bad = copy.deepcopy(sysbox)
        bad["spec"]["template"]["spec"][key] = True
        assert violations([(DEPLOYMENT, "ws", bad)]) == {(SYSBOX, "ws")}, key
    bad = copy.deepcopy(sysbox)
    bad["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    assert violations([(DEPLOYMENT, "ws", bad)], {PRIVILEGED: {"allowPrivileged": True}}) == {(SYSBOX, "ws")}
    not_sysbox = copy.deepcopy(sysbox)
    not_sysbox["spec"]["template"]["spec"].update(runtimeClassName="runc", hostNetwork=True)
    assert violations([(DEPLOYMENT, "ws", not_sysbox)]) == set()


def test_k8s_daemon_data_root_must_be_a_pvc():
    dind = {"name": "daemon", "image": "docker:27.5.1-dind", "securityContext": {"privileged": True}}
    allow = {PRIVILEGED: {"allowPrivileged": True}}
    no_mount = deployment([workspace_container(), dind])
    assert violations([(DEPLOYMENT, "ws", no_mount)], allow) == {(DATA_ROOT, "ws")}
    empty_dir = deployment(
        [workspace_container(), {**dind, "volumeMounts": [{"name": "docker", "mountPath": "/var/lib/docker"}]}],
        [{"name": "docker", "emptyDir": {}}],
    )
    assert violations([(DEPLOYMENT, "ws", empty_dir)], allow) == {(DATA_ROOT, "ws")}
    pvc = copy.deepcopy(empty_dir)
    pvc["spec"]["template"]["spec"]["volumes"] = [{"name": "docker", "persistentVolumeClaim": {"claimName": "c"}}]
    assert violations([(DEPLOYMENT, "ws", pvc)], allow) == set()
    # Also through other workload kinds.
    cron = {"spec": {"jobTemplate": {"spec": {"template": {"spec": no_mount["spec"]["template"]["spec"]}}}}}
    assert violations([("kubernetes:batch/v1:CronJob", "ws", cron)], allow) == {(DATA_ROOT, "ws")}
    pod = {"spec": no_mount["spec"]["template"]["spec"]}
    assert violations([("kubernetes:core/v1:Pod", "ws", pod)], allow) == {(DATA_ROOT, "ws")}


@pytest.fixture(scope="module")
def kubernetes_workspace():
    module = pytest.importorskip("components.kubernetes")
    return module.KubernetesWorkspace


@pytest.mark.parametrize("strategy", list(Strategy), ids=str)
def test_kubernetes_workspace_strategies(kubernetes_workspace, strategy):
    args = {"strategy": strategy, "image": IMG, "coder_agent": {"url": "u", "token": "tok", "init_script": "agent"}}
    args.update(acknowledged(__import__("components.kubernetes").kubernetes.KubernetesWorkspaceArgs))
    if strategy == Strategy.DOOD:
        args["docker_socket_gid"] = 998
    result = run(lambda: kubernetes_workspace("alice", args))
    deployments = result.of_type(DEPLOYMENT)
    assert len(deployments) == 1
    expected = {(policy, "alice") for policy, _ in K8S_EXPECTED[strategy]}
    assert violations(result.resources) == expected
    allow = {
        SOCKET: {"allowHostDockerSocket": True},
        PRIVILEGED: {"allowPrivileged": True},
        CONFINEMENT: {"allowUnmaskedProcMount": True},
    }
    assert violations(result.resources, allow) == set()
    # Without its data-root PVC mount the daemon container is denied.
    spec = copy.deepcopy(deployments[0].raw_inputs)
    pod = spec["spec"]["value"]["template"]["spec"] if SIG_KEY in spec["spec"] else spec["spec"]["template"]["spec"]
    containers = [*pod.get("initContainers", []), *pod["containers"]]
    for container in [c for c in containers if daemons.MODE_ENV in str(c.get("env"))]:
        container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] not in ("docker", "podman")]
    has_daemon = strategy != Strategy.DOOD
    assert ((DATA_ROOT, "alice") in violations([(DEPLOYMENT, "alice", spec)], allow)) == has_daemon


# --- through pulumi-policy's own analyzer -------------------------------------------------------------------------


def analyzer(config: Optional[dict] = None):
    from pulumi_policy.policy import EnforcementLevel, _PolicyAnalyzerServicer

    servicer = _PolicyAnalyzerServicer("docker-in-workspaces", "0.0.1", wp.POLICIES, EnforcementLevel.MANDATORY)
    if config:
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, properties in config.items():
            level = {"mandatory": analyzer_pb2.MANDATORY, "remediate": analyzer_pb2.REMEDIATE}[properties.pop("level")]
            request.policyConfig[name].CopyFrom(
                analyzer_pb2.PolicyConfig(enforcementLevel=level, properties=wire(properties))
            )
        servicer.Configure(request, None)
    return servicer


def request(resource: Registered) -> analyzer_pb2.AnalyzeRequest:
    return analyzer_pb2.AnalyzeRequest(
        urn=resource.urn, type=resource.type, name=resource.name, properties=wire(resource.raw_inputs)
    )


def test_the_real_analyzer_reports_what_the_functions_report():
    result = docker_workspace(Strategy.DOOD)
    container = result.one(CONTAINER, "alice")
    response = analyzer().Analyze(request(container), None)
    assert [d.policyName for d in response.diagnostics] == [SOCKET]
    assert response.diagnostics[0].enforcementLevel == analyzer_pb2.MANDATORY
    configured = analyzer({SOCKET: {"level": "mandatory", "allowHostDockerSocket": True}})
    assert list(configured.Analyze(request(container), None).diagnostics) == []


def test_the_real_analyzer_remediates_plain_docker_secrets_only():
    plain_env = docker_workspace(Strategy.SYSBOX, env={"NPM_TOKEN": "npm_plain"}).one(CONTAINER, "alice")
    response = analyzer().Remediate(request(plain_env), None)
    [remediation] = response.remediations
    assert remediation.policyName == SECRET_ENV
    envs = json_format.MessageToDict(remediation.properties)["envs"]
    assert {SIG_KEY: SECRET_SIG, "value": "NPM_TOKEN=npm_plain"} in envs
    secret_value = docker_workspace(Strategy.SYSBOX, env={"NPM_TOKEN": pulumi.Output.secret("npm_secret")})
    assert list(analyzer().Remediate(request(secret_value.one(CONTAINER, "alice")), None).remediations) == []
    # The agent's token is a file on a Docker host; the variable naming the file is no secret.
    with_agent = docker_workspace(Strategy.SYSBOX, coder_agent={"url": "u", "token": "t", "init_script": "a"})
    assert list(analyzer().Remediate(request(with_agent.one(CONTAINER, "alice")), None).remediations) == []


def test_unknown_or_secret_wrapped_outputs_from_a_preview_are_readable():
    def program():
        secret_gid = pulumi.Output.secret("1000")
        docker.Container("c", image="img", runtime="sysbox-runc", group_adds=[secret_gid], privileged=True)

    resource = run(program, preview=True).one(CONTAINER, "c")
    assert violations([resource]) == {(SYSBOX, "c"), (PRIVILEGED, "c")}


def test_init_script_knob_parser_matches_the_component_format():
    knobs = {"DIW_DOCKERD_MODE": "rootless", "DIW_DOCKERD_DATA_ROOT": "/home/it's me/.local/share/docker"}
    script = envbuilder_init_script(knobs, "export DIW_DOCKERD_DATA_ROOT=/elsewhere\necho hi")
    env = daemons.with_init_script_knobs({"ENVBUILDER_INIT_SCRIPT": script})
    assert {k: env[k] for k in knobs} == knobs


# --- no-weakened-confinement --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "key"),
    [
        (["seccomp=unconfined"], "allowUnconfinedSeccomp"),
        (["apparmor=unconfined"], "allowUnconfinedAppArmor"),
        (["apparmor:unconfined"], "allowUnconfinedAppArmor"),
        (["systempaths=unconfined"], "allowUnmaskedProcMount"),
    ],
)
def test_a_docker_container_with_a_confinement_turned_off_is_denied_unless_allowed(options, key):
    raw = container_raw(docker_workspace(Strategy.PODMAN))
    raw["securityOpts"] = options
    assert violations([(CONTAINER, "alice", raw)]) == {(CONFINEMENT, "alice")}
    [message] = messages_of(CONFINEMENT, CONTAINER, "alice", raw)
    assert key in message
    assert violations([(CONTAINER, "alice", raw)], {CONFINEMENT: {key: True}}) == set()
    assert violations([(CONTAINER, "alice", raw)], {CONFINEMENT: {"exemptResources": ["alice"]}}) == set()


def test_a_pod_with_unconfined_seccomp_or_apparmor_is_denied(kubernetes_workspace):
    args = {"strategy": Strategy.PODMAN, "image": IMG}
    result = run(lambda: kubernetes_workspace("alice", args))
    spec = copy.deepcopy(result.of_type(DEPLOYMENT)[0].raw_inputs)
    assert violations([(DEPLOYMENT, "alice", spec)]) == set()
    pod = spec["spec"]["template"]["spec"]
    workspace = pod["containers"][0]
    workspace["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
    workspace["securityContext"]["appArmorProfile"] = {"type": "Unconfined"}
    assert violations([(DEPLOYMENT, "alice", spec)]) == {(CONFINEMENT, "alice")}
    messages = messages_of(CONFINEMENT, DEPLOYMENT, "alice", spec)
    assert any("seccomp Unconfined" in m for m in messages) and any("AppArmor unconfined" in m for m in messages)
    both = {CONFINEMENT: {"allowUnconfinedSeccomp": True, "allowUnconfinedAppArmor": True}}
    assert violations([(DEPLOYMENT, "alice", spec)], both) == set()
