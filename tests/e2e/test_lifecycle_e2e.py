"""Nothing lost across replacement and stop/start; what happens when the nested daemon dies."""

import time

import engine
import pytest
from deploy import V2_IMAGE, deploy, destroy
from test_docker_host_e2e import in_workspace, load_nested_image, workspace_program

from components import Strategy


def write_state(workspace):
    load_nested_image(workspace)
    in_workspace(
        workspace,
        f"docker volume create keep >/dev/null && docker run --rm -v keep:/data "
        f"{engine.BUSYBOX_IMAGE} sh -c 'echo kept-data > /data/file'",
    )


def assert_state(workspace):
    # The image loaded earlier is still in the nested daemon, and so is the volume's content.
    images = in_workspace(workspace, "docker image ls --format '{{.Repository}}:{{.Tag}}'")
    assert engine.BUSYBOX_IMAGE in images
    output = in_workspace(workspace, f"docker run --rm -v keep:/data {engine.BUSYBOX_IMAGE} cat /data/file")
    assert output.strip().splitlines()[-1] == "kept-data"


@pytest.mark.parametrize("strategy", [Strategy.DIND, Strategy.DIND_SIDECAR, Strategy.DIND_ROOTLESS])
def test_nested_images_and_volumes_survive_replacement_and_stop_start(client, v2_image, strategy):
    name = f"e2e-keep-{strategy.value}"
    try:
        deploy(client, workspace_program(name, strategy=strategy), [name])
        first = client.containers.get(name)
        write_state(first)

        # An image change replaces the workspace container (delete before replace) ...
        deploy(client, workspace_program(name, strategy=strategy, image=V2_IMAGE), [name])
        second = client.containers.get(name)
        assert second.id != first.id
        assert second.image.id == v2_image.id
        assert_state(second)

        # ... `running: false` removes every container and keeps the volumes ...
        deploy(client, workspace_program(name, strategy=strategy, image=V2_IMAGE, running=False), [name])
        label = f"docker-in-workspaces.workspace={name}"
        assert client.containers.list(all=True, filters={"label": label}) == []
        assert {v.name for v in client.volumes.list(filters={"label": label})} >= {f"{name}-docker", f"{name}-home"}

        # ... and `running: true` brings everything back.
        deploy(client, workspace_program(name, strategy=strategy, image=V2_IMAGE), [name])
        assert_state(client.containers.get(name))
    finally:
        destroy(client, [name])


def health(container) -> str:
    container.reload()
    return container.attrs["State"].get("Health", {}).get("Status", "none")


def test_killed_nested_dockerd_turns_unhealthy_and_a_restart_brings_it_back(client):
    """Chosen behaviour (dind): the workload keeps running (a dead daemon must not kill a
    developer's shell); the healthcheck reports it unhealthy; restarting the container
    starts the daemon again through the start script, with its data intact."""
    name = "e2e-fault-dind"
    try:
        deploy(client, workspace_program(name, strategy=Strategy.DIND), [name])
        workspace = client.containers.get(name)
        write_state(workspace)
        assert health(workspace) == "healthy"

        # A crash, not a shutdown: SIGKILL, then wait until it is gone.
        in_workspace(
            workspace,
            "pkill -KILL -x dockerd; for i in $(seq 40); do pgrep -x dockerd >/dev/null || exit 0;"
            " sleep 0.5; done; exit 1",
            user="root",  # dockerd runs as root (the image's user starts it with sudo)
        )
        code, _ = engine.exec_run(workspace, ["docker", "info"], timeout=15)
        assert code != 0
        deadline = time.monotonic() + 90  # interval 10 s x retries 3, plus slack
        while health(workspace) != "unhealthy" and time.monotonic() < deadline:
            time.sleep(2)
        assert health(workspace) == "unhealthy"
        assert workspace.status == "running"  # the workload survived

        workspace.restart(timeout=10)
        engine.wait_for_docker(workspace, timeout=90)
        assert_state(workspace)
    finally:
        destroy(client, [name])


def test_killed_sidecar_daemon_is_restarted_by_docker(client):
    """dind-sidecar: the daemon container's main process waits on dockerd, so a dead dockerd
    ends the container and its restart policy (unless-stopped) starts a new daemon."""
    name = "e2e-fault-sidecar"
    try:
        deploy(client, workspace_program(name, strategy=Strategy.DIND_SIDECAR), [name])
        daemon = client.containers.get(f"{name}-daemon")
        restarts = daemon.attrs["RestartCount"]
        # The container ends with its dockerd, taking this exec with it: its exit code says nothing.
        engine.exec_run(daemon, ["pkill", "-KILL", "-x", "dockerd"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            daemon.reload()
            if daemon.attrs["RestartCount"] > restarts and daemon.status == "running":
                break
            time.sleep(1)
        assert daemon.attrs["RestartCount"] > restarts
        engine.wait_for_docker(daemon, timeout=90)
        # The first start after the crash worked: dockerd did not wait for the dead containerd of the stale pid
        # file (which failed half of the restarts, each costing a timeout and another restart, before the start
        # script removed that file).
        daemon.reload()
        assert daemon.attrs["RestartCount"] == restarts + 1, daemon.logs(tail=40).decode(errors="replace")
    finally:
        destroy(client, [name])
