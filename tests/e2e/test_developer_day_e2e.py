"""A developer's ordinary day inside the workspace, per strategy, on the real engine.

Each strategy's workspace is deployed once (module scope) and then used as a developer
would, as the workspace's own user with its own DOCKER_HOST: bind-mount a project under
the home into a nested container, build with a context, share a named volume between
nested containers, publish a port and open it, and run a Compose project (Debian's
docker-compose) that does all of those at once.
"""

import shlex
from pathlib import Path

import engine
import pytest
from deploy import deploy, destroy
from test_docker_host_e2e import in_workspace, load_nested_image, workspace_program

from components import Strategy

NESTED = engine.BUSYBOX_IMAGE

STRATEGIES = [Strategy.DIND, Strategy.DIND_ROOTLESS, Strategy.DIND_SIDECAR, Strategy.DOOD, Strategy.PODMAN]
# dood publishes on the host itself, shared by every test: ports distinct per strategy.
PORTS = {
    Strategy.DIND: 18081,
    Strategy.DIND_ROOTLESS: 18082,
    Strategy.DIND_SIDECAR: 18083,
    Strategy.DOOD: 18084,
    Strategy.PODMAN: 18085,
}


def host_forwards_ipv4() -> bool:
    return Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"


def podman_network(strategy: Strategy) -> str:
    """Podman 4.3's Docker API puts a nested container on its bridge network, whose plugin must find
    ip_forward on in Podman's rootless network namespace: that namespace starts with the host's value and the
    workspace's /proc/sys is read-only. On a host that does not forward (this machine's private engines run
    --ip-forward=false) nested containers use slirp4netns instead (tests/e2e/FINDINGS.md, issue 13)."""
    if strategy != Strategy.PODMAN or host_forwards_ipv4():
        return ""
    return "slirp4netns"


def docker_run(strategy: Strategy) -> str:
    network = podman_network(strategy)
    return f"docker run --network {network}" if network else "docker run"


@pytest.fixture(scope="module", params=STRATEGIES, ids=lambda s: s.value)
def workspace(request, client):
    strategy = request.param
    name = f"e2e-day-{strategy.value}"
    # codercom/enterprise-base:ubuntu (no rootless extras), for dind-rootless docker:*-dind-rootless (images.py)
    args: dict = {"strategy": strategy}
    if strategy == Strategy.DOOD:
        args["docker_socket_gid"] = engine.socket_path().stat().st_gid
    if strategy == Strategy.PODMAN:
        engine.require_role(client, "unprivileged")
        args.update(engine.unprivileged_engine_args())
    destroy(client, [name])
    deploy(client, workspace_program(name, **args), [name])
    container = client.containers.get(name)
    if strategy != Strategy.DOOD:
        load_nested_image(container, user="1000")
    if podman_network(strategy):
        print(
            f"\n[e2e] {strategy}: this host does not forward IPv4 (net.ipv4.ip_forward=0), so Podman's bridge "
            "network cannot start here; nested containers run with --network slirp4netns (Compose: network_mode)"
        )
    yield strategy, container
    if strategy == Strategy.DOOD:  # nested containers of dood live on the host engine
        engine.exec_run(container, "docker rm -f $(docker ps -aq --filter label=diw.e2e.day) 2>/dev/null", user="1000")
    destroy(client, [name])


def as_developer(container, command: str, timeout: float = 180) -> str:
    """`command` in a login-like shell of uid 1000 in its home, with the container's env (DOCKER_HOST, HOME)."""
    return in_workspace(container, f'cd "$HOME" && {command}', user="1000", timeout=timeout)


def last_line(output: str) -> str:
    # The private engine warns that it does not forward IPv4 (on purpose): the answer is the last line.
    return output.strip().splitlines()[-1]


def test_a_project_under_the_home_is_visible_in_a_nested_bind_mount(workspace, client):
    strategy, ws = workspace
    if strategy == Strategy.DOOD:
        # The host's daemon resolves the path: the home is the volume's own host path, so it exists there.
        home = as_developer(ws, 'echo "$HOME"').strip()
        assert home == client.volumes.get(f"{ws.name}-home").attrs["Mountpoint"]
        env = dict(item.split("=", 1) for item in ws.attrs["Config"]["Env"])
        assert env["DIW_SHARED_HOST_DIR"] == env["DIW_SHARED_DIR"] == home
    as_developer(ws, "mkdir -p project && echo 'hello from the project' > project/hello.txt")
    run = f'{docker_run(strategy)} --rm --label diw.e2e.day=1 -v "$HOME/project:/src" {NESTED}'
    assert last_line(as_developer(ws, f"{run} cat /src/hello.txt")) == "hello from the project"
    # Written back by the nested container, seen by the developer.
    as_developer(ws, f'{run} sh -c "echo out > /src/o"')
    assert as_developer(ws, "cat project/o").strip() == "out"


