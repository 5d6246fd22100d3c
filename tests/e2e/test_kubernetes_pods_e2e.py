"""The Kubernetes target on a real engine: the pods KubernetesWorkspace renders, run as a kubelet would.

`pod_runner.Kube` runs the component under mocks, keeps the objects it registers and
runs each Deployment's pod on the private engine (see pod_runner's docstring and
FINDINGS.md for what it reproduces). The workspace is then used as a developer would:
as its user, with its DOCKER_HOST.
"""

from __future__ import annotations

import io
import time
import uuid

import engine
import pytest
from deploy import V2_IMAGE
from pod_runner import IMAGE_MAP, PVC_LABEL, Kube, Pod, PodFailed, UnsupportedField
from test_docker_host_e2e import NO_SYSBOX, envbox_missing, in_workspace, put_file

from components import KubernetesWorkspace, Strategy

IMAGE = "codercom/enterprise-base:ubuntu"  # mapped to a locally built image by deploy.IMAGE_MAP
HOME = "/home/coder"
NESTED = engine.BUSYBOX_IMAGE
GRACE_SECONDS = 5
"""terminationGracePeriodSeconds for the tests: the images' `sleep infinity` ignores SIGTERM (30 s otherwise)."""


def k8s_program(name: str, **args):
    # The public image lacks the rootless extras (as diw-test/docker-only does): rootless gets the full test image.
    args.setdefault("image", engine.WORKSPACE_IMAGE if args.get("strategy") == Strategy.DIND_ROOTLESS else IMAGE)
    args.setdefault("daemon_ready_timeout", 90)
    args.setdefault("allow_insecure", True)  # proving that they work, not whether they are allowed
    if args.get("strategy") == Strategy.DOOD:
        args.setdefault("docker_socket_gid", engine.socket_path().stat().st_gid)

    def program():
        ws = KubernetesWorkspace(name, args)
        return {"docker_host": ws.docker_host, "deployment": ws.deployment_name}

    return program


