"""DockerHostWorkspace under mocks: the resources and their decisive inputs, per strategy."""

import base64
import itertools

import pytest
from harness import RecordingMocks, is_secret, plaintext_strings, record, run, unwrap_secrets

from components import DockerHostWorkspace, Strategy
from components.docker_host import PreflightError
from components.profiles import seccomp_profile
from components.strategies import StrategyOptions, plan
from components.workload import CODER_AGENT_TOKEN_FILE, start_script

CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
IMAGE = "docker:index/remoteImage:RemoteImage"
TOKEN = "docker-in-workspaces:index:DockerHostWorkspace"
IMG = "codercom/enterprise-base:ubuntu"
DOCKER_HOST_STRATEGIES = [s for s in Strategy if not plan(s, StrategyOptions(docker_socket_gid=998)).kubernetes_only]
"""Every strategy but dind-userns (refused on a Docker host, below)."""


def build(name="alice", **args):
    args.setdefault("image", IMG)
    args.setdefault("allow_insecure", True)  # the guard itself is tested below

    def program():
        ws = DockerHostWorkspace(name, args)
        return {
            "docker_host": ws.docker_host,
            "security_level": ws.security_level,
            "container_name": ws.container_name,
            "volume_names": ws.volume_names,
            "running": ws.running,
        }

    return run(program)


def env_of(container) -> dict:
    return dict(item.split("=", 1) for item in container.inputs.get("envs", []))


def mount_targets(container) -> dict:
    return {m["target"]: m for m in container.inputs.get("mounts", [])}


def test_dood_mounts_host_socket_and_adds_its_group():
    result = build(strategy=Strategy.DOOD, docker_socket_gid=998)
    ws = result.one(CONTAINER, "alice")
    mounts = mount_targets(ws)
    assert mounts["/var/run/docker.sock"] == {
        "type": "bind",
        "source": "/var/run/docker.sock",
        "target": "/var/run/docker.sock",
    }
    assert ws.inputs["groupAdds"] == ["998"]
    assert "privileged" not in ws.inputs
    assert env_of(ws)["DOCKER_HOST"] == "unix:///var/run/docker.sock"
    assert env_of(ws)["DIW_DOCKERD_MODE"] == "none"
    assert "healthcheck" not in ws.inputs  # no daemon of its own to check
    assert result.names(VOLUME) == ["alice-home"]  # no data root: the host's daemon keeps its data
    assert result.value["security_level"] == "none"


def test_dood_home_is_at_its_volume_s_host_path_and_ports_are_on_the_host_gateway():
    """The host's daemon resolves `docker run -v <path>` on the host: the home volume is also mounted at
    its own host path, where $HOME points, so a path under $HOME means the same on both sides."""
    ws = build(strategy=Strategy.DOOD, docker_socket_gid=998).one(CONTAINER, "alice")
    host_path = "/var/lib/docker/volumes/alice-home/_data"  # the mocks' (a default host's) mountpoint
    mounts = mount_targets(ws)
    assert mounts[host_path]["source"] == mounts["/home/coder"]["source"] == "alice-home"
    env = env_of(ws)
    assert env["HOME"] == env["DIW_SHARED_DIR"] == env["DIW_SHARED_HOST_DIR"] == host_path
    assert env["DIW_PUBLISHED_PORTS_HOST"] == "host.docker.internal"
    assert ws.inputs["hosts"] == [{"host": "host.docker.internal", "ip": "host-gateway"}]
    with pytest.raises(ValueError, match="^home_path: with dood on a Docker host"):
        build(strategy=Strategy.DOOD, docker_socket_gid=998, home_path="/home/dev")


@pytest.mark.parametrize("strategy", [Strategy.DIND, Strategy.DIND_ROOTLESS, Strategy.DIND_SIDECAR, Strategy.SYSBOX])
def test_own_daemon_strategies_publish_nested_ports_on_the_workspace_localhost(strategy):
    ws = build(strategy=strategy).one(CONTAINER, "alice")
    assert env_of(ws)["DIW_PUBLISHED_PORTS_HOST"] == "127.0.0.1"
    assert "hosts" not in ws.inputs and "HOME" not in env_of(ws)


