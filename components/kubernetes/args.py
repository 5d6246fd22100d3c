"""KubernetesWorkspace's own arguments, and resolving them with the workspace's.

The fields every target shares are `WorkspaceArgs` (components/args.py); `KubernetesSettingsArgs`
holds the Kubernetes-only ones, which a stack also sets once in its `kubernetes:` block.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any, Optional

import pulumi
from typing_extensions import NotRequired, TypedDict

from ..args import DNS1123_LABEL, WorkspaceArgs
from ..fields import NON_EMPTY, PYTHON, Default, FieldError, Matches, Path, Spelling, check, fields
from ..resolve import ResolvedWorkspace, located, resolve_workspace
from ..security import PodSecurityLevel, pod_security_level, pod_security_version
from ..strategies.spec import WorkspacePlan

DEFAULT_NAMESPACE = "workspaces"
DEFAULT_DATA_ROOT_SIZE = "20Gi"
DEFAULT_HOME_SIZE = "10Gi"
DEFAULT_TUN_DEVICE_RESOURCE = "squat.ai/tun"
DEFAULT_FUSE_DEVICE_RESOURCE = "squat.ai/fuse"

QUANTITY = Matches(r"[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?", "a Kubernetes quantity such as 20Gi or 500m")
LABEL_KEY = Matches(
    r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?",
    "a label key such as kubernetes.io/arch",
)


class UserNamespaceMode(str, Enum):
    """How a sysbox pod gets its user namespace."""

    ANNOTATION = "annotation"
    """CRI-O's annotation `io.kubernetes.cri-o.userns-mode: "auto:size=65536"`."""
    HOST_USERS = "hostUsers"
    """Kubernetes user namespaces: `hostUsers: false`."""

    def __str__(self) -> str:
        return self.value


class TolerationArgs(TypedDict):
    """A toleration of the workspace pod (Kubernetes `tolerations[]`)."""

    key: NotRequired[str]
    """Taint key to tolerate; empty with operator `Exists` tolerates every taint."""
    operator: NotRequired[Annotated[str, Matches("Equal|Exists", "'Equal' or 'Exists'"), Default("Equal")]]
    """`Equal` or `Exists`."""
    value: NotRequired[str]
    """Taint value to match with operator `Equal`; must be empty with `Exists`."""
    effect: NotRequired[
        Annotated[str, Matches("NoSchedule|PreferNoSchedule|NoExecute", "NoSchedule, PreferNoSchedule or NoExecute")]
    ]
    """`NoSchedule`, `PreferNoSchedule` or `NoExecute`; empty matches every effect."""


class KubernetesResourcesArgs(TypedDict):
    """Compute resources of the workspace (and of the dind-sidecar daemon, where nested containers run)."""

    requests: NotRequired[dict[str, Annotated[str, QUANTITY]]]
    """Requested quantities, e.g. `{"cpu": "500m", "memory": "1Gi"}`."""
    limits: NotRequired[dict[str, Annotated[str, QUANTITY]]]
    """Limits, e.g. `{"cpu": "2", "memory": "4Gi"}`."""


class KubernetesSettingsArgs(TypedDict):
    """The Kubernetes-only arguments (a stack's `kubernetes:` block)."""

    namespace: NotRequired[Annotated[str, DNS1123_LABEL, Default(DEFAULT_NAMESPACE)]]
    """Namespace of the workspace's objects."""
    create_namespace: NotRequired[Annotated[bool, Default(False)]]
    """Create the namespace, labelled with the Pod Security level this workspace needs.
    Several workspaces in one namespace: create it once (`shared_resources()`), not per workspace."""
    storage_class: NotRequired[Annotated[pulumi.Input[str], NON_EMPTY]]
    """StorageClass of the PVCs; unset: the cluster's default StorageClass."""
    data_root_size: NotRequired[Annotated[str, QUANTITY, Default(DEFAULT_DATA_ROOT_SIZE)]]
    """Size of the PVC for the daemon's data root."""
    home_size: NotRequired[Annotated[str, QUANTITY, Default(DEFAULT_HOME_SIZE)]]
    """Size of the PVC for the home directory."""
    native_sidecar: NotRequired[Annotated[bool, Default(True)]]
    """`dind-sidecar` only: run the daemon as a native sidecar (init container with restartPolicy Always,
    Kubernetes >= 1.29); false makes it a plain second container for older clusters."""
    user_namespace_mode: NotRequired[Annotated[UserNamespaceMode, Default(UserNamespaceMode.ANNOTATION)]]
    """`sysbox` only: how the pod gets its user namespace: `annotation` (CRI-O's
    `io.kubernetes.cri-o.userns-mode: auto:size=65536`) or `hostUsers` (`hostUsers: false`)."""
    create_runtime_class: NotRequired[Annotated[bool, Default(False)]]
    """`sysbox` only: create the RuntimeClass `runtime` (handler sysbox-runc, scheduled on nodes labelled
    `sysbox-runtime: running`); off by default, as sysbox-deploy-k8s usually installs it."""
    node_selector: NotRequired[dict[Annotated[str, LABEL_KEY], str]]
    """Node labels the workspace pod must be scheduled on."""
    tolerations: NotRequired[list[TolerationArgs]]
    """Taints the workspace pod tolerates."""
    resources: NotRequired[KubernetesResourcesArgs]
    """Requests and limits of the workspace container (and of the dind-sidecar daemon container)."""
    mount_service_account_token: NotRequired[Annotated[bool, Default(False)]]
    """Mount the service account token into the pod (a workspace rarely needs the API)."""
    tun_device_resource: NotRequired[Annotated[str, LABEL_KEY, Default(DEFAULT_TUN_DEVICE_RESOURCE)]]
    """`podman` and `dind-userns`: the extended resource a device plugin offers for `/dev/net/tun` (requested as
    a limit of 1), e.g. `squat.ai/tun` from squat/generic-device-plugin with a `tun` device."""
    fuse_device_resource: NotRequired[Annotated[str, LABEL_KEY, Default(DEFAULT_FUSE_DEVICE_RESOURCE)]]
    """The extended resource a device plugin offers for `/dev/fuse`, for a strategy that needs it (e.g.
    `github.com/fuse` or `squat.ai/fuse`)."""


