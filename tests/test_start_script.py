"""The start script, run for real with a fake `dockerd`/`docker` on PATH."""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from components.strategies.spec import DaemonKind
from components.workload import start_script

FAKE_DOCKERD = """\
#!/bin/sh
# Fake dockerd: records its argv, logs, becomes "ready" after $FAKE_READY_AFTER s ("never": never).
printf '%s\\n' "$@" > "$FAKE_DIR/$(basename "$0").args"
echo "fake dockerd log line 1"
echo "fake dockerd: listening soon"
if [ -n "${FAKE_EXIT_AFTER:-}" ]; then sleep "$FAKE_EXIT_AFTER"; echo "fake dockerd: fatal"; exit 3; fi
if [ "${FAKE_READY_AFTER:-0}" != never ]; then sleep "${FAKE_READY_AFTER:-0}"; touch "$FAKE_DIR/ready"; fi
trap 'echo "fake dockerd: stopping"; exit 0' TERM
i=0
while [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done  # bounded: never outlives a test by long
"""

FAKE_DOCKER = """\
#!/bin/sh
[ "$1" = info ] && [ -e "$FAKE_DIR/ready" ]
"""

FAKE_TOOL = "#!/bin/sh\nexit 0\n"
ROOTLESS_TOOLS = ("rootlesskit", "newuidmap", "newgidmap", "slirp4netns", "ip")
"""What rootless mode checks for besides dockerd-rootless.sh: present here as do-nothing fakes."""


@pytest.fixture
def fake(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = {"dockerd": FAKE_DOCKERD, "dockerd-rootless.sh": FAKE_DOCKERD, "docker": FAKE_DOCKER}
    tools.update({name: FAKE_TOOL for name in ROOTLESS_TOOLS})
    for name, body in tools.items():
        path = bin_dir / name
        path.write_text(body)
        path.chmod(0o755)
    script = tmp_path / "start-docker.sh"
    script.write_text(start_script())
    (tmp_path / "subuid").write_text(f"{pwd.getpwuid(os.getuid()).pw_name}:100000:65536\n")
    yield tmp_path
    # The fake daemon outlives `exec` of the workload, as the real one does: stop it.
    subprocess.run(["pkill", "-f", str(bin_dir)], check=False)


def start(fake: Path, *workload: str, timeout: float = 20, **env: str) -> subprocess.CompletedProcess:
    base = {
        "PATH": f"{fake / 'bin'}:/usr/bin:/bin",
        "HOME": str(fake),
        "FAKE_DIR": str(fake),
        "DOCKER_HOST": f"unix://{fake}/run/docker.sock",
        "DIW_DOCKERD_LOG": str(fake / "dockerd.log"),
        "DIW_DOCKERD_MTU_FROM": "lo",
        "DIW_DOCKERD_DATA_ROOT": str(fake / "data"),
        "DIW_SUBUID_FILE": str(fake / "subuid"),
    }
    base.update(env)
    return subprocess.run(
        ["/bin/sh", str(fake / "start-docker.sh"), *workload], env=base, capture_output=True, text=True, timeout=timeout
    )


def dockerd_args(fake: Path, name: str = "dockerd") -> list[str]:
    return (fake / f"{name}.args").read_text().splitlines()


needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="rootful mode starts dockerd as root (or via sudo); run as root"
)