@pytest.mark.parametrize("strategy", [s for s in DOCKER_HOST_STRATEGIES if s != Strategy.ENVBOX])  # envbox: below
def test_every_container_waits_for_its_preflight_check(strategy):
    """Each container's image is checked (`start-docker.sh --check` with its user, groups and volumes) by a
    short-lived container that runs to completion; the containers' images come from the checks' outputs.
    Not envbox's: its own daemon pulls the workspace image inside the outer container, where the start
    script checks it (its message is in the container's log)."""
    result = build(strategy=strategy, docker_socket_gid=998)
    checks = {c.name: c for c in result.of_type(CONTAINER) if c.name.endswith("-preflight")}
    guarded = [c for c in result.of_type(CONTAINER) if not c.name.endswith("-preflight")]
    assert sorted(checks) == sorted(f"{c.name}-preflight" for c in guarded)
    for container in guarded:
        check = checks[f"{container.name}-preflight"]
        assert check.inputs["entrypoints"] == ["/bin/sh", "-c", start_script(), "start-docker.sh", "--check"]
        assert check.inputs["attach"] is True and check.inputs["mustRun"] is False
        assert check.inputs["networkMode"] == "none" and "privileged" not in check.inputs
        for key in ("user", "groupAdds", "mounts", "runtime", "image"):
            assert check.inputs.get(key) == container.inputs.get(key), key
        assert env_of(check)["DIW_DOCKERD_MODE"] == env_of(container)["DIW_DOCKERD_MODE"]
        assert set(checks) <= {urn.rsplit("::", 1)[1] for urn in container.dependencies}
    # The checks run one after the other: two first mounts of a fresh volume at once race in Docker.
    ordered = list(checks.values())
    for earlier, later in itertools.pairwise(ordered):
        assert earlier.urn in later.dependencies


def test_a_failed_preflight_check_fails_the_run_naming_what_is_missing_and_creates_nothing():
    class FailingChecks(RecordingMocks):
        def new_resource(self, args):
            resource_id, outputs = super().new_resource(args)
            if args.name.endswith("-preflight"):
                outputs.update(exitCode=3, containerLogs="start-docker: ... it lacks:\n  - rootlesskit")
            return [resource_id, outputs]

    def program():
        DockerHostWorkspace("alice", {"strategy": Strategy.DIND_ROOTLESS, "image": IMG})

    with pytest.raises(PreflightError, match="(?s)alice .workspace.: its image cannot run.*rootlesskit") as failed:
        record(program, FailingChecks(), project="p", stack="s")
    assert "alice-docker at /home/coder/.local/share/docker" in str(failed.value)


def test_dood_without_socket_gid_names_the_field():
    with pytest.raises(ValueError, match="docker_socket_gid"):
        build(strategy=Strategy.DOOD)


def test_dind_is_privileged_with_its_own_data_root_and_starts_dockerd_first():
    result = build(strategy=Strategy.DIND)
    ws = result.one(CONTAINER, "alice")
    assert ws.inputs["privileged"] is True
    assert mount_targets(ws)["/var/lib/docker"] == {
        "type": "volume",
        "source": "alice-docker",
        "target": "/var/lib/docker",
    }
    assert mount_targets(ws)["/home/coder"]["source"] == "alice-home"
    # The start script inline, readable in previews: `sh -c <script> start-docker.sh <workload...>`.
    assert ws.inputs["entrypoints"] == ["/bin/sh", "-c", start_script(), "start-docker.sh"]
    assert ws.inputs["command"] == ["sleep", "infinity"]
    assert ws.inputs["init"] is True  # reaps a crashed dockerd once the workload is PID 1's child
    assert "uploads" not in ws.inputs  # nothing secret to place
    env = env_of(ws)
    assert env["DIW_DOCKERD_MODE"] == "rootful"
    assert env["DIW_DOCKERD_DATA_ROOT"] == "/var/lib/docker"
    assert env["DIW_DOCKERD_GROUP"] == "1000"
    assert "DIW_DOCKERD_MTU" not in env  # default: the start script reads eth0's MTU
    assert ws.inputs["healthcheck"]["tests"] == ["CMD", "docker", "info"]
    assert ws.inputs["wait"] is True
    assert result.value["security_level"] == "low"
    assert result.value["docker_host"] == "unix:///var/run/docker.sock"