def test_build_with_a_context(workspace):
    strategy, ws = workspace
    tag = f"diw-e2e-day-{strategy.value}:ctx"
    dockerfile = f'FROM {NESTED}\nCOPY greeting.txt /greeting.txt\nCMD ["cat", "/greeting.txt"]\n'
    as_developer(ws, f"mkdir -p ctx && printf %s {shlex.quote(dockerfile)} > ctx/Dockerfile")
    as_developer(ws, "echo built-from-context > ctx/greeting.txt")
    as_developer(ws, f"docker build -q -t {tag} ctx")
    assert (
        last_line(as_developer(ws, f"{docker_run(strategy)} --rm --label diw.e2e.day=1 {tag}")) == "built-from-context"
    )
    if strategy == Strategy.DOOD:
        as_developer(ws, f"docker rmi {tag}")


def test_a_named_volume_shared_between_nested_containers(workspace):
    strategy, ws = workspace
    volume = f"diw-e2e-day-{strategy.value}"
    run = f"{docker_run(strategy)} --rm --label diw.e2e.day=1 -v {volume}:/data {NESTED}"
    as_developer(ws, f"{run} sh -c 'echo shared > /data/f'")
    assert last_line(as_developer(ws, f"{run} cat /data/f")) == "shared"
    as_developer(ws, f"docker volume rm {volume}")


def fetch(ws, port: int) -> str:
    url = f"http://$DIW_PUBLISHED_PORTS_HOST:{port}/"
    # 40 tries: dood's Compose port may take about 40 s to answer here (engine.http_get_until_it_answers).
    return as_developer(ws, engine.http_get_until_it_answers(url, tries=40), timeout=240)


def test_a_published_port_answers_where_the_workspace_is_told(workspace):
    strategy, ws = workspace
    port = PORTS[strategy]
    name = f"diw-e2e-day-web-{strategy.value}"
    as_developer(
        ws,
        f"{docker_run(strategy)} -d --label diw.e2e.day=1 --name {name} -p {port}:80 {NESTED} "
        "sh -c 'mkdir -p /w && echo hello-from-nested > /w/index.html && exec httpd -f -p 80 -h /w'",
    )
    try:
        where = as_developer(ws, 'echo "$DIW_PUBLISHED_PORTS_HOST"').strip()
        assert where == ("host.docker.internal" if strategy == Strategy.DOOD else "127.0.0.1")
        assert "hello-from-nested" in fetch(ws, port)
    finally:
        as_developer(ws, f"docker rm -f {name}")


COMPOSE_FILE = """\
version: "3.8"
services:
  web:
    image: {image}{network}
    command: ["httpd", "-f", "-p", "80", "-h", "/site"]
    ports: ["{port}:80"]
    volumes: ["./site:/site:ro"]
    labels: ["diw.e2e.day=1"]
  writer:
    image: {image}{network}
    command: ["sh", "-c", "echo from-compose > /data/f"]
    volumes: ["data:/data"]
    labels: ["diw.e2e.day=1"]
volumes:
  data: {{}}
"""


def test_compose_with_a_bind_mount_a_port_and_a_volume(workspace):
    strategy, ws = workspace
    port = PORTS[strategy] + 100
    project = f"diw-e2e-day-{strategy.value.replace('-', '')}"
    network = podman_network(strategy)
    compose = COMPOSE_FILE.format(image=NESTED, port=port, network=f"\n    network_mode: {network}" if network else "")
    as_developer(
        ws,
        f"mkdir -p app/site && echo served-by-compose > app/site/index.html && printf %s {shlex.quote(compose)} "
        "> app/docker-compose.yml",
    )
    up = f"cd app && docker-compose -p {project}"
    try:
        as_developer(ws, f"{up} up -d", timeout=240)
        assert "served-by-compose" in fetch(ws, port)
        as_developer(ws, f"docker wait $({up} ps -q writer)")
        output = as_developer(ws, f"{docker_run(strategy)} --rm -v {project}_data:/data {NESTED} cat /data/f")
        assert last_line(output) == "from-compose"
    finally:
        as_developer(ws, f"{up} down -v", timeout=240)