@needs_root
def test_rootful_passes_flags_waits_then_execs_the_workload(fake):
    result = start(
        fake,
        "/bin/sh",
        "-c",
        'test -e "$FAKE_DIR/ready" && echo workload-ran-after-ready',
        FAKE_READY_AFTER="2",
        DIW_DOCKERD_MTU="1460",
        DIW_DOCKERD_GROUP="1000",
        DIW_DOCKERD_ADDRESS_POOL="base=10.201.0.0/16,size=24",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "workload-ran-after-ready"
    assert dockerd_args(fake) == [
        f"--host=unix://{fake}/run/docker.sock",
        f"--data-root={fake}/data",
        "--mtu=1460",
        "--default-address-pool=base=10.201.0.0/16,size=24",
        "--group=1000",
        f"--pidfile={fake}/run/docker.pid",
    ]
    assert "Docker is ready" in result.stderr
    assert (fake / "run").is_dir()  # the socket's directory is created


@needs_root
def test_mtu_defaults_to_the_outer_interface(fake):
    result = start(fake, "true")
    assert result.returncode == 0, result.stderr
    expected = Path("/sys/class/net/lo/mtu").read_text().strip()
    assert f"--mtu={expected}" in dockerd_args(fake)


@needs_root
def test_timeout_prints_the_log_tail_and_fails_without_running_the_workload(fake):
    started = time.monotonic()
    result = start(fake, "/bin/sh", "-c", "echo workload-ran", FAKE_READY_AFTER="never", DIW_DOCKERD_TIMEOUT="2")
    assert result.returncode == 1
    assert "workload-ran" not in result.stdout
    assert "not ready after 2s" in result.stderr
    assert "fake dockerd: listening soon" in result.stderr  # the daemon log's tail
    assert time.monotonic() - started < 15


@needs_root
def test_daemon_that_dies_fails_fast_with_its_log(fake):
    result = start(fake, "echo", "workload-ran", FAKE_EXIT_AFTER="1", DIW_DOCKERD_TIMEOUT="60")
    assert result.returncode == 1
    assert "dockerd exited before it was ready" in result.stderr
    assert "fake dockerd: fatal" in result.stderr
    assert "workload-ran" not in result.stdout


def test_rootless_uses_rootlesskit_launcher_without_group(fake):
    runtime_dir = fake / "xdg"
    result = start(
        fake,
        "echo",
        "ok",
        DIW_DOCKERD_MODE="rootless",
        XDG_RUNTIME_DIR=str(runtime_dir),
        DOCKER_HOST=f"unix://{runtime_dir}/docker.sock",
        DIW_DOCKERD_GROUP="1000",
        DIW_DOCKERD_DATA_ROOT=str(fake / "data"),
        DIW_DOCKERD_LOG="",
    )
    assert result.returncode == 0, result.stderr
    args = dockerd_args(fake, "dockerd-rootless.sh")
    assert args[0] == f"--host=unix://{runtime_dir}/docker.sock"
    assert f"--data-root={fake / 'data'}" in args
    assert not any(a.startswith("--group") for a in args)
    assert not (fake / "dockerd.args").exists()
    assert (runtime_dir / "dockerd.log").exists()  # default rootless log location


def test_wait_mode_starts_nothing_and_waits_for_the_sidecar(fake):
    (fake / "ready").touch()
    result = start(fake, "echo", "ok", DIW_DOCKERD_MODE="wait")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert not (fake / "dockerd.args").exists()


def test_wait_mode_times_out(fake):
    result = start(fake, "echo", "ok", DIW_DOCKERD_MODE="wait", DIW_DOCKERD_TIMEOUT="1")
    assert result.returncode == 1
    assert "not ready after 1s" in result.stderr


def host_socket(fake: Path) -> socket.socket:
    """A listening unix socket where DOCKER_HOST points: what dood mounts from the host."""
    (fake / "run").mkdir(exist_ok=True)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(fake / "run" / "docker.sock"))
    return server


def test_none_mode_execs_at_once(fake):
    server = host_socket(fake)
    result = start(fake, "echo", "ok", DIW_DOCKERD_MODE="none")
    server.close()
    assert result.returncode == 0 and result.stdout.strip() == "ok"
    assert not (fake / "dockerd.args").exists()


@needs_root
def test_without_workload_it_stays_with_dockerd_and_forwards_stop(fake):
    env = dict(
        os.environ,
        PATH=f"{fake / 'bin'}:/usr/bin:/bin",
        FAKE_DIR=str(fake),
        DOCKER_HOST=f"unix://{fake}/docker.sock",
        DIW_DOCKERD_LOG=str(fake / "dockerd.log"),
        DIW_DOCKERD_DATA_ROOT=str(fake / "data"),
    )
    proc = subprocess.Popen(["/bin/sh", str(fake / "start-docker.sh")], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not (fake / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)
        assert proc.poll() is None, "exited although dockerd still runs"
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
    assert "fake dockerd: stopping" in (fake / "dockerd.log").read_text()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DIW_DOCKERD_MODE": "magic"}, "DIW_DOCKERD_MODE must be"),
        ({"DIW_DOCKERD_TIMEOUT": "10s"}, "DIW_DOCKERD_TIMEOUT must be whole seconds"),
        ({"DIW_DOCKERD_MTU": "1500; touch pwned"}, "DIW_DOCKERD_MTU must be a number"),
        ({"DIW_DOCKERD_GROUP": "docker"}, "DIW_DOCKERD_GROUP must be a numeric GID"),
        ({"DOCKER_HOST": "tcp://127.0.0.1:2375"}, "DOCKER_HOST must be a unix:// socket"),
    ],
)
def test_bad_knobs_fail_clearly(fake, env, message):
    result = start(fake, "echo", "ok", **env)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (fake / "pwned").exists()


