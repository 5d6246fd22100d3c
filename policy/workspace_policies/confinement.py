"""no-weakened-confinement: no container whose seccomp or AppArmor profile is unconfined, or whose /proc is
unmasked (Kubernetes `procMount: Unmasked`), unless allowed. Each of them lowers a workspace's security level
(README, "Security levels"): dind-userns unmasks /proc (inside its own user namespace, `hostUsers: false`)."""

from __future__ import annotations

from typing import Any, Optional

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from .shapes import (
    DOCKER_CONTAINER,
    EXEMPT,
    as_dict,
    as_list,
    config_of,
    declare,
    dig,
    flag,
    plain,
    pod_containers,
    pod_spec,
    waived,
)

APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


def _docker_findings(props: dict) -> list[tuple[str, str]]:
    """(allow key, what) for a Docker container's security options."""
    found = []
    for option in as_list(props.get("securityOpts")):
        if not isinstance(option, str):
            continue
        key, _, value = option.replace(":", "=", 1).partition("=")
        if key == "seccomp" and value == "unconfined":
            found.append(("allowUnconfinedSeccomp", "seccomp=unconfined"))
        elif key == "apparmor" and value == "unconfined":
            found.append(("allowUnconfinedAppArmor", "apparmor=unconfined"))
        elif key == "systempaths" and value == "unconfined":
            found.append(("allowUnmaskedProcMount", "systempaths=unconfined (an unmasked /proc)"))
    return found


def _profile_type(context: Any) -> tuple[Optional[str], Optional[str]]:
    context = as_dict(context)
    return dig(context, "seccompProfile", "type"), dig(context, "appArmorProfile", "type")


def _pod_findings(spec: dict, annotations: dict) -> list[tuple[str, str]]:
    found = []
    pod_seccomp, pod_apparmor = _profile_type(spec.get("securityContext"))
    for label, container in pod_containers(spec):
        context = as_dict(container.get("securityContext"))
        seccomp, apparmor = _profile_type(context)
        if (seccomp or pod_seccomp) == "Unconfined":
            found.append(("allowUnconfinedSeccomp", f"{label} has seccomp Unconfined"))
        name = container.get("name")
        annotated = annotations.get(f"{APPARMOR_ANNOTATION_PREFIX}{name}") if isinstance(name, str) else None
        if (apparmor or pod_apparmor) == "Unconfined" or annotated == "unconfined":
            found.append(("allowUnconfinedAppArmor", f"{label} has AppArmor unconfined"))
        if context.get("procMount") == "Unmasked":
            found.append(("allowUnmaskedProcMount", f"{label} has procMount Unmasked"))
    return found


def no_weakened_confinement(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Flags unconfined seccomp or AppArmor and an unmasked /proc, each unless its allow key is set."""
    if waived(args):
        return
    config = config_of(args)
    hint = "it lowers the workspace's security level; acknowledge it with {key}, or exempt the resource"
    if args.resource_type == DOCKER_CONTAINER:
        findings = [(key, f"container {args.name!r}: {what}") for key, what in _docker_findings(plain(args.props))]
    else:
        spec = pod_spec(args)
        if spec is None:
            return
        template_annotations = as_dict(dig(plain(args.props), "spec", "template", "metadata", "annotations"))
        own_annotations = as_dict(dig(plain(args.props), "metadata", "annotations"))
        findings = [
            (key, f"{args.name!r} {what}")
            for key, what in _pod_findings(spec, {**own_annotations, **template_annotations})
        ]
    for key, what in findings:
        if config.get(key) is not True:
            report_violation(f"{what}: {hint.format(key=key)}", None)


POLICY = declare(
    "no-weakened-confinement",
    "No unconfined seccomp or AppArmor profile and no unmasked /proc (dind-userns), unless allowed.",
    no_weakened_confinement,
    Severity.HIGH,
    allowUnconfinedSeccomp=flag("Allow containers without a seccomp filter."),
    allowUnconfinedAppArmor=flag("Allow containers without an AppArmor profile."),
    allowUnmaskedProcMount=flag("Allow an unmasked /proc (procMount: Unmasked; dind-userns, with hostUsers: false)."),
    exemptResources=EXEMPT,
)
