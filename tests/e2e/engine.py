"""Helpers for end-to-end tests against the private Docker engine.

The engine is the one `.ci/dockerd.sh start` runs (socket in
``$DIW_DOCKERD_DIR``, default ``/tmp/diw-dockerd``); the images are the ones
``tests/e2e/images/build.sh`` prepared: pulled public images where a registry
answered, else local builds (the role map is ``images.py``). Uses the Docker
SDK for Python (7.x).

This machine's kernel lacks CAP_SYS_RESOURCE in the bounding set, so
``privileged=True`` fails with "unable to apply caps".
:func:`privileged_equivalent_host_config_kwargs` returns what comes closest
(see tests/e2e/FINDINGS.md for the recipe and what each part is for).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

import docker
import docker.errors
import images
from docker.models.containers import _create_container_args
from docker.types import Mount

# Which images, by role: the public ones where build.sh found a registry, else the local builds (images.py).
SELECTION = images.selected()
WORKSPACE_IMAGE = SELECTION.name("workspace")
BUSYBOX_IMAGE = SELECTION.name("busybox")
DOCKER_ONLY_IMAGE = SELECTION.name("docker-only")
"""codercom/enterprise-base itself, or shaped like it: dockerd and the CLI, none of the rootless extras."""

# Linux capability numbers (include/uapi/linux/capability.h), index = bit.
CAPABILITIES = (
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
    "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK "
    "IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN "
    "SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE "
    "AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND "
    "AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE"
).split()

# Devices a nested daemon uses: fuse-overlayfs (/dev/fuse), slirp4netns and
# rootlesskit (/dev/net/tun).
NESTED_DEVICES = ("/dev/fuse", "/dev/net/tun")

_CAPS_ERROR = re.compile(r"unable to apply caps", re.I)


# --- where things are -------------------------------------------------------


def http_get_until_it_answers(url: str, tries: int = 20) -> str:
    """A shell loop that GETs `url` until it answers, as a developer retries a port just published. Each try is
    bounded (connect 2 s, whole request 4 s), so one dropped SYN costs seconds, not curl's own connect timeout
    (about 130 s). On this machine's private engine (--iptables=false: the userland proxy publishes), a port that
    Compose publishes from a new network on dood drops connections from the workspace for about 40 s in 3 of 4
    runs (tests/e2e/FINDINGS.md). At most `tries` x 5 s: by default 100 s, within the 120 s that the exec helpers
    allow a command."""
    return (
        f'for i in $(seq {tries}); do curl -fsS --connect-timeout 2 --max-time 4 "{url}" && exit 0; sleep 1; done; '
        "exit 1"
    )


def state_dir() -> Path:
    """The private daemon's state dir (``$DIW_DOCKERD_DIR``, default /tmp/diw-dockerd)."""
    return Path(os.environ.get("DIW_DOCKERD_DIR", "/tmp/diw-dockerd"))


def docker_host() -> str:
    """``$DOCKER_HOST`` if set, else the private daemon's socket."""
    return os.environ.get("DOCKER_HOST") or f"unix://{state_dir() / 'docker.sock'}"


def socket_path() -> Optional[Path]:
    """The daemon's unix socket on this machine, or None for a tcp:// host."""
    host = docker_host()
    return Path(host[len("unix://") :]) if host.startswith("unix://") else None


def cache_dir() -> Path:
    """Where build.sh keeps rootfs tarballs, the busybox image tar and the images record."""
    return images.cache_dir()


def busybox_tar() -> Path:
    """`docker save` of the busybox role's image, to `docker load` in a nested daemon."""
    return cache_dir() / "busybox.tar"


def client(timeout: int = 120, base_url: Optional[str] = None) -> docker.DockerClient:
    """A client of the private daemon (or of ``$DOCKER_HOST``, or of `base_url`); pings it."""
    url = base_url or docker_host()
    c = docker.DockerClient(base_url=url, timeout=timeout)
    c.ping()
    c.diw_base_url = url  # type: ignore[attr-defined]  # docker-py keeps only its transport's URL
    return c