@needs_root
def test_knob_values_are_arguments_never_shell(fake):
    hostile = f"base=$(touch {fake}/pwned),size=24"
    data_root = f"{fake}/data; touch {fake}/pwned2"
    result = start(fake, "true", DIW_DOCKERD_ADDRESS_POOL=hostile, DIW_DOCKERD_DATA_ROOT=data_root)
    assert result.returncode == 0, result.stderr
    assert f"--default-address-pool={hostile}" in dockerd_args(fake)
    assert f"--data-root={fake}/data; touch {fake}/pwned2" in dockerd_args(fake)
    assert not (fake / "pwned").exists() and not (fake / "pwned2").exists()


def test_script_is_posix_sh():
    # dash is Debian's /bin/sh: parse-only check, plus shellcheck when available.
    result = subprocess.run(["/bin/sh", "-n", "-c", start_script()], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert textwrap.dedent(start_script()).startswith("#!/bin/sh\n")


def test_check_lists_everything_rootless_mode_lacks(fake):
    for name in ROOTLESS_TOOLS[:3]:  # rootlesskit, newuidmap, newgidmap
        (fake / "bin" / name).unlink()
    (fake / "subuid").write_text("someone-else:100000:65536\n")
    result = start(fake, "--check", DIW_DOCKERD_MODE="rootless")
    assert result.returncode == 3
    assert "subordinate ids: no entry for" in result.stderr
    # Only what this host does not have anyway is missing (it may have uidmap, for instance).
    absent = [tool for tool in ROOTLESS_TOOLS[:3] if shutil.which(tool, path="/usr/bin:/bin") is None]
    for tool in absent:
        assert f"- {tool} (" in result.stderr
    assert not list(fake.glob("*.args"))


@pytest.mark.parametrize("kind", list(DaemonKind), ids=str)
def test_every_daemon_kind_is_a_mode_the_script_runs(fake, kind):
    result = start(fake, "--check", DIW_DOCKERD_MODE=kind.value)
    assert "DIW_DOCKERD_MODE must be" not in result.stderr
    assert f"run Docker in mode {kind.value}" in result.stderr  # checked as that mode (whether this host has it)


def test_check_passes_and_starts_nothing(fake):
    result = start(fake, "--check", DIW_DOCKERD_MODE="rootless")
    assert result.returncode == 0, result.stderr
    assert "ok: this image can run Docker in mode rootless" in result.stderr
    assert not list(fake.glob("*.args"))


def test_a_data_root_of_another_owner_is_refused_before_dockerd_starts(fake):
    (fake / "data" / "image").mkdir(parents=True)
    os.chown(fake / "data" / "image", 4321, 4321)
    result = start(fake, "echo", "workload-ran", DIW_DOCKERD_MODE="rootless")
    assert result.returncode == 3
    assert "holds a rootful daemon's data (owner uid 4321)" in result.stderr
    assert "switch back to dind or dind-sidecar, or remove that volume" in result.stderr
    assert "workload-ran" not in result.stdout and not list(fake.glob("*.args"))


@needs_root
def test_dood_socket_the_user_cannot_use_names_the_gid_to_set():
    # Its own directory: uid 1000 must reach the script and the socket (pytest's tmp dirs are root's only).
    with tempfile.TemporaryDirectory() as directory:
        here = Path(directory)
        here.chmod(0o755)
        (here / "start-docker.sh").write_text(start_script())
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(here / "docker.sock"))
        try:
            os.chmod(here / "docker.sock", 0o660)
            os.chown(here / "docker.sock", 0, 4242)
            result = subprocess.run(
                ["setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "/bin/sh", str(here / "start-docker.sh"),
                 "--check"],
                env={"PATH": "/usr/bin:/bin", "DIW_DOCKERD_MODE": "none", "DOCKER_HOST": f"unix://{here}/docker.sock"},
                capture_output=True, text=True, timeout=20,
            )  # fmt: skip
        finally:
            server.close()
    assert result.returncode == 3, result.stderr
    assert "set dockerSocketGid (docker_socket_gid) to 4242" in result.stderr


