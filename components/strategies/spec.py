"""Target-neutral description of what a workspace needs for its Docker daemon.

A strategy module turns `StrategyOptions` into a `WorkspacePlan`; an adapter per
target (Docker host, Kubernetes) turns the plan into resources. Nothing here
knows about pulumi-docker or pulumi-kubernetes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

from ..strategy import Strategy

WORKSPACE: Literal["workspace"] = "workspace"
DAEMON: Literal["daemon"] = "daemon"
Role = Literal["workspace", "daemon"]

ROOTLESS_UID = 1000
"""The uid rootless dockerd and unprivileged workspace users run as (Coder images' `coder`)."""

DEFAULT_DIND_IMAGE = "docker:27.5.1-dind"
"""Pinned daemon image for the `dind-sidecar` strategy."""

DEFAULT_SYSBOX_RUNTIME = "sysbox-runc"
DEFAULT_HOME_PATH = "/home/coder"
"""Coder images' user's home."""
DEFAULT_ENVBOX_IMAGE = "ghcr.io/coder/envbox:0.6.7"
"""Pinned envbox image: coder/envbox's release workflow pushes `ghcr.io/coder/envbox:<version>` for each git tag."""
HOST_DOCKER_SOCKET = "/var/run/docker.sock"


class StrategyError(ValueError):
    """Bad options for a strategy; `field` names the argument to fix."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.reason = message


class Seccomp(str, Enum):
    """Which seccomp profile a container runs under."""

    RUNTIME_DEFAULT = "RuntimeDefault"
    """The engine's (Docker's, the container runtime's) default profile."""
    LOCALHOST = "Localhost"
    """A profile shipped with this library (`ContainerSpec.seccomp_profile`): still a filter, a wider one."""
    UNCONFINED = "Unconfined"
    """No seccomp filter at all."""

    def __str__(self) -> str:
        return self.value


class AppArmor(str, Enum):
    """Which AppArmor profile a container runs under (on hosts and nodes that have AppArmor)."""

    RUNTIME_DEFAULT = "RuntimeDefault"
    """The runtime's default profile (Docker's `docker-default`): it denies mount."""
    UNCONFINED = "Unconfined"
    """No AppArmor profile."""

    def __str__(self) -> str:
        return self.value


class ProcMount(str, Enum):
    """Kubernetes' procMount: Default masks and makes read-only parts of /proc (as Docker does), Unmasked not."""

    DEFAULT = "Default"
    UNMASKED = "Unmasked"

    def __str__(self) -> str:
        return self.value


ROOTLESS_ENGINES_PROFILE = "rootless-engines"
ROOTLESS_RUNTIME_DIR = f"/run/user/{ROOTLESS_UID}"
"""XDG_RUNTIME_DIR of the rootless engines' user: where their sockets are."""
"""The seccomp profile for rootless Podman and rootless dockerd in an unprivileged container:
containers-common's (it allows clone/unshare/mount for user namespaces), plus sethostname and setdomainname
without CAP_SYS_ADMIN. File: components/profiles/seccomp-rootless-engines.json."""


class Device(str, Enum):
    """A host (node) device a container needs. On Kubernetes a device-plugin resource stands for it."""

    TUN = "/dev/net/tun"
    """User-mode networking (slirp4netns, rootlesskit) creates a tap device."""
    FUSE = "/dev/fuse"
    """fuse-overlayfs, where native rootless overlay is not available."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class StrategyOptions:
    """The inputs every strategy may read. Defaults are the safe, common ones."""

    home_path: str = DEFAULT_HOME_PATH
    dind_image: str = DEFAULT_DIND_IMAGE
    docker_socket_gid: int | None = None
    """GID owning the host's Docker socket (dood only)."""
    daemon_socket_gid: int = ROOTLESS_UID
    """GID the inner daemon gives its socket (`dockerd --group`), so uid 1000 can use it."""
    runtime: str = DEFAULT_SYSBOX_RUNTIME
    app_armor: AppArmor = AppArmor.RUNTIME_DEFAULT
    """podman, dind-userns: the workspace container's AppArmor profile (hosts with AppArmor)."""
    # envbox (see the envbox block below)
    envbox_image: str = DEFAULT_ENVBOX_IMAGE
    """envbox: image of the outer container."""
    inner_username: str = "coder"
    """envbox: the inner image's user (CODER_INNER_USERNAME) that owns the home and runs the workload."""
    add_fuse: bool = False
    """envbox: give the inner container /dev/fuse (CODER_ADD_FUSE)."""
    add_tun: bool = False
    """envbox: give the inner container /dev/net/tun (CODER_ADD_TUN)."""


@dataclass(frozen=True)
class VolumeSpec:
    """A volume the workspace owns. Physical name: `<workspace>-<key>`."""

    key: str
    purpose: str
    persistent: bool = True
    """False: scratch shared between containers (an emptyDir on Kubernetes), not kept."""


@dataclass(frozen=True)
class VolumeMount:
    volume: str
    """`VolumeSpec.key` of the mounted volume."""
    path: str
    host_visible: bool = False
    """The daemon that resolves this container's bind mounts runs outside it (the host's, for dood): the
    adapter must make this directory reachable under a path that daemon knows too (see the adapters)."""


@dataclass(frozen=True)
class HostSocketMount:
    """A socket from the host (or node) bind-mounted into the container."""

    host_path: str
    path: str


class DaemonKind(str, Enum):
    """Which kind of dockerd a container runs. The value is the start script's `DIW_DOCKERD_MODE`, so a new
    kind needs its mode in components/scripts/start-docker.sh and in the policy pack's DAEMON_MODES."""

    ROOTFUL = "rootful"
    """dockerd as root (uid 0, or through passwordless sudo); its data root is /var/lib/docker."""
    ROOTLESS = "rootless"
    """dockerd under rootlesskit as an unprivileged user; the socket and the data root belong to that user."""
    PODMAN = "podman"
    """Not dockerd: rootless Podman's Docker-compatible API (`podman system service`) as an unprivileged user;
    the socket and the storage (images, containers, volumes) belong to that user."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class DaemonSpec:
    """A dockerd that the container starts (with the start script) before its workload."""

    kind: DaemonKind
    socket: str
    data_root: str
    socket_gid: int | None = None
    """`dockerd --group`; None for rootless (the socket belongs to the daemon's user)."""

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"


# --- envbox: a container that runs the workload in a nested container, and read-only host paths ----------
# Kept in one block (with the envbox fields of StrategyOptions and ContainerSpec above) so that it merges
# cleanly with other vocabulary additions.


@dataclass(frozen=True)
class HostPathMount:
    """A host (node) directory mounted into the container, always read-only: this vocabulary cannot say
    "writable host path", so no plan can ask for one."""

    host_path: str
    path: str


@dataclass(frozen=True)
class NestedContainer:
    """The container the workload really runs in, created at start by the container that holds this
    (envbox's outer container, with its own dockerd and Sysbox), not by an adapter. The levels count
    both: the outer one as it is (e.g. privileged), this one by its own spec."""

    spec: ContainerSpec
    """How it runs (runtime, user namespace, its own daemon, its env); its mounts name the same volumes as
    the outer container's, at the paths seen inside it."""
    program: tuple[str, ...]
    """The outer container's command: the program that starts the outer daemon and creates this container."""
    ready_command: tuple[str, ...]
    """Run in the outer container: succeeds once this container runs and its own daemon answers."""
    outer_daemon: DaemonSpec
    """The outer container's own dockerd, which runs this container (its data root on its own volume)."""
    limits_env: tuple[tuple[str, Literal["cpu", "memory"]], ...] = ()
    """Env of the outer container that the target fills from the outer container's own CPU / memory limits,
    so the nested container gets the same (Kubernetes: the Downward API's resourceFieldRef)."""


def workload_container(plan: WorkspacePlan) -> ContainerSpec:
    """The container the workload and its Docker run in: the workspace's, or the one it nests."""
    workspace = plan.workspace
    return workspace.nested.spec if workspace.nested is not None else workspace


def all_containers(plan: WorkspacePlan) -> tuple[ContainerSpec, ...]:
    """Every container the plan makes run, the nested ones included (what the levels judge)."""
    found: list[ContainerSpec] = []
    for spec in plan.containers:
        found.append(spec)
        if spec.nested is not None:
            found.append(spec.nested.spec)
    return tuple(found)


# --- end of the envbox block -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerSpec:
    role: Role
    image: str | None = None
    """None: the workspace's own image."""
    privileged: bool = False
    run_as_user: int | None = None
    """None: the image's default user (root for the daemon images we use)."""
    runtime: str | None = None
    user_namespace: bool = False
    supplemental_groups: tuple[int, ...] = ()
    mounts: tuple[VolumeMount, ...] = ()
    host_sockets: tuple[HostSocketMount, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    daemon: DaemonSpec | None = None
    waits_for: str | None = None
    """DOCKER_HOST of another container's daemon to wait for before the workload starts."""
    joins_network_of: Role | None = None
    """Share this role's network namespace, so ports published by nested containers are on localhost."""
    nested_ports_on_localhost: bool = True
    """Ports published by nested containers answer on this container's 127.0.0.1. False when the daemon
    is the host's (dood): they land on the host, and the adapter tells the workspace where that is."""
    seccomp: Seccomp = Seccomp.RUNTIME_DEFAULT
    seccomp_profile: str | None = None
    """With Seccomp.LOCALHOST: the shipped profile's name (ROOTLESS_ENGINES_PROFILE)."""
    apparmor: AppArmor = AppArmor.RUNTIME_DEFAULT
    proc_mount: ProcMount = ProcMount.DEFAULT
    """UNMASKED needs a user namespace of the container's own (`user_namespace`): the Kubernetes API refuses
    it otherwise, and without one it would hand the host's /proc/sys to the container."""
    devices: tuple[Device, ...] = ()
    cap_add: tuple[str, ...] = ()
    """Capabilities beyond the runtime's default set (names without CAP_)."""
    cap_drop: tuple[str, ...] = ()
    no_new_privileges: bool = False
    """Kubernetes' allowPrivilegeEscalation: false. Breaks newuidmap's file capabilities (rootless engines)."""
    # envbox (see the envbox block below)
    host_paths: tuple[HostPathMount, ...] = ()
    """Host (node) directories mounted read-only."""
    nested: NestedContainer | None = None
    """The workload does not run in this container but in one this container creates at start (envbox)."""
    host_cgroup_namespace: bool = False
    """Run in the host's cgroup namespace where the target has a choice (Docker: `--cgroupns=host`; its default
    on cgroup v2 is private, under which envbox cannot move the nested container's processes)."""

    @property
    def runs_as_root(self) -> bool:
        return self.run_as_user in (None, 0)

    def __post_init__(self) -> None:
        # Facts of the plan itself, so every strategy module gets them right (not user errors).
        if (self.seccomp == Seccomp.LOCALHOST) != (self.seccomp_profile is not None):
            raise ValueError("seccomp_profile is given exactly when seccomp is Localhost")
        if self.proc_mount == ProcMount.UNMASKED and not self.user_namespace:
            raise ValueError("an unmasked /proc needs the container's own user namespace (user_namespace=True)")

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)


@dataclass(frozen=True)
class WorkspacePlan:
    strategy: Strategy
    docker_host: str
    """The DOCKER_HOST the workspace container uses."""
    containers: tuple[ContainerSpec, ...]
    volumes: tuple[VolumeSpec, ...] = field(default=())

    def container(self, role: Role) -> ContainerSpec:
        for spec in self.containers:
            if spec.role == role:
                return spec
        raise KeyError(role)

    @property
    def workspace(self) -> ContainerSpec:
        return self.container(WORKSPACE)

    @property
    def sidecars(self) -> tuple[ContainerSpec, ...]:
        return tuple(c for c in self.containers if c.role != WORKSPACE)

    @property
    def kubernetes_only(self) -> bool:
        """A container needs a user namespace of its own without a runtime that makes one (sysbox's does), or an
        unmasked /proc: Kubernetes' hostUsers/procMount express that, a Docker host (pulumi-docker) cannot."""
        return any(
            c.proc_mount == ProcMount.UNMASKED or (c.user_namespace and c.runtime is None) for c in self.containers
        )

    @property
    def daemon_container(self) -> ContainerSpec | None:
        """The container that runs dockerd, if the workspace has its own daemon."""
        return next((c for c in self.containers if c.daemon), None)


def home_volume(options: StrategyOptions) -> tuple[VolumeSpec, VolumeMount]:
    """Every strategy keeps the user's home on its own volume."""
    return VolumeSpec("home", "the workspace user's home directory"), VolumeMount("home", options.home_path)


def data_root_volume(path: str) -> tuple[VolumeSpec, VolumeMount]:
    """Every daemon gets its own volume for its data root: overlay-on-overlay fails."""
    return VolumeSpec("docker", "the inner dockerd's data root"), VolumeMount("docker", path)


def workspace_with_own_daemon(
    strategy: Strategy,
    options: StrategyOptions,
    daemon: DaemonSpec,
    env: tuple[tuple[str, str], ...] = (),
    **security: object,
) -> WorkspacePlan:
    """A single workspace container that runs its own dockerd: the data root on its own
    volume, home on another, DOCKER_HOST pointing at the daemon. `security` holds the
    ContainerSpec fields that make the strategy (privileged, runtime, run_as_user, ...)."""
    home, home_mount = home_volume(options)
    data, data_mount = data_root_volume(daemon.data_root)
    workspace = ContainerSpec(
        role=WORKSPACE,
        mounts=(data_mount, home_mount),
        env=(*env, ("DOCKER_HOST", daemon.docker_host)),
        daemon=daemon,
        **security,  # type: ignore[arg-type]
    )
    return WorkspacePlan(strategy, daemon.docker_host, (workspace,), (data, home))


def unprivileged_engine(
    options: StrategyOptions, daemon: DaemonSpec, mounts: tuple[VolumeMount, ...], env: tuple[tuple[str, str], ...],
    **more: object,
) -> ContainerSpec:  # fmt: skip
    """The workspace of an engine that runs as uid 1000 in an unprivileged container (podman, dind-userns):
    no capability added, seccomp filtered by the shipped `rootless-engines` profile, /dev/net/tun for its
    user-mode network. `more`: further ContainerSpec fields (user_namespace, proc_mount, ...)."""
    return ContainerSpec(
        role=WORKSPACE,
        run_as_user=ROOTLESS_UID,
        mounts=mounts,
        env=(*env, ("DOCKER_HOST", daemon.docker_host), ("XDG_RUNTIME_DIR", ROOTLESS_RUNTIME_DIR)),
        daemon=daemon,
        seccomp=Seccomp.LOCALHOST,
        seccomp_profile=ROOTLESS_ENGINES_PROFILE,
        apparmor=options.app_armor,
        devices=(Device.TUN,),
        **more,  # type: ignore[arg-type]
    )
