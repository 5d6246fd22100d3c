"""sysbox: the sysbox-runc runtime runs the workspace as a system container. Security: high.

No privileged flag: sysbox gives the container its own user namespace, so root
inside is an unprivileged user on the host, and dockerd runs inside as "root".
"""

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

STRATEGY = Strategy.SYSBOX


def plan(options: StrategyOptions) -> WorkspacePlan:
    home, home_mount = home_volume(options)
    # Its own volume, never the host's /var/lib/docker.
    data, data_mount = data_root_volume("/var/lib/docker")
    daemon = DaemonSpec(
        rootless=False,
        socket=HOST_DOCKER_SOCKET,
        data_root=data_mount.path,
        socket_gid=options.daemon_socket_gid,
    )
    workspace = ContainerSpec(
        role=WORKSPACE,
        runtime=options.runtime,
        user_namespace=True,
        mounts=(data_mount, home_mount),
        env=(("DOCKER_HOST", daemon.docker_host),),
        daemon=daemon,
    )
    return WorkspacePlan(STRATEGY, daemon.docker_host, (workspace,), (data, home))
