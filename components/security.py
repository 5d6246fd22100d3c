"""Security levels computed from what a plan actually asks for, never from the strategy's name."""

from __future__ import annotations

from enum import Enum

from .strategies.spec import AppArmor, ContainerSpec, ProcMount, Seccomp, WorkspacePlan, all_containers


class SecurityLevel(str, Enum):
    """How well the host is protected from the workspace (ordered worst to best)."""

    NONE = "none"
    """The workspace controls the host's Docker daemon: it is root on the host."""
    LOW = "low"
    """A privileged container runs as root: escaping it is easy."""
    MEDIUM = "medium"
    """A privileged container, but the daemon and workload run as an unprivileged user; or no privileged
    container, but one with a confinement turned off: an unconfined seccomp or AppArmor profile, an unmasked
    /proc, or capabilities added to the runtime's default set."""
    HIGH = "high"
    """No privileged container, no host socket, and every confinement on: seccomp filtered (the runtime's
    default or a shipped profile), AppArmor not unconfined, /proc masked, no capability added."""

    def __str__(self) -> str:
        return self.value


LEVEL_ORDER = [SecurityLevel.NONE, SecurityLevel.LOW, SecurityLevel.MEDIUM, SecurityLevel.HIGH]
"""Worst to best."""
INSECURE_LEVELS = (SecurityLevel.NONE, SecurityLevel.LOW)
"""Levels a workspace gets only with `allow_insecure: true`."""


def weakened_confinement(spec: ContainerSpec) -> list[str]:
    """What of a container's confinement is turned off (each lowers an unprivileged container to medium)."""
    weakened = []
    if spec.seccomp == Seccomp.UNCONFINED:
        weakened.append("seccomp unconfined")
    if spec.apparmor == AppArmor.UNCONFINED:
        weakened.append("AppArmor unconfined")
    if spec.proc_mount == ProcMount.UNMASKED:
        weakened.append("/proc unmasked")
    if spec.cap_add:
        weakened.append(f"capabilities added ({', '.join(spec.cap_add)})")
    return weakened


def container_security_level(spec: ContainerSpec) -> SecurityLevel:
    if spec.host_sockets:
        return SecurityLevel.NONE
    if spec.privileged:
        return SecurityLevel.LOW if spec.runs_as_root else SecurityLevel.MEDIUM
    if weakened_confinement(spec):
        return SecurityLevel.MEDIUM
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
    if level == SecurityLevel.MEDIUM:
        weakened = [w for c in all_containers(plan) if not c.privileged for w in weakened_confinement(c)]
        if weakened and not any(c.privileged for c in all_containers(plan)):
            return f"no privileged container, but a confinement turned off: {', '.join(weakened)}"
    return _REASONS[level]


_REASONS = {
    SecurityLevel.NONE: "the workspace controls the host's Docker daemon, so it is root on the host",
    SecurityLevel.LOW: "a privileged container runs as root, so escaping to the host is easy",
    SecurityLevel.MEDIUM: "a privileged container, but the daemon and the workload run as an unprivileged user",
    # (or, without a privileged container, a confinement turned off: security_reason names which)
    SecurityLevel.HIGH: "no privileged container and no host socket",
}


class PodSecurityLevel(str, Enum):
    """Kubernetes Pod Security Standards levels."""

    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"

    def __str__(self) -> str:
        return self.value


BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
        "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
    }
)  # fmt: skip
"""Pod Security baseline: the capabilities a container may add (the container runtimes' default set)."""

UNMASKED_PROC_BASELINE_VERSION = "v1.35"
"""The Pod Security policy version from which baseline admits `procMount: Unmasked` for a pod with
`hostUsers: false` (kubernetes pod-security-admission/policy/check_procMount.go); before it, privileged."""


def _baseline_violations(spec: ContainerSpec) -> list[str]:
    """Pod Security baseline checks the container fails (hostUsers false is assumed for an unmasked /proc:
    the API admits nothing else)."""
    violations = []
    if spec.privileged:
        violations.append("privileged")
    # Baseline forbids every hostPath volume, read-only ones included.
    if spec.host_sockets or spec.host_paths:
        violations.append("hostPath volumes")
    if spec.seccomp == Seccomp.UNCONFINED:
        violations.append("seccomp Unconfined")
    if spec.apparmor == AppArmor.UNCONFINED:
        violations.append("AppArmor unconfined")
    if set(spec.cap_add) - BASELINE_CAPABILITIES:
        violations.append(
            f"capabilities beyond baseline ({', '.join(sorted(set(spec.cap_add) - BASELINE_CAPABILITIES))})"
        )
    return violations


def _restricted(spec: ContainerSpec) -> bool:
    # Restricted: non-root, allowPrivilegeEscalation false, every capability dropped (NET_BIND_SERVICE may
    # come back), seccomp set to RuntimeDefault or Localhost, no unmasked /proc, no user namespace tricks
    # needed. sysbox's "root" is namespaced but still uid 0 in the spec.
    return (
        not spec.runs_as_root
        and spec.no_new_privileges
        and "ALL" in spec.cap_drop
        and set(spec.cap_add) <= {"NET_BIND_SERVICE"}
        and spec.seccomp != Seccomp.UNCONFINED
        and spec.proc_mount == ProcMount.DEFAULT
    )


def pod_security_level(plan: WorkspacePlan) -> PodSecurityLevel:
    """The least Pod Security Standard that admits every container of the plan (at the policy version
    `pod_security_version` names)."""
    if any(_baseline_violations(c) for c in plan.containers):
        return PodSecurityLevel.PRIVILEGED
    if all(_restricted(c) for c in plan.containers):
        return PodSecurityLevel.RESTRICTED
    return PodSecurityLevel.BASELINE


def pod_security_version(plan: WorkspacePlan) -> str | None:
    """The least Pod Security policy version at which `pod_security_level` holds (None: any, "latest" is fine)."""
    if any(c.proc_mount == ProcMount.UNMASKED for c in plan.containers):
        return UNMASKED_PROC_BASELINE_VERSION
    return None
