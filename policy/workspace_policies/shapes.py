"""What every policy module of the pack shares: `declare` (a check's policy object and config schema), and
reading resource inputs as the policies need them: plain values (unknowns tolerated), pod specs and their
containers, env, paths, and each policy's config."""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Optional

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    Severity,
    proxy,
)
from pulumi_policy.proxy import UnknownValueError

DOCKER_CONTAINER = "docker:index/container:Container"

_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:core/v1:PodTemplate": ("template", "spec"),
    "kubernetes:core/v1:ReplicationController": ("spec", "template", "spec"),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
"""Where each Kubernetes workload type keeps its pod spec (server-side-apply `...Patch` types too)."""
_POD_SPEC_PATHS.update({f"{typ}Patch": path for typ, path in list(_POD_SPEC_PATHS.items())})


# --- declaring a policy -------------------------------------------------------------------------------------------


def flag(description: str) -> dict[str, Any]:
    """A boolean config property, default false."""
    return {"type": "boolean", "default": False, "description": description}


def patterns(description: str, default: Optional[list[str]] = None) -> dict[str, Any]:
    """A config property that is a list of strings (glob patterns, regular expressions, names)."""
    return {"type": "array", "items": {"type": "string"}, "default": list(default or []), "description": description}


EXEMPT = patterns("Glob patterns on resource names (e.g. a workspace name) this policy does not apply to.")
"""The `exemptResources` entry of a policy's config schema (see `waived`)."""


def declare(
    name: str,
    description: str,
    validate: Any,
    severity: Severity,
    *,
    remediate: Any = None,
    enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY,
    **config: dict[str, Any],
) -> ResourceValidationPolicy:
    """The policy object of a check, declared right after it: `config` is its config schema's properties."""
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        remediate=remediate,
        enforcement_level=enforcement_level,
        severity=severity,
        config_schema=PolicyConfigSchema(config),
    )


# --- reading resource inputs --------------------------------------------------------------------------------------


class _Unknown:
    """A value the engine does not know yet (preview). Never equal to anything we look for."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()
_UNKNOWN_KINDS = ("ARCHIVE", "ARRAY", "ASSET", "BOOLEAN", "NUMBER", "OBJECT", "STRING")
_UNKNOWN_SENTINELS = frozenset(getattr(proxy, f"UNKNOWN_{kind}_VALUE") for kind in _UNKNOWN_KINDS)
"""The strings pulumi-policy puts where the engine does not know a value yet (pulumi_policy.proxy)."""


def plain(value: Any) -> Any:
    """Inputs as plain dicts/lists/scalars; unknowns (preview) become UNKNOWN instead of raising.

    pulumi-policy hands validations an `unknown_checking_proxy` that raises on any unknown value;
    reading through this, one unknown field does not stop a policy from judging the known ones.
    (During `pulumi up` every input is known, so a check skipped in preview runs then.)
    """
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        result = {}
        for key in value:
            try:
                item = value[key]
            except UnknownValueError:
                item = UNKNOWN
            result[key] = plain(item)
        return result
    if isinstance(value, Sequence):
        items = []
        for index in range(len(value)):
            try:
                item = value[index]
            except UnknownValueError:
                item = UNKNOWN
            items.append(plain(item))
        return items
    return value


def dig(value: Any, *path: str) -> Any:
    """`value[path[0]][path[1]]...`, or None where a step is not a dict."""
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def config_of(args: ResourceValidationArgs) -> Mapping[str, Any]:
    return args.get_config() or {}


def strings(config: Mapping[str, Any], key: str, default: Optional[list[str]] = None) -> list[str]:
    value = config.get(key)
    if value is None:
        return list(default or [])
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def waived(args: ResourceValidationArgs, allow_key: Optional[str] = None) -> bool:
    """The policy's config lets this resource pass: `allow_key` is true, or `exemptResources` (glob patterns on
    the resource's name, e.g. the workspace name `erin`) matches."""
    config = config_of(args)
    if allow_key is not None and config.get(allow_key) is True:
        return True
    return any(fnmatch.fnmatchcase(args.name, pattern) for pattern in strings(config, "exemptResources"))


def pod_spec(args: ResourceValidationArgs) -> Optional[dict]:
    """The pod spec of a Kubernetes workload, or None for other resource types."""
    path = _POD_SPEC_PATHS.get(args.resource_type)
    if path is None:
        return None
    spec = dig(plain(args.props), *path)
    return spec if isinstance(spec, dict) else None


def pod_containers(spec: dict) -> Iterator[tuple[str, dict]]:
    """(`containers[i]` / `initContainers[i]` / `ephemeralContainers[i]` label, container) of a pod spec."""
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in as_list(spec.get(field)):
            if isinstance(container, dict):
                name = container.get("name")
                yield (f"{field}[{name}]" if isinstance(name, str) else field), container


def privileged_containers(spec: dict) -> Iterator[str]:
    """Labels (see `pod_containers`) of a pod spec's containers that are privileged."""
    return (label for label, c in pod_containers(spec) if dig(c, "securityContext", "privileged") is True)


def report_privileged(spec: dict, report_violation: ReportViolation, message: Callable[[str], str]) -> None:
    """One violation per privileged container of the pod spec, `message(label)`."""
    for label in privileged_containers(spec):
        report_violation(message(label), None)


def docker_env(props: dict) -> dict[str, Any]:
    """A docker Container's `envs` ("KEY=VALUE" strings) as a dict; unknown entries are skipped."""
    env: dict[str, Any] = {}
    for entry in as_list(props.get("envs")):
        if isinstance(entry, str) and "=" in entry:
            key, value = entry.split("=", 1)
            env[key] = value
    return env


def kubernetes_env(container: dict) -> dict[str, Any]:
    """Plain `value`s of a Kubernetes container's env (entries from `valueFrom` are not known here)."""
    return {
        e["name"]: e.get("value")
        for e in as_list(container.get("env"))
        if isinstance(e, dict) and isinstance(e.get("name"), str) and "value" in e
    }


def norm(path: Any) -> Optional[str]:
    """An absolute path normalized (`//x` is `/`), or None for anything else (relative, unknown)."""
    if not isinstance(path, str) or not path.startswith("/"):
        return None
    normalized = posixpath.normpath(path)
    return "/" if normalized.startswith("//") else normalized
