"""dood: the host's Docker socket is mounted into the workspace. Security: none."""

import dataclasses

from ..strategy import Strategy
from .spec import (
    HOST_DOCKER_SOCKET,
    WORKSPACE,
    ContainerSpec,
    HostSocketMount,
    StrategyError,
    StrategyOptions,
    WorkspacePlan,
    home_volume,
)

STRATEGY = Strategy.DOOD


def plan(options: StrategyOptions) -> WorkspacePlan:
    if options.docker_socket_gid is None:
        raise StrategyError(
            "docker_socket_gid",
            "dood needs the GID that owns the host's Docker socket, so the workspace user can use it; "
            "set it (`stat -c %g /var/run/docker.sock` on the host)",
        )
    home, home_mount = home_volume(options)
    # The host's daemon resolves `docker run -v <path>` on the host: the home must be found there too.
    home_mount = dataclasses.replace(home_mount, host_visible=True)
    docker_host = f"unix://{HOST_DOCKER_SOCKET}"
    workspace = ContainerSpec(
        role=WORKSPACE,
        host_sockets=(HostSocketMount(HOST_DOCKER_SOCKET, HOST_DOCKER_SOCKET),),
        supplemental_groups=(options.docker_socket_gid,),
        mounts=(home_mount,),
        env=(("DOCKER_HOST", docker_host),),
        nested_ports_on_localhost=False,
    )
    return WorkspacePlan(STRATEGY, docker_host, (workspace,), (home,))
