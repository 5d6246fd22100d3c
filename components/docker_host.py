"""DockerHostWorkspace: the Docker-host adapter, turning a WorkspacePlan into pulumi-docker resources."""

import base64
import binascii
from collections.abc import Sequence
from typing import Optional

import pulumi
import pulumi_docker as docker

from . import strategies
from .args import DockerHostWorkspaceArgs
from .fields import PYTHON, FieldError, Spelling
from .outputs import Opts, WorkspaceComponent
from .profiles import seccomp_profile
from .resolve import ResolvedWorkspace, resolve_workspace
from .security import security_level
from .strategies.spec import WORKSPACE, AppArmor, ContainerSpec, Seccomp, WorkspacePlan
from .strategy import Strategy
from .workload import (
    START_SCRIPT_NAME,
    DaemonSettings,
    Launch,
    daemon_probe_command,
    launch_for,
    start_script,
)

TOKEN = "docker-in-workspaces:index:DockerHostWorkspace"
LABEL_PREFIX = "docker-in-workspaces"
HOST_GATEWAY_NAME = "host.docker.internal"
"""Where a dood workspace reaches ports that its (the host's) nested containers publish."""


def _env_list(env: dict[str, pulumi.Input[str]]) -> list[pulumi.Input[str]]:
    # Sorted, so a preview diff only shows real changes. Output.concat keeps secrets secret; a plain value stays a
    # plain string: an Output per variable took a 1000-workspace program from 0.68 to 0.81 of the literal SDK
    # baseline (benchmarks/program_cost.py, separate runs).
    return [
        f"{key}={value}" if isinstance(value, str) else pulumi.Output.concat(key, "=", value)
        for key, value in sorted(env.items())
    ]


def _base64_decoded(text: str) -> str:
    # Checked where the value is plain (args.resolve); a secret that is not base64 (e.g. a render's
    # placeholder) is passed on as it is rather than failing a preview.
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return text


def _secret_file(content: pulumi.Input[str], base64_decoded: bool) -> pulumi.Output[str]:
    value = pulumi.Output.secret(content)
    return value.apply(_base64_decoded) if base64_decoded else value


DOCKER_HOST_STRATEGIES_WITHOUT_PRIVILEGED = (Strategy.PODMAN, Strategy.SYSBOX)
"""What to use on a Docker host instead of a strategy it cannot express (no privileged container)."""


def refuse_inexpressible(plan: WorkspacePlan) -> None:
    """A plan pulumi-docker cannot build on a Docker host fails with the reason and what works there."""
    if not plan.kubernetes_only:
        return
    alternatives = ", ".join(
        f"{s.value} ({security_level(strategies.plan(s)).value})"
        for s in (*DOCKER_HOST_STRATEGIES_WITHOUT_PRIVILEGED, Strategy.DIND_ROOTLESS)
    )
    raise FieldError(
        ("strategy",),
        f"{plan.strategy.value} is for Kubernetes (hostUsers: false with procMount: Unmasked); a Docker host cannot "
        "give one container a user namespace of its own (Docker's is daemon-wide, dockerd --userns-remap) and "
        "pulumi-docker cannot unmask /proc (it has no MaskedPaths/ReadonlyPaths field, and the Docker API refuses "
        f"systempaths=unconfined, which only the CLI translates); on a Docker host use {alternatives}",
    )


def security_opts(spec: ContainerSpec) -> Optional[list[str]]:
    """Docker's --security-opt for the container's seccomp and AppArmor profiles (None: the engine's defaults)."""
    opts = []
    if spec.seccomp == Seccomp.UNCONFINED:
        opts.append("seccomp=unconfined")
    elif spec.seccomp == Seccomp.LOCALHOST:
        assert spec.seccomp_profile is not None
        # The API takes the profile itself (the CLI reads a file into this same string).
        opts.append(f"seccomp={seccomp_profile(spec.seccomp_profile)}")
    if spec.apparmor == AppArmor.UNCONFINED:
        opts.append("apparmor=unconfined")
    if spec.no_new_privileges:
        opts.append("no-new-privileges")
    return opts or None


def _capabilities(spec: ContainerSpec) -> Optional[docker.ContainerCapabilitiesArgs]:
    if not (spec.cap_add or spec.cap_drop):
        return None
    return docker.ContainerCapabilitiesArgs(adds=list(spec.cap_add) or None, drops=list(spec.cap_drop) or None)


