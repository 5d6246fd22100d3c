"""Switching a workspace's strategy keeps its daemon's data, or is refused before anything is replaced.

dind and dind-sidecar keep the same rootful data root on the same volume (`<name>-docker`): a switch
either way moves it from one daemon container to the other. Rootful and rootless data roots belong to
different owners, so that switch is refused by the preflight check, naming what to do, while the
old workspace keeps running.
"""

import pytest
from deploy import WORKSPACE_LABEL, deploy, destroy
from test_docker_host_e2e import workspace_program
from test_lifecycle_e2e import assert_state, write_state

from components import Strategy
from components.docker_host import PreflightError


def daemon_container(client, name: str, strategy: Strategy):
    return client.containers.get(f"{name}-daemon" if strategy == Strategy.DIND_SIDECAR else name)


@pytest.mark.parametrize(
    "first, second", [(Strategy.DIND, Strategy.DIND_SIDECAR), (Strategy.DIND_SIDECAR, Strategy.DIND)], ids=str
)
def test_switching_between_dind_and_the_sidecar_keeps_images_and_volumes(client, first, second):
    name = f"e2e-switch-{first.value}"
    try:
        deploy(client, workspace_program(name, strategy=first), [name])
        write_state(client.containers.get(name))
        deploy(client, workspace_program(name, strategy=second), [name])
        workspace = client.containers.get(name)
        assert_state(workspace)
        # One daemon per data root: the old one handed it over and is gone.
        assert roles(client, name) == ({"workspace", "daemon"} if second == Strategy.DIND_SIDECAR else {"workspace"})
        logs = daemon_container(client, name, second).logs().decode(errors="replace")
        print(f"\n[e2e] {first} -> {second}: {[line for line in logs.splitlines() if 'hand' in line]}")
        # ... and back.
        deploy(client, workspace_program(name, strategy=first), [name])
        assert_state(client.containers.get(name))
    finally:
        destroy(client, [name])


def roles(client, name: str) -> set[str]:
    """Roles of the workspace's containers, its preflight checks aside."""
    containers = client.containers.list(all=True, filters={"label": f"{WORKSPACE_LABEL}={name}"})
    return {c.labels["docker-in-workspaces.role"] for c in containers} - {"workspace-preflight", "daemon-preflight"}


@pytest.mark.parametrize(
    "first, second", [(Strategy.DIND, Strategy.DIND_ROOTLESS), (Strategy.DIND_ROOTLESS, Strategy.DIND)], ids=str
)
def test_switching_between_rootful_and_rootless_is_refused_before_anything_is_replaced(client, first, second):
    name = f"e2e-switch-owner-{first.value}"
    try:
        deploy(client, workspace_program(name, strategy=first), [name])
        before = client.containers.get(name)
        write_state(before)
        with pytest.raises(PreflightError) as refused:
            deploy(client, workspace_program(name, strategy=second), [name])
        message = str(refused.value)
        print(f"\n[e2e] {first} -> {second} refused:\n{message}")
        assert "nothing was replaced" in message
        assert ("rootful daemon's data" if first == Strategy.DIND else "rootless daemon's data") in message
        assert "remove that volume" in message and "switch back" in message
        # The old workspace still runs, untouched, with its data.
        after = client.containers.get(name)
        assert after.id == before.id and after.status == "running"
        assert_state(after)
    finally:
        destroy(client, [name])
