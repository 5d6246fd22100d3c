"""The stack program: config in, one component per workspace, per-workspace exports.

`__main__.py` calls `main()`. Validation happens before anything is registered;
a bad config ends the program with one message (a `pulumi.RunError`, which the
Pulumi Python host prints without a traceback).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi

from .args import WorkspaceArgs
from .config import ConfigError, KubernetesConfig, StackConfig, WorkspaceConfig, load_stack_config

PROJECT = "docker-in-workspaces"
CONFIG_KEYS = ("target", "workspaces", "kubernetes")


def read_raw_config() -> dict[str, Any]:
    """The project's config keys as plain data, read the way `pulumi` hands them to the program.

    Read raw (not via Config.get_object) because a nested `secure:` value makes the whole
    key secret; the components re-wrap the sensitive fields (tokens, credentials) as secrets.
    """
    raw: dict[str, Any] = {}
    for key in CONFIG_KEYS:
        value = pulumi.runtime.get_config(f"{PROJECT}:{key}")
        if value is None:
            continue
        if key == "target":
            raw[key] = value
            continue
        try:
            raw[key] = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError(
                f"invalid stack config:\n  {key}: expected a YAML object or list, got {value!r}"
            ) from None
    return raw


def workspace_args(ws: WorkspaceConfig) -> WorkspaceArgs:
    """Config (camelCase, validated) to component args (snake_case); unset fields stay unset."""
    args: dict[str, Any] = ws.model_dump(exclude_none=True, exclude={"name", "envbuilder", "coder_agent"})
    if not args.get("env"):
        args.pop("env", None)
    if ws.envbuilder is not None:
        args["envbuilder"] = ws.envbuilder.model_dump(exclude_none=True)
    if ws.coder_agent is not None:
        args["coder_agent"] = ws.coder_agent.model_dump()
    return args  # type: ignore[return-value]


Exports = dict[str, dict[str, pulumi.Output[Any]]]


def _docker_target(config: StackConfig) -> Exports:
    from .docker_host import DockerHostWorkspace

    exports: Exports = {}
    for ws in config.workspaces:
        component = DockerHostWorkspace(ws.name, workspace_args(ws))
        exports[ws.name] = {
            "strategy": pulumi.Output.from_input(ws.strategy.value),
            "dockerHost": component.docker_host,
            "securityLevel": component.security_level,
            "containerName": component.container_name,
            "volumeNames": component.volume_names,
            "running": component.running,
        }
    return exports


def kubernetes_args(config: StackConfig) -> dict[str, dict[str, Any]]:
    """Each workspace's args merged with the stack's `kubernetes:` settings block."""
    settings = (config.kubernetes or KubernetesConfig()).model_dump(exclude_none=True)
    return {ws.name: {**workspace_args(ws), **settings} for ws in config.workspaces}


def _kubernetes_target(config: StackConfig) -> Exports:
    from .kubernetes import KubernetesWorkspace, shared_resources

    # Namespaces and RuntimeClasses are shared by workspaces: created once, here.
    shared = shared_resources(kubernetes_args(config))  # type: ignore[arg-type]
    exports: Exports = {}
    for ws in config.workspaces:
        component = KubernetesWorkspace(
            ws.name, shared.args[ws.name], pulumi.ResourceOptions(depends_on=shared.dependencies[ws.name])
        )
        exports[ws.name] = {
            "strategy": pulumi.Output.from_input(ws.strategy.value),
            "dockerHost": component.docker_host,
            "securityLevel": component.security_level,
            "podSecurityLevel": component.pod_security_level,
            "namespace": component.namespace,
            "deploymentName": component.deployment_name,
        }
    return exports


TARGETS: dict[str, Callable[[StackConfig], Exports]] = {
    "docker": _docker_target,
    "kubernetes": _kubernetes_target,
}


def check_all(config: StackConfig) -> None:
    """Resolve every workspace's args before registering anything, so one bad one deploys nothing."""
    from .args import resolve
    from .kubernetes import resolve_kubernetes

    merged = kubernetes_args(config) if config.target == "kubernetes" else {}
    for index, ws in enumerate(config.workspaces):
        try:
            if config.target == "kubernetes":
                resolve_kubernetes(ws.name, merged[ws.name])  # type: ignore[arg-type]
            else:
                resolve(ws.name, workspace_args(ws))
        except ValueError as exc:
            raise ConfigError(f"invalid stack config:\n  workspaces[{index}].{exc}") from None


def main() -> None:
    try:
        config = load_stack_config(read_raw_config())
        check_all(config)
    except ConfigError as exc:
        raise pulumi.RunError(str(exc)) from None
    pulumi.export("target", config.target)
    pulumi.export("workspaces", TARGETS[config.target](config))
