"""KubernetesWorkspace: the Kubernetes adapter, turning a WorkspacePlan into pulumi-kubernetes resources.

One workspace is a Deployment (1 replica, 0 when stopped, strategy Recreate) with
PVCs for the daemon's data root and the home (retained on delete), a ConfigMap
holding the start script, and a Secret for secret environment values (referenced
by `secretKeyRef`, never written into the pod spec).

Shared, cluster- or namespace-wide objects (the Namespace with its Pod Security
labels, the sysbox RuntimeClass) can be created by the component when asked, but
several workspaces in one namespace must not each create them: a program with
many workspaces calls `shared_resources()` once, which creates them and hands
back each workspace's args with `create_namespace`/`create_runtime_class` off.
"""

import math
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s
from typing_extensions import NotRequired, TypedDict

from .args import ResolvedWorkspace, WorkspaceArgs, resolve, validate_name
from .security import PodSecurityLevel, pod_security_level, security_level
from .strategies.spec import DAEMON, ROOTLESS_UID, WORKSPACE, ContainerSpec, WorkspacePlan
from .workload import (
    START_SCRIPT_DIR,
    START_SCRIPT_PATH,
    DaemonSettings,
    Launch,
    daemon_probe_command,
    launch_for,
    start_script,
    start_script_sha256,
)

TOKEN = "docker-in-workspaces:index:KubernetesWorkspace"
LABEL_PREFIX = "docker-in-workspaces"
APP_NAME = "docker-in-workspaces"
MANAGED_BY = "pulumi"

DEFAULT_NAMESPACE = "workspaces"
DEFAULT_DATA_ROOT_SIZE = "20Gi"
DEFAULT_HOME_SIZE = "10Gi"

SYSBOX_HANDLER = "sysbox-runc"
"""The RuntimeClass handler sysbox-deploy-k8s configures in CRI-O."""
SYSBOX_NODE_SELECTOR = {"sysbox-runtime": "running"}
"""The label sysbox-deploy-k8s puts on nodes where sysbox runs."""
CRIO_USERNS_ANNOTATION = "io.kubernetes.cri-o.userns-mode"
CRIO_USERNS_MODE = "auto:size=65536"


class UserNamespaceMode(str, Enum):
    """How a sysbox pod gets its user namespace."""

    ANNOTATION = "annotation"
    """CRI-O's annotation `io.kubernetes.cri-o.userns-mode: "auto:size=65536"`."""
    HOST_USERS = "hostUsers"
    """Kubernetes user namespaces: `hostUsers: false`."""

    def __str__(self) -> str:
        return self.value


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

PSS_ENFORCE = "pod-security.kubernetes.io/enforce"
PSS_WARN = "pod-security.kubernetes.io/warn"
PSS_AUDIT = "pod-security.kubernetes.io/audit"

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_PSS_PERMISSIVENESS = [PodSecurityLevel.PRIVILEGED, PodSecurityLevel.BASELINE, PodSecurityLevel.RESTRICTED]


class TolerationArgs(TypedDict):
    """A toleration of the workspace pod (Kubernetes `tolerations[]`)."""

    key: NotRequired[str]
    """Taint key to tolerate; empty with operator `Exists` tolerates every taint."""
    operator: NotRequired[str]
    """`Equal` (default) or `Exists`."""
    value: NotRequired[str]
    """Taint value to match with operator `Equal`; must be empty with `Exists`."""
    effect: NotRequired[str]
    """`NoSchedule`, `PreferNoSchedule` or `NoExecute`; empty matches every effect."""


class KubernetesResourcesArgs(TypedDict):
    """Compute resources of the workspace (and of the dind-sidecar daemon, where nested containers run)."""

    requests: NotRequired[dict[str, str]]
    """Requested quantities, e.g. `{"cpu": "500m", "memory": "1Gi"}`."""
    limits: NotRequired[dict[str, str]]
    """Limits, e.g. `{"cpu": "2", "memory": "4Gi"}`."""


