"""A newcomer's first run: the shipped dev stack on a stock host, and an image that cannot run its strategy."""

import json
import runpy
import time
from pathlib import Path

import engine
import pulumi
import pytest
from deploy import deploy, destroy
from test_docker_host_e2e import in_workspace, workspace_program

from components import Strategy, render
from components.docker_host import PreflightError

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_IMAGE = "codercom/enterprise-base:ubuntu"  # here diw-test/docker-only
NO_ENVBUILDER = (
    "Envbuilder workspaces clone a git repository and pull ghcr.io/coder/envbuilder: no network and no registry here"
)


def test_an_image_without_the_rootless_extras_fails_fast_and_says_what_is_missing(client):
    name = "e2e-first-rootless"
    started = time.monotonic()
    try:
        with pytest.raises(PreflightError) as failed:
            # codercom/enterprise-base:ubuntu (here diw-test/docker-only) has docker-ce but no rootless extras.
            deploy(client, workspace_program(name, strategy=Strategy.DIND_ROOTLESS, image=PUBLIC_IMAGE), [name])
        elapsed = time.monotonic() - started
        message = str(failed.value)
        print(f"\n[e2e] failed after {elapsed:.1f}s (the daemon's own budget is 90s):\n{message}")
        for needed in ("dockerd-rootless.sh", "rootlesskit", "newuidmap", "slirp4netns"):
            assert needed in message
        assert elapsed < 60  # it did not wait for the daemon's timeout
        assert [c.name for c in client.containers.list(all=True, filters={"name": f"^{name}$"})] == []
    finally:
        destroy(client, [name])


def test_dood_with_the_wrong_socket_gid_fails_fast_naming_the_right_one(client):
    name = "e2e-first-dood"
    gid = engine.socket_path().stat().st_gid
    try:
        with pytest.raises(PreflightError) as failed:
            deploy(client, workspace_program(name, strategy=Strategy.DOOD, docker_socket_gid=gid + 4242), [name])
        assert f"set dockerSocketGid (docker_socket_gid) to {gid}" in str(failed.value)
    finally:
        destroy(client, [name])


def test_the_shipped_dev_stack_gives_every_workspace_a_stock_host_can_run_a_healthy_daemon(client):
    project = render.load_project(ROOT)
    config, secret_keys = render.load_stack_config(project, "dev")
    key = f"{project.name}:workspaces"
    workspaces = json.loads(config[key])
    skipped = [w["name"] for w in workspaces if "envbuilder" in w]
    print(f"\n[e2e] dev stack without {skipped}: {NO_ENVBUILDER}")
    kept = [w for w in workspaces if "envbuilder" not in w]
    config[key] = json.dumps(kept)
    names = [w["name"] for w in kept]
    running = [w["name"] for w in kept if w.get("running", True)]
    assert running, "the dev stack runs no workspace a stock host can run"

    def program():
        pulumi.runtime.set_all_config(config, secret_keys)
        runpy.run_path(str(project.main), run_name="__main__")

    try:
        with render._program_environment(project.directory):
            deploy(client, program, names)
        for name in running:
            workspace = client.containers.get(name)
            user = workspace.attrs["Config"]["User"] or "root"
            assert in_workspace(workspace, "docker info --format '{{.ServerVersion}}'", user=user).strip()
        print(f"[e2e] healthy: {running}; stopped (need host setup): {sorted(set(names) - set(running))}")
    finally:
        destroy(client, names)