class KubernetesWorkspaceArgs(WorkspaceArgs, KubernetesSettingsArgs):
    """Arguments of `KubernetesWorkspace`: a workspace as a Deployment in a Kubernetes namespace."""


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
    tun_device_resource: str = DEFAULT_TUN_DEVICE_RESOURCE
    fuse_device_resource: str = DEFAULT_FUSE_DEVICE_RESOURCE
    args: Mapping[str, Any] = field(default_factory=dict, compare=False)
    """The checked Kubernetes-only args these settings were resolved from."""


@dataclass(frozen=True)
class ResolvedKubernetesWorkspace:
    workspace: ResolvedWorkspace
    kubernetes: KubernetesSettings

    @property
    def args(self) -> dict[str, Any]:
        """The checked args (Python keys, defaults filled), the Kubernetes-only fields included."""
        return {**self.workspace.args, **self.kubernetes.args}

    @property
    def plan(self) -> WorkspacePlan:
        return self.workspace.plan

    @property
    def pod_security_level(self) -> PodSecurityLevel:
        return pod_security_level(self.plan)

    @property
    def pod_security_version(self) -> Optional[str]:
        """The Pod Security policy version from which `pod_security_level` holds (None: any)."""
        return pod_security_version(self.plan)

    @property
    def runtime_class(self) -> Optional[str]:
        """The RuntimeClass the pod names (sysbox), or None."""
        runtimes = {c.runtime for c in self.plan.containers if c.runtime}
        assert len(runtimes) <= 1, runtimes  # one pod, one runtime
        return next(iter(runtimes), None)


def _tolerations(tolerations: list[dict[str, str]]) -> tuple[dict[str, str], ...]:
    for index, toleration in enumerate(tolerations):
        if toleration["operator"] == "Exists" and toleration.get("value"):
            raise FieldError(("tolerations", index, "value"), "must be empty with operator 'Exists'")
        if toleration["operator"] == "Equal" and not toleration.get("key"):
            raise FieldError(
                ("tolerations", index, "key"), "required with operator 'Equal' (use 'Exists' to tolerate every taint)"
            )
    return tuple(tolerations)


def kubernetes_settings(checked: dict[str, Any]) -> KubernetesSettings:
    """The Kubernetes-only fields of checked args (`fields.check` against KubernetesSettingsArgs or a subclass)."""
    resources = checked.get("resources") or {}
    # Most settings are their field as checked; these few are reshaped.
    reshaped = {
        "node_selector": dict(checked.get("node_selector") or {}),
        "tolerations": _tolerations(checked.get("tolerations") or []),
        "requests": dict(resources.get("requests") or {}),
        "limits": dict(resources.get("limits") or {}),
        "args": {key: checked[key] for key in fields(KubernetesSettingsArgs) if key in checked},
    }
    as_checked = {f.name: checked[f.name] for f in dataclasses.fields(KubernetesSettings) if f.name in checked}
    return KubernetesSettings(**{**as_checked, **reshaped})


def check_settings(block: Any, spelling: Spelling = PYTHON, path: Path = ()) -> KubernetesSettings:
    """A stack's `kubernetes:` block (only the Kubernetes-only fields), checked; errors located under `path`."""
    try:
        with located(spelling):
            return kubernetes_settings(check(block, KubernetesSettingsArgs, spelling))
    except FieldError as error:
        raise error.within(path) from None


def resolve_kubernetes(
    name: str, args: KubernetesWorkspaceArgs, spelling: Spelling = PYTHON
) -> ResolvedKubernetesWorkspace:
    """Check args and build the plan and Kubernetes settings; FieldError names the field to fix."""
    workspace = resolve_workspace(name, args, spelling, KubernetesWorkspaceArgs)
    with located(spelling):
        return ResolvedKubernetesWorkspace(workspace, kubernetes_settings(dict(workspace.args)))
