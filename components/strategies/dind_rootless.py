"""dind-rootless: dockerd under rootlesskit as uid 1000. Security: medium.

The container is still privileged (docker-library's rootless image and the seeds
say so: rootlesskit needs to create namespaces and mounts), but the daemon and
the workload run as an unprivileged user.
"""

from ..strategy import Strategy
from .spec import (
    ROOTLESS_UID,
    WORKSPACE,
    ContainerSpec,
    DaemonSpec,
    StrategyOptions,
    WorkspacePlan,
    data_root_volume,
    home_volume,
)

STRATEGY = Strategy.DIND_ROOTLESS

RUNTIME_DIR = f"/run/user/{ROOTLESS_UID}"


def plan(options: StrategyOptions) -> WorkspacePlan:
    home, home_mount = home_volume(options)
    data, data_mount = data_root_volume(f"{options.home_path}/.local/share/docker")
    daemon = DaemonSpec(rootless=True, socket=f"{RUNTIME_DIR}/docker.sock", data_root=data_mount.path)
    workspace = ContainerSpec(
        role=WORKSPACE,
        privileged=True,
        run_as_user=ROOTLESS_UID,
        mounts=(data_mount, home_mount),
        env=(("XDG_RUNTIME_DIR", RUNTIME_DIR), ("DOCKER_HOST", daemon.docker_host)),
        daemon=daemon,
    )
    return WorkspacePlan(STRATEGY, daemon.docker_host, (workspace,), (data, home))