def test_dind_sidecar_runs_privileged_daemon_beside_unprivileged_workspace():
    result = build(strategy=Strategy.DIND_SIDECAR)
    daemon = result.one(CONTAINER, "alice-daemon")
    ws = result.one(CONTAINER, "alice")
    assert daemon.inputs["privileged"] is True
    assert "privileged" not in ws.inputs
    assert ws.inputs["user"] == "1000"
    assert ws.inputs["groupAdds"] == ["1000"]
    # The workspace joins the daemon's network namespace (by id: a new daemon replaces the workspace).
    assert ws.inputs["networkMode"] == "container:alice-daemon-id"
    assert daemon.urn in ws.dependencies
    # Socket shared through a volume, in both containers at the same path.
    assert mount_targets(daemon)["/var/run/dind"]["source"] == "alice-socket"
    assert mount_targets(ws)["/var/run/dind"]["source"] == "alice-socket"
    assert "/var/lib/docker" not in mount_targets(ws)
    assert mount_targets(daemon)["/var/lib/docker"]["source"] == "alice-docker"
    assert env_of(ws)["DOCKER_HOST"] == env_of(daemon)["DOCKER_HOST"] == "unix:///var/run/dind/docker.sock"
    assert env_of(ws)["DIW_DOCKERD_MODE"] == "wait"
    assert env_of(daemon)["DIW_DOCKERD_MODE"] == "rootful"
    assert daemon.inputs["healthcheck"]["tests"] == ["CMD", "docker", "info"]
    # `pulumi up` waits for the workspace's own `docker info`, not for the daemon: during a switch from
    # dind the daemon waits for the data root until the old workspace is replaced.
    assert ws.inputs["healthcheck"]["tests"] == ["CMD", "docker", "info"] and ws.inputs["wait"] is True
    assert "wait" not in daemon.inputs
    # The daemon mounts the workspace's home at the same path: `docker run -v ~/project:/src` works.
    assert mount_targets(daemon)["/home/coder"]["source"] == mount_targets(ws)["/home/coder"]["source"]
    assert daemon.inputs.get("command", []) == []  # no workload: dockerd stays in the foreground
    images = {r.name: r.inputs["name"] for r in result.of_type(IMAGE)}
    assert images == {"alice-daemon-image": "docker:27.5.1-dind", "alice-image": IMG}
    assert not result.one(VOLUME, "alice-socket").retain_on_delete  # scratch
    assert result.value["security_level"] == "low"


def test_dind_sidecar_image_is_settable():
    result = build(strategy=Strategy.DIND_SIDECAR, dind_image="registry.local/docker:28-dind")
    assert result.one(IMAGE, "alice-daemon-image").inputs["name"] == "registry.local/docker:28-dind"


def test_dind_rootless_runs_as_1000_with_rootless_socket_and_data_root():
    result = build(strategy=Strategy.DIND_ROOTLESS)
    ws = result.one(CONTAINER, "alice")
    assert ws.inputs["privileged"] is True
    assert ws.inputs["user"] == "1000"
    env = env_of(ws)
    assert env["XDG_RUNTIME_DIR"] == "/run/user/1000"
    assert env["DOCKER_HOST"] == "unix:///run/user/1000/docker.sock"
    assert env["DIW_DOCKERD_MODE"] == "rootless"
    assert "DIW_DOCKERD_GROUP" not in env
    assert mount_targets(ws)["/home/coder/.local/share/docker"]["source"] == "alice-docker"
    assert result.value["security_level"] == "medium"


