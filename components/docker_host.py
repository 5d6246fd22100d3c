"""DockerHostWorkspace: the Docker-host adapter, turning a WorkspacePlan into pulumi-docker resources."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import pulumi
import pulumi_docker as docker

from .args import DockerHostWorkspaceArgs, ResolvedWorkspace, resolve
from .security import security_level
from .strategies.spec import WORKSPACE, ContainerSpec, WorkspacePlan
from .workload import (
    START_SCRIPT_PATH,
    DaemonSettings,
    Launch,
    daemon_probe_command,
    launch_for,
    start_script,
)

TOKEN = "docker-in-workspaces:index:DockerHostWorkspace"
LABEL_PREFIX = "docker-in-workspaces"


def _env_list(env: dict[str, pulumi.Input[str]]) -> list[pulumi.Input[str]]:
    # Sorted, so a preview diff only shows real changes; Output.concat keeps secrets secret.
    return [pulumi.Output.concat(key, "=", env[key]) for key in sorted(env)]


def _healthcheck(daemon: DaemonSettings) -> docker.ContainerHealthcheckArgs:
    return docker.ContainerHealthcheckArgs(
        tests=["CMD", *daemon_probe_command()],
        interval="10s",
        timeout="5s",
        retries=3,
        start_period=f"{daemon.ready_timeout}s",
        start_interval="2s",
    )


class DockerHostWorkspace(pulumi.ComponentResource):
    """A development workspace on a Docker host with a working Docker daemon, by the chosen strategy."""

    docker_host: pulumi.Output[str]
    """The DOCKER_HOST the workspace uses."""
    security_level: pulumi.Output[str]
    """none | low | medium | high, computed from the containers actually built."""
    container_name: pulumi.Output[str]
    """Name of the workspace container (`<name>`); it exists only while running."""
    volume_names: pulumi.Output[list[str]]
    """Names of the workspace's Docker volumes (`<name>-docker`, `<name>-home`, ...)."""
    running: pulumi.Output[bool]
    """Whether the workspace's containers exist."""

    def __init__(self, name: str, args: DockerHostWorkspaceArgs, opts: Optional[pulumi.ResourceOptions] = None):
        resolved = resolve(name, args)  # raises before anything, even this component, is registered
        super().__init__(TOKEN, name, {}, opts)
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

        self.docker_host = pulumi.Output.from_input(plan.docker_host)
        self.security_level = pulumi.Output.from_input(level.value)
        self.container_name = pulumi.Output.from_input(name)
        self.volume_names = pulumi.Output.all(*[v.name for v in volumes.values()])
        self.running = pulumi.Output.from_input(resolved.running)
        self.register_outputs(
            {
                "docker_host": self.docker_host,
                "security_level": self.security_level,
                "container_name": self.container_name,
                "volume_names": self.volume_names,
                "running": self.running,
            }
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
        images: dict[str, docker.RemoteImage] = {}
        containers: dict[str, docker.Container] = {}
        # Sidecars first: the workspace joins the daemon's network namespace.
        for spec in sorted(plan.containers, key=lambda c: c.joins_network_of is not None):
            launch = launch_for(spec, resolved.workload, resolved.daemon)
            physical = name if spec.role == WORKSPACE else f"{name}-{spec.role}"
            image_key = "image" if spec.role == WORKSPACE else f"{spec.role}-image"
            images[spec.role] = docker.RemoteImage(
                f"{name}-{image_key}",
                name=launch.image,
                keep_locally=True,  # other workspaces may use the same image
                opts=pulumi.ResourceOptions(parent=self),
            )
            network_mode = None
            depends_on = []
            if spec.joins_network_of is not None:
                # The container's id, so a replaced sidecar replaces the workspace too.
                owner = containers[spec.joins_network_of]
                network_mode = owner.id.apply(lambda cid: f"container:{cid}")
                depends_on.append(owner)
            containers[spec.role] = self._container(
                physical, spec, launch, images[spec.role], volumes, labels, resolved.daemon, network_mode, depends_on
            )

    def _container(
        self,
        physical: str,
        spec: ContainerSpec,
        launch: Launch,
        image: docker.RemoteImage,
        volumes: dict[str, docker.Volume],
        labels: dict[str, str],
        daemon: DaemonSettings,
        network_mode: Optional[pulumi.Output[str]],
        depends_on: Sequence[pulumi.Resource],
    ) -> docker.Container:
        mounts = [
            docker.ContainerMountArgs(type="volume", target=m.path, source=volumes[m.volume].name) for m in spec.mounts
        ]
        mounts += [docker.ContainerMountArgs(type="bind", target=s.path, source=s.host_path) for s in spec.host_sockets]
        return docker.Container(
            physical,
            name=physical,
            image=image.image_id,
            entrypoints=launch.entrypoint,
            command=launch.command,
            envs=_env_list(launch.env),
            privileged=spec.privileged or None,
            runtime=spec.runtime,
            user=None if spec.run_as_user is None else str(spec.run_as_user),
            group_adds=[str(g) for g in spec.supplemental_groups] or None,
            mounts=mounts,
            uploads=[docker.ContainerUploadArgs(file=START_SCRIPT_PATH, content=start_script(), executable=True)]
            if launch.uses_start_script_file
            else None,
            healthcheck=_healthcheck(daemon) if spec.daemon is not None else None,
            # With a healthcheck, `pulumi up` returns only once `docker info` succeeds inside.
            wait=True if spec.daemon is not None else None,
            wait_timeout=daemon.ready_timeout + 30 if spec.daemon is not None else None,
            network_mode=network_mode,
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