def unique(prefix: str) -> str:
    """Names on the engine are unique per test: CI runs every e2e test against one engine."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def workspace(pod: Pod):
    return pod.container("workspace")


def sh(pod: Pod, command: str, timeout: float = 120) -> str:
    """`command` in the workspace container as its user, with its env (DOCKER_HOST)."""
    return in_workspace(workspace(pod), command, timeout=timeout)


def last_line(output: str) -> str:
    # The private engine warns on every run that it does not forward IPv4, on purpose.
    return output.strip().splitlines()[-1]


def load_nested_image(pod: Pod) -> None:
    put_file(workspace(pod), "/tmp/busybox.tar", engine.busybox_tar().read_bytes())
    sh(pod, "docker load -i /tmp/busybox.tar")


@pytest.fixture
def kube(client):
    k = Kube(client, grace_seconds=GRACE_SECONDS)
    yield k
    k.destroy()


STRATEGIES = [Strategy.DIND, Strategy.DIND_ROOTLESS, Strategy.DIND_SIDECAR, Strategy.DOOD]


@pytest.fixture(scope="module")
def running(client):
    """One ready pod per strategy, shared by the tests that only use it (each pod start costs seconds)."""
    kubes: dict[Strategy, Kube] = {}
    pods: dict[Strategy, Pod] = {}

    def get(strategy: Strategy) -> Pod:
        if strategy not in pods:
            name = unique(f"pod-{strategy.value}")
            kubes[strategy] = Kube(client, grace_seconds=GRACE_SECONDS)
            kubes[strategy].apply(k8s_program(name, strategy=strategy), timeout=180)
            pods[strategy] = kubes[strategy].pod(name)
            print(f"\n[e2e] {strategy}: pod ready\n{pods[strategy].describe()}")
            load_nested_image(pods[strategy])
        return pods[strategy]

    yield get
    for k in kubes.values():
        k.destroy()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_pod_becomes_ready_and_nested_docker_works(running, strategy):
    pod = running(strategy)
    assert pod.ready
    user = workspace(pod).attrs["Config"]["User"]
    # runAsUser 1000 where the plan says so; dind and dood run as the image's user (coder, like the public image).
    image_user = workspace(pod).image.attrs["Config"]["User"]
    assert user == ("1000" if strategy in (Strategy.DIND_ROOTLESS, Strategy.DIND_SIDECAR) else image_user)
    info = sh(pod, "docker info --format '{{.Driver}} {{.Name}}'")
    if strategy == Strategy.DOOD:
        # uid 1000 reaches the node's socket through the pod's supplementalGroups (the socket's GID).
        gid = str(engine.socket_path().stat().st_gid)
        output = in_workspace(workspace(pod), "id -G; docker info --format '{{.Name}}'", user="1000")
        assert gid in output.splitlines()[0].split()
    if strategy != Strategy.DOOD:
        assert "overlay2" in info  # the data root is its own volume (a PVC): not vfs or fuse-overlayfs
    assert last_line(sh(pod, f"docker run --rm {NESTED} echo nested-ok")) == "nested-ok"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_nested_build_with_a_context(running, strategy):
    pod = running(strategy)
    tag = unique("diw-e2e/built")
    context = f"{HOME}/{unique('ctx')}"
    sh(
        pod,
        f"mkdir -p {context} && echo built-from-context > {context}/hello.txt && "
        f'printf \'FROM {NESTED}\\nCOPY hello.txt /hello.txt\\nCMD ["cat", "/hello.txt"]\\n\' > {context}/Dockerfile',
    )
    try:
        sh(pod, f"docker build -q -t {tag} {context}", timeout=300)
        assert last_line(sh(pod, f"docker run --rm {tag}")) == "built-from-context"
    finally:
        sh(pod, f"docker image rm -f {tag} >/dev/null 2>&1 || true")  # dood: the node's engine is shared


@pytest.mark.parametrize("strategy", [Strategy.DIND, Strategy.DIND_ROOTLESS, Strategy.DIND_SIDECAR])
def test_bind_mount_of_a_home_path_shows_its_files(running, strategy):
    pod = running(strategy)
    project = f"{HOME}/{unique('proj')}"
    sh(pod, f"mkdir -p {project} && echo from-the-home > {project}/file")
    assert last_line(sh(pod, f"docker run --rm -v {project}:/src {NESTED} cat /src/file")) == "from-the-home"


def test_dood_bind_mounts_through_the_shared_dir_the_node_can_see(running):
    """dood on Kubernetes cannot mount the home (a PVC: its node path is not knowable in the pod); the
    workspace gets DIW_SHARED_DIR, an emptyDir, and DIW_SHARED_HOST_DIR, its path on the node."""
    pod = running(Strategy.DOOD)
    project = unique("proj")
    sh(pod, f'mkdir -p "$DIW_SHARED_DIR/{project}" && echo from-the-pod > "$DIW_SHARED_DIR/{project}/file"')
    command = f'docker run --rm -v "$DIW_SHARED_HOST_DIR/{project}:/src" {NESTED} cat /src/file'
    assert last_line(sh(pod, command)) == "from-the-pod"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_published_nested_port(running, strategy):
    pod = running(strategy)
    web = unique("web")
    try:
        sh(pod, f"docker run -d --name {web} -p 80 {NESTED} httpd -f -p 80 -h /var/www")
        port = last_line(sh(pod, f"docker port {web} 80/tcp | head -n1")).rsplit(":", 1)[1]
        published_on = last_line(sh(pod, 'echo "$DIW_PUBLISHED_PORTS_HOST"'))
        if strategy == Strategy.DOOD:
            # The node's daemon publishes on the node, not in the pod's network namespace: the workspace is told
            # the node's address (status.hostIP), and its own localhost has nothing there.
            assert published_on == pod.node_ip
            code, _ = engine.exec_run(workspace(pod), ["curl", "-fsS", f"http://127.0.0.1:{port}/"], timeout=10)
            assert code != 0
        else:
            assert published_on == "127.0.0.1"
        assert "hello from diw-test/busybox" in sh(
            pod, engine.http_get_until_it_answers(f"http://{published_on}:{port}/")
        )
    finally:
        sh(pod, f"docker rm -f {web} >/dev/null 2>&1 || true")


def test_sysbox_needs_its_runtime(client, kube):
    if "sysbox-runc" not in client.info().get("Runtimes", {}):
        pytest.skip(reason=NO_SYSBOX)
    name = unique("pod-sysbox")
    kube.apply(k8s_program(name, strategy=Strategy.SYSBOX), timeout=180)
    load_nested_image(kube.pod(name))
    assert last_line(sh(kube.pod(name), f"docker run --rm {NESTED} echo ok")) == "ok"


def test_envbox_pod_runs_the_workspace_as_a_sysbox_container_inside(client, kube):
    missing = envbox_missing(client)
    # The pod runner mounts no hostPath but the node's Docker socket, and has no resourceFieldRef (FINDINGS.md).
    missing.append("the pod runner does not reproduce envbox's hostPath /usr/src, /lib/modules and resourceFieldRef")
    pytest.skip(reason="; ".join(missing))


def test_the_coder_agent_token_reaches_the_workspace_from_the_secret_only(client, kube):
    """The token is a Secret key the kubelet hands over (`secretKeyRef`), never a value in the pod spec."""
    import pulumi

    name = unique("pod-agent")
    token = f"token-{uuid.uuid4().hex}"
    agent = {
        "url": "https://coder.example",
        "token": pulumi.Output.secret(token),
        "init_script": "exec sleep 2147483647",
    }
    kube.apply(k8s_program(name, strategy=Strategy.DOOD, coder_agent=agent), timeout=120)
    deployment = next(m for m in kube.cluster.of_type("kubernetes:apps/v1:Deployment") if m["metadata"]["name"] == name)
    assert token not in str(deployment)
    assert last_line(sh(kube.pod(name), 'printf %s "$CODER_AGENT_TOKEN"')) == token


def test_dind_sidecar_as_a_plain_second_container_for_older_clusters(kube):
    """native_sidecar false: both are regular containers started together; the workspace's start script
    waits for the daemon's socket (mode wait) instead of the kubelet ordering them."""
    name = unique("pod-plain-sidecar")
    kube.apply(k8s_program(name, strategy=Strategy.DIND_SIDECAR, native_sidecar=False), timeout=180)
    pod = kube.pod(name)
    assert {s.name: s.kind for s in pod.containers} == {"workspace": "main", "daemon": "main"}
    load_nested_image(pod)
    assert last_line(sh(pod, f"docker run --rm {NESTED} echo nested-ok")) == "nested-ok"


