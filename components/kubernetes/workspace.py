"""KubernetesWorkspace: the Kubernetes adapter, turning a WorkspacePlan into pulumi-kubernetes resources.

One workspace is a Deployment (1 replica, 0 when stopped, strategy Recreate) with
PVCs for the daemon's data root and the home (retained on delete), a ConfigMap
holding the start script, and a Secret for secret environment values (referenced
by `secretKeyRef`, never written into the pod spec). The pod spec itself is built
by pod.py; shared objects (Namespace, RuntimeClass) by shared.py.
"""

from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from ..outputs import Opts, WorkspaceComponent
from ..security import security_level
from ..strategies.spec import WorkspacePlan
from ..workload import START_SCRIPT_NAME, Launch, launch_for, start_script, start_script_sha256
from .args import (
    KubernetesSettings,
    KubernetesWorkspaceArgs,
    ResolvedKubernetesWorkspace,
    resolve_kubernetes,
)
from .pod import host_users_false, pod_spec, secret_env
from .shared import MANAGED_BY, namespace_resource, runtime_class_resource

TOKEN = "docker-in-workspaces:index:KubernetesWorkspace"
LABEL_PREFIX = "docker-in-workspaces"
APP_NAME = "docker-in-workspaces"
CRIO_USERNS_ANNOTATION = "io.kubernetes.cri-o.userns-mode"
CRIO_USERNS_MODE = "auto:size=65536"