def base_url_of(c: docker.DockerClient) -> str:
    """The URL `c` was made with (by :func:`client`), to open another connection to that engine."""
    return getattr(c, "diw_base_url", None) or docker_host()


def role_present(c: docker.DockerClient, role: str) -> bool:
    try:
        c.images.get(SELECTION.name(role))
    except docker.errors.ImageNotFound:
        return False
    return True


def require_role(c: docker.DockerClient, role: str) -> str:
    """The image of `role`, or skip the test saying why (a failure under DIW_E2E_REQUIRED=1)."""
    import pytest

    name = SELECTION.name(role)
    try:
        c.images.get(name)
    except docker.errors.ImageNotFound:
        reason = f"image {name} ({role}) is not on the engine: run `bash tests/e2e/images/build.sh`"
        if os.environ.get("DIW_E2E_REQUIRED") == "1":
            pytest.fail(f"e2e required but {reason}")
        pytest.skip(reason)
    return name


def apparmor_enabled() -> bool:
    """Whether this host (node) enforces AppArmor: then Docker gives containers its `docker-default` profile."""
    try:
        return Path("/sys/module/apparmor/parameters/enabled").read_text().strip() == "Y"
    except OSError:
        return False


def unprivileged_engine_args() -> dict[str, str]:
    """What the podman and dind-userns workspaces need from this host's e2e: on an AppArmor host the runtime's
    default profile denies the mounts rootless engines make (FINDINGS.md), so `app_armor_profile: Unconfined`
    (printed, as every such deviation is)."""
    if not apparmor_enabled():
        return {}
    print("\n[e2e] this host enforces AppArmor: podman/dind-userns workspaces get app_armor_profile Unconfined")
    return {"app_armor_profile": "Unconfined"}


USERNS_DOCKER_HOST_ENV = "DIW_E2E_USERNS_DOCKER_HOST"
"""A second private engine started with --userns-remap (`.ci/dockerd.sh` with DIW_DOCKERD_USERNS_REMAP): where the
pod runner runs pods with `hostUsers: false`."""


def userns_remapped(c: docker.DockerClient) -> bool:
    """Whether the engine maps every container's root to subordinate ids (dockerd --userns-remap)."""
    return any("name=userns" in option for option in c.info().get("SecurityOptions") or [])


def userns_client(timeout: int = 120) -> tuple[Optional[docker.DockerClient], str]:
    """A client of the user-namespaced engine at $DIW_E2E_USERNS_DOCKER_HOST, or None and why not."""
    host = os.environ.get(USERNS_DOCKER_HOST_ENV)
    if not host:
        return None, (
            f"{USERNS_DOCKER_HOST_ENV} is not set (a second private engine with --userns-remap stands in for a node "
            "with user namespaces: DIW_DOCKERD_USERNS_REMAP=<user> bash .ci/dockerd.sh start, see docs/ci.md)"
        )
    try:
        c = client(timeout=timeout, base_url=host)
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        return None, f"no Docker engine at {host} ({exc})"
    if not userns_remapped(c):
        return None, f"the engine at {host} does not run with --userns-remap"
    return c, ""


def copy_images(source: docker.DockerClient, target: docker.DockerClient, names: list[str]) -> list[str]:
    """`docker save | docker load` of the images `target` lacks (engines with their own data roots); the copied."""
    copied = []
    for name in names:
        try:
            target.images.get(name)
            continue
        except docker.errors.ImageNotFound:
            pass
        target.images.load(b"".join(source.images.get(name).save(named=True)))
        copied.append(name)
    return copied


def missing_images(c: docker.DockerClient) -> list[str]:
    """The images every e2e run needs (images.REQUIRED roles) that this daemon lacks, and a missing busybox.tar."""
    missing = []
    for name in sorted({SELECTION.name(role) for role in images.REQUIRED}):
        try:
            c.images.get(name)
        except docker.errors.ImageNotFound:
            missing.append(name)
    if not busybox_tar().exists():
        missing.append(str(busybox_tar()))
    return missing