class KubernetesWorkspaceArgs(WorkspaceArgs):
    """Arguments of `KubernetesWorkspace`: a workspace as a Deployment in a Kubernetes namespace."""

    namespace: NotRequired[str]
    """Namespace of the workspace's objects; default `workspaces`."""
    create_namespace: NotRequired[bool]
    """Create the namespace, labelled with the Pod Security level this workspace needs; default false.
    Several workspaces in one namespace: create it once (`shared_resources()`), not per workspace."""
    storage_class: NotRequired[pulumi.Input[str]]
    """StorageClass of the PVCs; default: the cluster's default StorageClass."""
    data_root_size: NotRequired[str]
    """Size of the PVC for the daemon's data root; default `20Gi`."""
    home_size: NotRequired[str]
    """Size of the PVC for the home directory; default `10Gi`."""
    native_sidecar: NotRequired[bool]
    """`dind-sidecar` only: run the daemon as a native sidecar (init container with restartPolicy Always,
    Kubernetes >= 1.29); false makes it a plain second container for older clusters. Default true."""
    user_namespace_mode: NotRequired[UserNamespaceMode]
    """`sysbox` only: how the pod gets its user namespace: `annotation` (CRI-O's
    `io.kubernetes.cri-o.userns-mode: auto:size=65536`, default) or `hostUsers` (`hostUsers: false`)."""
    create_runtime_class: NotRequired[bool]
    """`sysbox` only: create the RuntimeClass `runtime` (handler sysbox-runc, scheduled on nodes labelled
    `sysbox-runtime: running`); default false (sysbox-deploy-k8s usually installs it)."""
    node_selector: NotRequired[dict[str, str]]
    """Node labels the workspace pod must be scheduled on."""
    tolerations: NotRequired[list[TolerationArgs]]
    """Taints the workspace pod tolerates."""
    resources: NotRequired[KubernetesResourcesArgs]
    """Requests and limits of the workspace container (and of the dind-sidecar daemon container)."""
    mount_service_account_token: NotRequired[bool]
    """Mount the service account token into the pod; default false (a workspace rarely needs the API)."""


_ALLOWED_KEYS = frozenset(KubernetesWorkspaceArgs.__required_keys__ | KubernetesWorkspaceArgs.__optional_keys__)


@dataclass(frozen=True)
class KubernetesSettings:
    """The Kubernetes-only arguments, checked."""

    namespace: str = DEFAULT_NAMESPACE
    create_namespace: bool = False
    storage_class: Optional[pulumi.Input[str]] = None
    data_root_size: str = DEFAULT_DATA_ROOT_SIZE
    home_size: str = DEFAULT_HOME_SIZE
    native_sidecar: bool = True
    user_namespace_mode: UserNamespaceMode = UserNamespaceMode.ANNOTATION
    create_runtime_class: bool = False
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, str], ...] = ()
    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)
    mount_service_account_token: bool = False


@dataclass(frozen=True)
class ResolvedKubernetesWorkspace:
    workspace: ResolvedWorkspace
    kubernetes: KubernetesSettings

    @property
    def plan(self) -> WorkspacePlan:
        return self.workspace.plan

    @property
    def pod_security_level(self) -> PodSecurityLevel:
        return pod_security_level(self.plan)

    @property
    def runtime_class(self) -> Optional[str]:
        """The RuntimeClass the pod names (sysbox), or None."""
        runtimes = {c.runtime for c in self.plan.containers if c.runtime}
        assert len(runtimes) <= 1, runtimes  # one pod, one runtime
        return next(iter(runtimes), None)


def _bool(args: dict[str, Any], key: str, default: bool) -> bool:
    value = args.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key}: must be true or false, got {value!r}")
    return value


def _quantity(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _QUANTITY.fullmatch(value):
        raise ValueError(f"{where}: must be a Kubernetes quantity such as 20Gi or 500m, got {value!r}")
    return value


def _string_map(value: Any, where: str, check_keys: bool = False) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where}: must be a mapping of strings, got {value!r}")
    for key, item in value.items():
        if not isinstance(key, str) or not key or (check_keys and not _LABEL_KEY.fullmatch(key)):
            raise ValueError(f"{where}: {key!r} is not a valid key")
        if not isinstance(item, str):
            raise ValueError(f"{where}.{key}: must be a string, got {item!r}")
    return dict(value)


