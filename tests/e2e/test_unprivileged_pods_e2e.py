"""podman and dind-userns on Kubernetes: the pods KubernetesWorkspace renders, run by the pod runner.

Neither pod is privileged. `podman` runs on the private engine as it is. `dind-userns` needs `hostUsers: false`
with `procMount: Unmasked`: a second private engine started with --userns-remap stands in for a node with user
namespaces (every container's root is a subordinate id there; $DIW_E2E_USERNS_DOCKER_HOST), and the runner
unmasks /proc for `procMount: Unmasked`. Both pods ask a device plugin for /dev/net/tun (`squat.ai/tun`, which
the runner's "node" offers) and name the shipped seccomp profile as a Localhost profile (installed on the "node").
"""

from __future__ import annotations

import os
import shlex

import engine
import pytest
from pod_runner import Kube, Pod, PodFailed
from test_developer_day_e2e import COMPOSE_FILE, host_forwards_ipv4
from test_docker_host_e2e import in_workspace, put_file
from test_kubernetes_pods_e2e import GRACE_SECONDS, HOME, NESTED, last_line, unique

from components import KubernetesWorkspace, Strategy

IMAGE = engine.SELECTION.name("unprivileged")


def program(name: str, strategy: Strategy, **args):
    args = {
        "strategy": strategy,
        "image": IMAGE,
        "daemon_ready_timeout": 90,
        **engine.unprivileged_engine_args(),
        **args,
    }

    def run():
        ws = KubernetesWorkspace(name, args)
        return {"docker_host": ws.docker_host, "security": ws.security_level, "pss": ws.pod_security_level}

    return run


@pytest.fixture(scope="module")
def userns_client(client):
    c, reason = engine.userns_client()
    if c is None:
        if os.environ.get("DIW_E2E_REQUIRED") == "1":
            pytest.fail(f"e2e required but {reason}")
        pytest.skip(f"dind-userns on Kubernetes: {reason}")
    copied = engine.copy_images(client, c, [IMAGE, engine.BUSYBOX_IMAGE])
    print(f"\n[e2e] user-namespaced engine {os.environ[engine.USERNS_DOCKER_HOST_ENV]}; copied {copied or 'nothing'}")
    return c


def _engine(strategy: Strategy, request) -> object:
    return request.getfixturevalue("userns_client" if strategy == Strategy.DIND_USERNS else "client")


@pytest.fixture(scope="module", params=[Strategy.PODMAN, Strategy.DIND_USERNS], ids=lambda s: s.value)
def pod(request):
    strategy = request.param
    engine.require_role(request.getfixturevalue("client"), "unprivileged")
    kube = Kube(_engine(strategy, request), grace_seconds=GRACE_SECONDS)
    name = unique(f"pod-{strategy.value}")
    try:
        kube.apply(program(name, strategy), timeout=180)
        running = kube.pod(name)
        print(f"\n[e2e] {strategy}: pod ready\n{running.describe()}")
        ws = running.container("workspace")
        put_file(ws, "/tmp/busybox.tar", engine.busybox_tar().read_bytes())
        in_workspace(ws, "docker load -i /tmp/busybox.tar")
        yield strategy, running
    finally:
        kube.destroy()


def sh(pod: Pod, command: str, timeout: float = 180) -> str:
    return in_workspace(pod.container("workspace"), f'cd "$HOME" && {command}', timeout=timeout)


def nested_network(strategy: Strategy) -> str:
    """podman on a host that does not forward IPv4: nested containers on slirp4netns (test_developer_day_e2e)."""
    return "slirp4netns" if strategy == Strategy.PODMAN and not host_forwards_ipv4() else ""


def run(strategy: Strategy) -> str:
    network = nested_network(strategy)
    return f"docker run --network {network}" if network else "docker run"


