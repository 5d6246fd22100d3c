"""no-secret-in-plain-env: sensitive env variables come from a Kubernetes Secret; on Docker they are Pulumi secrets.

What the policies can see of Pulumi secrets: the engine sends resource inputs to the analyzer with
secrets marked, but pulumi-policy's `Analyze` (the validation path) deserializes them without the
marker (`deserialize_properties(..., proxy_secrets=False)`): a validation sees a secret's plaintext
and cannot tell it was secret. Only its `Remediate` path keeps the marker (`pulumi_policy.Secret`).
So this policy validates Kubernetes workloads (where a sensitive variable must come from
`valueFrom.secretKeyRef`, whether or not the value was a Pulumi secret: a plain `value` is plaintext
in the cluster either way) and, for Docker containers (whose env has no secret references), remediates:
with its default enforcement level `remediate`, every sensitive env entry that is not already a
Pulumi secret is turned into one, so it is encrypted in state and masked in diffs. It cannot stop the
value from being visible to `docker inspect` on the host; nothing in Pulumi can.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Optional

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, Secret, Severity

from .shapes import (
    DOCKER_CONTAINER,
    as_dict,
    as_list,
    config_of,
    declare,
    dig,
    patterns,
    pod_containers,
    pod_spec,
    strings,
)

DEFAULT_SENSITIVE_NAME = re.compile(
    r"TOKEN|PASSWORD|PASSWD|SECRET|CREDENTIAL|DOCKER_?CONFIG|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY", re.IGNORECASE
)
"""Env names that look like they carry a secret (CODER_AGENT_TOKEN, ENVBUILDER_DOCKER_CONFIG_BASE64, ...)."""


def is_sensitive_name(name: str, config: Mapping[str, Any]) -> bool:
    if name in strings(config, "allowedNames"):
        return False
    if name.upper().endswith(("_FILE", "_PATH")):  # names where the secret is (CODER_AGENT_TOKEN_FILE), not it
        return False
    if DEFAULT_SENSITIVE_NAME.search(name):
        return True
    return any(re.search(p, name, re.IGNORECASE) for p in strings(config, "sensitiveNamePatterns"))


def no_secret_in_plain_env(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Kubernetes: a sensitive env variable comes from `valueFrom.secretKeyRef`, never a plain `value`.

    Docker containers have no secret references, and a validation cannot see whether a value was a
    Pulumi secret (see the module docstring): they are handled by `secret_env_remediation`.
    """
    spec = pod_spec(args)
    if spec is None:
        return
    config = config_of(args)
    for label, container in pod_containers(spec):
        for entry in map(as_dict, as_list(container.get("env"))):
            name = entry.get("name")
            if not isinstance(name, str) or not is_sensitive_name(name, config):
                continue
            if entry.get("value") not in (None, ""):
                report_violation(
                    f"{args.name!r} {label}: env {name} has a plain value; put it in a Secret and use "
                    "valueFrom.secretKeyRef (a plain value is readable by anyone who can read the pod spec)",
                    None,
                )
            elif isinstance(dig(entry, "valueFrom", "configMapKeyRef"), dict):
                report_violation(
                    f"{args.name!r} {label}: env {name} comes from a ConfigMap; use valueFrom.secretKeyRef", None
                )


def _raw(props: Any) -> Any:
    """The target of pulumi-policy's secrets-preserving proxy (Secret markers intact), or props itself."""
    try:
        return props["__target"]
    except (KeyError, TypeError):
        return props


def secret_env_remediation(args: ResourceValidationArgs) -> Optional[Mapping[str, Any]]:
    """Docker: sensitive `envs` entries that are not Pulumi secrets become secrets (remediate level only).

    Remediations get the inputs with their secret markers (`pulumi_policy.Secret`); validations don't.
    """
    if args.resource_type != DOCKER_CONTAINER:
        return None
    raw = _raw(args.props)
    envs = raw.get("envs") if isinstance(raw, Mapping) else None
    if isinstance(envs, Secret):
        return None  # the whole list is already secret
    envs = _raw(envs)
    if not isinstance(envs, list):
        return None  # no env, or not known yet (preview)
    config = config_of(args)
    changed = False
    entries = []
    for entry in envs:
        if isinstance(entry, str) and "=" in entry and is_sensitive_name(entry.split("=", 1)[0], config):
            entry = Secret(entry)
            changed = True
        entries.append(entry)
    if not changed:
        return None
    return {**{key: raw[key] for key in raw}, "envs": entries}


POLICY = declare(
    "no-secret-in-plain-env",
    "Sensitive environment variables (TOKEN, PASSWORD, SECRET, CREDENTIAL, DOCKER_CONFIG, API_KEY, ...) "
    "come from a Kubernetes Secret; on Docker they are Pulumi secrets.",
    no_secret_in_plain_env,
    Severity.HIGH,
    remediate=secret_env_remediation,
    enforcement_level=EnforcementLevel.REMEDIATE,
    sensitiveNamePatterns=patterns("More regular expressions (case-insensitive) for sensitive variable names."),
    allowedNames=patterns("Variable names never treated as sensitive."),
)
