"""no-privileged-container: no privileged container (dind, dind-sidecar, dind-rootless), unless allowed."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from .shapes import DOCKER_CONTAINER, EXEMPT, declare, flag, plain, pod_spec, report_privileged, waived


def no_privileged_container(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """No privileged container, unless `allowPrivileged` (or the resource is exempt)."""
    if waived(args, "allowPrivileged"):
        return
    hint = "a privileged container can take over its host; use sysbox, or acknowledge with allowPrivileged"
    if args.resource_type == DOCKER_CONTAINER:
        if plain(args.props).get("privileged") is True:
            report_violation(f"container {args.name!r} is privileged: {hint}", None)
        return
    spec = pod_spec(args)
    if spec is None:
        return
    report_privileged(spec, report_violation, lambda label: f"{args.name!r} {label} is privileged: {hint}")


POLICY = declare(
    name="no-privileged-container",
    description="No privileged container (dind, dind-sidecar, dind-rootless), unless allowed.",
    validate=no_privileged_container,
    severity=Severity.HIGH,
    allowPrivileged=flag("Allow privileged containers (security levels low and medium)."),
    exemptResources=EXEMPT,
)
