"""The workspace's pod spec, as pure functions of the resolved workspace and its containers' launches."""

import math
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from ..strategies.spec import DAEMON, ROOTLESS_UID, WORKSPACE, AppArmor, ContainerSpec, Device, ProcMount, Seccomp
from ..workload import START_SCRIPT_DIR, DaemonSettings, Launch, daemon_probe_command
from .args import ResolvedKubernetesWorkspace, UserNamespaceMode

PROBE_PERIOD_SECONDS = 5
"""startupProbe: `docker info` every 5 s for ready_timeout (ARC's 24 x 5 s, plus the probe at start)."""
READINESS_PERIOD_SECONDS = 10
PROBE_TIMEOUT_SECONDS = 5

WORKSPACE_FS_GROUP = ROOTLESS_UID
"""fsGroup of every pod: the PVCs (home, data root) are writable by uid/gid 1000, Coder images' user."""

KUBELET_ROOT_DIR = "/var/lib/kubelet"
"""The kubelet's --root-dir (its default): where a node keeps a pod's emptyDir volumes."""
HOST_SHARED_VOLUME = "host-shared"
HOST_SHARED_DIR = "/var/run/docker-in-workspaces/shared"
"""dood: an emptyDir the node's daemon can find (at DIW_SHARED_HOST_DIR); under /var/run, which Envbuilder keeps."""
START_SCRIPT_VOLUME = "start-script"
SECCOMP_LOCALHOST_DIR = "docker-in-workspaces"
"""A Localhost seccomp profile's directory under the kubelet's seccomp root (/var/lib/kubelet/seccomp): the
node must have components/profiles/seccomp-<name>.json there as <name>.json."""


def host_users_false(resolved: ResolvedKubernetesWorkspace) -> bool:
    """The pod gets `hostUsers: false`: sysbox asked so, or a container needs an unmasked /proc (which the API
    admits only in a pod of its own user namespace)."""
    plan = resolved.plan
    if any(spec.proc_mount == ProcMount.UNMASKED for spec in plan.containers):
        return True
    user_namespace = any(spec.user_namespace for spec in plan.containers)
    return user_namespace and resolved.kubernetes.user_namespace_mode == UserNamespaceMode.HOST_USERS


def seccomp_localhost_profile(name: str) -> str:
    return f"{SECCOMP_LOCALHOST_DIR}/{name}.json"


def _seccomp(spec: ContainerSpec) -> Optional[k8s.core.v1.SeccompProfileArgs]:
    if spec.seccomp == Seccomp.UNCONFINED:
        return k8s.core.v1.SeccompProfileArgs(type="Unconfined")
    if spec.seccomp == Seccomp.LOCALHOST:
        assert spec.seccomp_profile is not None
        return k8s.core.v1.SeccompProfileArgs(
            type="Localhost", localhost_profile=seccomp_localhost_profile(spec.seccomp_profile)
        )
    return None  # the cluster's default (RuntimeDefault where the kubelet's seccompDefault is on)


def _capabilities(spec: ContainerSpec) -> Optional[k8s.core.v1.CapabilitiesArgs]:
    if not (spec.cap_add or spec.cap_drop):
        return None
    return k8s.core.v1.CapabilitiesArgs(add=list(spec.cap_add) or None, drop=list(spec.cap_drop) or None)


def device_resources(resolved: ResolvedKubernetesWorkspace, spec: ContainerSpec) -> dict[str, str]:
    """The device-plugin resources (limit 1 each) that stand for the container's host devices."""
    names = {Device.TUN: resolved.kubernetes.tun_device_resource, Device.FUSE: resolved.kubernetes.fuse_device_resource}
    return {names[device]: "1" for device in spec.devices}


def secret_env(launch: Launch) -> dict[str, pulumi.Input[str]]:
    """What goes into the workspace's Secret: the declared secrets, and the user's Output-valued env entries
    (the graph cannot wait for a value to know whether it is secret). The component's own values stay in the
    pod spec, readable in previews."""
    values: dict[str, pulumi.Input[str]] = {s.env: s.value for s in launch.secrets}
    values.update({key: launch.env[key] for key in launch.may_be_secret})
    return values


def _field_env(name: str, field_path: str) -> k8s.core.v1.EnvVarArgs:
    return k8s.core.v1.EnvVarArgs(
        name=name,
        value_from=k8s.core.v1.EnvVarSourceArgs(field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path=field_path)),
    )


def _resource_env(name: str, resource: str) -> k8s.core.v1.EnvVarArgs:
    """The container's own `limits.<resource>` (whole CPUs rounded up, memory in bytes: the divisor's default 1)."""
    return k8s.core.v1.EnvVarArgs(
        name=name,
        value_from=k8s.core.v1.EnvVarSourceArgs(
            resource_field_ref=k8s.core.v1.ResourceFieldSelectorArgs(container_name=WORKSPACE, resource=resource)
        ),
    )


def host_path_volume(path: str) -> str:
    return "host" + path.replace("/", "-")


