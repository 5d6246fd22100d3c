"""Security levels computed from what a plan actually asks for, never from the strategy's name."""

from __future__ import annotations

from enum import Enum

from .strategies.spec import ContainerSpec, WorkspacePlan, all_containers


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
    """The weakest container decides: a pod is as safe as its most privileged member. A nested container
    (envbox's inner one) counts as a member too, and so does the container that holds it: an escape from
    the nested one lands in the outer one."""
    return min((container_security_level(c) for c in all_containers(plan)), key=LEVEL_ORDER.index)


def security_reason(plan: WorkspacePlan) -> str:
    """Why the plan has its level, in words a refusal or a report can use."""
    level = security_level(plan)
    for spec in plan.containers:
        if spec.nested is not None and container_security_level(spec) == level:
            inner = spec.nested.spec
            return (
                f"the outer container: {_REASONS[level]}; the workload runs in a nested, unprivileged "
                f"{inner.runtime} container (rated {container_security_level(inner).value} on its own), "
                "but one escape from that lands in the outer container"
            )
    return _REASONS[level]


_REASONS = {
    SecurityLevel.NONE: "the workspace controls the host's Docker daemon, so it is root on the host",
    SecurityLevel.LOW: "a privileged container runs as root, so escaping to the host is easy",
    SecurityLevel.MEDIUM: "a privileged container, but the daemon and the workload run as an unprivileged user",
    SecurityLevel.HIGH: "no privileged container and no host socket",
}


class PodSecurityLevel(str, Enum):
    """Kubernetes Pod Security Standards levels."""

    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"

    def __str__(self) -> str:
        return self.value


def pod_security_level(plan: WorkspacePlan) -> PodSecurityLevel:
    """The least Pod Security Standard that admits every container of the plan."""
    # Baseline also forbids every hostPath volume, read-only ones included.
    if any(c.privileged or c.host_sockets or c.host_paths for c in plan.containers):
        return PodSecurityLevel.PRIVILEGED
    # Restricted forbids running as root; sysbox's "root" is namespaced but still uid 0 in the spec.
    if any(c.runs_as_root for c in plan.containers):
        return PodSecurityLevel.BASELINE
    return PodSecurityLevel.RESTRICTED
