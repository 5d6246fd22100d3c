"""sysbox-isolation: sysbox workloads are never privileged and never on the host's namespaces."""

from __future__ import annotations

import fnmatch
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from .shapes import DOCKER_CONTAINER, config_of, declare, patterns, plain, pod_spec, report_privileged, strings

DEFAULT_SYSBOX_RUNTIMES = ["*sysbox*"]


def sysbox_isolation(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Sysbox workloads are never privileged and never share the host's network, PID or IPC namespace."""
    runtimes = strings(config_of(args), "sysboxRuntimes", DEFAULT_SYSBOX_RUNTIMES)

    def is_sysbox(runtime: Any) -> bool:
        return isinstance(runtime, str) and any(fnmatch.fnmatchcase(runtime, p) for p in runtimes)

    hint = "this undoes sysbox's isolation (its user namespace and unprivileged root)"
    if args.resource_type == DOCKER_CONTAINER:
        props = plain(args.props)
        if not is_sysbox(props.get("runtime")):
            return
        if props.get("privileged") is True:
            report_violation(f"sysbox container {args.name!r} is privileged: {hint}", None)
        for key, what in (("networkMode", "network"), ("pidMode", "PID"), ("ipcMode", "IPC"), ("usernsMode", "user")):
            if props.get(key) == "host":
                report_violation(f"sysbox container {args.name!r} uses the host's {what} namespace ({key}: host)", None)
        return
    spec = pod_spec(args)
    if spec is None or not is_sysbox(spec.get("runtimeClassName")):
        return
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key) is True:
            report_violation(f"sysbox pod {args.name!r} sets {key}: true: {hint}", None)
    report_privileged(spec, report_violation, lambda label: f"sysbox pod {args.name!r}: {label} is privileged: {hint}")


POLICY = declare(
    "sysbox-isolation",
    "Sysbox workloads are neither privileged nor on the host's network, PID or IPC namespace.",
    sysbox_isolation,
    Severity.HIGH,
    sysboxRuntimes=patterns("Glob patterns of runtime / RuntimeClass names that are sysbox.", DEFAULT_SYSBOX_RUNTIMES),
)