def _tolerations(value: Any) -> tuple[dict[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError(f"tolerations: must be a list, got {value!r}")
    checked = []
    for index, item in enumerate(value):
        where = f"tolerations[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: must be a mapping with key/operator/value/effect, got {item!r}")
        unknown = sorted(set(item) - {"key", "operator", "value", "effect"})
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown key; use key, operator, value, effect")
        toleration = {k: v for k, v in item.items() if v is not None}
        for key, item_value in toleration.items():
            if not isinstance(item_value, str):
                raise ValueError(f"{where}.{key}: must be a string, got {item_value!r}")
        operator = toleration.setdefault("operator", "Equal")
        if operator not in ("Equal", "Exists"):
            raise ValueError(f"{where}.operator: must be 'Equal' or 'Exists', got {operator!r}")
        if operator == "Exists" and toleration.get("value"):
            raise ValueError(f"{where}.value: must be empty with operator 'Exists'")
        if operator == "Equal" and not toleration.get("key"):
            raise ValueError(f"{where}.key: required with operator 'Equal' (use 'Exists' to tolerate every taint)")
        effect = toleration.get("effect")
        if effect and effect not in _TOLERATION_EFFECTS:
            raise ValueError(f"{where}.effect: must be one of {', '.join(_TOLERATION_EFFECTS)}, got {effect!r}")
        checked.append(toleration)
    return tuple(checked)


def _resources(value: Any) -> tuple[dict[str, str], dict[str, str]]:
    if value is None:
        return {}, {}
    if not isinstance(value, dict):
        raise ValueError(f"resources: must be a mapping with requests and limits, got {value!r}")
    unknown = sorted(set(value) - {"requests", "limits"})
    if unknown:
        raise ValueError(f"resources.{unknown[0]}: unknown key; use requests, limits")
    requests = _string_map(value.get("requests"), "resources.requests")
    limits = _string_map(value.get("limits"), "resources.limits")
    for where, quantities in (("resources.requests", requests), ("resources.limits", limits)):
        for name, quantity in quantities.items():
            _quantity(quantity, f"{where}.{name}")
    return requests, limits


def resolve_kubernetes(name: str, args: KubernetesWorkspaceArgs) -> ResolvedKubernetesWorkspace:
    """Check args (raising ValueError that names the field) and build the plan and Kubernetes settings."""
    raw: dict[str, Any] = dict(args or {})
    unknown = sorted(set(raw) - _ALLOWED_KEYS)
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown argument of KubernetesWorkspace; check its spelling")
    workspace = resolve(name, args)
    namespace = raw.get("namespace", DEFAULT_NAMESPACE)
    validate_name(namespace, "namespace")
    storage_class = raw.get("storage_class")
    if isinstance(storage_class, str) and not storage_class.strip():
        raise ValueError("storage_class: must not be empty; leave it out for the cluster's default StorageClass")
    try:
        mode = UserNamespaceMode(raw.get("user_namespace_mode", UserNamespaceMode.ANNOTATION))
    except ValueError:
        raise ValueError(
            f"user_namespace_mode: must be 'annotation' or 'hostUsers', got {raw['user_namespace_mode']!r}"
        ) from None
    requests, limits = _resources(raw.get("resources"))
    settings = KubernetesSettings(
        namespace=namespace,
        create_namespace=_bool(raw, "create_namespace", False),
        storage_class=storage_class,
        data_root_size=_quantity(raw.get("data_root_size", DEFAULT_DATA_ROOT_SIZE), "data_root_size"),
        home_size=_quantity(raw.get("home_size", DEFAULT_HOME_SIZE), "home_size"),
        native_sidecar=_bool(raw, "native_sidecar", True),
        user_namespace_mode=mode,
        create_runtime_class=_bool(raw, "create_runtime_class", False),
        node_selector=_string_map(raw.get("node_selector"), "node_selector", check_keys=True),
        tolerations=_tolerations(raw.get("tolerations")),
        requests=requests,
        limits=limits,
        mount_service_account_token=_bool(raw, "mount_service_account_token", False),
    )
    return ResolvedKubernetesWorkspace(workspace, settings)


# --- shared objects: Namespace and RuntimeClass ----------------------------------------------------------------


def least_restrictive(levels: list[PodSecurityLevel]) -> PodSecurityLevel:
    """The Pod Security level that admits every one of `levels` (restricted when there are none)."""
    return min(levels, key=_PSS_PERMISSIVENESS.index, default=PodSecurityLevel.RESTRICTED)


def pod_security_labels(level: PodSecurityLevel | str) -> dict[str, str]:
    """Namespace labels: enforce the level the workspaces need; warn and audit against restricted."""
    return {
        PSS_ENFORCE: PodSecurityLevel(level).value,
        PSS_WARN: PodSecurityLevel.RESTRICTED.value,
        PSS_AUDIT: PodSecurityLevel.RESTRICTED.value,
    }


def namespace_resource(
    resource_name: str,
    namespace: str,
    level: PodSecurityLevel | str,
    opts: Optional[pulumi.ResourceOptions] = None,
) -> k8s.core.v1.Namespace:
    """The namespace, labelled for Pod Security. Retained on delete: deleting it would delete the PVCs."""
    validate_name(namespace, "namespace")
    return k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=namespace,
            labels={"app.kubernetes.io/managed-by": MANAGED_BY, **pod_security_labels(level)},
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
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None

    levels: dict[str, list[PodSecurityLevel]] = {}
    for r in resolved.values():
        levels.setdefault(r.kubernetes.namespace, []).append(r.pod_security_level)
    wanted = {r.kubernetes.namespace for r in resolved.values() if r.kubernetes.create_namespace}
    namespaces = {ns: namespace_resource(ns, ns, least_restrictive(levels[ns]), opts) for ns in sorted(wanted)}
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
        args={
            name: {**args, "create_namespace": False, "create_runtime_class": False}
            for name, args in workspaces.items()
        },
        dependencies=dependencies,
    )


