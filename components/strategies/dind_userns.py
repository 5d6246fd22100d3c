"""dind-userns: rootless dockerd in an unprivileged workspace whose own user namespace makes it safe.

On Kubernetes the pod gets `hostUsers: false` (its uids are not the node's) and `procMount: Unmasked`
(rootless dockerd writes /proc/sys/net/ipv4/ip_forward in its network namespace, and nested containers
mount a fresh /proc, which a masked /proc forbids); the API admits Unmasked only with hostUsers false.
No privileged flag, no capability added, seccomp filtered by the shipped `rootless-engines` profile,
/dev/net/tun from a device plugin. The image's /etc/subuid range must fit in the pod's 65536 ids
(e.g. coder:1001:64535). Security: medium (an unmasked /proc), Pod Security baseline from policy v1.35.
"""

from ..strategy import Strategy
from .spec import (
    ROOTLESS_ENGINES_PROFILE,
    ROOTLESS_UID,
    DaemonSpec,
    Device,
    ProcMount,
    Seccomp,
    StrategyOptions,
    WorkspacePlan,
    workspace_with_own_daemon,
)

STRATEGY = Strategy.DIND_USERNS

RUNTIME_DIR = f"/run/user/{ROOTLESS_UID}"


def plan(options: StrategyOptions) -> WorkspacePlan:
    daemon = DaemonSpec(
        rootless=True,
        socket=f"{RUNTIME_DIR}/docker.sock",
        data_root=f"{options.home_path}/.local/share/docker",
    )
    return workspace_with_own_daemon(
        STRATEGY,
        options,
        daemon,
        env=(("XDG_RUNTIME_DIR", RUNTIME_DIR),),
        run_as_user=ROOTLESS_UID,
        user_namespace=True,
        proc_mount=ProcMount.UNMASKED,
        seccomp=Seccomp.LOCALHOST,
        seccomp_profile=ROOTLESS_ENGINES_PROFILE,
        devices=(Device.TUN,),
    )
