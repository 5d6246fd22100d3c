"""Security levels computed from what a plan actually asks for, never from the strategy's name."""

from __future__ import annotations

from enum import Enum

from .strategies.spec import ContainerSpec, WorkspacePlan


class SecurityLevel(str, Enum):
    """How well the host is protected from the workspace (ordered worst to best)."""

    NONE = "none"
    """The workspace controls the host's Docker daemon: it is root on the host."""
    LOW = "low"
    """A privileged container runs as root: escaping it is easy."""
    MEDIUM = "medium"
    """A privileged container, but the daemon and workload run as an unprivileged user."""
    HIGH = "high"
    """No privileged container and no host socket."""

    def __str__(self) -> str:
        return self.value


LEVEL_ORDER = [SecurityLevel.NONE, SecurityLevel.LOW, SecurityLevel.MEDIUM, SecurityLevel.HIGH]
"""Worst to best."""
INSECURE_LEVELS = (SecurityLevel.NONE, SecurityLevel.LOW)
"""Levels a workspace gets only with `allow_insecure: true`."""


def container_security_level(spec: ContainerSpec) -> SecurityLevel:
    if spec.host_sockets:
        return SecurityLevel.NONE
    if spec.privileged:
        return SecurityLevel.LOW if spec.runs_as_root else SecurityLevel.MEDIUM
    return SecurityLevel.HIGH


def security_level(plan: WorkspacePlan) -> SecurityLevel:
    """The weakest container decides: a pod is as safe as its most privileged member."""
    return min((container_security_level(c) for c in plan.containers), key=LEVEL_ORDER.index)


class PodSecurityLevel(str, Enum):
    """Kubernetes Pod Security Standards levels."""

    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"

    def __str__(self) -> str:
        return self.value


def pod_security_level(plan: WorkspacePlan) -> PodSecurityLevel:
    """The least Pod Security Standard that admits every container of the plan."""
    if any(c.privileged or c.host_sockets for c in plan.containers):
        return PodSecurityLevel.PRIVILEGED
    # Restricted forbids running as root; sysbox's "root" is namespaced but still uid 0 in the spec.
    if any(c.runs_as_root for c in plan.containers):
        return PodSecurityLevel.BASELINE
    return PodSecurityLevel.RESTRICTED
