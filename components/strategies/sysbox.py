"""sysbox: the sysbox-runc runtime runs the workspace as a system container. Security: high.

No privileged flag: sysbox gives the container its own user namespace, so root
inside is an unprivileged user on the host, and dockerd runs inside as "root".
"""

from ..strategy import Strategy
from .spec import HOST_DOCKER_SOCKET, DaemonKind, DaemonSpec, StrategyOptions, WorkspacePlan, workspace_with_own_daemon

STRATEGY = Strategy.SYSBOX


def plan(options: StrategyOptions) -> WorkspacePlan:
    daemon = DaemonSpec(
        kind=DaemonKind.ROOTFUL,
        socket=HOST_DOCKER_SOCKET,
        data_root="/var/lib/docker",  # its own volume, never the host's /var/lib/docker
        socket_gid=options.daemon_socket_gid,
    )
    return workspace_with_own_daemon(STRATEGY, options, daemon, runtime=options.runtime, user_namespace=True)
