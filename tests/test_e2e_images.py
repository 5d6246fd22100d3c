"""tests/e2e/images.py, the e2e image roles and their source, and build.sh's registry path (pull.sh), offline."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from components.strategies.spec import DEFAULT_DIND_IMAGE

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "tests" / "e2e" / "images" / "build.sh"

_spec = importlib.util.spec_from_file_location("e2e_images", ROOT / "tests" / "e2e" / "images.py")
assert _spec and _spec.loader
images = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = images  # dataclasses look their module up there
_spec.loader.exec_module(images)

PUBLIC = {"codercom/enterprise-base:ubuntu", DEFAULT_DIND_IMAGE, f"{DEFAULT_DIND_IMAGE}-rootless", images.BUSYBOX}


def test_the_pinned_daemon_images_are_the_components_own():
    assert images.DIND == DEFAULT_DIND_IMAGE and images.DIND_ROOTLESS == f"{DEFAULT_DIND_IMAGE}-rootless"
    pulled = {n for r, n in images.names(images.REGISTRY, env={}).items() if not images.ROLES[r].built_for_both}
    assert pulled == PUBLIC
    assert all(":" in name and not name.endswith(":latest") for name in PUBLIC)  # pinned tags


def test_every_role_has_a_local_stand_in_and_docker_only_is_the_public_workspace_image():
    local = images.names(images.LOCAL, env={})
    assert set(local) == {"workspace", "docker-only", "rootless", "dind", "unprivileged", "busybox"}
    assert all(name.startswith("diw-test/") for name in local.values())
    assert local["docker-only"] == "diw-test/docker-only:latest"
    assert (
        images.ROLES["docker-only"].registry == images.ROLES["workspace"].registry == "codercom/enterprise-base:ubuntu"
    )
    assert set(images.REQUIRED) == set(local) - {"unprivileged"}  # optional: its tests skip without it
    # podman/dind-userns: no public image fits, so both sources use the local build
    assert images.names(images.REGISTRY, env={})["unprivileged"] == local["unprivileged"]


def test_the_probe_says_reachable_for_an_http_answer_and_unreachable_for_a_refused_connection():
    class Unauthorized(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # what Docker Hub's /v2/ answers without a token
            self.send_response(401)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Unauthorized)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        reachable, reason = images.probe(f"http://127.0.0.1:{server.server_port}/v2/", timeout=2)
    finally:
        server.shutdown()
    assert reachable and "answered HTTP 401" in reason
    reachable, reason = images.probe(f"http://127.0.0.1:{server.server_port}/v2/", timeout=2)
    assert not reachable and "unreachable" in reason


def test_diw_e2e_images_forces_the_source_and_rejects_other_values():
    assert images.choose({"DIW_E2E_IMAGES": "registry"}) == ("registry", "DIW_E2E_IMAGES=registry")
    assert images.choose({"DIW_E2E_IMAGES": "local"})[0] == "local"
    with pytest.raises(ValueError, match="DIW_E2E_IMAGES must be one of local, registry, got 'hub'"):
        images.choose({"DIW_E2E_IMAGES": "hub"})


def test_the_tests_use_the_recorded_source_and_map_the_components_names_to_it(tmp_path):
    env = {"DIW_E2E_CACHE": str(tmp_path)}
    unrecorded = images.selected(env)
    assert unrecorded.source == "local" and "no record" in unrecorded.reason

    (tmp_path / "images.json").write_text(json.dumps({"source": "registry", "by": "pull.sh"}))
    selection = images.selected(env)
    assert selection.source == "registry" and "pull.sh" in selection.reason
    assert selection.stand_ins()["codercom/enterprise-base:ubuntu"] == "codercom/enterprise-base:ubuntu"
    assert selection.stand_ins()[DEFAULT_DIND_IMAGE] == DEFAULT_DIND_IMAGE
    assert selection.workspace_args("dind-rootless") == {
        "image": f"{DEFAULT_DIND_IMAGE}-rootless",
        "home_path": "/home/rootless",  # the docker:*-dind-rootless image's user `rootless` (uid 1000)
    }
    assert selection.workspace_args("dind") == {"image": "codercom/enterprise-base:ubuntu"}  # the default home
    assert selection.workspace_args("dood") == {"image": "codercom/enterprise-base:ubuntu"}  # dood refuses home_path
    assert selection.describe().startswith("e2e images from registry (recorded in")

    local = images.selected({**env, "DIW_E2E_IMAGES": "local"})  # the variable wins over the record
    # The public workspace image has no rootless extras: neither has its stand-in.
    assert local.stand_ins()["codercom/enterprise-base:ubuntu"] == "diw-test/docker-only:latest"
    assert local.stand_ins()[DEFAULT_DIND_IMAGE] == "diw-test/workspace:latest"
    assert local.stand_ins()[f"{DEFAULT_DIND_IMAGE}-rootless"] == "diw-test/workspace:latest"
    assert local.workspace_args("dind-rootless")["home_path"] == "/home/coder"
    assert "e2e images from local build" in local.describe() and "busybox=diw-test/busybox:latest" in local.describe()


def test_a_role_can_be_pointed_at_another_image(tmp_path):
    env = {"DIW_E2E_CACHE": str(tmp_path), "DIW_E2E_IMAGES": "local", "DIW_E2E_DOCKER_ONLY_IMAGE": "mine/ws:1"}
    selection = images.selected(env)
    assert selection.name("docker-only") == "mine/ws:1"
    assert selection.stand_ins()["mine/ws:1"] == "mine/ws:1"
    with pytest.raises(KeyError, match="no e2e image role 'gpu'"):
        selection.name("gpu")


def test_build_sh_pulls_the_public_images_when_the_registry_is_chosen(tmp_path):
    """The registry path end to end, with a `docker` that records what it is asked (no registry here)."""
    bin_dir, calls, cache = tmp_path / "bin", tmp_path / "calls", tmp_path / "cache"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        'case "$1 $2" in\n'
        '  "image inspect") eval "echo \\${$#}@sha256:0123" ;;\n'
        '  "save -o") echo tar > "$3" ;;\n'
        "esac\n"
    )
    fake.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "DIW_E2E_CACHE": str(cache),
        "DIW_E2E_IMAGES": "registry",
        "DOCKER_HOST": "unix:///nonexistent.sock",
        "DIW_E2E_SKIP_UNPRIVILEGED": "1",  # its debootstrap build is not what this test is about
    }
    result = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    pulled = [line.split()[-1] for line in calls.read_text().splitlines() if line.startswith("pull")]
    assert sorted(pulled) == sorted(PUBLIC)
    assert f"save -o {cache}/busybox-image-registry.tar.tmp {images.BUSYBOX}" in calls.read_text()
    assert (cache / "busybox.tar").resolve() == cache / "busybox-image-registry.tar"
    assert json.loads((cache / "images.json").read_text())["source"] == "registry"
    assert "debootstrap" not in result.stderr  # no local build on this path
    assert "not building diw-test/unprivileged (DIW_E2E_SKIP_UNPRIVILEGED=1)" in result.stderr
    assert "diw-test/unprivileged" not in "".join(pulled)
    assert f"{DEFAULT_DIND_IMAGE}-rootless" in result.stderr and "@sha256:0123" in result.stderr  # which images


def test_the_readme_and_docs_name_the_pinned_public_images():
    for doc in ("README.md", "docs/ci.md"):
        text = (ROOT / doc).read_text()
        for name in PUBLIC:
            assert f"`{name}`" in text, (doc, name)