def images_present(c: docker.DockerClient) -> bool:
    """True when build.sh has prepared every image the e2e tests need in this daemon."""
    return not missing_images(c)


# --- privileged, or the closest thing to it ---------------------------------


def _daemon_pid() -> Optional[int]:
    sock = socket_path()
    if sock is None:
        return None
    try:
        return int((sock.parent / "dockerd.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def bounding_capabilities() -> list[str]:
    """Capability names in the daemon's bounding set.

    Read from /proc of the daemon process when it is this machine's private
    daemon, else from this process (same kernel when the socket is local).
    """
    pid = _daemon_pid()
    for status in ([f"/proc/{pid}/status"] if pid else []) + ["/proc/self/status"]:
        try:
            for line in Path(status).read_text().splitlines():
                if line.startswith("CapBnd:"):
                    mask = int(line.split()[1], 16)
                    return [n for i, n in enumerate(CAPABILITIES) if mask >> i & 1]
        except OSError:
            continue
    return list(CAPABILITIES)


def _try_start(c: docker.DockerClient, image: str, **kwargs: Any) -> Optional[str]:
    """Create and start `true` in a throwaway container; None or the error text."""
    container = None
    try:
        container = c.containers.create(image, ["true"], labels={"diw.e2e": "probe"}, **kwargs)
        container.start()
        result = container.wait(timeout=60)
        if result.get("StatusCode", 1) != 0:
            return f"probe exited {result.get('StatusCode')}"
        return None
    except docker.errors.APIError as exc:
        return str(exc.explanation or exc)
    finally:
        if container is not None:
            try:
                container.remove(force=True)
            except docker.errors.APIError:
                pass


_PROBES: dict[tuple[str, str, str], Any] = {}


def _cached(kind: str, c: docker.DockerClient, image: str, fn):
    key = (kind, c.api.base_url, image)
    if key not in _PROBES:
        _PROBES[key] = fn()
    return _PROBES[key]


def privileged_error(c: docker.DockerClient, image: str = WORKSPACE_IMAGE) -> Optional[str]:
    """The daemon's error for a `--privileged` container, None when it starts (cached)."""
    return _cached("privileged", c, image, lambda: _try_start(c, image, privileged=True))


def privileged_works(c: docker.DockerClient, image: str = WORKSPACE_IMAGE) -> bool:
    """Whether `--privileged` containers start on this daemon (probed once per daemon)."""
    return privileged_error(c, image) is None


def cap_drop_needed(c: docker.DockerClient, image: str = WORKSPACE_IMAGE) -> tuple[str, ...]:
    """Capabilities to drop from ALL so that a container starts here (cached)."""
    return _cached("cap_drop", c, image, lambda: _find_cap_drop(c, image))


def _find_cap_drop(c: docker.DockerClient, image: str) -> tuple[str, ...]:
    """Capabilities to drop from ALL so that a container starts here."""
    bounding = set(bounding_capabilities())
    drop = [n for n in CAPABILITIES if n not in bounding]
    err = _try_start(c, image, cap_add=["ALL"], cap_drop=drop or None)
    if err is None or not _CAPS_ERROR.search(err):
        return tuple(drop)
    # The bounding set we read is not the daemon's: find the culprits one by one.
    for name in CAPABILITIES:
        if name in drop:
            continue
        if _try_start(c, image, cap_add=["ALL"], cap_drop=drop + [name]) is None:
            return tuple(drop + [name])
    for name in CAPABILITIES:  # several missing: drop greedily
        if name not in drop:
            drop.append(name)
            if _try_start(c, image, cap_add=["ALL"], cap_drop=drop) is None:
                return tuple(drop)
    raise RuntimeError(f"no capability set starts a container here: {err}")


def privileged_equivalent_host_config_kwargs(c: docker.DockerClient, image: str = WORKSPACE_IMAGE) -> dict[str, Any]:
    """kwargs for ``containers.run/create``: `privileged`, or its closest equivalent.

    When `privileged=True` works, that is returned. Otherwise (this machine):
    every capability of the daemon's bounding set (``cap_add=["ALL"]`` minus
    what the kernel lacks), seccomp/AppArmor/SELinux labels off, all device
    cgroup access plus /dev/fuse and /dev/net/tun, the host's /sys/fs/cgroup
    bind-mounted read-write with the host cgroup namespace (what a privileged
    container gets on cgroup v1), and net.ipv4.ip_forward=1 in the container's
    network namespace. Differences from privileged that remain: /sys is
    read-only, CAP_SYS_RESOURCE is missing, host devices other than the two
    above are not created in /dev, and /proc/sys stays read-only unless the
    extra HostConfig fields below are added.

    Callers add their own ``volumes=`` (e.g. a named volume at /var/lib/docker);
    ``mounts`` here only carries the cgroup bind, so extend it, don't replace it.

    Not expressible as SDK kwargs: the CLI's ``--security-opt
    systempaths=unconfined`` (empty MaskedPaths/ReadonlyPaths, i.e. writable
    /proc/sys and unmasked /proc paths). Rootful dockerd copes without it (the
    sysctl below turns forwarding on); rootless (rootlesskit) does not. Use
    :func:`privileged_equivalent_host_config_extra` with :func:`run_container`,
    or :func:`run_privileged_equivalent` which merges both.
    """
    if privileged_works(c, image):
        return {"privileged": True}
    drop = list(cap_drop_needed(c, image))
    kwargs: dict[str, Any] = {
        "cap_add": ["ALL"],
        "security_opt": [
            "seccomp=unconfined",
            "apparmor=unconfined",
            "label=disable",
        ],
        "device_cgroup_rules": ["a *:* rwm"],
        "devices": [f"{d}:{d}:rwm" for d in NESTED_DEVICES if os.path.exists(d)],
        "cgroupns": "host",
        # /proc/sys is read-only without privileged; dockerd wants forwarding on.
        "sysctls": {"net.ipv4.ip_forward": "1"},
        "mounts": [Mount("/sys/fs/cgroup", "/sys/fs/cgroup", type="bind", read_only=False)],
    }
    if drop:
        kwargs["cap_drop"] = drop
    return kwargs


# The CLI's `--security-opt systempaths=unconfined`, as HostConfig fields.
UNMASK_SYSTEM_PATHS: dict[str, Any] = {"MaskedPaths": [], "ReadonlyPaths": []}


def privileged_equivalent_host_config_extra(c: docker.DockerClient, image: str = WORKSPACE_IMAGE) -> dict[str, Any]:
    """Raw HostConfig fields to add (see :func:`create_container`): {} if privileged works."""
    return {} if privileged_works(c, image) else dict(UNMASK_SYSTEM_PATHS)


def create_container(
    c: docker.DockerClient,
    image: str,
    command: Any = None,
    *,
    host_config_extra: Optional[dict[str, Any]] = None,
    **kwargs: Any,
):
    """``c.containers.create`` that can also set raw HostConfig fields.

    The SDK has no kwarg for MaskedPaths/ReadonlyPaths (the CLI's
    systempaths=unconfined); this builds the request as the SDK does and adds
    `host_config_extra` to its HostConfig.
    """
    kwargs.update(image=image, command=command, version=c.api._version)
    create_kwargs = _create_container_args(kwargs)
    if host_config_extra:
        create_kwargs["host_config"].update(host_config_extra)
    resp = c.api.create_container(**create_kwargs)
    return c.containers.get(resp["Id"])


def run_container(c: docker.DockerClient, image: str, command: Any = None, **kwargs: Any):
    """:func:`create_container` then start (detached); returns the Container."""
    ctr = create_container(c, image, command, **kwargs)
    try:
        ctr.start()
    except docker.errors.APIError:
        ctr.remove(force=True)
        raise
    return ctr


def run_privileged_equivalent(c: docker.DockerClient, image: str, command: Any = None, **kwargs: Any):
    """Start a container as privileged as this host permits, plus `kwargs`.

    `mounts` in `kwargs` are added to the cgroup bind; `security_opt`,
    `devices` and `cap_drop` are merged as well.
    """
    merged = dict(privileged_equivalent_host_config_kwargs(c, image))
    for key in ("mounts", "security_opt", "devices", "cap_add", "cap_drop", "device_cgroup_rules"):
        if key in kwargs:
            merged[key] = list(merged.get(key, [])) + list(kwargs.pop(key))
    if "sysctls" in kwargs:
        merged["sysctls"] = {**merged.get("sysctls", {}), **kwargs.pop("sysctls")}
    merged.update(kwargs)
    extra = privileged_equivalent_host_config_extra(c, image)
    return run_container(c, image, command, host_config_extra=extra, **merged)


# --- running things in containers -------------------------------------------


def exec_run(
    container,
    cmd: Iterable[str] | str,
    user: str = "",
    environment: Optional[dict] = None,
    timeout: Optional[float] = None,
) -> tuple[int, str]:
    """Run `cmd` in a running container; (exit code, stdout+stderr as text).

    With `timeout`, the command runs under coreutils' `timeout` in the container.
    """
    if isinstance(cmd, str):
        cmd = ["sh", "-c", cmd]
    cmd = list(cmd)
    if timeout is not None:
        cmd = ["timeout", str(int(timeout))] + cmd
    res = container.exec_run(cmd, user=user, environment=environment or {}, demux=False)
    return res.exit_code, (res.output or b"").decode(errors="replace")


def wait_for_docker(
    container, docker_host_in_container: str = "", user: str = "", timeout: float = 60.0, interval: float = 0.5
) -> float:
    """Wait until `docker info` answers inside `container`; seconds it took.

    Raises TimeoutError with the last output (and the container's log tail).
    """
    env = {"DOCKER_HOST": docker_host_in_container} if docker_host_in_container else {}
    start = time.monotonic()
    out = ""
    while time.monotonic() - start < timeout:
        container.reload()
        if container.status not in ("running", "restarting"):
            out = f"container {container.status}: {container.attrs['State']}"
            break
        if container.status == "restarting":  # its restart policy is at work: wait for the next start
            out = f"container restarting: {container.attrs['State']}"
        else:
            try:
                code, out = exec_run(container, ["docker", "info"], user=user, environment=env, timeout=15)
            except docker.errors.APIError as exc:  # stopped between reload and exec
                code, out = -1, str(exc)
            if code == 0:
                return time.monotonic() - start
        time.sleep(interval)
    logs = container.logs(tail=40).decode(errors="replace")
    raise TimeoutError(f"docker info did not answer in {container.name}: {out[-2000:]}\n--- logs\n{logs}")


def remove_labelled(c: docker.DockerClient, label: str = "diw.e2e") -> None:
    """Force-remove containers (then volumes) carrying `label`, e.g. after a test."""
    for ctr in c.containers.list(all=True, filters={"label": label}):
        try:
            ctr.remove(force=True, v=True)
        except docker.errors.APIError:
            pass
    for vol in c.volumes.list(filters={"label": label}):
        try:
            vol.remove(force=True)
        except docker.errors.APIError:
            pass


def plain_start_seconds(c: docker.DockerClient, repeat: int, image: Optional[str] = None) -> float:
    """The benchmarks' baseline: a plain container of the workspace image (or `image`), from start until an exec
    in it works (median of `repeat`)."""
    import statistics

    samples = []
    for _ in range(repeat):
        container = c.containers.create(image or WORKSPACE_IMAGE, ["sleep", "infinity"], labels={"diw.e2e": "1"})
        try:
            started = time.monotonic()
            container.start()
            while exec_run(container, ["true"])[0] != 0:
                time.sleep(0.05)
            samples.append(time.monotonic() - started)
        finally:
            container.remove(force=True)
    return statistics.median(samples)