def test_sysbox_uses_runtime_not_privileged_and_its_own_data_root():
    result = build(strategy=Strategy.SYSBOX)
    ws = result.one(CONTAINER, "alice")
    assert ws.inputs["runtime"] == "sysbox-runc"
    assert "privileged" not in ws.inputs
    assert not any(m["type"] == "bind" for m in ws.inputs["mounts"])  # never the host's /var/lib/docker
    assert mount_targets(ws)["/var/lib/docker"]["source"] == "alice-docker"
    assert result.value["security_level"] == "high"


def test_default_strategy_is_sysbox():
    assert build().one(CONTAINER, "alice").inputs["runtime"] == "sysbox-runc"


@pytest.mark.parametrize("strategy", DOCKER_HOST_STRATEGIES)
def test_every_child_is_parented_and_named_deterministically(strategy):
    result = build(strategy=strategy, docker_socket_gid=998)
    component = result.one(TOKEN, "alice")
    for resource in result.resources:
        if resource is not component:
            assert resource.parent == component.urn, resource.name
            assert resource.name.startswith("alice")
    for container in result.of_type(CONTAINER):
        assert container.inputs["name"] == container.name
        assert container.delete_before_replace  # fixed names: delete, then create
        assert container.inputs["restart"] == ("no" if container.name.endswith("-preflight") else "unless-stopped")
        labels = {item["label"]: item["value"] for item in container.inputs["labels"]}
        assert labels["docker-in-workspaces.strategy"] == strategy.value
    for volume in result.of_type(VOLUME):
        assert volume.inputs["name"] == volume.name
        if volume.name in ("alice-home", "alice-docker"):
            assert volume.retain_on_delete
    assert result.value["container_name"] == "alice"
    assert sorted(result.value["volume_names"]) == sorted(result.names(VOLUME))


@pytest.mark.parametrize("strategy", DOCKER_HOST_STRATEGIES)
def test_not_running_keeps_volumes_and_has_no_container(strategy):
    result = build(strategy=strategy, docker_socket_gid=998, running=False)
    assert result.of_type(CONTAINER) == []
    assert result.of_type(IMAGE) == []
    assert "alice-home" in result.names(VOLUME)
    assert result.value["running"] is False


def test_daemon_knobs_reach_the_start_script():
    result = build(
        strategy=Strategy.DIND,
        mtu=1460,
        default_address_pool="base=10.201.0.0/16,size=24",
        daemon_socket_gid=2000,
        daemon_ready_timeout=30,
    )
    ws = result.one(CONTAINER, "alice")
    env = env_of(ws)
    assert env["DIW_DOCKERD_MTU"] == "1460"
    assert env["DIW_DOCKERD_ADDRESS_POOL"] == "base=10.201.0.0/16,size=24"
    assert env["DIW_DOCKERD_GROUP"] == "2000"
    assert env["DIW_DOCKERD_TIMEOUT"] == "30"
    assert ws.inputs["healthcheck"]["startPeriod"] == "30s"
    assert ws.inputs["waitTimeout"] == 60


