"""The Docker-host strategies on a real engine: the workspace gets a working Docker."""

import io
import tarfile

import docker.errors
import engine
import pytest
from deploy import deploy, destroy

from components import DockerHostWorkspace, Strategy

IMAGE = "codercom/enterprise-base:ubuntu"  # mapped to diw-test/docker-only (no rootless extras) by deploy.IMAGE_MAP
NESTED_IMAGE = engine.BUSYBOX_IMAGE
NO_SYSBOX = "sysbox-runc is not installed on this engine (it needs a host kernel module setup we cannot do here)"


def envbox_missing(client) -> list[str]:
    """What this engine lacks to run envbox: a `--privileged` container, and the envbox image (it bundles
    sysbox-ce and docker-ce: not buildable from Debian packages, and no registry answers here). Its inner
    daemon also pulls the workspace image from a registry itself."""
    from components.strategies.spec import DEFAULT_ENVBOX_IMAGE

    missing = []
    error = engine.privileged_error(client)
    if error is not None:
        why = "unable to apply caps" if engine._CAPS_ERROR.search(error) else error.strip()[-160:]
        missing.append(f"envbox needs a --privileged container, which this engine refuses ({why})")
    try:
        client.images.get(DEFAULT_ENVBOX_IMAGE)
    except docker.errors.ImageNotFound:
        missing.append(
            f"{DEFAULT_ENVBOX_IMAGE} is not in the engine (no registry is reachable here, and it bundles sysbox-ce "
            "and docker-ce, which Debian does not package)"
        )
    return missing


def workspace_program(name, **args):
    # codercom/enterprise-base:ubuntu, or for dind-rootless the rootless image (and its user's home); deploy.IMAGE_MAP
    # gives the engine the prepared stand-in (images.py).
    for key, value in engine.SELECTION.workspace_args(args.get("strategy", "")).items():
        args.setdefault(key, value)
    args.setdefault("daemon_ready_timeout", 90)
    args.setdefault("allow_insecure", True)  # proving that they work, not whether they are allowed

    def program():
        ws = DockerHostWorkspace(name, args)
        return {"docker_host": ws.docker_host, "security_level": ws.security_level}

    return program


def user_of(container) -> str:
    return container.attrs["Config"]["User"] or "root"


def put_file(container, path: str, data: bytes) -> None:
    directory, _, filename = path.rpartition("/")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(filename)
        info.size = len(data)
        info.mode = 0o644
        archive.addfile(info, io.BytesIO(data))
    container.put_archive(directory, buffer.getvalue())


def in_workspace(container, command: str, user: str = "", timeout: float = 120) -> str:
    """Run `command` in the workspace as its normal user, with the container's own env (DOCKER_HOST)."""
    code, output = engine.exec_run(container, ["sh", "-c", command], user=user or user_of(container), timeout=timeout)
    assert code == 0, f"`{command}` exited {code} as {user or user_of(container)}:\n{output}"
    return output


def load_nested_image(container, user: str = "") -> None:
    put_file(container, "/tmp/busybox.tar", engine.busybox_tar().read_bytes())
    in_workspace(container, "docker load -i /tmp/busybox.tar", user=user)


@pytest.fixture
def cleanup(client):
    names: list[str] = []
    yield names
    destroy(client, names)


@pytest.mark.parametrize("strategy", [Strategy.DIND, Strategy.DIND_ROOTLESS, Strategy.DIND_SIDECAR])
def test_nested_docker_works_in_the_workspace(client, cleanup, strategy):
    name = f"e2e-{strategy.value}"
    cleanup.append(name)
    result = deploy(client, workspace_program(name, strategy=strategy), [name])
    print(f"\n[e2e] {strategy}: notes {result.mocks.notes}; ready in {result.mocks.timings}")
    workspace = client.containers.get(name)
    info = in_workspace(workspace, "docker info --format '{{.Driver}} {{.DockerRootDir}}'")
    assert "overlay2" in info  # its own volume: not fuse-overlayfs or vfs
    load_nested_image(workspace)
    assert in_workspace(workspace, f"docker run --rm {NESTED_IMAGE} echo nested-ok").strip() == "nested-ok"


def test_dood_uses_the_host_daemon_as_uid_1000_through_the_socket_group(client, cleanup):
    name = "e2e-dood"
    cleanup.append(name)
    gid = engine.socket_path().stat().st_gid
    deploy(client, workspace_program(name, strategy=Strategy.DOOD, docker_socket_gid=gid), [name])
    workspace = client.containers.get(name)
    assert str(gid) in workspace.attrs["HostConfig"]["GroupAdd"]
    output = in_workspace(workspace, "id -G; docker info --format '{{.Name}}'", user="1000")
    assert str(gid) in output.split("\n")[0].split()
    # The workspace sees the host's containers, itself included: that is what "none" means.
    assert name in in_workspace(workspace, "docker ps --format '{{.Names}}'", user="1000")
    # (the last line: the private engine warns that it does not forward IPv4, on purpose)
    output = in_workspace(workspace, f"docker run --rm {NESTED_IMAGE} echo dood-ok", user="1000")
    assert output.strip().splitlines()[-1] == "dood-ok"


def test_dind_sidecar_published_ports_answer_on_workspace_localhost(client, cleanup):
    name = "e2e-sidecar-ports"
    cleanup.append(name)
    deploy(client, workspace_program(name, strategy=Strategy.DIND_SIDECAR), [name])
    workspace = client.containers.get(name)
    assert user_of(workspace) == "1000"
    load_nested_image(workspace)
    in_workspace(
        workspace,
        f"docker run -d --name web -p 8080:80 {NESTED_IMAGE} "
        "sh -c 'mkdir -p /w && echo hello-from-nested > /w/index.html && exec httpd -f -p 80 -h /w'",
    )
    body = in_workspace(workspace, engine.http_get_until_it_answers("http://127.0.0.1:8080/"))
    assert "hello-from-nested" in body


def test_sysbox_needs_its_runtime(client, cleanup):
    if "sysbox-runc" not in client.info().get("Runtimes", {}):
        pytest.skip(reason=NO_SYSBOX)
    name = "e2e-sysbox"
    cleanup.append(name)
    deploy(client, workspace_program(name, strategy=Strategy.SYSBOX), [name])
    workspace = client.containers.get(name)
    load_nested_image(workspace)
    assert in_workspace(workspace, f"docker run --rm {NESTED_IMAGE} echo ok").strip() == "ok"


def test_envbox_runs_the_workspace_as_a_sysbox_container_inside(client, cleanup):
    missing = envbox_missing(client)
    if missing:
        pytest.skip(reason="; ".join(missing))
    name = "e2e-envbox"
    cleanup.append(name)
    # The inner daemon pulls the workspace image from its registry: the public image, not a local stand-in.
    deploy(client, workspace_program(name, strategy=Strategy.ENVBOX, image=IMAGE, daemon_ready_timeout=600), [name])
    outer = client.containers.get(name)
    # `pulumi up` waited for the healthcheck: the inner container's own daemon answers.
    inner = "docker exec workspace_cvm"
    assert in_workspace(outer, f"{inner} docker info --format '{{{{.Driver}}}}'", user="root").strip() == "overlay2"
    assert in_workspace(outer, f"{inner} cat /proc/self/uid_map", user="root").split()[:2] == ["0", "100000"]


def test_unknown_fields_fail_loudly(client):
    from deploy import EngineMocks, UnsupportedInput

    with pytest.raises(UnsupportedInput, match="pidMode"):
        EngineMocks(client)._container("x", {"name": "x", "image": "i", "pidMode": "host"})
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("x")
