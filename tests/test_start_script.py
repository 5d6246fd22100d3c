"""The start script, run for real with a fake `dockerd`/`docker` on PATH."""

import os
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

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


@pytest.fixture
def fake(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in {"dockerd": FAKE_DOCKERD, "dockerd-rootless.sh": FAKE_DOCKERD, "docker": FAKE_DOCKER}.items():
        path = bin_dir / name
        path.write_text(body)
        path.chmod(0o755)
    script = tmp_path / "start-docker.sh"
    script.write_text(start_script())
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
        DIW_DOCKERD_DATA_ROOT="/var/lib/docker",
        DIW_DOCKERD_ADDRESS_POOL="base=10.201.0.0/16,size=24",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "workload-ran-after-ready"
    assert dockerd_args(fake) == [
        f"--host=unix://{fake}/run/docker.sock",
        "--data-root=/var/lib/docker",
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


def test_none_mode_execs_at_once(fake):
    result = start(fake, "echo", "ok", DIW_DOCKERD_MODE="none")
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
    result = start(fake, "true", DIW_DOCKERD_ADDRESS_POOL=hostile, DIW_DOCKERD_DATA_ROOT=f"/data; touch {fake}/pwned2")
    assert result.returncode == 0, result.stderr
    assert f"--default-address-pool={hostile}" in dockerd_args(fake)
    assert f"--data-root=/data; touch {fake}/pwned2" in dockerd_args(fake)
    assert not (fake / "pwned").exists() and not (fake / "pwned2").exists()


def test_script_is_posix_sh():
    # dash is Debian's /bin/sh: parse-only check, plus shellcheck when available.
    result = subprocess.run(["/bin/sh", "-n", "-c", start_script()], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert textwrap.dedent(start_script()).startswith("#!/bin/sh\n")
