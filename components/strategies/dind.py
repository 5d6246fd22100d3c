"""dind: dockerd runs inside the privileged workspace container. Security: low."""

from ..strategy import Strategy
from .spec import (
    HOST_DOCKER_SOCKET,
    WORKSPACE,
    ContainerSpec,
    DaemonSpec,
    StrategyOptions,
    WorkspacePlan,
    data_root_volume,
    home_volume,
)

STRATEGY = Strategy.DIND


def plan(options: StrategyOptions) -> WorkspacePlan:
    home, home_mount = home_volume(options)
    data, data_mount = data_root_volume("/var/lib/docker")
    daemon = DaemonSpec(
        rootless=False,
        socket=HOST_DOCKER_SOCKET,
        data_root=data_mount.path,
        socket_gid=options.daemon_socket_gid,
    )
    workspace = ContainerSpec(
        role=WORKSPACE,
        privileged=True,
        mounts=(data_mount, home_mount),
        env=(("DOCKER_HOST", daemon.docker_host),),
        daemon=daemon,
    )
    return WorkspacePlan(STRATEGY, daemon.docker_host, (workspace,), (data, home))