def _probe(period: int, failures: int, spec: ContainerSpec) -> k8s.core.v1.ProbeArgs:
    # A nested workspace (envbox) is ready once its inner container's own daemon answers.
    command = list(spec.nested.ready_command) if spec.nested is not None else daemon_probe_command()
    return k8s.core.v1.ProbeArgs(
        exec_=k8s.core.v1.ExecActionArgs(command=command),
        period_seconds=period,
        failure_threshold=failures,
        timeout_seconds=PROBE_TIMEOUT_SECONDS,
    )


def startup_failure_threshold(daemon: DaemonSettings) -> int:
    """Probes every 5 s for as long as the start script waits: the first probe runs at the container's start and
    the kubelet gives up at the threshold-th failure, `(threshold - 1) x 5 s` later, hence one more (25 for the
    default 120 s)."""
    return math.ceil(daemon.ready_timeout / PROBE_PERIOD_SECONDS) + 1


def pod_spec(
    resolved: ResolvedKubernetesWorkspace, launches: dict[str, Launch], secret_name: Optional[str]
) -> k8s.core.v1.PodSpecArgs:
    """The workspace's pod: its containers (a native sidecar as an init container), volumes and security."""
    plan = resolved.plan
    settings = resolved.kubernetes
    volumes = pod_volumes(resolved, launches)
    containers: list[k8s.core.v1.ContainerArgs] = []
    init_containers: list[k8s.core.v1.ContainerArgs] = []
    for spec in plan.containers:
        native_sidecar = spec.role != WORKSPACE and settings.native_sidecar
        made = container_args(resolved, spec, launches[spec.role], secret_name, native_sidecar)
        (init_containers if native_sidecar else containers).append(made)
    # The workspace first: `kubectl exec` and `kubectl logs` default to it.
    containers.sort(key=lambda c: c.name != WORKSPACE)
    groups = sorted({gid for spec in plan.containers for gid in spec.supplemental_groups})
    # envbox chowns the home to its inner user's shifted ids itself; an fsGroup would chgrp it back on every start.
    nested = any(spec.nested is not None for spec in plan.containers)
    return k8s.core.v1.PodSpecArgs(
        init_containers=init_containers or None,
        containers=containers,
        volumes=volumes,
        security_context=k8s.core.v1.PodSecurityContextArgs(
            supplemental_groups=groups or None,
            fs_group=None if nested else WORKSPACE_FS_GROUP,
            # Only when the volume's root does not match yet: never a recursive chown of a data root.
            fs_group_change_policy=None if nested else "OnRootMismatch",
        ),
        runtime_class_name=resolved.runtime_class,
        host_users=False if host_users_false(resolved) else None,
        automount_service_account_token=settings.mount_service_account_token,
        # No service-discovery env vars (a Service named "docker" would add DOCKER_PORT etc.).
        enable_service_links=False,
        node_selector=settings.node_selector or None,
        tolerations=[k8s.core.v1.TolerationArgs(**t) for t in settings.tolerations] or None,  # type: ignore[arg-type]
    )


def pod_volumes(resolved: ResolvedKubernetesWorkspace, launches: dict[str, Launch]) -> list[k8s.core.v1.VolumeArgs]:
    name = resolved.workspace.name
    volumes = []
    for spec in resolved.plan.volumes:
        if spec.persistent:
            source = k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(claim_name=f"{name}-{spec.key}")
            volumes.append(k8s.core.v1.VolumeArgs(name=spec.key, persistent_volume_claim=source))
        else:
            volumes.append(k8s.core.v1.VolumeArgs(name=spec.key, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs()))
    if any(m.host_visible for spec in resolved.plan.containers for m in spec.mounts):
        scratch = k8s.core.v1.EmptyDirVolumeSourceArgs()
        volumes.append(k8s.core.v1.VolumeArgs(name=HOST_SHARED_VOLUME, empty_dir=scratch))
    sockets = sorted({s.host_path for spec in resolved.plan.containers for s in spec.host_sockets})
    for index, host_path in enumerate(sockets):
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name=host_socket_volume(index),
                host_path=k8s.core.v1.HostPathVolumeSourceArgs(path=host_path, type="Socket"),
            )
        )
    for host_path in sorted({h.host_path for spec in resolved.plan.containers for h in spec.host_paths}):
        # No `type`: as in Coder's envbox template (a node without /usr/src still starts the pod).
        directory = k8s.core.v1.HostPathVolumeSourceArgs(path=host_path)
        volumes.append(k8s.core.v1.VolumeArgs(name=host_path_volume(host_path), host_path=directory))
    if any(launch.uses_start_script_file for launch in launches.values()):
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name=START_SCRIPT_VOLUME,
                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=f"{name}-start-docker", default_mode=0o555),
            )
        )
    return volumes