# --- nothing lost ----------------------------------------------------------------------------------------------------


def write_state(pod: Pod) -> None:
    load_nested_image(pod)
    sh(
        pod,
        f"docker volume create keep >/dev/null && docker run --rm -v keep:/data {NESTED} sh -c 'echo kept > /data/f'",
    )


def assert_state(pod: Pod) -> None:
    assert NESTED in sh(pod, "docker image ls --format '{{.Repository}}:{{.Tag}}'")
    assert last_line(sh(pod, f"docker run --rm -v keep:/data {NESTED} cat /data/f")) == "kept"


@pytest.mark.parametrize("strategy", [Strategy.DIND, Strategy.DIND_SIDECAR, Strategy.DIND_ROOTLESS])
def test_nested_images_and_volumes_survive_pod_replacement(client, kube, v2_image, strategy):
    name = unique(f"pod-keep-{strategy.value}")
    kube.apply(k8s_program(name, strategy=strategy), timeout=180)
    first = kube.pod(name)
    write_state(first)

    # An image change rolls the pod (Recreate: the old one is deleted first) ...
    kube.apply(k8s_program(name, strategy=strategy, image=V2_IMAGE), timeout=180)
    second = kube.pod(name)
    assert second.name != first.name
    assert workspace(second).image.id == v2_image.id
    assert_state(second)

    # ... replicas 0 (`running: false`) deletes the pod and keeps the PVCs ...
    kube.apply(k8s_program(name, strategy=strategy, image=V2_IMAGE, running=False), timeout=180)
    assert f"workspaces/{name}" not in kube.pods
    assert client.containers.list(all=True, filters={"label": f"diw.k8s.pod={second.name}"}) == []
    claims = {v.attrs["Labels"][PVC_LABEL] for v in client.volumes.list(filters={"label": PVC_LABEL})}
    assert {f"workspaces/{name}-docker", f"workspaces/{name}-home"} <= claims

    # ... and `running: true` brings a new pod on the same claims.
    kube.apply(k8s_program(name, strategy=strategy, image=V2_IMAGE), timeout=180)
    print(f"\n{kube.pod(name).describe()}")
    assert_state(kube.pod(name))


