"""dind-rootless: dockerd under rootlesskit as uid 1000. Security: medium.

The container is still privileged (docker-library's rootless image and the seeds
say so: rootlesskit needs to create namespaces and mounts), but the daemon and
the workload run as an unprivileged user.
"""

from ..strategy import Strategy
from .spec import ROOTLESS_UID, DaemonKind, DaemonSpec, StrategyOptions, WorkspacePlan, workspace_with_own_daemon

STRATEGY = Strategy.DIND_ROOTLESS

RUNTIME_DIR = f"/run/user/{ROOTLESS_UID}"


def plan(options: StrategyOptions) -> WorkspacePlan:
    daemon = DaemonSpec(
        kind=DaemonKind.ROOTLESS,
        socket=f"{RUNTIME_DIR}/docker.sock",
        data_root=f"{options.home_path}/.local/share/docker",
    )
    return workspace_with_own_daemon(
        STRATEGY,
        options,
        daemon,
        env=(("XDG_RUNTIME_DIR", RUNTIME_DIR),),
        privileged=True,
        run_as_user=ROOTLESS_UID,
    )