# --- the component ------------------------------------------------------------------------------------------------


def _secret_env(launch: Launch) -> dict[str, pulumi.Input[str]]:
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


def _probe(period: int, failures: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        exec_=k8s.core.v1.ExecActionArgs(command=daemon_probe_command()),
        period_seconds=period,
        failure_threshold=failures,
        timeout_seconds=PROBE_TIMEOUT_SECONDS,
    )


def startup_failure_threshold(daemon: DaemonSettings) -> int:
    """Probes every 5 s for as long as the start script waits: the first probe runs at the container's start and
    the kubelet gives up at the threshold-th failure, `(threshold - 1) x 5 s` later, hence one more (25 for the
    default 120 s)."""
    return math.ceil(daemon.ready_timeout / PROBE_PERIOD_SECONDS) + 1


class KubernetesWorkspace(pulumi.ComponentResource):
    """A development workspace on Kubernetes with a working Docker daemon, by the chosen strategy."""

    docker_host: pulumi.Output[str]
    """The DOCKER_HOST the workspace uses."""
    security_level: pulumi.Output[str]
    """none | low | medium | high, computed from the containers actually built."""
    pod_security_level: pulumi.Output[str]
    """The least Pod Security Standard level admitting the pod: privileged | baseline | restricted."""
    namespace: pulumi.Output[str]
    """Namespace of the workspace's objects."""
    deployment_name: pulumi.Output[str]
    """Name of the workspace's Deployment (`<name>`)."""

    def __init__(self, name: str, args: KubernetesWorkspaceArgs, opts: Optional[pulumi.ResourceOptions] = None):
        resolved = resolve_kubernetes(name, args)  # raises before anything, even this component, is registered
        super().__init__(TOKEN, name, {}, opts)
        plan = resolved.plan
        settings = resolved.kubernetes
        level = security_level(plan)
        pss = resolved.pod_security_level
        # Children wait for what the component waits for (e.g. a Namespace from shared_resources()).
        self._inherited_deps = _resource_list(opts.depends_on if opts else None)

        namespace: pulumi.Input[str] = settings.namespace
        dependencies: list[pulumi.Resource] = []
        if settings.create_namespace:
            ns = namespace_resource(f"{name}-namespace", settings.namespace, pss, self._child_opts())
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
        secret_values = {key: value for launch in launches.values() for key, value in _secret_env(launch).items()}
        secret = self._secret(secret_name, secret_values, namespace, labels, dependencies)

        pod = self._pod_spec(resolved, launches, secret_name if secret else None)
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
        if plan.workspace.user_namespace and settings.user_namespace_mode == UserNamespaceMode.ANNOTATION:
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

        self.docker_host = pulumi.Output.from_input(plan.docker_host)
        self.security_level = pulumi.Output.from_input(level.value)
        self.pod_security_level = pulumi.Output.from_input(pss.value)
        self.namespace = pulumi.Output.from_input(namespace)
        self.deployment_name = deployment.metadata.name
        self.register_outputs(
            {
                "docker_host": self.docker_host,
                "security_level": self.security_level,
                "pod_security_level": self.pod_security_level,
                "namespace": self.namespace,
                "deployment_name": self.deployment_name,
            }
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
            data={START_SCRIPT_PATH.rsplit("/", 1)[1]: start_script()},
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

    def _pod_spec(
        self, resolved: ResolvedKubernetesWorkspace, launches: dict[str, Launch], secret_name: Optional[str]
    ) -> k8s.core.v1.PodSpecArgs:
        plan = resolved.plan
        settings = resolved.kubernetes
        volumes = self._pod_volumes(resolved, launches)
        containers: list[k8s.core.v1.ContainerArgs] = []
        init_containers: list[k8s.core.v1.ContainerArgs] = []
        for spec in plan.containers:
            native_sidecar = spec.role != WORKSPACE and settings.native_sidecar
            container = self._container(resolved, spec, launches[spec.role], secret_name, native_sidecar)
            (init_containers if native_sidecar else containers).append(container)
        # The workspace first: `kubectl exec` and `kubectl logs` default to it.
        containers.sort(key=lambda c: c.name != WORKSPACE)
        groups = sorted({gid for spec in plan.containers for gid in spec.supplemental_groups})
        user_namespace = any(spec.user_namespace for spec in plan.containers)
        return k8s.core.v1.PodSpecArgs(
            init_containers=init_containers or None,
            containers=containers,
            volumes=volumes,
            security_context=k8s.core.v1.PodSecurityContextArgs(
                supplemental_groups=groups or None,
                fs_group=WORKSPACE_FS_GROUP,
                # Only when the volume's root does not match yet: never a recursive chown of a data root.
                fs_group_change_policy="OnRootMismatch",
            ),
            runtime_class_name=resolved.runtime_class,
            host_users=False
            if user_namespace and settings.user_namespace_mode == UserNamespaceMode.HOST_USERS
            else None,
            automount_service_account_token=settings.mount_service_account_token,
            # No service-discovery env vars (a Service named "docker" would add DOCKER_PORT etc.).
            enable_service_links=False,
            node_selector=settings.node_selector or None,
            tolerations=[k8s.core.v1.TolerationArgs(**t) for t in settings.tolerations] or None,  # type: ignore[arg-type]
        )

    def _pod_volumes(
        self, resolved: ResolvedKubernetesWorkspace, launches: dict[str, Launch]
    ) -> list[k8s.core.v1.VolumeArgs]:
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
                    name=_host_socket_volume(index),
                    host_path=k8s.core.v1.HostPathVolumeSourceArgs(path=host_path, type="Socket"),
                )
            )
        if any(launch.uses_start_script_file for launch in launches.values()):
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="start-script",
                    config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=f"{name}-start-docker", default_mode=0o555),
                )
            )
        return volumes

    def _container(
        self,
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
            k8s.core.v1.VolumeMountArgs(name=_host_socket_volume(sockets.index(s.host_path)), mount_path=s.path)
            for s in spec.host_sockets
        ]
        if launch.uses_start_script_file:
            mounts.append(k8s.core.v1.VolumeMountArgs(name="start-script", mount_path=START_SCRIPT_DIR, read_only=True))
        secrets = _secret_env(launch)
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
        env = []
        # Sorted, and $(VAR) references only point backwards (DIW_NODE_IP < DIW_PUBLISHED_..., DIW_POD_UID <
        # DIW_SHARED_...), as Kubernetes expands them in order.
        for key in sorted({*plain, *secrets, *fields}):
            if key in fields:
                env.append(_field_env(key, fields[key]))
            elif key in secrets:
                assert secret_name is not None
                ref = k8s.core.v1.SecretKeySelectorArgs(name=secret_name, key=key)
                env.append(
                    k8s.core.v1.EnvVarArgs(name=key, value_from=k8s.core.v1.EnvVarSourceArgs(secret_key_ref=ref))
                )
            else:
                env.append(k8s.core.v1.EnvVarArgs(name=key, value=plain[key]))
        startup = readiness = None
        if spec.daemon is not None:
            readiness = _probe(READINESS_PERIOD_SECONDS, 3)
            # With Envbuilder the daemon starts only after the image build, which no fixed budget fits.
            if not (spec.role == WORKSPACE and resolved.workspace.workload.envbuilder is not None):
                startup = _probe(PROBE_PERIOD_SECONDS, startup_failure_threshold(resolved.workspace.daemon))
        # The dind-sidecar daemon gets the same resources: nested containers run in its cgroup.
        resources = (
            k8s.core.v1.ResourceRequirementsArgs(requests=settings.requests or None, limits=settings.limits or None)
            if settings.requests or settings.limits
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
            ),
            resources=resources,
            startup_probe=startup,
            readiness_probe=readiness,
            restart_policy="Always" if native_sidecar else None,
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