def test_coder_agent_token_is_secret_and_init_script_is_the_workload():
    token = "coder-agent-token-5f2b9c"
    result = build(
        strategy=Strategy.DIND,
        coder_agent={"url": "https://coder.example.com", "token": token, "init_script": "echo start-agent"},
    )
    ws = result.one(CONTAINER, "alice")
    env = env_of(ws)
    assert env["CODER_AGENT_URL"] == "https://coder.example.com"
    # The token is a file, not env: one secret entry would hide the whole env list in previews.
    assert "CODER_AGENT_TOKEN" not in env
    assert env["CODER_AGENT_TOKEN_FILE"] == CODER_AGENT_TOKEN_FILE
    # `uploads` holds the secret file alone: the SDK marks a property with a secret inside secret as a whole.
    assert is_secret(ws.raw_inputs["uploads"])
    [upload] = unwrap_secrets(ws.raw_inputs["uploads"])
    assert upload == {"file": CODER_AGENT_TOKEN_FILE, "content": token}
    assert not is_secret(ws.raw_inputs["envs"]) and not any(is_secret(e) for e in ws.raw_inputs["envs"])
    assert ws.inputs["command"] == ["/bin/sh", "-c", "echo start-agent"]
    for resource in result.resources:
        assert not any(token in s for s in plaintext_strings(resource.raw_inputs)), resource.name


def test_envbuilder_selects_its_image_and_wraps_the_daemon_start_into_init_script():
    creds = base64.b64encode(b'{"auths": {"registry.local": {"auth": "c2VjcmV0"}}}').decode()
    result = build(
        strategy=Strategy.DIND,
        image=None,
        envbuilder={
            "git_url": "https://github.com/coder/envbuilder",
            "devcontainer_dir": "examples/docker/02_dind",
            "cache_repo": "registry.local/cache",
            "fallback_image": "debian:bookworm",
            "docker_config_base64": creds,
            "init_script": "echo ready",
        },
    )
    ws = result.one(CONTAINER, "alice")
    assert result.one(IMAGE, "alice-image").inputs["name"] == "ghcr.io/coder/envbuilder:1.1.0"
    assert "entrypoints" not in ws.inputs  # envbuilder's own entrypoint
    # Registry credentials: the config.json Envbuilder reads, never env.
    assert is_secret(ws.raw_inputs["uploads"])
    [upload] = unwrap_secrets(ws.raw_inputs["uploads"])
    assert upload == {"file": "/.envbuilder/config.json", "content": base64.b64decode(creds).decode()}
    env = env_of(ws)
    assert env["ENVBUILDER_GIT_URL"] == "https://github.com/coder/envbuilder"
    assert env["ENVBUILDER_DEVCONTAINER_DIR"] == "examples/docker/02_dind"
    assert env["ENVBUILDER_CACHE_REPO"] == "registry.local/cache"
    assert env["ENVBUILDER_FALLBACK_IMAGE"] == "debian:bookworm"
    assert "ENVBUILDER_DOCKER_CONFIG_BASE64" not in env
    init = env["ENVBUILDER_INIT_SCRIPT"]
    assert "export DIW_DOCKERD_MODE=rootful\n" in init
    assert start_script() in init
    assert init.rstrip().endswith("/bin/sh -c 'echo ready'")
    assert "DIW_DOCKERD_MODE" not in env  # knobs live in the init script, where the start happens
    for resource in result.resources:
        assert not any(creds in s for s in plaintext_strings(resource.raw_inputs)), resource.name


def test_envbuilder_with_coder_agent_runs_the_agent_after_the_daemon():
    result = build(
        strategy=Strategy.SYSBOX,
        image=None,
        envbuilder={"git_url": "https://example.com/repo"},
        coder_agent={"url": "https://coder", "token": "t0ken-value", "init_script": "run-agent"},
    )
    env = env_of(result.one(CONTAINER, "alice"))
    assert env["ENVBUILDER_INIT_SCRIPT"].rstrip().endswith("/bin/sh -c run-agent")
    assert env["CODER_AGENT_TOKEN_FILE"] == CODER_AGENT_TOKEN_FILE


def test_envbuilder_image_is_settable():
    result = build(image=None, envbuilder={"git_url": "https://example.com/repo", "image": "mirror/envbuilder:1.2"})
    assert result.one(IMAGE, "alice-image").inputs["name"] == "mirror/envbuilder:1.2"