class PreflightError(RuntimeError):
    """A container's image (or its volumes) cannot run the strategy: found before anything was replaced."""


def _healthcheck(daemon: DaemonSettings, spec: ContainerSpec) -> docker.ContainerHealthcheckArgs:
    # A nested workspace (envbox) is ready once its inner container's own daemon answers.
    probe = list(spec.nested.ready_command) if spec.nested is not None else daemon_probe_command()
    return docker.ContainerHealthcheckArgs(
        tests=["CMD", *probe],
        interval="10s",
        timeout="5s",
        retries=3,
        start_period=f"{daemon.ready_timeout}s",
        start_interval="2s",
    )


def resolve_docker_host(name: str, args: DockerHostWorkspaceArgs, spelling: Spelling = PYTHON) -> ResolvedWorkspace:
    """Check a DockerHostWorkspace's args and build its plan; FieldError names the field to fix."""
    resolved = resolve_workspace(name, args, spelling, DockerHostWorkspaceArgs)
    refuse_inexpressible(resolved.plan)
    home_path = args.get(spelling.key("home_path"))
    if home_path is not None and any(m.host_visible for m in resolved.plan.workspace.mounts):
        raise FieldError(
            ("home_path",),
            "with dood on a Docker host the home is its volume's own path on the host (so a path under $HOME means "
            "the same to the host's daemon); remove home_path",
            spelling,
        )
    return resolved