@needs_root
def test_a_second_daemon_gets_the_data_root_handed_over_by_a_sidecar(fake):
    """A strategy switch: the sidecar daemon (no workload) holds the data root; a new daemon in another
    container asks for it, the sidecar stops its dockerd and idles, the new one starts."""
    env = {
        "PATH": f"{fake / 'bin'}:/usr/bin:/bin",
        "FAKE_DIR": str(fake),
        "DIW_DOCKERD_MTU_FROM": "lo",
        "DIW_DOCKERD_DATA_ROOT": str(fake / "data"),
        "DIW_DOCKERD_LOG": str(fake / "sidecar.log"),
        "DOCKER_HOST": f"unix://{fake}/sidecar/docker.sock",
    }
    sidecar = subprocess.Popen(["/bin/sh", str(fake / "start-docker.sh")], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not (fake / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        result = start(fake, "echo", "new-daemon-ran", DOCKER_HOST=f"unix://{fake}/new/docker.sock")
        assert result.returncode == 0, result.stderr
        assert "asking it to hand over" in result.stderr and "handed over after" in result.stderr
        assert result.stdout.strip() == "new-daemon-ran"
        time.sleep(0.5)
        assert sidecar.poll() is None  # idles (it is removed by the switch), does not restart a daemon
    finally:
        sidecar.kill()
        _, err = sidecar.communicate(timeout=10)
    assert "stopping dockerd to hand it over" in err
    assert "fake dockerd: stopping" in (fake / "sidecar.log").read_text()


@needs_root
def test_on_cgroup_v2_it_moves_its_processes_to_a_child_and_delegates_every_controller(fake):
    """What a private cgroup namespace on cgroup v2 needs before dockerd can give nested containers
    controllers (the kernel's "no internal processes" rule): seen through a fake cgroup tree."""
    root = fake / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cgroup.procs").write_text("1\n7\n")
    (root / "cgroup.subtree_control").write_text("")
    (fake / "self-cgroup").write_text("0::/\n")
    result = start(fake, "true", DIW_CGROUP_ROOT=str(root), DIW_CGROUP_SELF=str(fake / "self-cgroup"))
    assert result.returncode == 0, result.stderr
    assert (root / "cgroup.subtree_control").read_text().strip() == "+cpuset +cpu +io +memory +pids"
    assert (root / "init" / "cgroup.procs").read_text().split() == ["7"]  # each pid written (the last stays)
    # With the host's cgroup namespace (a path other than `/`) the tree is the host's: left alone.
    subprocess.run(["pkill", "-f", str(fake / "bin")], check=False)  # the first fake daemon holds the data root
    (root / "cgroup.subtree_control").write_text("")
    (fake / "self-cgroup").write_text("0::/system.slice/docker-1234.scope\n")
    result = start(fake, "true", DIW_CGROUP_ROOT=str(root), DIW_CGROUP_SELF=str(fake / "self-cgroup"))
    assert result.returncode == 0, result.stderr
    assert (root / "cgroup.subtree_control").read_text() == ""


PODMAN_TOOLS = ("crun", "newuidmap", "newgidmap", "slirp4netns")


@needs_root  # to run it as uid 1000 (setpriv), as the workspace's user
def test_podman_mode_writes_podmans_configuration_and_serves_the_docker_api_as_the_user():
    with tempfile.TemporaryDirectory() as directory:
        here = Path(directory)
        bin_dir = here / "bin"
        bin_dir.mkdir()
        tools = {"podman": FAKE_DOCKERD, "docker": FAKE_DOCKER, **dict.fromkeys(PODMAN_TOOLS, FAKE_TOOL)}
        for name, body in tools.items():
            (bin_dir / name).write_text(body)
            (bin_dir / name).chmod(0o755)
        (here / "start-docker.sh").write_text(start_script())
        (here / "subuid").write_text("1000:1001:64535\n")
        (here / "home").mkdir()
        for path in (here, here / "home"):
            os.chown(path, 1000, 1000)
        runtime_dir = here / "xdg"
        env = {
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "HOME": str(here / "home"),
            "FAKE_DIR": str(here),
            "DIW_DOCKERD_MODE": "podman",
            "XDG_RUNTIME_DIR": str(runtime_dir),
            "DOCKER_HOST": f"unix://{runtime_dir}/podman/podman.sock",
            "DIW_DOCKERD_DATA_ROOT": str(here / "home" / "containers"),
            "DIW_SUBUID_FILE": str(here / "subuid"),
        }
        workload = ["sh", "-c", 'cat "$CONTAINERS_CONF" "$CONTAINERS_STORAGE_CONF"']
        as_user = ["setpriv", "--reuid=1000", "--regid=1000", "--clear-groups"]
        try:
            result = subprocess.run(
                [*as_user, "/bin/sh", str(here / "start-docker.sh"), *workload],
                env=env, capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            podman_args = (here / "podman.args").read_text().splitlines()
            as_root = subprocess.run(
                ["/bin/sh", str(here / "start-docker.sh"), "--check"], env=env, capture_output=True, text=True
            )
            (bin_dir / "podman").unlink()
            without = subprocess.run(
                [*as_user, "/bin/sh", str(here / "start-docker.sh"), "--check"], env=env, capture_output=True, text=True
            )
        finally:
            subprocess.run(["pkill", "-f", str(bin_dir)], check=False)
    assert result.returncode == 0, result.stderr
    assert podman_args == ["system", "service", "--time=0", f"unix://{runtime_dir}/podman/podman.sock"]
    assert "starting rootless Podman's Docker API" in result.stderr and "Docker is ready" in result.stderr
    # What an unprivileged container needs (tests/e2e/FINDINGS.md), in the config the workload's podman reads.
    for line in ("default_sysctls = []", 'pidns = "host"', 'volumes = ["/proc:/proc"]', 'cgroup_manager = "cgroupfs"'):
        assert line in result.stdout
    assert 'runtime = "crun"' in result.stdout and 'driver = "overlay"' in result.stdout
    assert f'graphroot = "{here}/home/containers/storage"' in result.stdout
    assert as_root.returncode == 3 and "a non-root user: rootless Podman runs as the workspace's user" in as_root.stderr
    assert without.returncode == 3 and "podman (the podman package)" in without.stderr


@needs_root
def test_envbox_bootstrap_read_from_stdin_starts_the_daemon_then_the_workload(fake):
    """envbox runs CODER_BOOTSTRAP_SCRIPT in the inner container as `/bin/sh -s` with the script on stdin
    (cli/docker.go): the inlined start script (a here-document) must survive being read that way."""
    from components.strategies import plan
    from components.strategies.spec import workload_container
    from components.workload import _INLINE_SCRIPT, DaemonSettings, envbuilder_init_script, start_env

    inner = workload_container(plan("envbox"))
    knobs = {**start_env(inner, DaemonSettings(mtu=1460)), **inner.env_dict}
    assert knobs["DIW_DOCKERD_MODE"] == "rootful" and knobs["DOCKER_HOST"] == "unix:///var/run/docker.sock"
    # Pointed into the sandbox: the real paths are the inner container's.
    knobs.update(DOCKER_HOST=f"unix://{fake}/run/docker.sock", DIW_DOCKERD_DATA_ROOT=str(fake / "data"))
    workload = 'test -e "$FAKE_DIR/ready" && echo "workload-ran-after-ready as $DOCKER_HOST"'
    script = envbuilder_init_script(knobs, workload)
    script = script.replace(_INLINE_SCRIPT, str(fake / "inline-start-docker.sh"))
    env = {
        "PATH": f"{fake / 'bin'}:/usr/bin:/bin",
        "HOME": str(fake),
        "FAKE_DIR": str(fake),
        "FAKE_READY_AFTER": "1",
        "DIW_DOCKERD_LOG": str(fake / "dockerd.log"),
        "DIW_DOCKERD_MTU_FROM": "lo",
    }
    result = subprocess.run(["/bin/sh", "-s"], input=script, env=env, capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"workload-ran-after-ready as unix://{fake}/run/docker.sock"
    assert "--mtu=1460" in dockerd_args(fake) and "--group=1000" in dockerd_args(fake)


def test_envbox_entrypoint_hands_the_token_file_to_envbox_s_env(tmp_path):
    """envbox reads CODER_AGENT_TOKEN from its env only; a Docker host keeps the token in a file."""
    from components.workload import ENVBOX_TOKEN_FROM_FILE

    token_file = tmp_path / "token"
    token_file.write_text("tok-from-file")

    def envbox_sees(**env: str) -> str:
        command = [
            "/bin/sh",
            "-c",
            ENVBOX_TOKEN_FROM_FILE,
            "envbox",
            "/bin/sh",
            "-c",
            'echo "${CODER_AGENT_TOKEN-unset}"',
        ]
        result = subprocess.run(
            command, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, check=True
        )
        return result.stdout.strip()

    assert envbox_sees(CODER_AGENT_TOKEN_FILE=str(token_file)) == "tok-from-file"
    assert envbox_sees(CODER_AGENT_TOKEN="from-secret-ref", CODER_AGENT_TOKEN_FILE=str(token_file)) == "from-secret-ref"
    assert envbox_sees() == "unset"  # no agent: nothing set, envbox still runs