class KubernetesWorkspace(WorkspaceComponent):
    """A development workspace on Kubernetes with a working Docker daemon, by the chosen strategy."""

    namespace: pulumi.Output[str]
    """Namespace of the workspace's objects."""
    deployment_name: pulumi.Output[str]
    """Name of the workspace's Deployment (`<name>`)."""

    def __init__(
        self, name: str, args: KubernetesWorkspaceArgs, opts: Opts = None,
        *, resolved: Optional[ResolvedKubernetesWorkspace] = None
    ):  # fmt: skip
        resolved = self._begin(TOKEN, name, opts, resolved or resolve_kubernetes(name, args))
        plan = resolved.plan
        settings = resolved.kubernetes
        level = security_level(plan)
        pss = resolved.pod_security_level
        # Children wait for what the component waits for (e.g. a Namespace from shared_resources()).
        self._inherited_deps = _resource_list(opts.depends_on if opts else None)

        namespace: pulumi.Input[str] = settings.namespace
        dependencies: list[pulumi.Resource] = []
        if settings.create_namespace:
            ns = namespace_resource(
                f"{name}-namespace", settings.namespace, pss, self._child_opts(), resolved.pod_security_version
            )
            namespace = ns.metadata.name
            dependencies.append(ns)
        runtime_class = resolved.runtime_class
        if settings.create_runtime_class and runtime_class:
            dependencies.append(runtime_class_resource(f"{name}-runtime-class", runtime_class, self._child_opts()))

        selector = {"app.kubernetes.io/name": APP_NAME, "app.kubernetes.io/instance": name}
        labels = {
            **selector,
            "app.kubernetes.io/managed-by": MANAGED_BY,
            f"{LABEL_PREFIX}/strategy": plan.strategy.value,
            f"{LABEL_PREFIX}/security-level": level.value,
        }
        pvcs = self._pvcs(name, plan, settings, namespace, labels, dependencies)
        launches = self._launches(resolved)
        config_map = self._start_script(name, launches, namespace, labels, dependencies)
        secret_name = f"{name}-secrets"
        secret_values = {key: value for launch in launches.values() for key, value in secret_env(launch).items()}
        secret = self._secret(secret_name, secret_values, namespace, labels, dependencies)

        pod = pod_spec(resolved, launches, secret_name if secret else None)
        annotations: dict[str, pulumi.Input[str]] = {}
        if config_map is not None:
            # A changed start script or secret rolls the pod (Recreate).
            annotations[f"{LABEL_PREFIX}/start-script-sha256"] = start_script_sha256()
        if secret is not None:
            # The Secret's resourceVersion, not a digest of its values: a value derived from a secret would make
            # the whole pod spec secret in state and previews. A new version after a change rolls the pod.
            annotations[f"{LABEL_PREFIX}/secrets-version"] = secret.metadata.apply(
                lambda meta: (meta.resource_version if meta else None) or ""
            )
        if plan.workspace.user_namespace and not host_users_false(resolved):
            annotations[CRIO_USERNS_ANNOTATION] = CRIO_USERNS_MODE

        deployment = k8s.apps.v1.Deployment(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1 if resolved.workspace.running else 0,
                # Never two pods on the same ReadWriteOnce volumes.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels, annotations=annotations or None),
                    spec=pod,
                ),
            ),
            opts=self._child_opts(depends_on=[*dependencies, *pvcs, *(r for r in (config_map, secret) if r)]),
        )

        self._set_outputs(
            plan,
            resolved.workspace.running,
            namespace=pulumi.Output.from_input(namespace),
            deployment_name=deployment.metadata.name,
        )

    def _child_opts(self, depends_on: Optional[list[pulumi.Resource]] = None, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=[*self._inherited_deps, *(depends_on or [])], **kwargs)

    def _pvcs(
        self,
        name: str,
        plan: WorkspacePlan,
        settings: KubernetesSettings,
        namespace: pulumi.Input[str],
        labels: dict[str, str],
        dependencies: list[pulumi.Resource],
    ) -> list[k8s.core.v1.PersistentVolumeClaim]:
        sizes = {"docker": settings.data_root_size, "home": settings.home_size}
        pvcs = []
        for spec in plan.volumes:
            if not spec.persistent:
                continue  # an emptyDir in the pod
            physical = f"{name}-{spec.key}"
            pvcs.append(
                k8s.core.v1.PersistentVolumeClaim(
                    physical,
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=physical,
                        namespace=namespace,
                        labels={**labels, f"{LABEL_PREFIX}/volume": spec.key},
                        # Bound only once the pod exists (WaitForFirstConsumer) or never while stopped:
                        # the Deployment's own await checks the pod, so don't wait for Bound here.
                        annotations={"pulumi.com/skipAwait": "true"},
                    ),
                    spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                        access_modes=["ReadWriteOnce"],
                        storage_class_name=settings.storage_class,
                        resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                            requests={"storage": sizes.get(spec.key, settings.home_size)}
                        ),
                    ),
                    # Data and home outlive the workspace and the stack.
                    opts=self._child_opts(depends_on=dependencies, retain_on_delete=True),
                )
            )
        return pvcs

    def _launches(self, resolved: ResolvedKubernetesWorkspace) -> dict[str, Launch]:
        workspace = resolved.workspace
        return {spec.role: launch_for(spec, workspace.workload, workspace.daemon) for spec in resolved.plan.containers}

    def _start_script(
        self,
        name: str,
        launches: dict[str, Launch],
        namespace: pulumi.Input[str],
        labels: dict[str, str],
        dependencies: list[pulumi.Resource],
    ) -> Optional[k8s.core.v1.ConfigMap]:
        if not any(launch.uses_start_script_file for launch in launches.values()):
            return None  # Envbuilder with the daemon in the workspace: the script is inlined
        physical = f"{name}-start-docker"
        return k8s.core.v1.ConfigMap(
            physical,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=physical, namespace=namespace, labels=labels),
            data={START_SCRIPT_NAME: start_script()},
            opts=self._child_opts(depends_on=dependencies),
        )

    def _secret(
        self,
        physical: str,
        values: dict[str, pulumi.Input[str]],
        namespace: pulumi.Input[str],
        labels: dict[str, str],
        dependencies: list[pulumi.Resource],
    ) -> Optional[k8s.core.v1.Secret]:
        if not values:
            return None
        return k8s.core.v1.Secret(
            physical,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=physical, namespace=namespace, labels=labels),
            type="Opaque",
            string_data={key: pulumi.Output.secret(values[key]) for key in sorted(values)},
            opts=self._child_opts(depends_on=dependencies),
        )


def _resource_list(depends_on: Any) -> list[pulumi.Resource]:
    """`depends_on` as a list to hand on to children; an Output-valued one stays on the component only."""
    if isinstance(depends_on, pulumi.Resource):
        return [depends_on]
    if isinstance(depends_on, (list, tuple)) and all(isinstance(r, pulumi.Resource) for r in depends_on):
        return list(depends_on)
    return []


def _host_socket_volume(index: int) -> str:
    return "host-docker-socket" if index == 0 else f"host-socket-{index}"