class DockerHostWorkspace(WorkspaceComponent):
    """A development workspace on a Docker host with a working Docker daemon, by the chosen strategy."""

    container_name: pulumi.Output[str]
    """Name of the workspace container (`<name>`); it exists only while running."""
    volume_names: pulumi.Output[list[str]]
    """Names of the workspace's Docker volumes (`<name>-docker`, `<name>-home`, ...)."""

    def __init__(
        self, name: str, args: DockerHostWorkspaceArgs, opts: Opts = None,
        *, resolved: Optional[ResolvedWorkspace] = None
    ):  # fmt: skip
        resolved = self._begin(TOKEN, name, opts, resolved or resolve_docker_host(name, args))
        plan = resolved.plan
        level = security_level(plan)
        labels = {
            f"{LABEL_PREFIX}.workspace": name,
            f"{LABEL_PREFIX}.strategy": plan.strategy.value,
            f"{LABEL_PREFIX}.security-level": level.value,
        }

        volumes = self._volumes(name, plan, labels)
        if resolved.running:
            self._containers(name, resolved, volumes, labels)

        self._set_outputs(
            plan,
            resolved.running,
            container_name=pulumi.Output.from_input(name),
            volume_names=pulumi.Output.all(*[v.name for v in volumes.values()]),
        )

    def _volumes(self, name: str, plan: WorkspacePlan, labels: dict[str, str]) -> dict[str, docker.Volume]:
        volumes = {}
        for spec in plan.volumes:
            physical = f"{name}-{spec.key}"
            volumes[spec.key] = docker.Volume(
                physical,
                name=physical,
                labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in labels.items()],
                # Data and home outlive the container and the stack; scratch volumes do not.
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=spec.persistent),
            )
        return volumes

    def _containers(
        self, name: str, resolved: ResolvedWorkspace, volumes: dict[str, docker.Volume], labels: dict[str, str]
    ) -> None:
        plan: WorkspacePlan = resolved.plan
        containers: dict[str, docker.Container] = {}
        launches = {spec.role: launch_for(spec, resolved.workload, resolved.daemon) for spec in plan.containers}
        # Every image is checked before any container is created or replaced.
        images: dict[str, pulumi.Output[str]] = {}
        previous: list[pulumi.Resource] = []
        for spec in plan.containers:
            physical = name if spec.role == WORKSPACE else f"{name}-{spec.role}"
            image_key = "image" if spec.role == WORKSPACE else f"{spec.role}-image"
            image = docker.RemoteImage(
                f"{name}-{image_key}",
                name=launches[spec.role].image,
                keep_locally=True,  # other workspaces may use the same image
                opts=pulumi.ResourceOptions(parent=self),
            )
            images[spec.role], check = self._preflight(
                name, physical, spec, launches[spec.role], image, volumes, labels, previous
            )
            # One after the other: the first mount of a fresh volume copies the image's files into it, and two
            # containers doing that at once race (Docker: "mkdir ...: file exists").
            previous = [check] if check is not None else previous
        checked = pulumi.Output.all(*images.values())
        # Sidecars first: the workspace joins the daemon's network namespace.
        for spec in sorted(plan.containers, key=lambda c: c.joins_network_of is not None):
            physical = name if spec.role == WORKSPACE else f"{name}-{spec.role}"
            network_mode = None
            depends_on = []
            if spec.joins_network_of is not None:
                # The container's id, so a replaced sidecar replaces the workspace too.
                owner = containers[spec.joins_network_of]
                network_mode = owner.id.apply(lambda cid: f"container:{cid}")
                depends_on.append(owner)
            image_id = pulumi.Output.all(images[spec.role], checked).apply(lambda pair: pair[0])
            launch = launches[spec.role]
            containers[spec.role] = self._container(
                physical, spec, launch, image_id, volumes, labels, resolved.daemon, network_mode, depends_on
            )

    def _mounts(self, spec: ContainerSpec, volumes: dict[str, docker.Volume]) -> list[docker.ContainerMountArgs]:
        mounts = [
            docker.ContainerMountArgs(type="volume", target=m.path, source=volumes[m.volume].name) for m in spec.mounts
        ]
        # The host's daemon resolves bind paths on the host: the volume is also mounted at its own host path
        # (`$HOME` points there), so a path under it means the same on both sides, and nothing new is created.
        mounts += [
            docker.ContainerMountArgs(type="volume", target=volumes[m.volume].mountpoint, source=volumes[m.volume].name)
            for m in spec.mounts
            if m.host_visible
        ]
        mounts += [docker.ContainerMountArgs(type="bind", target=s.path, source=s.host_path) for s in spec.host_sockets]
        mounts += [
            docker.ContainerMountArgs(type="bind", target=h.path, source=h.host_path, read_only=True)
            for h in spec.host_paths
        ]
        return mounts

    def _env(
        self, spec: ContainerSpec, launch: Launch, volumes: dict[str, docker.Volume]
    ) -> dict[str, pulumi.Input[str]]:
        env: dict[str, pulumi.Input[str]] = dict(launch.env)
        if spec.role == WORKSPACE:
            env["DIW_PUBLISHED_PORTS_HOST"] = "127.0.0.1" if spec.nested_ports_on_localhost else HOST_GATEWAY_NAME
        for mount in spec.mounts:
            if mount.host_visible:
                host_path = volumes[mount.volume].mountpoint
                env["HOME"] = host_path
                env["DIW_SHARED_DIR"] = host_path
                env["DIW_SHARED_HOST_DIR"] = host_path
        for secret in launch.secrets:
            if secret.file is None:
                env[secret.env] = secret.value
            elif secret.file_env is not None:
                env[secret.file_env] = secret.file
        return env

    @staticmethod
    def _entrypoint(launch: Launch, *arguments: str) -> Optional[list[str]]:
        # The start script inline (`sh -c <script> start-docker.sh <workload>`), not an upload: a secret file
        # makes the whole `uploads` value secret in state and previews, and the script must stay readable.
        if launch.uses_start_script_file:
            return ["/bin/sh", "-c", start_script(), START_SCRIPT_NAME, *arguments]
        return launch.entrypoint

    @staticmethod
    def _uploads(launch: Launch) -> Optional[list[docker.ContainerUploadArgs]]:
        # Secrets as files, not env: one secret entry would make the whole env list secret in previews.
        uploads = [
            docker.ContainerUploadArgs(file=s.file, content=_secret_file(s.value, s.file_is_base64_decoded))
            for s in launch.secrets
            if s.file is not None
        ]
        return uploads or None

    def _preflight(
        self,
        workspace: str,
        physical: str,
        spec: ContainerSpec,
        launch: Launch,
        image: docker.RemoteImage,
        volumes: dict[str, docker.Volume],
        labels: dict[str, str],
        after: list[pulumi.Resource],
    ) -> tuple[pulumi.Output[str], Optional[docker.Container]]:
        """A short-lived container that runs `start-docker.sh --check` with the container's image, user,
        groups and volumes; the image id, once the check passed. A failed check fails `pulumi up` with
        what is missing, before the container it guards is created or replaced."""
        if not launch.uses_start_script_file:
            return image.image_id, None  # Envbuilder: the image is built at start; the inlined script checks it then
        check = docker.Container(
            f"{physical}-preflight",
            name=f"{physical}-preflight",
            image=image.image_id,
            entrypoints=self._entrypoint(launch, "--check"),
            envs=_env_list(self._env(spec, launch, volumes)),
            runtime=spec.runtime,
            user=None if spec.run_as_user is None else str(spec.run_as_user),
            group_adds=[str(g) for g in spec.supplemental_groups] or None,
            mounts=self._mounts(spec, volumes),
            network_mode="none",
            attach=True,  # create waits until it exited
            logs=True,
            must_run=False,
            restart="no",
            labels=[
                docker.ContainerLabelArgs(label=k, value=v)
                for k, v in {**labels, f"{LABEL_PREFIX}.role": f"{spec.role}-preflight"}.items()
            ],
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True, depends_on=after),
        )
        role = spec.role
        volume_names = ", ".join(f"{workspace}-{m.volume} at {m.path}" for m in spec.mounts)

        def passed(values: list[object]) -> str:
            image_id, exit_code, logs = values
            if exit_code not in (None, 0):
                raise PreflightError(
                    f"workspace container {physical} ({role}): its image cannot run this strategy, nothing was "
                    f"replaced (its volumes: {volume_names}):\n{str(logs or '').strip()}"
                )
            return str(image_id)

        return pulumi.Output.all(image.image_id, check.exit_code, check.container_logs).apply(passed), check

    def _container(
        self,
        physical: str,
        spec: ContainerSpec,
        launch: Launch,
        image_id: pulumi.Output[str],
        volumes: dict[str, docker.Volume],
        labels: dict[str, str],
        daemon: DaemonSettings,
        network_mode: Optional[pulumi.Output[str]],
        depends_on: Sequence[pulumi.Resource],
    ) -> docker.Container:
        # The readiness `pulumi up` waits for: the daemon's, or, for a workspace that uses another container's
        # daemon, its own view of it. A sidecar daemon is not waited for: during a switch from dind it waits
        # for the old workspace's daemon to hand over the data root, which happens when that one is replaced.
        probed = spec.daemon is not None or spec.waits_for is not None or spec.nested is not None
        waited = probed and not (spec.daemon is not None and spec.role != WORKSPACE)
        env = self._env(spec, launch, volumes)
        if spec.nested is not None:
            env["CODER_INNER_HOSTNAME"] = physical  # else envbox names it after its container, `workspace_cvm`
        return docker.Container(
            physical,
            name=physical,
            image=image_id,
            entrypoints=self._entrypoint(launch),
            command=launch.command,
            envs=_env_list(env),
            privileged=spec.privileged or None,
            cgroupns_mode="host" if spec.host_cgroup_namespace else None,
            runtime=spec.runtime,
            security_opts=security_opts(spec),
            capabilities=docker.ContainerCapabilitiesArgs(
                adds=list(spec.cap_add) or None, drops=list(spec.cap_drop) or None
            )
            if spec.cap_add or spec.cap_drop
            else None,
            devices=[
                docker.ContainerDeviceArgs(host_path=d.value, container_path=d.value, permissions="rwm")
                for d in spec.devices
            ]
            or None,
            user=None if spec.run_as_user is None else str(spec.run_as_user),
            group_adds=[str(g) for g in spec.supplemental_groups] or None,
            mounts=self._mounts(spec, volumes),
            uploads=self._uploads(launch),
            healthcheck=_healthcheck(daemon, spec) if probed else None,
            # With a healthcheck, `pulumi up` returns only once `docker info` succeeds inside.
            wait=True if waited else None,
            wait_timeout=daemon.ready_timeout + 30 if waited else None,
            network_mode=network_mode,
            hosts=None
            if spec.nested_ports_on_localhost
            else [docker.ContainerHostArgs(host=HOST_GATEWAY_NAME, ip="host-gateway")],
            # An init as PID 1 reaps what the start script leaves when it execs the workload
            # (a crashed dockerd would otherwise stay a zombie under e.g. `sleep infinity`).
            init=True if launch.uses_start_script_file else None,
            restart="unless-stopped",
            must_run=True,
            labels=[
                docker.ContainerLabelArgs(label=k, value=v)
                for k, v in {**labels, f"{LABEL_PREFIX}.role": spec.role}.items()
            ],
            opts=pulumi.ResourceOptions(
                parent=self,
                # Fixed names: the old container must go before its replacement can take the name.
                delete_before_replace=True,
                depends_on=depends_on,
            ),
        )
