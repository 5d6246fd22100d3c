"""dind: dockerd runs inside the privileged workspace container. Security: low."""

from ..strategy import Strategy
from .spec import HOST_DOCKER_SOCKET, DaemonKind, DaemonSpec, StrategyOptions, WorkspacePlan, workspace_with_own_daemon

STRATEGY = Strategy.DIND


def plan(options: StrategyOptions) -> WorkspacePlan:
    daemon = DaemonSpec(
        kind=DaemonKind.ROOTFUL,
        socket=HOST_DOCKER_SOCKET,
        data_root="/var/lib/docker",
        socket_gid=options.daemon_socket_gid,
    )
    return workspace_with_own_daemon(STRATEGY, options, daemon, privileged=True)
