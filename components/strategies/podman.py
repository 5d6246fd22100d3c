"""podman: rootless Podman as uid 1000 in an unprivileged workspace, serving its Docker-compatible API.

No privileged flag and no capability added: Podman makes its own user namespace from the image's
/etc/subuid range (newuidmap with file capabilities). What the container needs instead (tests/e2e/FINDINGS.md):
a seccomp profile that lets an unprivileged user create user namespaces and mount in them (the shipped
`rootless-engines` profile, still a filter), and /dev/net/tun for slirp4netns. The docker CLI and Compose
talk to `podman system service` at DOCKER_HOST.
"""

from ..strategy import Strategy
from .spec import (
    ROOTLESS_RUNTIME_DIR,
    DaemonKind,
    DaemonSpec,
    StrategyOptions,
    VolumeMount,
    VolumeSpec,
    WorkspacePlan,
    home_volume,
    unprivileged_engine,
)

STRATEGY = Strategy.PODMAN

CONFIG_DIR = f"{ROOTLESS_RUNTIME_DIR}/docker-in-workspaces"
"""Where the start script writes Podman's configuration (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF), so that
every `podman` in the workspace reads the same."""
STORAGE_VOLUME = "podman"


def plan(options: StrategyOptions) -> WorkspacePlan:
    daemon = DaemonSpec(
        kind=DaemonKind.PODMAN,
        socket=f"{ROOTLESS_RUNTIME_DIR}/podman/podman.sock",
        data_root=f"{options.home_path}/.local/share/containers",
    )
    home, home_mount = home_volume(options)
    storage = VolumeSpec(STORAGE_VOLUME, "rootless Podman's images, containers and volumes")
    config = (
        ("CONTAINERS_CONF", f"{CONFIG_DIR}/containers.conf"),
        ("CONTAINERS_STORAGE_CONF", f"{CONFIG_DIR}/storage.conf"),
    )
    mounts = (VolumeMount(STORAGE_VOLUME, daemon.data_root), home_mount)
    workspace = unprivileged_engine(options, daemon, mounts, config)
    return WorkspacePlan(STRATEGY, daemon.docker_host, (workspace,), (storage, home))
