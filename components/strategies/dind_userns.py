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
    ROOTLESS_RUNTIME_DIR,
    DaemonKind,
    DaemonSpec,
    ProcMount,
    StrategyOptions,
    VolumeMount,
    WorkspacePlan,
    data_root_volume,
    home_volume,
    unprivileged_engine,
)

STRATEGY = Strategy.DIND_USERNS


def plan(options: StrategyOptions) -> WorkspacePlan:
    volume_path = f"{options.home_path}/.local/share/docker"
    daemon = DaemonSpec(
        kind=DaemonKind.ROOTLESS,
        socket=f"{ROOTLESS_RUNTIME_DIR}/docker.sock",
        # A directory inside the volume, not its root: a fresh PVC's root is root's (group-writable with fsGroup),
        # and rootless dockerd must own its data root (it chmods it); an unprivileged image has no sudo to fix
        # that. The volume's root then keeps what fsGroup's OnRootMismatch expects, so the kubelet does not walk
        # the nested images on every start either.
        data_root=f"{volume_path}/data",
    )
    home, home_mount = home_volume(options)
    data, _ = data_root_volume(volume_path)
    mounts = (VolumeMount(data.key, volume_path), home_mount)
    workspace = unprivileged_engine(options, daemon, mounts, (), user_namespace=True, proc_mount=ProcMount.UNMASKED)
    return WorkspacePlan(STRATEGY, daemon.docker_host, (workspace,), (data, home))
