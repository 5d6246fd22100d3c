"""Objects several workspaces share: the Namespace (with its Pod Security labels) and the sysbox RuntimeClass.

Several workspaces in one namespace must not each create them: a program with many workspaces
calls `shared_resources()` once, which creates them and hands back each workspace's args with
`create_namespace`/`create_runtime_class` off.
"""

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from ..fields import FieldError
from ..resolve import validate_name
from ..security import PodSecurityLevel
from .args import KubernetesWorkspaceArgs, ResolvedKubernetesWorkspace, resolve_kubernetes

MANAGED_BY = "pulumi"
SYSBOX_HANDLER = "sysbox-runc"
"""The RuntimeClass handler sysbox-deploy-k8s configures in CRI-O."""
SYSBOX_NODE_SELECTOR = {"sysbox-runtime": "running"}
"""The label sysbox-deploy-k8s puts on nodes where sysbox runs."""

PSS_ENFORCE = "pod-security.kubernetes.io/enforce"
PSS_WARN = "pod-security.kubernetes.io/warn"
PSS_AUDIT = "pod-security.kubernetes.io/audit"
PSS_ENFORCE_VERSION = "pod-security.kubernetes.io/enforce-version"
_PSS_PERMISSIVENESS = [PodSecurityLevel.PRIVILEGED, PodSecurityLevel.BASELINE, PodSecurityLevel.RESTRICTED]


def least_restrictive(levels: list[PodSecurityLevel]) -> PodSecurityLevel:
    """The Pod Security level that admits every one of `levels` (restricted when there are none)."""
    return min(levels, key=_PSS_PERMISSIVENESS.index, default=PodSecurityLevel.RESTRICTED)


def pod_security_labels(level: PodSecurityLevel | str, version: Optional[str] = None) -> dict[str, str]:
    """Namespace labels: enforce the level the workspaces need; warn and audit against restricted. `version`
    pins the enforced policy's version where the level holds only from it on (dind-userns: v1.35)."""
    labels = {
        PSS_ENFORCE: PodSecurityLevel(level).value,
        PSS_WARN: PodSecurityLevel.RESTRICTED.value,
        PSS_AUDIT: PodSecurityLevel.RESTRICTED.value,
    }
    if version is not None:
        labels[PSS_ENFORCE_VERSION] = version
    return labels


def newest_version(versions: list[Optional[str]]) -> Optional[str]:
    """The newest of some Pod Security policy versions ("v1.35"; None: any)."""
    given = [v for v in versions if v is not None]
    return max(given, key=lambda v: tuple(int(part) for part in v.lstrip("v").split(".")), default=None)


def namespace_resource(
    resource_name: str,
    namespace: str,
    level: PodSecurityLevel | str,
    opts: Optional[pulumi.ResourceOptions] = None,
    version: Optional[str] = None,
) -> k8s.core.v1.Namespace:
    """The namespace, labelled for Pod Security. Retained on delete: deleting it would delete the PVCs."""
    validate_name(namespace, ("namespace",))
    return k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=namespace,
            labels={"app.kubernetes.io/managed-by": MANAGED_BY, **pod_security_labels(level, version)},
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True)),
    )


def runtime_class_resource(
    resource_name: str,
    name: str,
    opts: Optional[pulumi.ResourceOptions] = None,
) -> k8s.node.v1.RuntimeClass:
    """The sysbox RuntimeClass `name`: handler sysbox-runc, pods scheduled on nodes that run sysbox."""
    return k8s.node.v1.RuntimeClass(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels={"app.kubernetes.io/managed-by": MANAGED_BY}),
        handler=SYSBOX_HANDLER,
        scheduling=k8s.node.v1.SchedulingArgs(node_selector=dict(SYSBOX_NODE_SELECTOR)),
        opts=opts,
    )


@dataclass
class SharedKubernetesResources:
    """What `shared_resources()` created, and the args to build each workspace with."""

    namespaces: dict[str, k8s.core.v1.Namespace]
    """Created namespaces by name."""
    runtime_classes: dict[str, k8s.node.v1.RuntimeClass]
    """Created RuntimeClasses by name."""
    pod_security_levels: dict[str, PodSecurityLevel]
    """The enforce level of each namespace the workspaces use (created or not)."""
    args: dict[str, KubernetesWorkspaceArgs]
    """Each workspace's args with create_namespace and create_runtime_class turned off."""
    dependencies: dict[str, list[pulumi.Resource]]
    """Per workspace: the shared objects it needs; pass them as `depends_on` of its component."""


def shared_resources(
    workspaces: dict[str, KubernetesWorkspaceArgs],
    opts: Optional[pulumi.ResourceOptions] = None,
) -> SharedKubernetesResources:
    """Create, once, the namespaces and RuntimeClasses that the workspaces ask for.

    A namespace is created when any workspace in it has `create_namespace`; it enforces the
    least restrictive Pod Security level its workspaces need. A RuntimeClass is created per
    distinct `runtime` of the sysbox workspaces that have `create_runtime_class`. Logical names
    are the objects' names. Raises ValueError naming the workspace and field on bad args.
    """
    resolved: dict[str, ResolvedKubernetesWorkspace] = {}
    for name, args in workspaces.items():
        try:
            resolved[name] = resolve_kubernetes(name, args)
        except FieldError as error:
            raise ValueError(f"{name}: {error}") from None
    created = shared_resources_of(resolved, opts)
    created.args = {
        name: {**args, "create_namespace": False, "create_runtime_class": False} for name, args in workspaces.items()
    }
    return created


def shared_resources_of(
    resolved: dict[str, ResolvedKubernetesWorkspace], opts: Optional[pulumi.ResourceOptions] = None
) -> "SharedKubernetesResources":
    """`shared_resources()` for workspaces already resolved (`args` is left empty)."""

    levels: dict[str, list[PodSecurityLevel]] = {}
    versions: dict[str, list[Optional[str]]] = {}
    for r in resolved.values():
        levels.setdefault(r.kubernetes.namespace, []).append(r.pod_security_level)
        versions.setdefault(r.kubernetes.namespace, []).append(r.pod_security_version)
    wanted = {r.kubernetes.namespace for r in resolved.values() if r.kubernetes.create_namespace}
    namespaces = {
        ns: namespace_resource(ns, ns, least_restrictive(levels[ns]), opts, newest_version(versions[ns]))
        for ns in sorted(wanted)
    }
    runtimes = sorted(
        {r.runtime_class for r in resolved.values() if r.kubernetes.create_runtime_class and r.runtime_class}
    )
    runtime_classes = {rc: runtime_class_resource(rc, rc, opts) for rc in runtimes}

    dependencies: dict[str, list[pulumi.Resource]] = {}
    for name, r in resolved.items():
        deps: list[pulumi.Resource] = []
        if r.kubernetes.namespace in namespaces:
            deps.append(namespaces[r.kubernetes.namespace])
        if r.runtime_class in runtime_classes:
            deps.append(runtime_classes[r.runtime_class])
        dependencies[name] = deps
    return SharedKubernetesResources(
        namespaces=namespaces,
        runtime_classes=runtime_classes,
        pod_security_levels={ns: least_restrictive(found) for ns, found in levels.items()},
        args={},
        dependencies=dependencies,
    )