def container_args(
    resolved: ResolvedKubernetesWorkspace,
    spec: ContainerSpec,
    launch: Launch,
    secret_name: Optional[str],
    native_sidecar: bool,
) -> k8s.core.v1.ContainerArgs:
    settings = resolved.kubernetes
    sockets = sorted({s.host_path for c in resolved.plan.containers for s in c.host_sockets})
    mounts = [k8s.core.v1.VolumeMountArgs(name=m.volume, mount_path=m.path) for m in spec.mounts]
    mounts += [
        k8s.core.v1.VolumeMountArgs(name=host_socket_volume(sockets.index(s.host_path)), mount_path=s.path)
        for s in spec.host_sockets
    ]
    mounts += [
        k8s.core.v1.VolumeMountArgs(name=host_path_volume(h.host_path), mount_path=h.path, read_only=True)
        for h in spec.host_paths
    ]
    if launch.uses_start_script_file:
        mounts.append(
            k8s.core.v1.VolumeMountArgs(name=START_SCRIPT_VOLUME, mount_path=START_SCRIPT_DIR, read_only=True)
        )
    secrets = secret_env(launch)
    plain: dict[str, pulumi.Input[str]] = {k: v for k, v in launch.env.items() if k not in secrets}
    fields: dict[str, str] = {}
    if spec.role == WORKSPACE:
        if spec.nested_ports_on_localhost:
            plain["DIW_PUBLISHED_PORTS_HOST"] = "127.0.0.1"
        else:  # the node's daemon publishes on the node
            fields["DIW_NODE_IP"] = "status.hostIP"
            plain["DIW_PUBLISHED_PORTS_HOST"] = "$(DIW_NODE_IP)"
    if any(m.host_visible for m in spec.mounts):
        # A PVC's path on the node is not knowable in the pod; an emptyDir's is, from the pod's uid.
        fields["DIW_POD_UID"] = "metadata.uid"
        plain["DIW_SHARED_DIR"] = HOST_SHARED_DIR
        plain["DIW_SHARED_HOST_DIR"] = (
            f"{KUBELET_ROOT_DIR}/pods/$(DIW_POD_UID)/volumes/kubernetes.io~empty-dir/{HOST_SHARED_VOLUME}"
        )
        mounts.append(k8s.core.v1.VolumeMountArgs(name=HOST_SHARED_VOLUME, mount_path=HOST_SHARED_DIR))
    resource_fields: dict[str, str] = {}
    if spec.nested is not None:
        plain["CODER_INNER_HOSTNAME"] = resolved.workspace.name  # else envbox names it `workspace_cvm`
        resource_fields = {key: f"limits.{resource}" for key, resource in spec.nested.limits_env}
    env = []
    # Sorted, and $(VAR) references only point backwards (DIW_NODE_IP < DIW_PUBLISHED_..., DIW_POD_UID <
    # DIW_SHARED_...), as Kubernetes expands them in order.
    for key in sorted({*plain, *secrets, *fields, *resource_fields}):
        if key in resource_fields:
            env.append(_resource_env(key, resource_fields[key]))
        elif key in fields:
            env.append(_field_env(key, fields[key]))
        elif key in secrets:
            assert secret_name is not None
            ref = k8s.core.v1.SecretKeySelectorArgs(name=secret_name, key=key)
            env.append(k8s.core.v1.EnvVarArgs(name=key, value_from=k8s.core.v1.EnvVarSourceArgs(secret_key_ref=ref)))
        else:
            env.append(k8s.core.v1.EnvVarArgs(name=key, value=plain[key]))
    startup = readiness = None
    if spec.daemon is not None or spec.nested is not None:
        readiness = _probe(READINESS_PERIOD_SECONDS, 3, spec)
        # With Envbuilder the daemon starts only after the image build, which no fixed budget fits.
        if not (spec.role == WORKSPACE and resolved.workspace.workload.envbuilder is not None):
            startup = _probe(PROBE_PERIOD_SECONDS, startup_failure_threshold(resolved.workspace.daemon), spec)
    # The dind-sidecar daemon gets the same resources: nested containers run in its cgroup.
    limits = {**settings.limits, **device_resources(resolved, spec)}
    resources = (
        k8s.core.v1.ResourceRequirementsArgs(requests=settings.requests or None, limits=limits or None)
        if settings.requests or limits
        else None
    )
    non_root = not spec.runs_as_root
    return k8s.core.v1.ContainerArgs(
        name=WORKSPACE if spec.role == WORKSPACE else DAEMON,
        image=launch.image,
        command=launch.entrypoint,
        args=(launch.command or None) if launch.entrypoint is not None else None,
        env=env or None,
        volume_mounts=mounts or None,
        security_context=k8s.core.v1.SecurityContextArgs(
            privileged=spec.privileged,
            run_as_user=spec.run_as_user,
            run_as_non_root=True if non_root else None,
            seccomp_profile=_seccomp(spec),
            # The field, not the annotation deprecated in 1.30 (which the API still copies into it).
            app_armor_profile=k8s.core.v1.AppArmorProfileArgs(type="Unconfined")
            if spec.apparmor == AppArmor.UNCONFINED
            else None,
            proc_mount=ProcMount.UNMASKED.value if spec.proc_mount == ProcMount.UNMASKED else None,
            capabilities=_capabilities(spec),
            allow_privilege_escalation=False if spec.no_new_privileges else None,
        ),
        resources=resources,
        startup_probe=startup,
        readiness_probe=readiness,
        restart_policy="Always" if native_sidecar else None,
    )


def host_socket_volume(index: int) -> str:
    return "host-docker-socket" if index == 0 else f"host-socket-{index}"