# --- faults ----------------------------------------------------------------------------------------------------------


def test_killed_sidecar_daemon_is_restarted_and_the_workspace_uses_docker_again(kube):
    name = unique("pod-fault-sidecar")
    kube.apply(k8s_program(name, strategy=Strategy.DIND_SIDECAR), timeout=180)
    pod = kube.pod(name)
    write_state(pod)
    workspace_id = workspace(pod).id
    daemon = pod.container("daemon")
    # The container ends with its dockerd, taking this exec with it: its exit code says nothing.
    engine.exec_run(daemon, ["pkill", "-KILL", "-x", "dockerd"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (pod.state("daemon").restarts >= 1 and pod.ready):
        time.sleep(0.5)
    print(f"\n{pod.describe()}")
    assert pod.state("daemon").restarts == 1
    assert pod.container("daemon").id != daemon.id  # a new container, as the kubelet makes
    assert pod.ready
    assert workspace(pod).id == workspace_id  # the workspace was not recreated ...
    assert pod.state("workspace").restarts == 0
    assert_state(pod)  # ... and uses Docker again, with its data


HANG_IMAGE = "docker:never-ready"


@pytest.fixture(scope="module")
def never_ready_image(client):
    """The workspace image with a dockerd that logs a line and never listens."""
    dockerfile = (
        f"FROM {engine.WORKSPACE_IMAGE}\n"
        "RUN printf '#!/bin/sh\\necho \"stub dockerd: never listening, on purpose\"\\nexec sleep 2147483647\\n'"
        " > /usr/local/bin/dockerd && chmod 755 /usr/local/bin/dockerd\n"
    )
    image, _ = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag="diw-test/never-ready", rm=True)
    IMAGE_MAP[HANG_IMAGE] = "diw-test/never-ready"
    yield image
    IMAGE_MAP.pop(HANG_IMAGE, None)


def test_a_daemon_that_never_becomes_ready_fails_its_startup_probe_within_the_budget(client, never_ready_image):
    # The pod's own grace period (30 s): the start script prints the log tail at its own timeout, which the
    # kubelet's kill (one probe period earlier) leaves it time to reach, as PID 1 ignores SIGTERM.
    kube = Kube(client)
    try:
        name = unique("pod-never-ready")
        budget = 10  # daemonReadyTimeout: startupProbe failureThreshold ceil(10 / 5) = 2, every 5 s
        kube.apply(
            k8s_program(name, strategy=Strategy.DIND_SIDECAR, dind_image=HANG_IMAGE, daemon_ready_timeout=budget),
            wait=False,
        )
        pod = kube.pod(name)
        with pytest.raises(PodFailed):
            pod.wait_ready(budget + 20)
        described = pod.describe()
        print(f"\n{described}")
        failed = [e for e in pod.events if "Startup probe failed" in e]
        assert failed, described
        seconds = float(failed[0].split(" after ")[1].split("s:")[0])
        assert seconds <= budget + 2, failed[0]  # the kubelet gives up within the budget daemonReadyTimeout sets
        assert pod.state("workspace").docker_id is None  # the workspace never started: the sidecar never did
        assert "stub dockerd: never listening, on purpose" in described  # the daemon's log tail is visible
    finally:
        kube.destroy()


# --- the runner itself -----------------------------------------------------------------------------------------------


def _pod(client, spec: dict) -> Pod:
    return Pod(client, Kube(client).cluster, "workspaces", unique("pod-unit"), spec, {}, grace_seconds=1)


def test_an_unknown_field_fails_loudly(client):
    with pytest.raises(UnsupportedField, match="hostPID"):
        _pod(client, {"containers": [{"name": "c", "image": NESTED}], "hostPID": True})
    with pytest.raises(UnsupportedField, match="lifecycle"):
        _pod(client, {"containers": [{"name": "c", "image": NESTED, "lifecycle": {}}]})


def test_run_as_non_root_refuses_a_root_image_without_run_as_user(client):
    spec = {"containers": [{"name": "c", "image": NESTED, "securityContext": {"runAsNonRoot": True}}]}
    pod = _pod(client, spec)
    try:
        with pytest.raises(PodFailed, match="runAsNonRoot and image will run as root"):
            pod.start()
    finally:
        pod.delete()


def test_init_containers_run_in_order_before_the_containers(client):
    kube = Kube(client, grace_seconds=1)
    write = "echo $(STEP) >> /shared/order"
    spec = {
        "volumes": [{"name": "shared", "emptyDir": {}}],
        "initContainers": [
            {
                "name": f"init-{step}",
                "image": NESTED,
                "command": ["sh", "-c", write],
                "env": [{"name": "STEP", "value": step}],
                "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
            }
            for step in ("first", "second")
        ],
        "containers": [
            {
                "name": "main",
                "image": NESTED,
                "command": ["sleep", "3600"],
                "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
            }
        ],
    }
    pod = Pod(client, kube.cluster, "workspaces", unique("pod-unit"), spec, {}, grace_seconds=1)
    try:
        pod.start()
        pod.wait_ready(60)
        _, order = engine.exec_run(pod.container("main"), ["cat", "/shared/order"])
        assert order.split() == ["first", "second"]
        assert [e.split("] ", 1)[1] for e in pod.events if "completed" in e] == [
            "init container init-first completed",
            "init container init-second completed",
        ]
    finally:
        pod.delete()


def test_config_map_files_honour_default_mode_and_fs_group_and_the_pod_shares_localhost(client):
    kube = Kube(client, grace_seconds=1)
    kube.cluster.put(
        "kubernetes:core/v1:ConfigMap",
        {"metadata": {"name": "cm", "namespace": "workspaces"}, "data": {"run.sh": "echo hi"}},
    )
    spec = {
        "securityContext": {"fsGroup": 1234, "supplementalGroups": [4321]},
        "volumes": [{"name": "cm", "configMap": {"name": "cm", "defaultMode": 0o500}}, {"name": "tmp", "emptyDir": {}}],
        "containers": [
            {
                "name": "a",
                "image": NESTED,
                "command": ["httpd", "-f", "-p", "8088", "-h", "/var/www"],
                "securityContext": {"runAsUser": 1000},
                "volumeMounts": [{"name": "cm", "mountPath": "/cm"}, {"name": "tmp", "mountPath": "/tmp/x"}],
            },
            {"name": "b", "image": NESTED, "command": ["sleep"], "args": ["$(SECONDS)"],
             "env": [{"name": "SECONDS", "value": "3600"}]},
        ],
    }  # fmt: skip
    pod = Pod(client, kube.cluster, "workspaces", unique("pod-unit"), spec, {}, grace_seconds=1)
    try:
        pod.start()
        pod.wait_ready(30)
        a, b = pod.container("a"), pod.container("b")
        _, listing = engine.exec_run(a, ["sh", "-c", "stat -c '%a %g' /cm/run.sh /tmp/x; id -G"])
        mode, tmp, groups = listing.strip().splitlines()
        assert mode == "540 1234"  # defaultMode 0500 | 0440 for the fsGroup, group fsGroup
        assert tmp == "2777 1234"  # emptyDir: 0777, then fsGroup's group and setgid
        assert {"1234", "4321"} <= set(groups.split())
        assert b.attrs["Args"] == ["3600"]  # $(VAR) expanded
        code, body = engine.exec_run(b, ["sh", "-c", "timeout 5 wget -qO- http://127.0.0.1:8088/"])
        assert code == 0 and "hello from diw-test/busybox" in body  # one network namespace
    finally:
        pod.delete()
