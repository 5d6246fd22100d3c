"""dind-sidecar: a privileged daemon container beside an unprivileged workspace. Security: low.

The workspace can drive a privileged daemon, so it is no safer than dind, but the
workspace's own processes are unprivileged and run as uid 1000.
"""

from ..strategy import Strategy
from .spec import (
    DAEMON,
    ROOTLESS_UID,
    WORKSPACE,
    ContainerSpec,
    DaemonKind,
    DaemonSpec,
    StrategyOptions,
    VolumeMount,
    VolumeSpec,
    WorkspacePlan,
    data_root_volume,
    home_volume,
)

STRATEGY = Strategy.DIND_SIDECAR

SOCKET_DIR = "/var/run/dind"
"""Under /var/run, which Envbuilder leaves alone while it builds."""


def plan(options: StrategyOptions) -> WorkspacePlan:
    home, home_mount = home_volume(options)
    data, data_mount = data_root_volume("/var/lib/docker")
    socket = VolumeSpec("socket", "the daemon's socket, shared with the workspace", persistent=False)
    socket_mount = VolumeMount(socket.key, SOCKET_DIR)
    daemon = DaemonSpec(
        kind=DaemonKind.ROOTFUL,
        socket=f"{SOCKET_DIR}/docker.sock",
        data_root=data_mount.path,
        socket_gid=options.daemon_socket_gid,
    )
    sidecar = ContainerSpec(
        role=DAEMON,
        image=options.dind_image,
        privileged=True,
        # The daemon resolves `docker run -v <path>` in its own container: it mounts the workspace's
        # home at the same path, so a path under the home means the same on both sides.
        mounts=(data_mount, socket_mount, home_mount),
        env=(("DOCKER_HOST", daemon.docker_host),),
        daemon=daemon,
    )
    workspace = ContainerSpec(
        role=WORKSPACE,
        run_as_user=ROOTLESS_UID,
        supplemental_groups=(options.daemon_socket_gid,),
        mounts=(socket_mount, home_mount),
        env=(("DOCKER_HOST", daemon.docker_host),),
        waits_for=daemon.docker_host,
        joins_network_of=DAEMON,
    )
    return WorkspacePlan(STRATEGY, daemon.docker_host, (sidecar, workspace), (data, home, socket))