def test_the_pod_is_unprivileged_and_ready_and_nested_docker_works(pod):
    strategy, running = pod
    assert running.ready
    ws = running.container("workspace")
    host_config = ws.attrs["HostConfig"]
    assert not host_config["Privileged"] and not host_config["CapAdd"]
    assert ws.attrs["Config"]["User"] == "1000"
    assert any(opt.startswith("seccomp={") for opt in host_config["SecurityOpt"])  # the shipped profile, not off
    assert [d["PathOnHost"] for d in host_config["Devices"]] == ["/dev/net/tun"]  # from the "device plugin"
    if strategy == Strategy.DIND_USERNS:
        assert host_config["MaskedPaths"] == [] and host_config["ReadonlyPaths"] == []  # procMount: Unmasked
        uid_map = sh(running, "cat /proc/self/uid_map").split()
        assert uid_map[:2] == ["0", uid_map[1]] and uid_map[1] != "0"  # the pod's root is not the node's
    else:
        assert "/proc/sys" in host_config["ReadonlyPaths"]  # podman keeps the masked /proc
    assert last_line(sh(running, f"{run(strategy)} --rm {NESTED} echo nested-ok")) == "nested-ok"


def test_build_bind_mount_volume_and_port(pod):
    strategy, running = pod
    docker_run = run(strategy)
    tag = unique("diw-e2e/built")
    dockerfile = f'FROM {NESTED}\nCOPY hello.txt /hello.txt\nCMD ["cat", "/hello.txt"]\n'
    sh(
        running,
        "mkdir -p ctx && echo built-from-context > ctx/hello.txt && "
        f"printf %s {shlex.quote(dockerfile)} > ctx/Dockerfile",
    )
    sh(running, f"docker build -q -t {tag} ctx", timeout=300)
    assert last_line(sh(running, f"{docker_run} --rm {tag}")) == "built-from-context"
    sh(running, "mkdir -p proj && echo from-the-home > proj/file")
    assert last_line(sh(running, f'{docker_run} --rm -v "$HOME/proj:/src" {NESTED} cat /src/file')) == "from-the-home"
    sh(running, f"{docker_run} --rm -v vol1:/data {NESTED} sh -c 'echo shared > /data/f'")
    assert last_line(sh(running, f"{docker_run} --rm -v vol1:/data {NESTED} cat /data/f")) == "shared"
    web = unique("web")
    sh(running, f"{docker_run} -d --name {web} -p 18180:80 {NESTED} httpd -f -p 80 -h /var/www")
    assert last_line(sh(running, 'echo "$DIW_PUBLISHED_PORTS_HOST"')) == "127.0.0.1"
    assert "hello from diw-test/busybox" in sh(running, engine.http_get_until_it_answers("http://127.0.0.1:18180/"))
    sh(running, f"docker rm -f {web}")


def test_compose(pod):
    strategy, running = pod
    network = nested_network(strategy)
    compose = COMPOSE_FILE.format(image=NESTED, port=18181, network=f"\n    network_mode: {network}" if network else "")
    sh(
        running,
        "mkdir -p app/site && echo served-by-compose > app/site/index.html && "
        f"printf %s {shlex.quote(compose)} > app/docker-compose.yml",
    )
    up = "cd app && docker-compose -p diwe2e"
    try:
        sh(running, f"{up} up -d", timeout=240)
        assert "served-by-compose" in sh(running, engine.http_get_until_it_answers("http://127.0.0.1:18181/"))
    finally:
        sh(running, f"{up} down -v", timeout=240)


def test_dind_userns_without_a_user_namespaced_node_is_refused_by_the_runner(client):
    """On a node without user namespaces (the plain engine) the pod cannot start: the runner says why."""
    kube = Kube(client, grace_seconds=GRACE_SECONDS)
    try:
        with pytest.raises(Exception, match="hostUsers false .* --userns-remap"):
            kube.apply(program(unique("pod-userns-plain"), Strategy.DIND_USERNS), timeout=60)
    finally:
        kube.destroy()


def test_a_pod_asking_for_a_device_no_plugin_offers_stays_pending(client):
    kube = Kube(client, grace_seconds=GRACE_SECONDS)
    try:
        with pytest.raises(PodFailed, match="Insufficient example.com/tun"):
            kube.apply(program(unique("pod-nodev"), Strategy.PODMAN, tun_device_resource="example.com/tun"), timeout=60)
    finally:
        kube.destroy()


def test_home_is_where_the_pvc_is(pod):
    _, running = pod
    assert sh(running, 'echo "$HOME"').strip() == HOME
