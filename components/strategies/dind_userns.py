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
    WORKSPACE,
    ContainerSpec,
    DaemonKind,
    DaemonSpec,
    Device,
    ProcMount,
    Seccomp,
    StrategyOptions,
    VolumeMount,
    WorkspacePlan,
    data_root_volume,
    home_volume,
)

STRATEGY = Strategy.DIND_USERNS

RUNTIME_DIR = f"/run/user/{ROOTLESS_UID}"


def plan(options: StrategyOptions) -> WorkspacePlan:
    volume_path = f"{options.home_path}/.local/share/docker"
    daemon = DaemonSpec(
        kind=DaemonKind.ROOTLESS,
        socket=f"{RUNTIME_DIR}/docker.sock",
        # A directory inside the volume, not its root: a fresh PVC's root is root's (group-writable with fsGroup),
        # and rootless dockerd must own its data root (it chmods it); an unprivileged image has no sudo to fix
        # that. The volume's root then keeps what fsGroup's OnRootMismatch expects, so the kubelet does not walk
        # the nested images on every start either.
        data_root=f"{volume_path}/data",
    )
    home, home_mount = home_volume(options)
    data, _ = data_root_volume(volume_path)
    workspace = ContainerSpec(
        role=WORKSPACE,
        run_as_user=ROOTLESS_UID,
        mounts=(VolumeMount(data.key, volume_path), home_mount),
        env=(("DOCKER_HOST", daemon.docker_host), ("XDG_RUNTIME_DIR", RUNTIME_DIR)),
        daemon=daemon,
        user_namespace=True,
        proc_mount=ProcMount.UNMASKED,
        seccomp=Seccomp.LOCALHOST,
        seccomp_profile=ROOTLESS_ENGINES_PROFILE,
        apparmor=options.app_armor,
        devices=(Device.TUN,),
    )
    return WorkspacePlan(STRATEGY, daemon.docker_host, (workspace,), (data, home))
