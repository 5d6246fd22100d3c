"""envbox: Coder's envbox image runs Sysbox and dockerd in a privileged outer container, and the workspace
as an unprivileged Sysbox container (`workspace_cvm`) inside it. Security: low (the outer container).

Facts from coder/envbox 0.6.7 (cli/docker.go, dockerutil/container.go) and Coder's template
(coder/coder examples/templates/envbox/main.tf):
- the outer container runs `/envbox docker`, which starts sysbox-mgr, sysbox-fs and its own dockerd
  (`--userns-remap=coder`, data root /var/lib/docker), pulls CODER_INNER_IMAGE and creates the inner
  container with runtime sysbox-runc, user root, entrypoint `sleep infinity` (or /sbin/init if the image
  has it), then runs CODER_BOOTSTRAP_SCRIPT in it with `/bin/sh -s` as CODER_INNER_USERNAME's uid;
- it always bind-mounts /var/lib/coder/docker and /var/lib/coder/containers of the outer container as the
  inner /var/lib/docker and /var/lib/containers; CODER_MOUNTS (`src:dst[:ro]`, comma-separated) adds more,
  and chowns each source to 100000 + uid: the image user's uid for a directory directly under /home/ (or
  /root), root's otherwise;
- Coder's template: privileged, /var/lib/sysbox an emptyDir, /usr/src and /lib/modules from the node,
  CODER_CPUS / CODER_MEMORY from the container's limits (Downward API).
The workspace's own Docker is a dockerd inside the inner container, started by the bootstrap script
(the start script, as for the other strategies), with its data root on the `docker` volume.
"""

from typing import Literal

from ..strategy import Strategy
from .spec import (
    DEFAULT_SYSBOX_RUNTIME,
    HOST_DOCKER_SOCKET,
    WORKSPACE,
    ContainerSpec,
    DaemonKind,
    DaemonSpec,
    HostPathMount,
    NestedContainer,
    StrategyError,
    StrategyOptions,
    VolumeMount,
    VolumeSpec,
    WorkspacePlan,
    home_volume,
)

STRATEGY = Strategy.ENVBOX

INNER_CONTAINER_NAME = "workspace_cvm"
"""envbox's name for the inner container (cli/docker.go InnerContainerName)."""
OUTER_PROGRAM = ("/envbox", "docker")
INNER_DOCKER_SOURCE = "/var/lib/coder/docker"
"""Outer path envbox mounts as the inner container's /var/lib/docker."""
INNER_CONTAINERS_SOURCE = "/var/lib/coder/containers"
"""Outer path envbox mounts as the inner container's /var/lib/containers (podman / buildah storage)."""
OUTER_DATA_ROOT = "/var/lib/docker"
SYSBOX_STATE = "/var/lib/sysbox"
HOST_PATHS = ("/usr/src", "/lib/modules")
"""Kernel headers and modules Sysbox reads from the host (read-only, as in envbox's README)."""
LIMITS_ENV: tuple[tuple[str, Literal["cpu", "memory"]], ...] = (("CODER_CPUS", "cpu"), ("CODER_MEMORY", "memory"))
"""envbox gives the inner container these CPUs (whole) and bytes of memory."""


def _check(options: StrategyOptions) -> None:
    home = options.home_path
    # envbox gives the inner user only a mount directly under /home/ (or /root); any other path it
    # chowns to the inner root, and the user could not write its own home.
    parent, _, leaf = home.rstrip("/").rpartition("/")
    if not ((parent == "/home" and leaf) or home == "/root") or any(c in home for c in ",:"):
        raise StrategyError(
            "home_path",
            f"envbox makes the inner user own its home only at /home/<name> or /root, got {home!r}",
        )


def plan(options: StrategyOptions) -> WorkspacePlan:
    _check(options)
    home, home_mount = home_volume(options)
    docker = VolumeSpec("docker", "the workspace's dockerd data root (the inner container's /var/lib/docker)")
    containers = VolumeSpec("containers", "the inner container's /var/lib/containers (podman, buildah)")
    outer_data = VolumeSpec("envbox", "envbox's own dockerd: the pulled workspace image and the inner container")
    sysbox = VolumeSpec("sysbox", "Sysbox's state in the outer container", persistent=False)
    daemon = DaemonSpec(
        kind=DaemonKind.ROOTFUL,
        socket=HOST_DOCKER_SOCKET,
        data_root="/var/lib/docker",  # inside the inner container: the `docker` volume, through envbox's bind
        socket_gid=options.daemon_socket_gid,
    )
    inner = ContainerSpec(
        role=WORKSPACE,
        runtime=DEFAULT_SYSBOX_RUNTIME,  # envbox's own, whatever the host has
        user_namespace=True,  # sysbox-runc: the inner root is uid 100000 (envbox's fixed offset) outside
        mounts=(
            VolumeMount(docker.key, "/var/lib/docker"),
            VolumeMount(containers.key, "/var/lib/containers"),
            home_mount,
        ),
        env=(("DOCKER_HOST", daemon.docker_host),),
        daemon=daemon,
    )
    outer_daemon = DaemonSpec(kind=DaemonKind.ROOTFUL, socket=HOST_DOCKER_SOCKET, data_root=OUTER_DATA_ROOT)
    outer = ContainerSpec(
        role=WORKSPACE,
        image=options.envbox_image,
        privileged=True,  # envbox's requirement: it runs sysbox-mgr, sysbox-fs and dockerd
        mounts=(
            VolumeMount(docker.key, INNER_DOCKER_SOURCE),
            VolumeMount(containers.key, INNER_CONTAINERS_SOURCE),
            VolumeMount(outer_data.key, OUTER_DATA_ROOT),
            VolumeMount(sysbox.key, SYSBOX_STATE),
            home_mount,
        ),
        host_paths=tuple(HostPathMount(path, path) for path in HOST_PATHS),
        host_cgroup_namespace=True,  # envbox's README, troubleshooting: "cgroup.procs: operation not supported"
        env=(
            ("CODER_INNER_USERNAME", options.inner_username),
            ("CODER_MOUNTS", f"{home_mount.path}:{home_mount.path}"),
            ("CODER_ADD_FUSE", str(options.add_fuse).lower()),
            ("CODER_ADD_TUN", str(options.add_tun).lower()),
        ),
        nested=NestedContainer(
            spec=inner,
            program=OUTER_PROGRAM,
            ready_command=("docker", "exec", INNER_CONTAINER_NAME, "docker", "info"),
            outer_daemon=outer_daemon,
            limits_env=LIMITS_ENV,
        ),
    )
    return WorkspacePlan(STRATEGY, daemon.docker_host, (outer,), (docker, containers, home, outer_data, sysbox))