def test_user_env_is_passed_sorted_and_cannot_override_the_strategy():
    ws = build(strategy=Strategy.DIND, env={"B": "2", "A": "1"}).one(CONTAINER, "alice")
    keys = [e.split("=", 1)[0] for e in ws.inputs["envs"]]
    assert keys == sorted(keys) and env_of(ws)["A"] == "1"
    with pytest.raises(ValueError, match="env.DOCKER_HOST"):
        build(strategy=Strategy.DIND, env={"DOCKER_HOST": "tcp://evil:2375"})


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"image": ""}, "image"),
        ({"image": None}, "image"),
        ({"mtu": 100}, "mtu"),
        ({"default_address_pool": "10.0.0.0/8"}, "default_address_pool"),
        ({"strategy": "docker-in-docker"}, "strategy"),
        ({"command": ["x"], "coder_agent": {"url": "u", "token": "t", "init_script": "i"}}, "command"),
        ({"envbuilder": {"devcontainer_dir": "x"}}, "envbuilder.git_url"),
        ({"home_path": "home/coder"}, "home_path"),
        ({"env": {"1BAD": "x"}}, "env.1BAD"),
    ],
)
def test_bad_args_fail_naming_the_field_and_register_nothing(args, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")) as error:
        build(**args)
    assert field in str(error.value)
    assert error.value.registered == []


def test_bad_name_is_rejected():
    with pytest.raises(ValueError, match="DNS-1123"):
        build(name="Alice_1")


def test_two_workspaces_share_nothing():
    def program():
        DockerHostWorkspace("alice", {"strategy": Strategy.DIND, "image": IMG, "allow_insecure": True})
        DockerHostWorkspace("bob", {"strategy": Strategy.DIND, "image": IMG, "allow_insecure": True})

    result = run(program)
    assert sorted(result.names(VOLUME)) == ["alice-docker", "alice-home", "bob-docker", "bob-home"]
    assert sorted(result.names(CONTAINER)) == ["alice", "alice-preflight", "bob", "bob-preflight"]


@pytest.mark.parametrize(
    ("strategy", "level"), [(Strategy.DOOD, "none"), (Strategy.DIND, "low"), (Strategy.DIND_SIDECAR, "low")]
)
def test_insecure_strategies_are_refused_unless_acknowledged(strategy, level):
    with pytest.raises(ValueError) as error:
        build(strategy=strategy, docker_socket_gid=998, allow_insecure=False)
    message = str(error.value)
    assert message.startswith("allow_insecure: workspace 'alice' uses strategy")
    assert f"security level {level} " in message
    assert message.endswith("use a safer strategy: sysbox (high), podman (high), dind-rootless (medium)")
    assert error.value.registered == []


@pytest.mark.parametrize("strategy", [Strategy.DIND_ROOTLESS, Strategy.SYSBOX, Strategy.PODMAN])
def test_medium_and_high_need_no_acknowledgement(strategy):
    assert build(strategy=strategy, allow_insecure=False).of_type(CONTAINER)


def test_envbuilder_runs_as_root_so_it_refuses_rootless_and_makes_the_sidecar_workspace_root():
    with pytest.raises(ValueError, match="^envbuilder: Envbuilder runs as root"):
        build(strategy=Strategy.DIND_ROOTLESS, image=None, envbuilder={"git_url": "https://example.com/repo"})
    result = build(strategy=Strategy.DIND_SIDECAR, image=None, envbuilder={"git_url": "https://example.com/repo"})
    workspace = result.one(CONTAINER, "alice")
    assert "user" not in workspace.inputs and "privileged" not in workspace.inputs
    assert result.one(CONTAINER, "alice-daemon").inputs["privileged"] is True
    assert result.value["security_level"] == "low"


def test_podman_is_unprivileged_with_the_shipped_seccomp_profile_and_the_tun_device():
    result = build(strategy=Strategy.PODMAN, allow_insecure=False)
    workspace = result.one(CONTAINER, "alice")
    inputs = workspace.inputs
    assert "privileged" not in inputs and "capabilities" not in inputs
    assert inputs["user"] == "1000"
    assert inputs["securityOpts"] == [f"seccomp={seccomp_profile('rootless-engines')}"]  # the profile itself
    assert '"sethostname"' in inputs["securityOpts"][0] and '"SCMP_ACT_ERRNO"' in inputs["securityOpts"][0]
    assert inputs["devices"] == [{"hostPath": "/dev/net/tun", "containerPath": "/dev/net/tun", "permissions": "rwm"}]
    env = env_of(workspace)
    assert env["DOCKER_HOST"] == "unix:///run/user/1000/podman/podman.sock"
    assert env["DIW_DOCKERD_MODE"] == "podman"
    assert env["DIW_DOCKERD_DATA_ROOT"] == "/home/coder/.local/share/containers"
    assert env["CONTAINERS_CONF"].startswith("/run/user/1000/")
    mounts = {m["target"]: m["source"] for m in inputs["mounts"]}
    assert mounts["/home/coder/.local/share/containers"] == "alice-podman"
    assert result.value["security_level"] == "high"
    assert sorted(v.inputs["name"] for v in result.of_type(VOLUME)) == ["alice-home", "alice-podman"]


def test_dind_userns_is_refused_on_a_docker_host_naming_why_and_what_works():
    with pytest.raises(ValueError) as error:
        build(strategy=Strategy.DIND_USERNS)
    message = str(error.value)
    assert message.startswith("strategy: dind-userns is for Kubernetes")
    assert "pulumi-docker cannot unmask /proc" in message
    assert message.endswith("on a Docker host use podman (high), sysbox (high), dind-rootless (medium)")
    assert error.value.registered == []


def test_the_safer_strategies_a_refusal_names_are_the_ones_a_docker_host_can_build():
    with pytest.raises(ValueError) as error:
        build(strategy=Strategy.DIND, allow_insecure=False)
    assert "dind-userns" not in str(error.value) and "podman (high)" in str(error.value)


def test_envbuilder_runs_as_root_so_it_refuses_podman_naming_it():
    refusal = "^envbuilder: Envbuilder runs as root .* and rootless Podman must not run as root"
    with pytest.raises(ValueError, match=refusal):
        build(strategy=Strategy.PODMAN, image=None, envbuilder={"git_url": "https://example.com/repo"})


def test_podman_on_an_apparmor_host_can_be_unconfined_which_lowers_it_to_medium():
    result = build(strategy=Strategy.PODMAN, app_armor_profile="Unconfined", allow_insecure=False)
    opts = result.one(CONTAINER, "alice").inputs["securityOpts"]
    assert opts[1:] == ["apparmor=unconfined"] and opts[0].startswith("seccomp={")
    assert result.value["security_level"] == "medium"


# --- envbox: a privileged outer container that runs the workspace as a Sysbox container inside ------------------


def test_envbox_is_a_privileged_envbox_container_with_the_settings_its_sources_require():
    result = build(strategy=Strategy.ENVBOX, env={"EDITOR": "vim"})
    ws = result.one(CONTAINER, "alice")
    assert result.names(CONTAINER) == ["alice"]  # no preflight: the workspace image is pulled inside, by envbox
    assert result.one(IMAGE).inputs["name"] == "ghcr.io/coder/envbox:0.6.7"
    assert ws.inputs["privileged"] is True and ws.inputs["cgroupnsMode"] == "host"
    assert ws.inputs["command"] == ["/envbox", "docker"]
    assert ws.inputs["entrypoints"][:2] == ["/bin/sh", "-c"] and "init" not in ws.inputs
    env = env_of(ws)
    assert {k: v for k, v in env.items() if k != "CODER_BOOTSTRAP_SCRIPT"} == {
        "CODER_INNER_IMAGE": IMG,
        "CODER_INNER_USERNAME": "coder",
        "CODER_INNER_HOSTNAME": "alice",
        "CODER_INNER_ENVS": "DIW_*,EDITOR",
        "CODER_MOUNTS": "/home/coder:/home/coder",
        "CODER_ADD_FUSE": "false",
        "CODER_ADD_TUN": "false",
        "DIW_PUBLISHED_PORTS_HOST": "127.0.0.1",
        "EDITOR": "vim",
    }
    bootstrap = env["CODER_BOOTSTRAP_SCRIPT"]
    assert start_script() in bootstrap and bootstrap.endswith("/bin/sh -c 'sleep infinity'\n")
    assert (
        "export DIW_DOCKERD_MODE=rootful\n" in bootstrap
        and "export DIW_DOCKERD_DATA_ROOT=/var/lib/docker\n" in bootstrap
    )
    mounts = {target: (m["type"], m["source"], m.get("readOnly", False)) for target, m in mount_targets(ws).items()}
    assert mounts == {
        "/var/lib/coder/docker": ("volume", "alice-docker", False),
        "/var/lib/coder/containers": ("volume", "alice-containers", False),
        "/var/lib/docker": ("volume", "alice-envbox", False),
        "/var/lib/sysbox": ("volume", "alice-sysbox", False),
        "/home/coder": ("volume", "alice-home", False),
        "/usr/src": ("bind", "/usr/src", True),
        "/lib/modules": ("bind", "/lib/modules", True),
    }
    retained = {v.inputs["name"]: v.retain_on_delete for v in result.of_type(VOLUME)}
    assert retained == {
        "alice-docker": True,
        "alice-containers": True,
        "alice-envbox": True,
        "alice-home": True,
        "alice-sysbox": False,  # Sysbox's scratch state (Coder's template: an emptyDir)
    }
    assert ws.inputs["healthcheck"]["tests"] == ["CMD", "docker", "exec", "workspace_cvm", "docker", "info"]
    assert ws.inputs["wait"] is True
    assert result.value["security_level"] == "low" and result.value["docker_host"] == "unix:///var/run/docker.sock"


def test_envbox_needs_acknowledging_and_says_why():
    with pytest.raises(ValueError, match="uses strategy envbox, security level low") as error:
        build(strategy=Strategy.ENVBOX, allow_insecure=False)
    assert "nested, unprivileged sysbox-runc container" in str(error.value)


def test_envbox_coder_agent_token_stays_secret_and_the_agent_runs_after_the_inner_daemon():
    agent = {"url": "https://coder.example", "token": "agent-token-123", "init_script": "exec coder agent"}
    result = build(strategy=Strategy.ENVBOX, coder_agent=agent)
    ws = result.one(CONTAINER, "alice")
    assert "agent-token-123" not in plaintext_strings(ws.inputs["envs"])
    env = env_of(ws)
    assert env["CODER_AGENT_URL"] == "https://coder.example"
    assert env["CODER_INNER_ENVS"] == "DIW_*,CODER_AGENT_URL"
    assert env["CODER_AGENT_TOKEN_FILE"] == CODER_AGENT_TOKEN_FILE and "CODER_AGENT_TOKEN" not in env
    assert env["CODER_BOOTSTRAP_SCRIPT"].endswith("/bin/sh -c 'exec coder agent'\n")
    assert is_secret(ws.raw_inputs["uploads"])
    [upload] = unwrap_secrets(ws.raw_inputs["uploads"])
    assert upload["file"] == CODER_AGENT_TOKEN_FILE and upload["content"] == "agent-token-123"
    # envbox reads the token from its env only: the entrypoint reads it from the file first.
    assert 'CODER_AGENT_TOKEN=$(cat "$CODER_AGENT_TOKEN_FILE")' in ws.inputs["entrypoints"][2]


def test_envbox_refuses_envbuilder_with_the_reason():
    with pytest.raises(ValueError, match="^envbuilder: envbox pulls the workspace image"):
        build(strategy=Strategy.ENVBOX, image=None, envbuilder={"git_url": "https://example.com/repo"})
